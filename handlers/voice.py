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
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.cards import join_names
from handlers.context import Services
from handlers.dialing import (
    ENDED,
    StatusReport,
    apply_status,
    dial_refusal,
    first_time,
    moves_forward,
    open_voters,
    show_batch,
    status_rank,
    uncalled_cards,
)
from handlers.replies import Tone
from matching.leases import release_batch, release_card, renew_lease
from matching.outcomes import Outcome, OutcomeError, record_outcome
from matching.pool import campaign_config
from storage.campaign_config import CampaignConfig, ResultAction, ResultCode
from storage.db import read_session, session_scope
from storage.models import (
    Batch,
    BatchCard,
    BatchItem,
    CallAttempt,
    CallSession,
    Campaign,
    Voter,
)

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
    with session_scope(services.engine) as db:
        found = _session_attempt(db, session_id, attempt_id)
        if found is None:
            return UNKNOWN_CALL
        call_session, attempt = found
        if call_session.ended_at is not None:
            return (Hangup(),)
        if answered_by is not None:
            _mark_answered(db, services, call_session, answered_by)
        plan = _dial_plan(db, services, call_session, attempt)
        batch_id, volunteer_id = call_session.batch_id, call_session.volunteer_id
    show_batch(services, volunteer_id, batch_id)
    return plan


def _mark_answered(
    db: Session, services: Services, call_session: CallSession, call_sid: str
) -> None:
    if call_session.call_sid is None and call_sid:
        call_session.call_sid = call_sid
    if call_session.answered_at is None:
        call_session.answered_at = services.clock.now()
    if moves_forward(call_session.status, "in-progress"):
        call_session.status = "in-progress"
    db.add(call_session)


def voter_leg_ended(
    services: Services, session_id: int, attempt_id: int, result: DialResult
) -> Plan:
    """The voter's leg ended: store how, then ask for the outcome on the keypad."""
    status = _DIAL_STATUS.get(result.status, result.status)
    report = StatusReport(status, result.call_sid, result.duration_s, result.error_code)
    wrong_number = result.error_code == INVALID_NUMBER
    with session_scope(services.engine) as db:
        found = _session_attempt(db, session_id, attempt_id)
        if found is None:
            return UNKNOWN_CALL
        call_session, attempt = found
        apply_status(db, attempt, report, services.clock.now())
        batch_id, volunteer_id = call_session.batch_id, call_session.volunteer_id
        plan = None if wrong_number else _question(db, call_session, attempt)
    if plan is None:  # the wrong-number outcome is logged first, and then said
        _record_wrong_number(services, attempt_id)
        plan = _outcome_question(services, session_id, attempt_id)
    show_batch(services, volunteer_id, batch_id)
    return plan


def key_pressed(services: Services, session_id: int, attempt_id: int, digits: str) -> Plan:
    """A key after a call: an outcome (once), '#' for the next voter, nothing: ask again."""
    key = digits.strip()[:1]
    if key == NEXT_KEY:
        return next_voter(services, session_id, attempt_id)
    with read_session(services.engine) as db:
        found = _session_attempt(db, session_id, attempt_id)
        if found is None:
            return UNKNOWN_CALL
        call_session, attempt = found
        if call_session.ended_at is not None:
            return (Hangup(),)
        if not key:
            return _question(db, call_session, attempt, again=True)
        if not _was_dialed(attempt):
            return (Say("That voter was not called."), *_next_only(session_id, attempt_id))
        config = _config(db, attempt.campaign_id)
        logged = _logged_code(db, attempt)
    return _log_key(services, config, attempt, logged, key)


def next_voter(services: Services, session_id: int, after_attempt_id: int) -> Plan:
    """'#': dial the batch's next uncalled open card from the live call; none left: goodbye."""
    with session_scope(services.engine) as db:
        call_session = db.get(CallSession, session_id)
        if call_session is None or call_session.ended_at is not None:
            return (Hangup(),)
        attempt = _next_attempt(db, services, call_session, after_attempt_id)
        if attempt is None:
            return (Say("That was the last one on your batch. Thank you for calling!"), Hangup())
        plan = _dial_plan(db, services, call_session, attempt)
        batch_id, volunteer_id = call_session.batch_id, call_session.volunteer_id
    show_batch(services, volunteer_id, batch_id)
    return plan


def recording_notice() -> Plan:
    """Played to the voter before the bridge when the campaign records calls."""
    return (Say(RECORDING_NOTICE),)


def volunteer_leg_status(services: Services, session_id: int, event: LegEvent) -> None:
    """A status callback of the volunteer's leg: applied once, forward only. Hanging up after
    answering ends the session and returns the voters not yet called; a phone that never
    answered ends it too, and the volunteer is told in chat (the batch stays theirs)."""
    try:
        with session_scope(services.engine) as db:
            if not first_time(db, event.key, EVENT_SOURCE, services.clock.now()):
                return
            call_session = db.get(CallSession, session_id)
            if call_session is None or not _advance_session(db, services, call_session, event):
                return
            ended = call_session.ended_at is not None
            answered = call_session.answered_at is not None
            batch_id, volunteer_id = call_session.batch_id, call_session.volunteer_id
    except IntegrityError:
        return  # the same callback, applied alongside by another worker
    if not ended:
        return
    if answered:
        returned = release_uncalled(services, batch_id)
        people = "voter" if returned == 1 else "voters"
        text = f"Your call ended. {returned} {people} not called went back to the list."
        show_batch(services, volunteer_id, batch_id, text)
    elif event.error_code == INVALID_NUMBER:
        text = "Twilio cannot ring your phone; fix it with `signup`."
        show_batch(services, volunteer_id, batch_id, text, Tone.WARNING)
    else:
        text = f"Your phone did not answer ({event.status}). Press Call to try again."
        show_batch(services, volunteer_id, batch_id, text, Tone.WARNING)


def voter_leg_status(services: Services, session_id: int, attempt_id: int, event: LegEvent) -> None:
    """A status callback of a voter's leg: applied once and forward only; the card follows."""
    report = StatusReport(event.status, event.call_sid, event.duration_s, event.error_code)
    try:
        with session_scope(services.engine) as db:
            if not first_time(db, event.key, EVENT_SOURCE, services.clock.now()):
                return
            found = _session_attempt(db, session_id, attempt_id)
            if found is None:
                return
            _, attempt = found
            changed = apply_status(db, attempt, report, services.clock.now())
            volunteer_id, batch_id = attempt.volunteer_id, attempt.batch_id
    except IntegrityError:
        return
    if event.error_code == INVALID_NUMBER:
        _record_wrong_number(services, attempt_id)
    if changed and volunteer_id is not None and batch_id is not None:
        show_batch(services, volunteer_id, batch_id)


def release_uncalled(services: Services, batch_id: int) -> int:
    """Return the batch's open cards nobody called to the pool; how many voters. Cards called
    but not logged yet stay, so the volunteer can still log them in chat."""
    with read_session(services.engine) as db:
        batch = db.get(Batch, batch_id)
        if batch is None or batch.closed_at is not None:
            return 0
        uncalled = [int(card.id or 0) for card in uncalled_cards(db, batch_id)]
        open_cards = db.exec(
            select(BatchCard.id).where(
                col(BatchCard.batch_id) == batch_id, col(BatchCard.released_at).is_(None)
            )
        ).all()
    if len(uncalled) == len(open_cards):
        return release_batch(services.engine, batch_id, clock=services.clock)
    clock = services.clock
    return sum(
        release_card(services.engine, card, clock=clock, reason="released") for card in uncalled
    )


# --- Dialing --------------------------------------------------------------------------------


def _dial_plan(
    db: Session, services: Services, call_session: CallSession, attempt: CallAttempt
) -> Plan:
    """Dial the attempt's voter, after the checks of the moment; refused: say why, offer '#'."""
    session_id, attempt_id = int(call_session.id or 0), int(attempt.id or 0)
    if status_rank(attempt.call_status) > 0 or attempt.result_code is not None:
        # Already dialed (a webhook asked twice): never a second call for one press.
        return _question(db, call_session, attempt, again=True)
    voter = db.get(Voter, attempt.voter_id)
    card = _card_of(db, attempt)
    campaign = db.get(Campaign, attempt.campaign_id)
    if voter is None or card is None or campaign is None:
        return _refuse(db, services, attempt, "that card is closed", session_id)
    config = campaign_config(campaign.config)
    now = services.clock.now()
    reason = dial_refusal(db, card.phone, voter, now, config)
    if reason is not None:
        return _refuse(db, services, attempt, reason, session_id)
    if not first_time(db, f"twilio:dial:{attempt_id}", EVENT_SOURCE, now):
        # This attempt's voter was dialed before (Twilio asked twice): one press, one call.
        return _question(db, call_session, attempt, again=True)
    call_session.current_attempt_id = attempt_id
    db.add(call_session)
    lease = timedelta(minutes=config.batch_lease_minutes)
    renew_lease(db.connection(), call_session.batch_id, now, lease)
    names = join_names([v.first_name for v in open_voters(db, card)] or [voter.first_name])
    verbs: list[Verb] = []
    if config.recording:
        verbs.append(Say(f"{RECORDING_NOTICE} The voter hears this notice too."))
    verbs.append(Say(f"Connecting you to {names}."))
    verbs.append(Dial(card.phone, config.caller_id, session_id, attempt_id, config.recording))
    return tuple(verbs)


def _refuse(
    db: Session, services: Services, attempt: CallAttempt, reason: str, session_id: int
) -> Plan:
    """The voter is not dialed: the attempt is canceled, the reason said (never the number)."""
    attempt.call_status = "canceled"
    attempt.ended_at = attempt.ended_at or services.clock.now()
    db.add(attempt)
    said = Say(f"Not calling this voter: {reason}.")
    return (said, *_next_only(session_id, int(attempt.id or 0)))


def _next_attempt(
    db: Session, services: Services, call_session: CallSession, after_attempt_id: int
) -> CallAttempt | None:
    """The attempt '#' after `after_attempt_id` dials: made once, found again on a repeat."""
    request_key = f"twilio:next-after:{after_attempt_id}"
    earlier = db.exec(
        select(CallAttempt).where(col(CallAttempt.request_key) == request_key)
    ).first()
    if earlier is not None:
        return earlier
    batch = db.get(Batch, call_session.batch_id)
    if batch is None or batch.closed_at is not None:
        return None
    for card in uncalled_cards(db, call_session.batch_id):
        voters = open_voters(db, card)
        if voters:
            attempt = CallAttempt(
                campaign_id=call_session.campaign_id,
                voter_id=int(voters[0].id or 0),
                volunteer_id=call_session.volunteer_id,
                batch_id=call_session.batch_id,
                session_id=call_session.id,
                started_at=services.clock.now(),
                call_status="placing",
                request_key=request_key,
            )
            db.add(attempt)
            db.flush()
            return attempt
    return None


# --- After a call: the keypad ---------------------------------------------------------------


def _outcome_question(
    services: Services, session_id: int, attempt_id: int, *, again: bool = False
) -> Plan:
    with read_session(services.engine) as db:
        found = _session_attempt(db, session_id, attempt_id)
        if found is None:
            return UNKNOWN_CALL
        call_session, attempt = found
        return _question(db, call_session, attempt, again=again)


def _question(
    db: Session, call_session: CallSession, attempt: CallAttempt, *, again: bool = False
) -> Plan:
    """How did it go: the campaign's keypad keys, or log it in chat; '#' for the next voter."""
    if not _was_dialed(attempt):
        return _next_only(int(call_session.id or 0), int(attempt.id or 0))
    config = _config(db, attempt.campaign_id)
    return _question_plan(config, attempt, _logged_code(db, attempt), again=again)


def _question_plan(
    config: CampaignConfig, attempt: CallAttempt, logged: str | None, *, again: bool
) -> Plan:
    session_id, attempt_id = int(attempt.session_id or 0), int(attempt.id or 0)
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
    lead = "" if again else _LEAD.get(attempt.call_status or "", "The call ended.") + " "
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
    services: Services, config: CampaignConfig, attempt: CallAttempt, logged: str | None, key: str
) -> Plan:
    """Log the keyed outcome unless one is logged already; say so, then ask what next."""
    code = next((c for c in keypad_codes(config) if str(c.keypad) == key), None)
    if logged is not None:
        said = Say(f"Already logged: {_label(config, logged)}.")
    elif code is None:
        said = Say(f"Key {key} does not log an outcome here.")
    else:
        text, recorded = _record_key(services, attempt, code)
        said, logged = Say(text), code.code if recorded else None
    return (said, *_question_plan(config, attempt, logged, again=True))


def _record_key(services: Services, attempt: CallAttempt, code: ResultCode) -> tuple[str, bool]:
    """Record the keyed outcome once (a repeated webhook finds its key); what to say, and
    whether it is recorded."""
    outcome = Outcome(
        voter_id=attempt.voter_id,
        result_code=code.code,
        batch_id=attempt.batch_id,
        volunteer_id=attempt.volunteer_id,
        call_attempt_id=attempt.id,
        request_key=f"twilio:keypad:{attempt.id}",
    )
    try:
        record_outcome(services.engine, outcome, clock=services.clock)
    except OutcomeError:
        log.warning("keypad outcome for attempt %s was refused", attempt.id)
        return "That cannot be logged from the keypad; log it in chat.", False
    if attempt.volunteer_id is not None and attempt.batch_id is not None:
        text = f"Logged from your keypad: {code.label}."
        show_batch(services, attempt.volunteer_id, attempt.batch_id, text, Tone.SUCCESS)
    return f"Logged {code.label}.", True


def _record_wrong_number(services: Services, attempt_id: int) -> None:
    """Twilio says the voter's number cannot be called: the campaign's wrong-number outcome."""
    with read_session(services.engine) as db:
        attempt = db.get(CallAttempt, attempt_id)
        if attempt is None or _logged_code(db, attempt) is not None:
            return
        config = _config(db, attempt.campaign_id)
    code = next((c for c in config.result_codes if c.action is ResultAction.WRONG_NUMBER), None)
    if code is None:
        return
    outcome = Outcome(
        voter_id=attempt.voter_id,
        result_code=code.code,
        batch_id=attempt.batch_id,
        volunteer_id=attempt.volunteer_id,
        call_attempt_id=attempt.id,
        request_key=f"twilio:wrong-number:{attempt_id}",
    )
    record_outcome(services.engine, outcome, clock=services.clock)


def _next_only(session_id: int, attempt_id: int) -> Plan:
    return _gather("Press # for the next voter, or hang up.", session_id, attempt_id)


def _gather(prompt: str, session_id: int, attempt_id: int) -> Plan:
    return (Gather(prompt, session_id, attempt_id), Redirect(session_id, attempt_id))


# --- Reading and moving state ---------------------------------------------------------------


def _session_attempt(
    db: Session, session_id: int, attempt_id: int
) -> tuple[CallSession, CallAttempt] | None:
    """The session and its attempt, when both exist and belong together."""
    call_session = db.get(CallSession, session_id)
    attempt = db.get(CallAttempt, attempt_id)
    if call_session is None or attempt is None or attempt.session_id != session_id:
        return None
    return call_session, attempt


def _card_of(db: Session, attempt: CallAttempt) -> BatchCard | None:
    """The open card of the attempt's voter on its batch."""
    return db.exec(
        select(BatchCard)
        .join(BatchItem, col(BatchItem.card_id) == col(BatchCard.id))
        .where(
            col(BatchItem.voter_id) == attempt.voter_id,
            col(BatchItem.batch_id) == attempt.batch_id,
            col(BatchItem.released_at).is_(None),
        )
    ).first()


def _was_dialed(attempt: CallAttempt) -> bool:
    """Whether a voter leg existed: an attempt refused at the moment of dialing never had one."""
    return not (attempt.call_status == "canceled" and attempt.call_sid is None)


def _logged_code(db: Session, attempt: CallAttempt) -> str | None:
    """The outcome already logged for this call's voter on this batch (keypad or chat)."""
    if attempt.result_code is not None:
        return attempt.result_code
    return db.exec(
        select(BatchItem.result_code).where(
            col(BatchItem.voter_id) == attempt.voter_id,
            col(BatchItem.batch_id) == attempt.batch_id,
            col(BatchItem.result_code).is_not(None),
        )
    ).first()


def _advance_session(
    db: Session, services: Services, call_session: CallSession, event: LegEvent
) -> bool:
    """Move the session's state forward with a callback of its leg; whether it moved."""
    if call_session.call_sid is None and event.call_sid:
        call_session.call_sid = event.call_sid
    if not moves_forward(call_session.status, event.status) or call_session.ended_at:
        db.add(call_session)
        return False
    now = services.clock.now()
    call_session.status = event.status
    if event.status == "in-progress" and call_session.answered_at is None:
        call_session.answered_at = now
    if event.status in ENDED:
        call_session.ended_at = now
        call_session.end_reason = "hung_up" if call_session.answered_at else event.status
        _cancel_undialed(db, call_session)
    db.add(call_session)
    return True


def _cancel_undialed(db: Session, call_session: CallSession) -> None:
    """The session ended before its current voter was dialed: that call never happens."""
    if call_session.current_attempt_id is None:
        return
    attempt = db.get(CallAttempt, call_session.current_attempt_id)
    if attempt is not None and status_rank(attempt.call_status) <= 0:
        attempt.call_status = "canceled"
        attempt.ended_at = attempt.ended_at or call_session.ended_at
        db.add(attempt)


def _config(db: Session, campaign_id: int) -> CampaignConfig:
    campaign = db.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} is gone")
    return campaign_config(campaign.config)


def _label(config: CampaignConfig, code: str) -> str:
    known = config.result_code(code)
    return known.label if known else code
