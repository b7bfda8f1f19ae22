"""How a call's state moves, and the keys that make a repeated report count once.

A call's state only moves forward (queued < initiated < ringing < in-progress < ended): status
reports arrive late, twice, or out of order, and a late "ringing" must never reopen a completed
call. Each report a platform may repeat is keyed in `processed_event` (`first_time`), in the
transaction that applies it. Shared by the calling session (matching/sessions.py) and the calls
a backend places on its own (handlers/calls.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam
from sqlalchemy.sql.dml import Insert

from storage.db import insert_ignoring_duplicates
from storage.models import ProcessedEvent

ENDED = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
_RANK = {"placing": 0, "queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}
_ENDED_RANK = 4
PROCESSED_EVENT = ProcessedEvent.__table__  # type: ignore[attr-defined]


def status_rank(status: str | None) -> int:
    """Where a Twilio call status stands in a call's life; unknown statuses rank lowest."""
    if status in ENDED:
        return _ENDED_RANK
    return _RANK.get(status or "", -1)


def moves_forward(current: str | None, new: str) -> bool:
    """Whether `new` is a later state than `current` (an ended call never changes again)."""
    return status_rank(new) > status_rank(current)


@dataclass(frozen=True)
class StatusReport:
    """A call's progress as telephony reports it (the voter's leg, or the simulated call)."""

    status: str
    call_sid: str | None = None
    duration_s: int | None = None
    error_code: int | None = None


class AttemptState(Protocol):
    """What a status report is applied to: a `CallAttempt`, or a row with those columns."""

    @property
    def call_sid(self) -> str | None: ...
    @property
    def error_code(self) -> int | None: ...
    @property
    def call_status(self) -> str | None: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def ended_at(self) -> datetime | None: ...
    @property
    def duration_s(self) -> int | None: ...


def status_changes(attempt: AttemptState, report: StatusReport, now: datetime) -> dict[str, Any]:
    """The attempt's columns the report changes, forward only. Missing facts (the child call's
    sid, the duration, an error code) are filled in even by a late report."""
    changes: dict[str, Any] = {}
    if report.call_sid and attempt.call_sid is None:
        changes["call_sid"] = report.call_sid
    if report.error_code is not None and attempt.error_code is None:
        changes["error_code"] = report.error_code
    status, ended_at = attempt.call_status, attempt.ended_at
    if moves_forward(status, report.status):
        status = changes["call_status"] = report.status
        if status in ENDED and ended_at is None:
            ended_at = changes["ended_at"] = now
    if status in ENDED and attempt.duration_s is None:
        duration = _duration(attempt.started_at, ended_at, report)
        if duration is not None:
            changes["duration_s"] = duration
    return changes


def _duration(started_at: datetime, ended_at: datetime | None, report: StatusReport) -> int | None:
    """Twilio's count of seconds when it gives one, else start to end as we saw them."""
    if report.duration_s is not None:
        return report.duration_s
    if ended_at is None:
        return None
    return int((ended_at - started_at).total_seconds())


def first_time(conn: Connection, key: str, source: str, now: datetime) -> bool:
    """Record an event's key (`ProcessedEvent`); False when it was recorded before, or alongside
    by another worker: the unique key decides, in one round trip."""
    return key in first_times(conn, [key], source, now)


def first_times(conn: Connection, keys: list[str], source: str, now: datetime) -> set[str]:
    """Record several events' keys in one round trip; the keys recorded now (not before, nor
    alongside by another worker)."""
    rows = [
        {"key": key, "source": source, "created_at": now, "result": {}}
        for key in dict.fromkeys(keys)
    ]
    return set(conn.execute(_recording(conn.dialect.name), rows).scalars())


@cache
def _recording(dialect_name: str) -> Insert:
    """`first_times`'s statement for a database, built once."""
    values = {
        name: bindparam(name, type_=PROCESSED_EVENT.c[name].type)
        for name in ("key", "source", "created_at", "result")
    }
    statement = insert_ignoring_duplicates(PROCESSED_EVENT, dialect_name, ["key"], **values)
    return statement.returning(PROCESSED_EVENT.c.key)
