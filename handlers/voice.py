"""A calling session, as the phone network drives it: the neutral core of the voice webhooks.

The volunteer's phone is rung once (handlers/calls.py); when they pick up, each voter of the
batch is dialed from inside that live call, and between calls the keypad logs the outcome and
'#' dials the next voter. The functions here answer the webhooks with a `Plan`: a few neutral
verbs (say, dial, gather keys, redirect, hang up) that bot/telephony/twiml.py renders as TwiML,
so nothing here knows Twilio. Status reports of both legs are applied once (keyed in
`ProcessedEvent`) and only forward; the chat card follows every change.

Every dial checks the do-not-call list and calling hours again at that moment. A voter is only
dialed because the volunteer asked for it: a chat Call or Next, or '#' on the keypad; one press,
one call. Recording is off unless the campaign turns it on, and then a notice is played first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    ScalarSelect,
    Select,
    String,
    bindparam,
    cast,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from handlers.cards import SESSION, join_names
from handlers.context import Services
from handlers.dialing import (
    DNC_REFUSAL,
    StatusReport,
    first_time,
    first_times,
    hours_refusal,
    moves_forward,
    owe_batch_notice,
    reading,
    show_batch,
    status_changes,
    status_rank,
)
from handlers.outbox import owed
from handlers.replies import Tone
from matching.leases import renew_lease
from matching.outcomes import AlreadyLogged, Outcome, OutcomeError, record_outcome
from matching.pool import campaign_config, run_transaction
from matching.sessions import SessionEnd, advance_session, sweep_silent_sessions
from matching.tables import ATTEMPT, BATCH, CAMPAIGN, CARD, DNC, ITEM, VOTER
from storage.attempts import NOT_PLACED, may_have_rung
from storage.campaign_config import CampaignConfig, ResultAction, ResultCode

log = logging.getLogger(__name__)

INVALID_NUMBER = 21211  # Twilio: the voter's number cannot be called
NEXT_KEY = "#"
GATHER_TIMEOUT_S = 20
HEARTBEAT = timedelta(minutes=1)  # well inside matching.sessions.SILENCE
RECORDING_NOTICE = "This call is recorded for quality and training."
EVENT_SOURCE = "twilio:voice"
_DIAL_STATUS = {"answered": "completed"}  # <Dial action>'s word for an answered call
_LEAD = {
    "busy": "The line was busy.",
    "no-answer": "No answer.",
    "failed": "The call did not go through.",
    "canceled": "The call was canceled.",
}


# --- The plan: what the call does next, in neutral verbs --------------------------------------


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Dial:
    """Dial the voter from the live call, showing the campaign's caller id."""

    number: str  # E.164; goes to telephony only
    caller_id: str
    session_id: int
    attempt_id: int
    record: bool = False  # only when the campaign turned recording on (a notice plays first)


@dataclass(frozen=True)
class Gather:
    """Wait for one key; it goes to the keypad webhook of `attempt_id`."""

    prompt: str
    session_id: int
    attempt_id: int
    timeout_s: int = GATHER_TIMEOUT_S


@dataclass(frozen=True)
class Redirect:
    """No key came: ask the keypad webhook again, without one (the call stays up)."""

    session_id: int
    attempt_id: int


@dataclass(frozen=True)
class Hangup:
    pass


Verb = Say | Dial | Gather | Redirect | Hangup
Plan = tuple[Verb, ...]

UNKNOWN_CALL: Plan = (Say("Phonebank does not know this call. Goodbye."), Hangup())


@dataclass(frozen=True)
class LegEvent:
    """A status callback of one leg: `key` is what makes a repeat of it recognisable."""

    key: str
    call_sid: str
    status: str
    duration_s: int | None = None
    error_code: int | None = None


@dataclass(frozen=True)
class DialResult:
    """What `<Dial action>` reports when the voter's leg ends."""

    status: str
    call_sid: str | None = None
    duration_s: int | None = None
    error_code: int | None = None


# --- The webhooks ---------------------------------------------------------------------------


def volunteer_answered(services: Services, session_id: int, attempt_id: int, call_sid: str) -> Plan:
    """The volunteer picked up: the session is live; whisper, then dial the voter."""
    return _dial_in_session(services, session_id, attempt_id, answered_by=call_sid)


def session_redirected(services: Services, session_id: int, attempt_id: int) -> Plan:
    """A chat Call or Next redirected the live call here: dial that voter."""
    return _dial_in_session(services, session_id, attempt_id)


def _dial_in_session(
    services: Services, session_id: int, attempt_id: int, *, answered_by: str | None = None
) -> Plan:
    """Dial the attempt's voter from the session's live call; `answered_by`: the volunteer's
    leg just picked up (the first dial of the session)."""
    now = services.clock.now()
    with services.engine.begin() as conn:
        call = _load_call(conn, session_id, attempt_id)
        if call is None:
            return UNKNOWN_CALL
        if call.session_ended_at is not None:
            return (Hangup(),)
        if answered_by is not None:
            _mark_answered(conn, call, answered_by, now)
        plan = _dial_plan(conn, now, call)
    show_batch(services, call.session_volunteer_id, call.session_batch_id)
    return plan


def _mark_answered(conn: Connection, call: _Call, call_sid: str, now: datetime) -> None:
    changes: dict[str, Any] = {}
    if call.session_call_sid is None and call_sid:
        changes["call_sid"] = call_sid
    if call.session_answered_at is None:
        changes["answered_at"] = now
    if moves_forward(call.session_status, "in-progress"):
        changes["status"] = "in-progress"
    if changes:
        conn.execute(update(SESSION).where(SESSION.c.id == call.session_id).values(**changes))


def voter_leg_ended(
    services: Services, session_id: int, attempt_id: int, result: DialResult
) -> Plan:
    """The voter's leg ended: store how, then ask for the outcome on the keypad."""
    status = _DIAL_STATUS.get(result.status, result.status)
    report = StatusReport(status, result.call_sid, result.duration_s, result.error_code)
    wrong_number = result.error_code == INVALID_NUMBER
    with services.engine.begin() as conn:
        found = _load_call(conn, session_id, attempt_id, lock=True)
        if found is None:
            return UNKNOWN_CALL
        call, changed = _store_status(conn, found, [report], services.clock.now())
    if wrong_number:  # the wrong-number outcome is logged first, and then said
        _record_wrong_number(services, session_id, attempt_id)
        plan = _outcome_question(services, session_id, attempt_id)
    else:
        plan = _question(call)
    if changed or wrong_number:  # unchanged: the status callbacks showed this state already
        show_batch(services, call.session_volunteer_id, call.session_batch_id)
    return plan


def key_pressed(services: Services, session_id: int, attempt_id: int, digits: str) -> Plan:
    """A key after a call: an outcome (once), '#' for the next voter, nothing: ask again."""
    key = digits.strip()[:1]
    if key == NEXT_KEY:
        return next_voter(services, session_id, attempt_id)
    with reading(services) as conn:
        call = _load_call(conn, session_id, attempt_id)
    if call is None:
        return UNKNOWN_CALL
    if call.session_ended_at is not None:
        return (Hangup(),)
    if not key:
        _heard(services, call)
        return _question(call, again=True)
    if not _was_dialed(call):
        return (Say("That voter was not called."), *_next_only(session_id, attempt_id))
    return _log_key(services, campaign_config(call.config), call, call.logged, key)


def _heard(services: Services, call: _Call) -> None:
    """An idle live call (the keypad's wait repeats every `GATHER_TIMEOUT_S`) is alive: note it
    once a `HEARTBEAT`, so the sweep of dead sessions (matching/sessions.py) leaves it alone."""
    now = services.clock.now()
    last = call.session_last_heard_at or call.session_answered_at
    if last is not None and now - last < HEARTBEAT:
        return
    with services.engine.begin() as conn:
        conn.execute(
            update(SESSION).where(SESSION.c.id == call.session_id).values(last_heard_at=now)
        )


def next_voter(services: Services, session_id: int, after_attempt_id: int) -> Plan:
    """'#': dial the batch's next uncalled open card from the live call; none left: goodbye."""
    try:
        return _next_voter(services, session_id, after_attempt_id)
    except IntegrityError:
        # The same '#' came twice at once (Twilio retries a webhook it waited too long for),
        # and the other request made the attempt first, under its request key (PostgreSQL;
        # SQLite's writes take turns). Answer as a repeat does: with the voter it chose.
        return _next_voter(services, session_id, after_attempt_id)


def _next_voter(services: Services, session_id: int, after_attempt_id: int) -> Plan:
    now = services.clock.now()
    with services.engine.begin() as conn:
        head = conn.execute(
            _NEXT_HEAD, {"session_id": session_id, "request_key": _next_key(after_attempt_id)}
        ).first()
        if head is None or head.ended_at is not None:
            return (Hangup(),)
        if head.earlier_id is not None:  # '#' asked again: the voter it chose, never another
            call, target = _load_call(conn, session_id, head.earlier_id), None
        else:
            call, target = _next_attempt(conn, now, head, after_attempt_id)
        if call is None:
            return (Say("That was the last one on your batch. Thank you for calling!"), Hangup())
        plan = _dial_plan(conn, now, call, target)
    show_batch(services, head.volunteer_id, head.batch_id)
    return plan


def recording_notice() -> Plan:
    """Played to the voter before the bridge when the campaign records calls."""
    return (Say(RECORDING_NOTICE),)


def volunteer_leg_status(services: Services, session_id: int, event: LegEvent) -> None:
    """A status callback of the volunteer's leg: applied once, forward only, and committed
    before Twilio gets its 200. Hanging up after answering ends the session and returns the
    voters not yet called, in one transaction; a phone that never answered ends it too (the
    batch stays theirs). Either way the volunteer is owed a notice, in that transaction."""
    now = services.clock.now()

    def apply(conn: Connection) -> SessionEnd | None:
        if not first_time(conn, event.key, EVENT_SOURCE, now):
            return None
        end = advance_session(conn, session_id, event.status, now, call_sid=event.call_sid)
        if end is not None:
            text, tone = _end_notice(end, event)
            owe_batch_notice(
                conn, now, end.volunteer_id, end.batch_id, text, tone, key=_end_key(end)
            )
        return end

    try:
        end = run_transaction(services.engine, apply)
    except IntegrityError:
        return  # the same callback, applied alongside by another worker
    if end is not None:
        owed(services)


def sweep_sessions(services: Services) -> int:
    """End the calling sessions that died without a hang-up (matching.sessions), telling each
    volunteer as a hang-up would; how many. Safe to run from any number of processes."""
    now = services.clock.now()

    def notice(conn: Connection, end: SessionEnd) -> None:
        text, tone = _end_notice(end, None)
        owe_batch_notice(conn, now, end.volunteer_id, end.batch_id, text, tone, key=_end_key(end))

    ended = sweep_silent_sessions(services.engine, clock=services.clock, on_end=notice)
    if ended:
        owed(services)
    return len(ended)


def _end_key(end: SessionEnd) -> str:
    return f"session-end:{end.session_id}"


def _end_notice(end: SessionEnd, event: LegEvent | None) -> tuple[str, Tone]:
    """What the volunteer is told when their session ends (`event`: the callback that ended it;
    None: the sweep found it dead)."""
    if end.answered:
        people = "voter" if end.returned == 1 else "voters"
        return (
            f"Your call ended. {end.returned} {people} not called went back to the list.",
            Tone.INFO,
        )
    if event is not None and event.error_code == INVALID_NUMBER:
        return "Twilio cannot ring your phone; fix it with `signup`.", Tone.WARNING
    status = event.status if event is not None else "no answer"
    return f"Your phone did not answer ({status}). Press Call to try again.", Tone.WARNING


def voter_leg_status(services: Services, session_id: int, attempt_id: int, event: LegEvent) -> None:
    """A status callback of a voter's leg: applied once and forward only; the card follows."""
    voter_leg_statuses(services, session_id, attempt_id, [event])


def voter_leg_statuses(
    services: Services, session_id: int, attempt_id: int, events: Sequence[LegEvent]
) -> None:
    """Status callbacks of one voter's leg that waited together, applied in one transaction:
    each once (its key), in order and forward only, so the result is the same as one by one;
    the card follows once."""
    now = services.clock.now()
    try:
        with services.engine.begin() as conn:
            new = first_times(conn, [event.key for event in events], EVENT_SOURCE, now)
            fresh = [event for event in events if event.key in new]
            found = _load_call(conn, session_id, attempt_id, lock=True) if fresh else None
            if found is None:
                return
            call, changed = _store_status(conn, found, [_report(event) for event in fresh], now)
    except IntegrityError:
        return
    if any(event.error_code == INVALID_NUMBER for event in fresh):
        _record_wrong_number(services, session_id, attempt_id)
    if changed and call.volunteer_id is not None and call.batch_id is not None:
        show_batch(services, call.volunteer_id, call.batch_id)


def _report(event: LegEvent) -> StatusReport:
    return StatusReport(event.status, event.call_sid, event.duration_s, event.error_code)


# --- Dialing --------------------------------------------------------------------------------


def _dial_plan(conn: Connection, now: datetime, call: _Call, target: _Target | None = None) -> Plan:
    """Dial the attempt's voter, after the checks of the moment; refused: say why, offer '#'.
    `target`: the attempt's card, when the caller read it already.

    Asked again for an attempt whose voter's leg has reported nothing (a retried webhook: the
    same '#', the same answer), the answer is the same `<Dial>` again. Twilio retries a webhook
    only when it got no answer to it (the process died between the commit and the reply, or
    the reply came after Twilio's 15 s), and it acts on one answer per request, so the voter is
    rung once: by the retry's answer, the first one being lost. Answering the retry without the
    `<Dial>` would count the voter as dialed while nobody rang them. Once the leg has reported
    (a sid, a status, an outcome), an answer did reach Twilio and the voter is being or was
    rung: no second `<Dial>`, whatever asks again (one press, one call)."""
    if _leg_reported(call):
        return _question(call, again=True)
    target = target or _target(conn, _CARD_OF_VOTER, batch_id=call.batch_id, voter_id=call.voter_id)
    voter = target.voter(call.voter_id) if target else None
    if target is None or voter is None:
        return _refuse(conn, now, call, "that card is closed")
    config = campaign_config(call.config)
    reason = DNC_REFUSAL if target.listed else hours_refusal(voter, now, config)
    if reason is not None:
        return _refuse(conn, now, call, reason)
    conn.execute(
        update(SESSION)
        .where(SESSION.c.id == call.session_id)
        .values(current_attempt_id=call.id, last_heard_at=now)
    )
    renew_lease(conn, call.session_batch_id, now, timedelta(minutes=config.batch_lease_minutes))
    verbs: list[Verb] = []
    if config.recording:
        verbs.append(Say(f"{RECORDING_NOTICE} The voter hears this notice too."))
    verbs.append(Say(f"Connecting you to {join_names(target.names)}."))
    verbs.append(Dial(target.phone, config.caller_id, call.session_id, call.id, config.recording))
    return tuple(verbs)


def _refuse(conn: Connection, now: datetime, call: _Call, reason: str) -> Plan:
    """The voter is not dialed: the attempt is canceled, the reason said (never the number)."""
    conn.execute(
        update(ATTEMPT)
        .where(ATTEMPT.c.id == call.id)
        .values(call_status="canceled", ended_at=func.coalesce(ATTEMPT.c.ended_at, now))
    )
    said = Say(f"Not calling this voter: {reason}.")
    return (said, *_next_only(call.session_id, call.id))


def _next_key(after_attempt_id: int) -> str:
    return f"twilio:next-after:{after_attempt_id}"


def _next_attempt(
    conn: Connection, now: datetime, head: Any, after_attempt_id: int
) -> tuple[_Call | None, _Target | None]:
    """The attempt '#' after `after_attempt_id` dials, on the batch's first uncalled open card
    (made once: a repeat finds it by its request key), and that card."""
    if head.batch_closed_at is not None:
        return None, None
    target = _target(conn, _NEXT_CARD, batch_id=head.batch_id)
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
    call = _Call(
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


# --- After a call: the keypad ---------------------------------------------------------------


def _outcome_question(
    services: Services, session_id: int, attempt_id: int, *, again: bool = False
) -> Plan:
    with reading(services) as conn:
        call = _load_call(conn, session_id, attempt_id)
    return UNKNOWN_CALL if call is None else _question(call, again=again)


def _question(call: _Call, *, again: bool = False) -> Plan:
    """How did it go: the campaign's keypad keys, or log it in chat; '#' for the next voter."""
    if not _was_dialed(call):
        return _next_only(call.session_id, call.id)
    return _question_plan(campaign_config(call.config), call, call.logged, again=again)


def _question_plan(config: CampaignConfig, call: _Call, logged: str | None, *, again: bool) -> Plan:
    session_id, attempt_id = call.session_id, call.id
    if logged is not None:
        code = config.result_code(logged)
        survey = (
            " Add the survey answers in chat." if code and code.survey and config.survey else ""
        )
        prompt = (
            f"Logged: {_label(config, logged)}.{survey} Press # for the next voter, or hang up."
        )
        return _gather(prompt, session_id, attempt_id)
    keys = ", ".join(f"{code.keypad} for {code.label}" for code in keypad_codes(config))
    lead = "" if again else _LEAD.get(call.call_status or "", "The call ended.") + " "
    choice = f"Press {keys}, or log it in chat." if keys else "Log what happened in chat."
    return _gather(f"{lead}{choice} Press # for the next voter.", session_id, attempt_id)


def keypad_codes(config: CampaignConfig) -> list[ResultCode]:
    """Result codes the keypad can log, by key (a language barrier needs the language heard,
    which only the chat form asks)."""
    codes = [
        code
        for code in config.result_codes
        if code.keypad is not None and code.action is not ResultAction.LANGUAGE_BARRIER
    ]
    return sorted(codes, key=lambda code: code.keypad or 0)


def _log_key(
    services: Services, config: CampaignConfig, call: _Call, logged: str | None, key: str
) -> Plan:
    """Log the keyed outcome unless one is logged already; say so, then ask what next."""
    code = next((c for c in keypad_codes(config) if str(c.keypad) == key), None)
    if logged is not None:
        said = Say(f"Already logged: {_label(config, logged)}.")
    elif code is None:
        said = Say(f"Key {key} does not log an outcome here.")
    else:
        try:
            text, recorded = _record_key(services, call, code)
        except AlreadyLogged:  # logged in chat between our read and this key: say what it is
            again = _reread(services, call)
            if again is not None and again.logged is not None:
                return _log_key(services, config, again, again.logged, key)
            text, recorded = "That voter is logged already.", False
        said, logged = Say(text), code.code if recorded else None
    return (said, *_question_plan(config, call, logged, again=True))


def _record_key(services: Services, call: _Call, code: ResultCode) -> tuple[str, bool]:
    """Record the keyed outcome once (a repeated webhook finds its key); what to say, and
    whether it is recorded."""
    try:
        record_outcome(services.engine, _outcome(call, code, "keypad"), clock=services.clock)
    except AlreadyLogged:
        raise
    except OutcomeError:
        log.warning("keypad outcome for attempt %s was refused", call.id)
        return "That cannot be logged from the keypad; log it in chat.", False
    if call.volunteer_id is not None and call.batch_id is not None:
        text = f"Logged from your keypad: {code.label}."
        show_batch(services, call.volunteer_id, call.batch_id, text, Tone.SUCCESS)
    return f"Logged {code.label}.", True


def _reread(services: Services, call: _Call) -> _Call | None:
    with reading(services) as conn:
        return _load_call(conn, call.session_id, call.id)


def _record_wrong_number(services: Services, session_id: int, attempt_id: int) -> None:
    """Twilio says the voter's number cannot be called: the campaign's wrong-number outcome."""
    with reading(services) as conn:
        call = _load_call(conn, session_id, attempt_id)
    if call is None or call.logged is not None:
        return
    config = campaign_config(call.config)
    code = next((c for c in config.result_codes if c.action is ResultAction.WRONG_NUMBER), None)
    if code is not None:
        record_outcome(services.engine, _outcome(call, code, "wrong-number"), clock=services.clock)


def _outcome(call: _Call, code: ResultCode, source: str) -> Outcome:
    """The outcome of the call, keyed by where it came from: a repeated webhook records none."""
    return Outcome(
        voter_id=call.voter_id,
        result_code=code.code,
        batch_id=call.batch_id,
        volunteer_id=call.volunteer_id,
        call_attempt_id=call.id,
        request_key=f"twilio:{source}:{call.id}",
    )


def _next_only(session_id: int, attempt_id: int) -> Plan:
    return _gather("Press # for the next voter, or hang up.", session_id, attempt_id)


def _gather(prompt: str, session_id: int, attempt_id: int) -> Plan:
    return (Gather(prompt, session_id, attempt_id), Redirect(session_id, attempt_id))


# --- Reading and moving state ---------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
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


@dataclass(frozen=True)
class _Target:
    """A card to dial: its phone, whether that is on the do-not-call list, its open voters."""

    phone: str
    listed: bool
    voters: tuple[Any, ...]  # rows: voter_id, first_name and what the calling hours need

    @property
    def names(self) -> list[str]:
        return [voter.first_name for voter in self.voters]

    def voter(self, voter_id: int) -> Any | None:
        return next((voter for voter in self.voters if voter.voter_id == voter_id), None)


def _load_call(
    conn: Connection, session_id: int, attempt_id: int, *, lock: bool = False
) -> _Call | None:
    """The attempt, when it belongs to the session, with its session and campaign; `lock`: the
    attempt's row stays locked until the transaction ends (a status report is applied to it)."""
    query = _CALL_LOCKED if lock else _CALL
    row = conn.execute(query, {"session_id": session_id, "attempt_id": attempt_id}).first()
    return None if row is None else _Call(**row._mapping)


def _store_status(
    conn: Connection, call: _Call, reports: Sequence[StatusReport], now: datetime
) -> tuple[_Call, bool]:
    """Apply reports to the attempt, in order and forward only, in one UPDATE; the call as it is
    now, and whether it moved."""
    changes: dict[str, Any] = {}
    for report in reports:
        step = status_changes(call, report, now)
        call = replace(call, **step)
        changes.update(step)
    if changes:
        conn.execute(update(ATTEMPT).where(ATTEMPT.c.id == call.id).values(**changes))
    return call, bool(changes)


def _target(conn: Connection, query: Select[Any], **params: Any) -> _Target | None:
    """The card `query` picks (`_CARD_OF_VOTER`, `_NEXT_CARD`), with its open voters; None if
    it has none."""
    rows = conn.execute(query, params).all()
    if not rows:
        return None
    return _Target(rows[0].card_phone, bool(rows[0].listed), tuple(rows))


def _leg_reported(call: _Call) -> bool:
    """Whether the voter's leg of the attempt has said anything: it exists at Twilio (or the
    attempt ended otherwise, refused or logged)."""
    return status_rank(call.call_status) > 0 or call.call_sid is not None or call.logged is not None


def _was_dialed(call: _Call) -> bool:
    """Whether a voter leg existed: an attempt refused at the moment of dialing, or whose
    session ended before it was dialed, never had one."""
    return not (call.call_status in ("canceled", NOT_PLACED) and call.call_sid is None)


def _label(config: CampaignConfig, code: str) -> str:
    known = config.result_code(code)
    return known.label if known else code


# --- Statements, built once ------------------------------------------------------------------


def _call_query() -> Select[Any]:
    logged = (
        select(ITEM.c.result_code)
        .where(
            ITEM.c.voter_id == ATTEMPT.c.voter_id,
            ITEM.c.batch_id == ATTEMPT.c.batch_id,
            ITEM.c.result_code.is_not(None),
        )
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            ATTEMPT.c.id,
            ATTEMPT.c.session_id,
            ATTEMPT.c.voter_id,
            ATTEMPT.c.volunteer_id,
            ATTEMPT.c.batch_id,
            ATTEMPT.c.call_sid,
            ATTEMPT.c.call_status,
            ATTEMPT.c.error_code,
            ATTEMPT.c.started_at,
            ATTEMPT.c.ended_at,
            ATTEMPT.c.duration_s,
            ATTEMPT.c.result_code,
            logged.label("item_result_code"),
            SESSION.c.ended_at.label("session_ended_at"),
            SESSION.c.batch_id.label("session_batch_id"),
            SESSION.c.volunteer_id.label("session_volunteer_id"),
            SESSION.c.status.label("session_status"),
            SESSION.c.call_sid.label("session_call_sid"),
            SESSION.c.answered_at.label("session_answered_at"),
            SESSION.c.last_heard_at.label("session_last_heard_at"),
            cast(CAMPAIGN.c.config, String).label("config"),
        )
        .join(SESSION, SESSION.c.id == ATTEMPT.c.session_id)
        .join(CAMPAIGN, CAMPAIGN.c.id == ATTEMPT.c.campaign_id)
        .where(ATTEMPT.c.id == bindparam("attempt_id"), SESSION.c.id == bindparam("session_id"))
    )


def _next_head_query() -> Select[Any]:
    """The session '#' continues, its batch's state, the campaign, and the attempt an earlier
    '#' after the same call made (its request key)."""
    earlier = (
        select(ATTEMPT.c.id)
        .where(ATTEMPT.c.request_key == bindparam("request_key"))
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            SESSION.c.id,
            SESSION.c.ended_at,
            SESSION.c.batch_id,
            SESSION.c.volunteer_id,
            SESSION.c.campaign_id,
            SESSION.c.status,
            SESSION.c.call_sid,
            SESSION.c.answered_at,
            SESSION.c.last_heard_at,
            BATCH.c.closed_at.label("batch_closed_at"),
            cast(CAMPAIGN.c.config, String).label("config"),
            earlier.label("earlier_id"),
        )
        .join(BATCH, BATCH.c.id == SESSION.c.batch_id)
        .join(CAMPAIGN, CAMPAIGN.c.id == SESSION.c.campaign_id)
        .where(SESSION.c.id == bindparam("session_id"))
    )


def _card_of_voter() -> ScalarSelect[Any]:
    """The open card of a voter (`voter_id`) on a batch (`batch_id`)."""
    item = ITEM.alias("voter_item")
    return (
        select(item.c.card_id)
        .where(
            item.c.voter_id == bindparam("voter_id"),
            item.c.batch_id == bindparam("batch_id"),
            item.c.released_at.is_(None),
        )
        .limit(1)
        .scalar_subquery()
    )


def _next_card() -> ScalarSelect[Any]:
    """The batch's (`batch_id`) first open card that still has open voters and that nobody
    has called yet, in batch order."""
    card, item, called = CARD.alias("next_card"), ITEM.alias("open_item"), ITEM.alias("called")
    has_open = select(item.c.id).where(item.c.card_id == card.c.id, item.c.released_at.is_(None))
    was_called = (
        select(called.c.id)
        .join(ATTEMPT, ATTEMPT.c.voter_id == called.c.voter_id)
        .where(
            called.c.card_id == card.c.id,
            called.c.batch_id == bindparam("batch_id"),
            ATTEMPT.c.batch_id == bindparam("batch_id"),
            may_have_rung(ATTEMPT.c.call_status),
        )
    )
    return (
        select(card.c.id)
        .where(
            card.c.batch_id == bindparam("batch_id"),
            card.c.released_at.is_(None),
            has_open.exists(),
            ~was_called.exists(),
        )
        .order_by(card.c.position, card.c.id)
        .limit(1)
        .scalar_subquery()
    )


def _target_query(card_id: ScalarSelect[Any]) -> Select[Any]:
    """The open voters of the card `card_id` picks, with its phone and whether the phone is on
    the do-not-call list now."""
    listed = select(DNC.c.id).where(DNC.c.phone == CARD.c.phone).exists()
    return (
        select(
            CARD.c.phone.label("card_phone"),
            listed.label("listed"),
            VOTER.c.id.label("voter_id"),
            VOTER.c.first_name,
            VOTER.c.phone,
            VOTER.c.state,
            VOTER.c.zip,
            VOTER.c.time_zones,
            VOTER.c.calling_zone_key,
        )
        .select_from(ITEM)
        .join(CARD, CARD.c.id == ITEM.c.card_id)
        .join(VOTER, VOTER.c.id == ITEM.c.voter_id)
        .where(ITEM.c.card_id == card_id, ITEM.c.released_at.is_(None))
        .order_by(VOTER.c.id)
    )


_CALL = _call_query()
_CALL_LOCKED = _CALL.with_for_update(of=ATTEMPT)
_NEXT_HEAD = _next_head_query()
_CARD_OF_VOTER = _target_query(_card_of_voter())
_NEXT_CARD = _target_query(_next_card())
