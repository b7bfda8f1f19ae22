"""What every dial of a voter checks, and how a call's state moves: shared by the chat Call press
(handlers/calls.py) and the live calling session (handlers/voice.py).

The do-not-call list and calling hours are checked at the moment of each dial, not only at the
claim: a batch claimed at 20:55 is not called at 21:05, and a number listed meanwhile is never
dialed. A call's state only moves forward (queued < initiated < ringing < in-progress < ended):
status reports arrive late, twice, or out of order, and a late "ringing" must never reopen a
completed call.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, col, select

from handlers.cards import read_batch, render_batch
from handlers.context import Services
from handlers.outbox import Task, outbox_handler, owe
from handlers.replies import Tone
from matching.sessions import BATCH_NOTICE
from matching.sessions import ENDED as ENDED
from matching.sessions import moves_forward as moves_forward
from matching.sessions import status_rank as status_rank
from matching.zones import calling_zone_key, key_verdict
from storage.attempts import may_have_rung
from storage.campaign_config import CampaignConfig
from storage.db import insert_ignoring_duplicates, read_only, session_scope
from storage.models import BatchCard, BatchItem, CallAttempt, DncEntry, ProcessedEvent, Voter

PROCESSED_EVENT = ProcessedEvent.__table__  # type: ignore[attr-defined]
DNC_REFUSAL = "this number is on the do-not-call list now"


class ZonedVoter(Protocol):
    """What the calling-hours check reads of a voter (a `Voter`, or a row with those columns)."""

    phone: str
    state: str | None
    zip: str | None
    time_zones: str
    calling_zone_key: str | None


def dial_refusal(
    session: Session, phone: str, voter: ZonedVoter, now: datetime, config: CampaignConfig
) -> str | None:
    """Why `phone` may not be dialed now (do-not-call list, calling hours), or None. The
    reason never quotes the number."""
    listed = session.exec(select(DncEntry.id).where(col(DncEntry.phone) == phone)).first()
    return DNC_REFUSAL if listed is not None else hours_refusal(voter, now, config)


def hours_refusal(voter: ZonedVoter, now: datetime, config: CampaignConfig) -> str | None:
    """Why the voter may not be called at `now` under the campaign's calling hours, or None."""
    key = voter.calling_zone_key
    if key is None:
        key = calling_zone_key(voter.phone, voter.state, voter.time_zones, voter.zip)
    verdict = key_verdict(key, now, config.calling_hours)
    return None if verdict.ok else verdict.reason


def open_voters(session: Session, card: BatchCard) -> list[Voter]:
    """The card's voters still to be called from it, in id order."""
    return list(
        session.exec(
            select(Voter)
            .join(BatchItem, col(BatchItem.voter_id) == col(Voter.id))
            .where(col(BatchItem.card_id) == card.id, col(BatchItem.released_at).is_(None))
            .order_by(col(Voter.id))
        ).all()
    )


def called_card_ids(session: Session, batch_id: int) -> set[int]:
    """Cards of the batch with a call attempt on any of their voters (one that never reached
    Twilio does not count)."""
    rows = session.exec(
        select(BatchItem.card_id)
        .join(CallAttempt, col(CallAttempt.voter_id) == col(BatchItem.voter_id))
        .where(
            col(BatchItem.batch_id) == batch_id,
            col(CallAttempt.batch_id) == batch_id,
            may_have_rung(col(CallAttempt.call_status)),
        )
    ).all()
    return set(rows)


def uncalled_cards(session: Session, batch_id: int) -> list[BatchCard]:
    """The batch's open cards nobody has called yet, in batch order."""
    called = called_card_ids(session, batch_id)
    cards = session.exec(
        select(BatchCard)
        .where(col(BatchCard.batch_id) == batch_id, col(BatchCard.released_at).is_(None))
        .order_by(col(BatchCard.position), col(BatchCard.id))
    ).all()
    return [card for card in cards if card.id not in called]


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


def apply_status(
    session: Session, attempt: CallAttempt, report: StatusReport, now: datetime
) -> bool:
    """Store the report on the attempt, forward only; whether anything changed."""
    changes = status_changes(attempt, report, now)
    for name, value in changes.items():
        setattr(attempt, name, value)
    if changes:
        session.add(attempt)
    return bool(changes)


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


def update_attempt(services: Services, attempt_id: int, report: StatusReport) -> bool:
    """Apply a report to one attempt and, when it changed, show the volunteer their card."""
    with session_scope(services.engine) as session:
        attempt = session.get(CallAttempt, attempt_id)
        if attempt is None:
            return False
        changed = apply_status(session, attempt, report, services.clock.now())
        volunteer_id, batch_id = attempt.volunteer_id, attempt.batch_id
    if changed and volunteer_id is not None and batch_id is not None:
        show_batch(services, volunteer_id, batch_id)
    return changed


def reading(services: Services) -> AbstractContextManager[Connection]:
    """A read-only transaction on a plain connection, ended with COMMIT (storage.db.read_only)."""
    return read_only(services.engine).begin()


def show_batch(
    services: Services,
    volunteer_id: int,
    batch_id: int,
    text: str | None = None,
    tone: Tone = Tone.INFO,
) -> None:
    """Replace the volunteer's batch message with the batch as it stands then: after the request
    where the process allows, and once for several changes that come close together. Every
    update reads the batch when it runs, so only their `text` tells them apart: the newest
    message replaces an older one still waiting (the message shows one at a time anyway), and
    an update without one never replaces one that has."""

    def update() -> None:
        with reading(services) as conn:
            view = read_batch(conn, batch_id)
        if view is not None:
            services.notifier.to_volunteer(volunteer_id, render_batch(view, text, tone))

    services.after_request(f"batch:{batch_id}", update, replace=text is not None)


def owe_batch_notice(
    conn: Connection,
    now: datetime,
    volunteer_id: int,
    batch_id: int,
    text: str,
    tone: Tone = Tone.INFO,
    *,
    key: str,
) -> None:
    """Owe the volunteer their batch with `text` (a message whose loss changes what they know,
    such as "your call ended"), in `conn`'s transaction: the outbox delivers it."""
    payload = {"volunteer_id": volunteer_id, "batch_id": batch_id, "text": text, "tone": tone}
    owe(conn, BATCH_NOTICE, payload, key=key, now=now)


@outbox_handler(BATCH_NOTICE)
def deliver_batch_notice(services: Services, task: Task) -> None:
    """The batch as it stands, with the notice; delivered again after a crash, it replaces the
    same message (the card's update key), so the volunteer sees it once."""
    payload = task.payload
    with reading(services) as conn:
        view = read_batch(conn, int(payload["batch_id"]))
    if view is not None:
        reply = render_batch(view, str(payload["text"]), Tone(payload["tone"]))
        services.notifier.to_volunteer(int(payload["volunteer_id"]), reply)
