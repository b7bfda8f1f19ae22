"""A calling session below the conversation: its state machine and what it stores.

The volunteer's phone is rung once (handlers/calls.py); when they pick up, each voter of the
batch is dialed from inside that live call, and between calls the keypad logs the outcome and
'#' dials the next voter. handlers/voice.py says and asks; this module decides and stores, in
the caller's transaction: what a webhook's attempt is (`load_call`), whether its voter is dialed
now (`decide_dial`: the do-not-call list and calling hours at that moment, and never a second
call for one press), which voter '#' dials next (`take_next`), how the voter leg's reports move
the call (`store_reports`: forward only), and how the session ends.

Ending a session is one transaction: the session closed, its current voter marked not placed if
never dialed, and, when the volunteer had answered, the batch's open cards nobody has rung
returned to the pool (a batch left without open cards is closed). The caller owes the volunteer
a notice in that same transaction (`BATCH_NOTICE`, carried out by the outbox), so a crash after
the commit loses nothing, and a crash before it loses nothing either: Twilio gets no 200 and
retries.

A session can also die without a hang-up reaching us (the process was down when Twilio sent
it, twice). Twilio itself gives up on a live call whose webhooks go unanswered within about a
minute (a `<Gather>` times out after 20 s, a webhook after 15 s, retried once), and rings a
phone for about one; so a session not heard from for `SILENCE` (longer than all of that) while
no voter leg of it may still be up is dead, and `sweep_silent_sessions` ends it as a hang-up
would. A voter leg that reported it started may last up to Twilio's `<Dial>` time limit; an
idle keypad's wait is a heartbeat (`note_heard`).

Lock order as in matching/leases.py; the session row comes first, before the voters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, insert, or_, select, update

import matching.session_queries as q
from matching.call_state import ENDED, StatusReport, moves_forward, status_changes, status_rank
from matching.leases import close_batch, release_cards_in, renew_lease
from matching.pool import campaign_config, run_transaction
from matching.tables import ATTEMPT, SESSION
from matching.zones import calling_zone_key, key_verdict
from storage.attempts import NOT_PLACED
from storage.campaign_config import CampaignConfig
from storage.clock import Clock
from storage.db import read_only

BATCH_NOTICE = "batch.notice"  # outbox kind: show the volunteer their batch with a message
SILENCE = timedelta(minutes=2)
LONGEST_CALL = timedelta(hours=4)  # Twilio's default <Dial timeLimit>
HEARTBEAT = timedelta(minutes=1)  # well inside SILENCE
SWEEP_LIMIT = 100
DNC_REFUSAL = "this number is on the do-not-call list now"


# --- A webhook's call attempt -----------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A call attempt with what the webhooks need of its session and campaign, read at once."""

    id: int
    session_id: int
    voter_id: int
    volunteer_id: int | None
    batch_id: int | None
    call_sid: str | None
    call_status: str | None
    error_code: int | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: int | None
    result_code: str | None
    item_result_code: str | None  # the outcome logged for the voter on the batch (keypad or chat)
    session_ended_at: datetime | None
    session_batch_id: int
    session_volunteer_id: int
    session_status: str
    session_call_sid: str | None
    session_answered_at: datetime | None
    session_last_heard_at: datetime | None
    config: str  # the campaign's configuration document (matching.pool.campaign_config)

    @property
    def logged(self) -> str | None:
        """The outcome already logged for this call's voter on this batch (keypad or chat)."""
        return self.result_code if self.result_code is not None else self.item_result_code

    @property
    def campaign(self) -> CampaignConfig:
        return campaign_config(self.config)

    @property
    def leg_reported(self) -> bool:
        """Whether the voter's leg has said anything: it exists at Twilio (or the attempt
        ended otherwise, refused or logged)."""
        reached = status_rank(self.call_status) > 0 or self.call_sid is not None
        return reached or self.logged is not None

    @property
    def was_dialed(self) -> bool:
        """Whether a voter leg existed: an attempt refused at the moment of dialing, or whose
        session ended before it was dialed, never had one."""
        return not (self.call_status in ("canceled", NOT_PLACED) and self.call_sid is None)


@dataclass(frozen=True)
class Target:
    """A card to dial: its phone, whether that is on the do-not-call list, its open voters."""

    phone: str
    listed: bool
    voters: tuple[Any, ...]  # rows: voter_id, first_name and what the calling hours need

    @property
    def names(self) -> list[str]:
        return [voter.first_name for voter in self.voters]

    def voter(self, voter_id: int) -> Any | None:
        return next((voter for voter in self.voters if voter.voter_id == voter_id), None)


def load_call(
    conn: Connection, session_id: int, attempt_id: int, *, lock: bool = False
) -> Call | None:
    """The attempt, when it belongs to the session, with its session and campaign; `lock`: the
    attempt's row stays locked until the transaction ends (a status report is applied to it)."""
    query = q.CALL_LOCKED if lock else q.CALL
    row = conn.execute(query, {"session_id": session_id, "attempt_id": attempt_id}).first()
    return None if row is None else Call(**row._mapping)


def read_call(engine: Engine, session_id: int, attempt_id: int) -> Call | None:
    """`load_call` in a read-only transaction of its own (storage.db.read_only)."""
    with read_only(engine).begin() as conn:
        return load_call(conn, session_id, attempt_id)


def mark_answered(conn: Connection, call: Call, call_sid: str, now: datetime) -> None:
    """The volunteer picked up: the session is live (forward only)."""
    changes: dict[str, Any] = {}
    if call.session_call_sid is None and call_sid:
        changes["call_sid"] = call_sid
    if call.session_answered_at is None:
        changes["answered_at"] = now
    if moves_forward(call.session_status, "in-progress"):
        changes["status"] = "in-progress"
    if changes:
        conn.execute(update(SESSION).where(SESSION.c.id == call.session_id).values(**changes))


def note_heard(engine: Engine, call: Call, now: datetime) -> None:
    """The live call asked again while idle (the keypad's wait): note it once a `HEARTBEAT`, so
    the sweep of dead sessions leaves it alone."""
    last = call.session_last_heard_at or call.session_answered_at
    if last is not None and now - last < HEARTBEAT:
        return
    with engine.begin() as conn:
        conn.execute(
            update(SESSION).where(SESSION.c.id == call.session_id).values(last_heard_at=now)
        )


# --- Dialing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialing:
    """Dial the card now: the session's current attempt, its lease renewed."""

    target: Target
    config: CampaignConfig


@dataclass(frozen=True)
class Refused:
    """Not dialed at this moment (the attempt is canceled): why, never quoting the number."""

    reason: str


@dataclass(frozen=True)
class AlreadyDialed:
    """The voter's leg has reported: an answer carrying its `<Dial>` reached Twilio."""


DialDecision = Dialing | Refused | AlreadyDialed


def decide_dial(
    conn: Connection, call: Call, now: datetime, target: Target | None = None
) -> DialDecision:
    """Whether the attempt's voter is dialed now, after the checks of that moment, stored in
    `conn`'s transaction; `target`: the attempt's card, when the caller read it already.

    Asked again for an attempt whose voter's leg has reported nothing (a retried webhook: the
    same '#', the same answer), the decision is to dial again. Twilio retries a webhook only
    when it got no answer to it (the process died between the commit and the reply, or the
    reply came after Twilio's 15 s), and it acts on one answer per request, so the voter is
    rung once: by the retry's answer, the first one being lost. Answering the retry without the
    `<Dial>` would count the voter as dialed while nobody rang them. Once the leg has reported
    (a sid, a status, an outcome), an answer did reach Twilio and the voter is being or was
    rung: no second dial, whatever asks again (one press, one call)."""
    if call.leg_reported:
        return AlreadyDialed()
    if target is None:
        target = _target(conn, q.CARD_OF_VOTER, batch_id=call.batch_id, voter_id=call.voter_id)
    voter = target.voter(call.voter_id) if target else None
    if target is None or voter is None:
        return _refuse(conn, now, call, "that card is closed")
    config = call.campaign
    reason = DNC_REFUSAL if target.listed else hours_refusal(voter, now, config)
    if reason is not None:
        return _refuse(conn, now, call, reason)
    conn.execute(
        update(SESSION)
        .where(SESSION.c.id == call.session_id)
        .values(current_attempt_id=call.id, last_heard_at=now)
    )
    renew_lease(conn, call.session_batch_id, now, timedelta(minutes=config.batch_lease_minutes))
    return Dialing(target, config)


def hours_refusal(voter: Any, now: datetime, config: CampaignConfig) -> str | None:
    """Why the voter (a `Voter`, or a row with its phone, state, zip, time zones and calling
    zone key) may not be called at `now` under the campaign's calling hours, or None."""
    key = voter.calling_zone_key
    if key is None:
        key = calling_zone_key(voter.phone, voter.state, voter.time_zones, voter.zip)
    verdict = key_verdict(key, now, config.calling_hours)
    return None if verdict.ok else verdict.reason


def _refuse(conn: Connection, now: datetime, call: Call, reason: str) -> Refused:
    conn.execute(
        update(ATTEMPT)
        .where(ATTEMPT.c.id == call.id)
        .values(call_status="canceled", ended_at=func.coalesce(ATTEMPT.c.ended_at, now))
    )
    return Refused(reason)


@dataclass(frozen=True)
class NextStep:
    """What '#' continues: the session's volunteer and batch, and the attempt it dials (None:
    nobody left), with its card when it was just chosen."""

    volunteer_id: int
    batch_id: int
    call: Call | None
    target: Target | None


def take_next(
    conn: Connection, session_id: int, after_attempt_id: int, now: datetime
) -> NextStep | None:
    """The attempt '#' after `after_attempt_id` dials: the one an earlier '#' after that call
    made (its request key), or a new one on the batch's first uncalled open card. None when the
    session is unknown or ended. Two of the same '#' at once: one inserts, the other fails on
    the request key's unique index (PostgreSQL; SQLite's writes take turns), to be run again."""
    head = conn.execute(
        q.NEXT_HEAD, {"session_id": session_id, "request_key": _next_key(after_attempt_id)}
    ).first()
    if head is None or head.ended_at is not None:
        return None
    if head.earlier_id is not None:  # '#' asked again: the voter it chose, never another
        call, target = load_call(conn, session_id, head.earlier_id), None
    else:
        call, target = _next_attempt(conn, now, head, after_attempt_id)
    return NextStep(head.volunteer_id, head.batch_id, call, target)


def _next_key(after_attempt_id: int) -> str:
    return f"twilio:next-after:{after_attempt_id}"


def _next_attempt(
    conn: Connection, now: datetime, head: Any, after_attempt_id: int
) -> tuple[Call | None, Target | None]:
    """The attempt on the batch's first uncalled open card (made once: a repeat finds it by
    its request key), and that card."""
    if head.batch_closed_at is not None:
        return None, None
    target = _target(conn, q.NEXT_CARD, batch_id=head.batch_id)
    if target is None:
        return None, None
    voter_id = target.voters[0].voter_id
    values = {
        "campaign_id": head.campaign_id,
        "voter_id": voter_id,
        "volunteer_id": head.volunteer_id,
        "batch_id": head.batch_id,
        "session_id": head.id,
        "started_at": now,
        "call_status": "placing",
        "request_key": _next_key(after_attempt_id),
        "survey": {},
        "notes": "",
    }
    attempt_id = conn.execute(insert(ATTEMPT).values(values).returning(ATTEMPT.c.id)).scalar_one()
    call = Call(
        id=attempt_id,
        session_id=head.id,
        voter_id=voter_id,
        volunteer_id=head.volunteer_id,
        batch_id=head.batch_id,
        call_sid=None,
        call_status="placing",
        error_code=None,
        started_at=now,
        ended_at=None,
        duration_s=None,
        result_code=None,
        item_result_code=None,
        session_ended_at=None,
        session_batch_id=head.batch_id,
        session_volunteer_id=head.volunteer_id,
        session_status=head.status,
        session_call_sid=head.call_sid,
        session_answered_at=head.answered_at,
        session_last_heard_at=head.last_heard_at,
        config=head.config,
    )
    return call, target


def _target(conn: Connection, query: Select[Any], **params: Any) -> Target | None:
    """The card `query` picks (`CARD_OF_VOTER`, `NEXT_CARD`), with its open voters; None if it
    has none."""
    rows = conn.execute(query, params).all()
    if not rows:
        return None
    return Target(rows[0].card_phone, bool(rows[0].listed), tuple(rows))


# --- The voter's leg ---------------------------------------------------------------------------


def store_reports(
    conn: Connection,
    session_id: int,
    attempt_id: int,
    reports: Sequence[StatusReport],
    now: datetime,
) -> tuple[Call, bool] | None:
    """Apply reports of the voter's leg to the attempt (locked), in order and forward only, in
    one UPDATE; the call as it is now and whether it moved, or None for an unknown call."""
    call = load_call(conn, session_id, attempt_id, lock=True)
    if call is None:
        return None
    changes: dict[str, Any] = {}
    for report in reports:
        step = status_changes(call, report, now)
        call = replace(call, **step)
        changes.update(step)
    if changes:
        conn.execute(update(ATTEMPT).where(ATTEMPT.c.id == call.id).values(**changes))
    return call, bool(changes)


# --- The end -----------------------------------------------------------------------------------


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
    row = conn.execute(q.SESSION_ROW, {"session_id": session_id}).first()
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
    return list(conn.execute(q.UNCALLED, {"batch_id": batch_id}).scalars())


def return_uncalled(conn: Connection, batch_id: int, now: datetime) -> int:
    """Return the batch's open cards nobody rang to the pool, in `conn`'s transaction; how many
    voters. Cards rung but not logged yet stay, so the volunteer can still log them in chat;
    with none of those, the batch is closed as released."""
    open_cards = conn.execute(q.OPEN_CARDS, {"batch_id": batch_id}).scalars().all()
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
        due = list(conn.execute(q.SILENT, _silent_params(now) | {"limit": limit}).scalars())
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
        q.SILENT.where(SESSION.c.id == session_id), _silent_params(now) | {"limit": 1}
    ).first()
    if still is None:
        return None
    end = end_session(conn, session_id, now, status="completed", reason="no_status")
    if end is not None and on_end is not None:
        on_end(conn, end)
    return end


def _silent_params(now: datetime) -> dict[str, Any]:
    return {"quiet_since": now - SILENCE, "longest_since": now - LONGEST_CALL}
