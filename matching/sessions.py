"""A calling session's life below the conversation: how it ends, and the sweep of dead ones.

Ending a session is one transaction: the session closed, its current voter canceled if never
dialed, and, when the volunteer had answered, the batch's open cards nobody has rung returned to
the pool (a batch left without open cards is closed). The caller owes the volunteer a notice
in that same transaction (`BATCH_NOTICE`, carried out by the outbox), so a crash after the
commit loses nothing and a crash before it loses nothing either: Twilio gets no 200 and retries.

A session can also die without a hang-up reaching us (the process was down when Twilio sent
it, twice). Twilio itself gives up on a live call whose webhooks go unanswered within about a
minute (a `<Gather>` times out after 20 s, a webhook after 15 s, retried once), and rings a
phone for about one; so a session not heard from for `SILENCE` (longer than all of that) while
no voter leg of it may still be up is dead, and `sweep_silent_sessions` ends it as a hang-up
would. A voter leg that reported it started may last up to Twilio's `<Dial>` time limit.

Lock order as in matching/leases.py; the session row comes first, before the voters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, or_, select, update

from matching.leases import close_batch, release_cards_in
from matching.pool import run_transaction
from matching.tables import ATTEMPT, CARD, ITEM, SESSION
from storage.attempts import NOT_PLACED, was_rung
from storage.clock import Clock

BATCH_NOTICE = "batch.notice"  # outbox kind: show the volunteer their batch with a message
ENDED = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
_RANK = {"placing": 0, "queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}
_ENDED_RANK = 4
SILENCE = timedelta(minutes=2)
LONGEST_CALL = timedelta(hours=4)  # Twilio's default <Dial timeLimit>
SWEEP_LIMIT = 100


def status_rank(status: str | None) -> int:
    """Where a Twilio call status stands in a call's life; unknown statuses rank lowest."""
    if status in ENDED:
        return _ENDED_RANK
    return _RANK.get(status or "", -1)


def moves_forward(current: str | None, new: str) -> bool:
    """Whether `new` is a later state than `current` (an ended call never changes again)."""
    return status_rank(new) > status_rank(current)


@dataclass(frozen=True)
class SessionEnd:
    """A session that ended now: whose, why, and how many voters went back to the pool."""

    session_id: int
    batch_id: int
    volunteer_id: int
    answered: bool
    reason: str
    returned: int


OnEnd = Callable[[Connection, SessionEnd], None]  # owes the notice, in the same transaction


def advance_session(
    conn: Connection,
    session_id: int,
    status: str,
    now: datetime,
    *,
    call_sid: str | None = None,
) -> SessionEnd | None:
    """Move the session forward with a status of the volunteer's leg; when that status ends
    the call, end the session (`end_session`). The end, or None."""
    row = conn.execute(_SESSION_ROW, {"session_id": session_id}).first()
    if row is None:
        return None
    changes: dict[str, Any] = {}
    if row.call_sid is None and call_sid:
        changes["call_sid"] = call_sid
    forward = row.ended_at is None and moves_forward(row.status, status)
    if forward and status not in ENDED:
        changes["status"] = status
        if status == "in-progress" and row.answered_at is None:
            changes["answered_at"] = now
    if changes:
        conn.execute(update(SESSION).where(SESSION.c.id == session_id).values(**changes))
    if not forward or status not in ENDED:
        return None
    return end_session(conn, session_id, now, status=status)


def end_session(
    conn: Connection,
    session_id: int,
    now: datetime,
    *,
    status: str = "completed",
    reason: str | None = None,
) -> SessionEnd | None:
    """End the open session in `conn`'s transaction: closed, its never-dialed current voter
    canceled, and, if it was answered, the uncalled voters returned. None if it was ended."""
    ended = conn.execute(
        select(
            SESSION.c.batch_id,
            SESSION.c.volunteer_id,
            SESSION.c.answered_at,
            SESSION.c.current_attempt_id,
        )
        .where(SESSION.c.id == session_id, SESSION.c.ended_at.is_(None))
        .with_for_update()
    ).first()
    if ended is None:
        return None
    reason = reason or ("hung_up" if ended.answered_at is not None else status)
    conn.execute(
        update(SESSION)
        .where(SESSION.c.id == session_id)
        .values(status=status, ended_at=now, end_reason=reason[:32])
    )
    if ended.current_attempt_id is not None:
        _cancel_if_never_dialed(conn, ended.current_attempt_id, now)
    answered = ended.answered_at is not None
    returned = return_uncalled(conn, ended.batch_id, now) if answered else 0
    return SessionEnd(session_id, ended.batch_id, ended.volunteer_id, answered, reason, returned)


def _cancel_if_never_dialed(conn: Connection, attempt_id: int, now: datetime) -> None:
    """The session ended before its current voter's leg reported anything: that voter was
    never rung, and is neither counted nor skipped (storage/attempts.py)."""
    conn.execute(
        update(ATTEMPT)
        .where(
            ATTEMPT.c.id == attempt_id,
            or_(ATTEMPT.c.call_status.is_(None), ATTEMPT.c.call_status.in_(("placing", "queued"))),
        )
        .values(call_status=NOT_PLACED, ended_at=func.coalesce(ATTEMPT.c.ended_at, now))
    )


def uncalled_card_ids(conn: Connection, batch_id: int) -> list[int]:
    """The batch's open cards none of whose voters was rung from this batch, in batch order."""
    return list(conn.execute(_UNCALLED, {"batch_id": batch_id}).scalars())


def return_uncalled(conn: Connection, batch_id: int, now: datetime) -> int:
    """Return the batch's open cards nobody rang to the pool, in `conn`'s transaction; how many
    voters. Cards rung but not logged yet stay, so the volunteer can still log them in chat;
    with none of those, the batch is closed as released."""
    open_cards = conn.execute(_OPEN_CARDS, {"batch_id": batch_id}).scalars().all()
    uncalled = uncalled_card_ids(conn, batch_id)
    if not uncalled:
        return 0
    if len(uncalled) == len(open_cards):
        return close_batch(conn, batch_id, now, "released", expired_only=False) or 0
    return release_cards_in(conn, batch_id, uncalled, now, "released")


def sweep_silent_sessions(
    engine: Engine, *, clock: Clock, on_end: OnEnd | None = None, limit: int = SWEEP_LIMIT
) -> list[SessionEnd]:
    """End the open sessions not heard from for longer than Twilio would keep them up, each in
    its own transaction (with `on_end`'s notice); the sessions ended."""
    now = clock.now()
    with engine.connect() as conn:
        due = list(conn.execute(_SILENT, _silent_params(now) | {"limit": limit}).scalars())
        conn.commit()
    ended: list[SessionEnd] = []
    for session_id in due:
        end = run_transaction(
            engine, partial(_end_if_silent, session_id=session_id, now=now, on_end=on_end)
        )
        if end is not None:
            ended.append(end)
    return ended


def _end_if_silent(
    conn: Connection, *, session_id: int, now: datetime, on_end: OnEnd | None
) -> SessionEnd | None:
    """Check the silence again under the session's lock (a webhook may have come meanwhile)."""
    locked = conn.execute(
        select(SESSION.c.id)
        .where(SESSION.c.id == session_id, SESSION.c.ended_at.is_(None))
        .with_for_update()
    ).first()
    if locked is None:
        return None
    still = conn.execute(
        _SILENT.where(SESSION.c.id == session_id), _silent_params(now) | {"limit": 1}
    ).first()
    if still is None:
        return None
    end = end_session(conn, session_id, now, status="completed", reason="no_status")
    if end is not None and on_end is not None:
        on_end(conn, end)
    return end


def _silent_params(now: datetime) -> dict[str, Any]:
    return {"quiet_since": now - SILENCE, "longest_since": now - LONGEST_CALL}


def _silent_query() -> Any:
    """Open sessions whose last sign of life (start, answer, a heartbeat, a voter's dial or its
    end) is older than `quiet_since`, and none of whose voter legs is up since `longest_since`."""
    heard = func.coalesce(SESSION.c.last_heard_at, SESSION.c.answered_at, SESSION.c.started_at)
    recent = select(ATTEMPT.c.id).where(
        ATTEMPT.c.session_id == SESSION.c.id,
        or_(
            ATTEMPT.c.started_at > bindparam("quiet_since"),
            ATTEMPT.c.ended_at > bindparam("quiet_since"),
            and_(
                ATTEMPT.c.ended_at.is_(None),
                ATTEMPT.c.call_status.in_(("initiated", "ringing", "in-progress")),
                ATTEMPT.c.started_at > bindparam("longest_since"),
            ),
        ),
    )
    return (
        select(SESSION.c.id)
        .where(
            SESSION.c.ended_at.is_(None),
            heard <= bindparam("quiet_since"),
            ~recent.exists(),
        )
        .order_by(SESSION.c.id)
        .limit(bindparam("limit"))
    )


def _uncalled_query() -> Any:
    called = (
        select(ITEM.c.id)
        .join(ATTEMPT, ATTEMPT.c.voter_id == ITEM.c.voter_id)
        .where(
            ITEM.c.card_id == CARD.c.id,
            ATTEMPT.c.batch_id == bindparam("batch_id"),
            was_rung(ATTEMPT.c.call_sid, ATTEMPT.c.call_status, ATTEMPT.c.result_code),
        )
    )
    return (
        select(CARD.c.id)
        .where(
            CARD.c.batch_id == bindparam("batch_id"),
            CARD.c.released_at.is_(None),
            ~called.exists(),
        )
        .order_by(CARD.c.position, CARD.c.id)
    )


_SESSION_ROW = (
    select(SESSION.c.status, SESSION.c.call_sid, SESSION.c.answered_at, SESSION.c.ended_at)
    .where(SESSION.c.id == bindparam("session_id"))
    .with_for_update()
)
_OPEN_CARDS = select(CARD.c.id).where(
    CARD.c.batch_id == bindparam("batch_id"), CARD.c.released_at.is_(None)
)
_UNCALLED = _uncalled_query()
_SILENT = _silent_query()
