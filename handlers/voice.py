"""A calling session as the volunteer hears it and presses it: the neutral core of the voice
webhooks.

The volunteer's phone is rung once (handlers/calls.py); when they pick up, each voter of the
batch is dialed from inside that live call, and between calls the keypad logs the outcome and
'#' dials the next voter. The functions here answer the webhooks with a `Plan`: a few neutral
verbs (say, dial, gather keys, redirect, hang up) that bot/telephony/twiml.py renders as TwiML,
so nothing here knows Twilio. The session's state and what it stores (which voter is dialed,
the legs' reports, forward only and each once, the session's end) are matching/sessions.py's;
here is what is said, asked and pressed, and the chat card follows every change.

Every dial checks the do-not-call list and calling hours again at that moment. A voter is only
dialed because the volunteer asked for it: a chat Call or Next, or '#' on the keypad; one press,
one call. Recording is off unless the campaign turns it on, and then a notice is played first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from handlers.cards import join_names
from handlers.context import Services
from handlers.dialing import owe_batch_notice, show_batch
from handlers.outbox import owed
from handlers.replies import Tone
from matching import sessions
from matching.call_state import StatusReport, first_time, first_times
from matching.outcomes import AlreadyLogged, Outcome, OutcomeError, record_outcome
from matching.pool import run_transaction
from matching.sessions import AlreadyDialed, Call, Refused, SessionEnd, Target
from storage.campaign_config import CampaignConfig, ResultAction, ResultCode

log = logging.getLogger(__name__)

INVALID_NUMBER = 21211  # Twilio: the voter's number cannot be called
NEXT_KEY = "#"
GATHER_TIMEOUT_S = 20
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
        call = sessions.load_call(conn, session_id, attempt_id)
        if call is None:
            return UNKNOWN_CALL
        if call.session_ended_at is not None:
            return (Hangup(),)
        if answered_by is not None:
            sessions.mark_answered(conn, call, answered_by, now)
        plan = _dial_plan(conn, now, call)
    show_batch(services, call.session_volunteer_id, call.session_batch_id)
    return plan


def voter_leg_ended(
    services: Services, session_id: int, attempt_id: int, result: DialResult
) -> Plan:
    """The voter's leg ended: store how, then ask for the outcome on the keypad."""
    status = _DIAL_STATUS.get(result.status, result.status)
    report = StatusReport(status, result.call_sid, result.duration_s, result.error_code)
    wrong_number = result.error_code == INVALID_NUMBER
    now = services.clock.now()
    with services.engine.begin() as conn:
        stored = sessions.store_reports(conn, session_id, attempt_id, [report], now)
    if stored is None:
        return UNKNOWN_CALL
    call, changed = stored
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
    call = sessions.read_call(services.engine, session_id, attempt_id)
    if call is None:
        return UNKNOWN_CALL
    if call.session_ended_at is not None:
        return (Hangup(),)
    if not key:
        sessions.note_heard(services.engine, call, services.clock.now())
        return _question(call, again=True)
    if not call.was_dialed:
        return (Say("That voter was not called."), *_next_only(session_id, attempt_id))
    return _log_key(services, call.campaign, call, call.logged, key)


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
        step = sessions.take_next(conn, session_id, after_attempt_id, now)
        if step is None:
            return (Hangup(),)
        if step.call is None:
            return (Say("That was the last one on your batch. Thank you for calling!"), Hangup())
        plan = _dial_plan(conn, now, step.call, step.target)
    show_batch(services, step.volunteer_id, step.batch_id)
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
        end = sessions.advance_session(conn, session_id, event.status, now, call_sid=event.call_sid)
        if end is not None:
            text, tone = _end_notice(end, event)
            key = _end_key(end)
            owe_batch_notice(conn, now, end.volunteer_id, end.batch_id, text, tone, key=key)
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

    ended = sessions.sweep_silent_sessions(services.engine, clock=services.clock, on_end=notice)
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
            if not fresh:
                return
            reports = [_report(event) for event in fresh]
            stored = sessions.store_reports(conn, session_id, attempt_id, reports, now)
    except IntegrityError:
        return
    if stored is None:
        return
    call, changed = stored
    if any(event.error_code == INVALID_NUMBER for event in fresh):
        _record_wrong_number(services, session_id, attempt_id)
    if changed and call.volunteer_id is not None and call.batch_id is not None:
        show_batch(services, call.volunteer_id, call.batch_id)


def _report(event: LegEvent) -> StatusReport:
    return StatusReport(event.status, event.call_sid, event.duration_s, event.error_code)


# --- Dialing: what is said --------------------------------------------------------------------


def _dial_plan(conn: Connection, now: datetime, call: Call, target: Target | None = None) -> Plan:
    """Dial the attempt's voter if `sessions.decide_dial` says so (which also answers Twilio's
    retries: the same `<Dial>` again until the voter's leg reports); refused: say why, offer
    '#'; dialed already: ask how it went."""
    decision = sessions.decide_dial(conn, call, now, target)
    if isinstance(decision, AlreadyDialed):
        return _question(call, again=True)
    if isinstance(decision, Refused):
        said = Say(f"Not calling this voter: {decision.reason}.")
        return (said, *_next_only(call.session_id, call.id))
    config, target = decision.config, decision.target
    verbs: list[Verb] = []
    if config.recording:
        verbs.append(Say(f"{RECORDING_NOTICE} The voter hears this notice too."))
    verbs.append(Say(f"Connecting you to {join_names(target.names)}."))
    verbs.append(Dial(target.phone, config.caller_id, call.session_id, call.id, config.recording))
    return tuple(verbs)


# --- After a call: the keypad ---------------------------------------------------------------


def _outcome_question(
    services: Services, session_id: int, attempt_id: int, *, again: bool = False
) -> Plan:
    call = sessions.read_call(services.engine, session_id, attempt_id)
    return UNKNOWN_CALL if call is None else _question(call, again=again)


def _question(call: Call, *, again: bool = False) -> Plan:
    """How did it go: the campaign's keypad keys, or log it in chat; '#' for the next voter."""
    if not call.was_dialed:
        return _next_only(call.session_id, call.id)
    return _question_plan(call.campaign, call, call.logged, again=again)


def _question_plan(config: CampaignConfig, call: Call, logged: str | None, *, again: bool) -> Plan:
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
    services: Services, config: CampaignConfig, call: Call, logged: str | None, key: str
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


def _record_key(services: Services, call: Call, code: ResultCode) -> tuple[str, bool]:
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


def _reread(services: Services, call: Call) -> Call | None:
    return sessions.read_call(services.engine, call.session_id, call.id)


def _record_wrong_number(services: Services, session_id: int, attempt_id: int) -> None:
    """Twilio says the voter's number cannot be called: the campaign's wrong-number outcome."""
    call = sessions.read_call(services.engine, session_id, attempt_id)
    if call is None or call.logged is not None:
        return
    config = call.campaign
    code = next((c for c in config.result_codes if c.action is ResultAction.WRONG_NUMBER), None)
    if code is not None:
        outcome = replace(_outcome(call, code, "wrong-number"), vouched_by="twilio")
        record_outcome(services.engine, outcome, clock=services.clock)


def _outcome(call: Call, code: ResultCode, source: str) -> Outcome:
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


def _label(config: CampaignConfig, code: str) -> str:
    known = config.result_code(code)
    return known.label if known else code
