"""Texts that cost money are limited by who asks, not by what they type.

A text a chat user's request sends (a verification code) is first written to `sms_send`, in the
transaction that counts the texts before it: per asker (the chat identity, whatever phone they
type), per destination (whoever asks) and per workspace, over a minute, an hour and a day. The
rows live in the database, so the limits hold across phone changes, replicas and restarts. Two
asks at once take turns: SQLite's writers are serial already, and on PostgreSQL the counting
transaction holds advisory locks on its workspace and destination.

A refusal says which limit it hit and when the oldest text it counted leaves the window.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from handlers.context import Context
from storage.db import session_scope
from storage.models import SmsSend

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


class Scope(StrEnum):
    ASKER = "asker"
    DESTINATION = "destination"
    WORKSPACE = "workspace"


@dataclass(frozen=True)
class Limit:
    """At most `most` texts in any `window`, counted over one `scope`."""

    scope: Scope
    most: int
    window: timedelta


# A volunteer needs one code, now and then two; a signup drive in one workspace maybe a hundred
# a day. An attacker alternating numbers gets a handful, then waits hours.
LIMITS = (
    Limit(Scope.ASKER, 1, MINUTE),
    Limit(Scope.ASKER, 5, HOUR),
    Limit(Scope.ASKER, 10, DAY),
    Limit(Scope.DESTINATION, 3, HOUR),
    Limit(Scope.DESTINATION, 5, DAY),
    Limit(Scope.WORKSPACE, 60, HOUR),
    Limit(Scope.WORKSPACE, 300, DAY),
)
_WHO = {
    Scope.ASKER: "You have asked for",
    Scope.DESTINATION: "That phone has been sent",
    Scope.WORKSPACE: "This workspace has asked for",
}


@dataclass(frozen=True)
class Asker:
    """Who asks for a text: a chat identity and its workspace (`platform:workspace:user`)."""

    identity: str
    workspace: str

    @classmethod
    def of(cls, ctx: Context) -> Asker:
        """The asker of a chat request."""
        workspace = f"{ctx.platform}:{ctx.workspace}"
        return cls(f"{workspace}:{ctx.user_id}", workspace)


@dataclass(frozen=True)
class Refused:
    """A limit was hit: which one, and when a text may be asked for again."""

    limit: Limit
    retry_at: datetime
    now: datetime

    @property
    def wait_seconds(self) -> int:
        return max(1, math.ceil((self.retry_at - self.now).total_seconds()))

    def text(self) -> str:
        """A sentence that says which limit and when to try again."""
        texts = "text" if self.limit.most == 1 else f"{self.limit.most} texts"
        return (
            f"{_WHO[self.limit.scope]} {texts} {_window_text(self.limit.window)}, the most we"
            f" send: try again {wait_text(self.retry_at - self.now, self.retry_at)}."
        )


def reserve(
    session: Session, asker: Asker, destination: str, purpose: str, now: datetime
) -> int | Refused:
    """Count the texts before this one and write its row if every limit allows it: the row's
    id (to `release` if nothing was sent), or the first limit it would break."""
    _take_turns(session, [f"sms:ws:{asker.workspace}", f"sms:to:{destination}"])
    keys = {
        Scope.ASKER: asker.identity,
        Scope.DESTINATION: destination,
        Scope.WORKSPACE: asker.workspace,
    }
    for scope, key in keys.items():
        refused = _check(session, scope, key, now)
        if refused is not None:
            return refused
    row = SmsSend(
        asker=asker.identity[:200],
        workspace=asker.workspace[:100],
        destination=destination,
        purpose=purpose,
        sent_at=now,
    )
    session.add(row)
    session.flush()
    return int(row.id or 0)


def release(engine: Engine, send_id: int) -> None:
    """Forget a reserved text that never left (refused before Twilio took it)."""
    with session_scope(engine) as session:
        row = session.get(SmsSend, send_id)
        if row is not None:
            session.delete(row)


def wait_text(wait: timedelta, at: datetime) -> str:
    """ "in 45 s", "in 38 minutes (at 16:20 UTC)", "in 5 hours (at 09:00 UTC)"."""
    seconds = max(1, math.ceil(wait.total_seconds()))
    if seconds < 120:
        return f"in {seconds} s"
    clock = at.strftime("%H:%M UTC")
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return f"in {minutes} minutes (at {clock})"
    return f"in {math.ceil(minutes / 60)} hours (at {clock})"


def _check(session: Session, scope: Scope, key: str, now: datetime) -> Refused | None:
    limits = [limit for limit in LIMITS if limit.scope is scope]
    longest = max(limit.window for limit in limits)
    column = col(getattr(SmsSend, scope.value))  # the scopes are named after their columns
    recent = list(
        session.exec(
            select(SmsSend.sent_at)
            .where(column == key, col(SmsSend.sent_at) > now - longest)
            .order_by(col(SmsSend.sent_at).desc())
            .limit(max(limit.most for limit in limits))
        ).all()
    )
    for limit in limits:
        counted = [sent for sent in recent if sent > now - limit.window]
        if len(counted) >= limit.most:
            return Refused(limit, counted[limit.most - 1] + limit.window, now)
    return None


def _take_turns(session: Session, keys: list[str]) -> None:
    """On PostgreSQL, transaction-level advisory locks on `keys`, always in the same order."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: every write transaction began IMMEDIATE, one at a time
    for key in sorted(set(keys)):
        lock = zlib.crc32(key.encode()) - 2**31  # a signed 32-bit key
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})


def _window_text(window: timedelta) -> str:
    return {MINUTE: "in the last minute", HOUR: "in the last hour", DAY: "in the last day"}.get(
        window, f"in the last {window}"
    )
