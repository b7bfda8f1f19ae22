"""Call: ring the volunteer's phone once, then bridge to each voter of the batch from that call.

Before every call: the volunteer's own phone proven (a verified phone in the campaign's
countries, an allowed SIP domain, or the browser softphone: handlers/verification.py; telephony
checks again before it rings), the card the volunteer's and open, the number not on the do-not-call
list, and the voter inside calling hours now (a batch claimed at 20:55 is not called at 21:05);
handlers/dialing.py holds those checks, shared with the live session's dials (handlers/voice.py).
The call attempt is stored first, with the request's key under a unique index, so a retried
press finds it and never rings twice.

A batch is worked in a calling session: the first Call rings the volunteer; while that call is
live, a Call (or Next) redirects it to dial the chosen voter (`continue_session`), so one press
is always exactly one voter call. The simulated backend has no volunteer leg: its session is live
at once, and each press places a call of its own. Telephony's errors become clear chat text and
state; none is retried, and no voter leaves the card because of one. The voter's number goes to
telephony only, never to chat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.alerts import alert_organizers
from handlers.batch import batch_view, own_batch, own_card
from handlers.cards import join_names, render_batch
from handlers.context import (
    CallHandle,
    CallRequest,
    Context,
    Services,
    TelephonyError,
    TelephonyFailure,
)
from handlers.dialing import (
    StatusReport,
    dial_refusal,
    first_time,
    moves_forward,
    open_voters,
    status_rank,
    uncalled_cards,
    update_attempt,
)
from handlers.limits import check_calls
from handlers.refusal import Refusal, int_value
from handlers.replies import Reply, Tone
from handlers.softphone import ring_target
from handlers.verification import ring_problem
from matching.leases import renew_lease
from matching.pool import campaign_config
from storage.attempts import NOT_PLACED as NOT_PLACED_STATUS
from storage.db import read_session, session_scope
from storage.models import (
    Batch,
    BatchCard,
    CallAttempt,
    CallSession,
    Campaign,
    ProcessedEvent,
    Volunteer,
    Voter,
)

log = logging.getLogger(__name__)
# A volunteer's phone rings for about a minute; a session still "ringing" long after that lost
# its status callbacks, and must not block the batch.
RING_TIMEOUT = timedelta(minutes=2)
CALLER_ID_TEXT = "Calls are paused: the campaign's caller id is not set up; organizers are told."
_FAILURE_TEXT = {
    TelephonyFailure.OUTAGE: "Twilio is not answering; try again in a minute.",
    TelephonyFailure.RATE_LIMITED: "Twilio is not answering; try again in a minute.",
    TelephonyFailure.CALLER_ID: CALLER_ID_TEXT,
    TelephonyFailure.BLOCKED: "Calls cannot ring that destination; check your phone in `signup`.",
}
NOT_PLACED = "The call could not be placed; try again in a moment."
NEVER_PLACED = "Your last Call did not go through (Phonebank restarted): press Call again."
# Longer than a placing takes (telephony's own timeout is 10 s): a press found still "placing"
# after that, with no ring, was never handed to telephony (the process died in between).
PLACING_TIMEOUT = timedelta(seconds=15)
CALLER_ID_ALERT_QUIET = timedelta(hours=1)  # every Call press fails the same way until fixed


@dataclass(frozen=True)
class _Start:
    batch_id: int
    attempt_id: int
    request: CallRequest | None  # None: a retry of a call already placed (or being placed)
    names: str
    session_id: int | None = None
    live_call_sid: str | None = None  # the volunteer's live call, to continue instead of ringing
    campaign_slug: str = ""


def call(ctx: Context, value: str) -> Reply:
    """Call the phone on a card: your phone rings first, then the voter's."""
    start = _start(ctx, int_value(value))
    if start.live_call_sid is not None:
        text = f"Calling {start.names} on your open line."
    else:
        text = f"Calling: your phone rings first, then we connect you to {start.names}."
    tone = Tone.INFO
    if start.request is not None:
        failure = _place(ctx.services, start)
        if failure is not None:
            text, tone = failure, Tone.WARNING
    elif _never_placed(ctx.services, start.attempt_id):
        text, tone = NEVER_PLACED, Tone.WARNING
    return render_batch(batch_view(ctx, start.batch_id), text, tone)


def next_call(ctx: Context, value: str) -> Reply:
    """Next: call the batch's next card nobody has called yet, on your open line."""
    batch_id = int_value(value)
    with read_session(ctx.services.engine) as session:
        own_batch(session, ctx, batch_id)
        earlier = _earlier(session, ctx)
        cards = uncalled_cards(session, batch_id)
    if earlier is not None:
        return call(ctx, "0")  # a retried press: `_start` finds the call it placed
    if not cards:
        text = "Everyone on this batch has been called: log the outcomes, or press I'm done."
        return render_batch(batch_view(ctx, batch_id), text)
    return call(ctx, str(cards[0].id))


def leave_voicemail(ctx: Context, value: str) -> Reply:
    """Drop voicemail: leave the campaign's recorded message on the machine that answered."""
    card_id = int_value(value)
    services = ctx.services
    with session_scope(services.engine) as session:
        card, batch = own_card(session, ctx, card_id)
        campaign = session.get(Campaign, batch.campaign_id)
        url = campaign_config(campaign.config).voicemail_url if campaign else None
        if url is None:
            raise Refusal("This campaign has no recorded voicemail to leave.")
        attempt = _voter_on_the_line(session, card)
        if attempt is None or attempt.call_sid is None:
            raise Refusal("Nobody is on the line on that card: drop it while the machine answers.")
        key = f"voicemail:{attempt.id}"
        first = first_time(session.connection(), key, "chat:voicemail", services.clock.now())
        batch_id, leg = int(batch.id or 0), attempt.call_sid
    text = "Leaving your campaign's voicemail; log the call when it ends."
    if not first:
        text = "The voicemail is being left already."
    else:
        try:
            services.telephony.drop_voicemail(leg, url)
        except TelephonyError:
            _forget_event(services, key)  # not left: the button may be pressed again
            text = "The voicemail could not be played; the call goes on."
    return render_batch(batch_view(ctx, batch_id), text)


def call_status_changed(services: Services, call_sid: str, status: str) -> None:
    """Telephony's report on a call placed on its own (the simulated backend): store it forward
    only, and show the volunteer their updated card."""
    with read_session(services.engine) as session:
        attempt_id = session.exec(
            select(CallAttempt.id).where(col(CallAttempt.call_sid) == call_sid)
        ).first()
    if attempt_id is not None:
        update_attempt(services, attempt_id, StatusReport(status))


def _start(ctx: Context, card_id: int) -> _Start:
    _within_call_limit(ctx, card_id)
    try:
        with session_scope(ctx.services.engine) as session:
            return _start_in(session, ctx, card_id)
    except IntegrityError:
        # The same press, retried alongside: its first attempt stored the call meanwhile.
        with read_session(ctx.services.engine) as session:
            earlier = _earlier(session, ctx)
            if earlier is None:
                raise
            return earlier


def _within_call_limit(ctx: Context, card_id: int) -> None:
    """A refusal when the asker placed their campaign's calls per hour (not for a retry)."""
    if ctx.volunteer_id is None:
        return
    with read_session(ctx.services.engine) as session:
        card = session.get(BatchCard, card_id)
        batch = session.get(Batch, card.batch_id) if card is not None else None
        campaign = session.get(Campaign, batch.campaign_id) if batch is not None else None
        if campaign is None or _earlier(session, ctx) is not None:
            return
        limits = campaign_config(campaign.config).limits
    check_calls(ctx, ctx.volunteer_id, limits)


def _start_in(session: Session, ctx: Context, card_id: int) -> _Start:
    earlier = _earlier(session, ctx)
    if earlier is not None:
        return earlier
    card, batch = own_card(session, ctx, card_id)
    if card.released_at is not None or batch.closed_at is not None:
        raise Refusal("That card is closed: its outcome is logged, or it went back to the list.")
    voters = open_voters(session, card)
    if not voters:
        raise Refusal("Nobody is left to call on that card.")
    campaign = session.get(Campaign, batch.campaign_id)
    volunteer = session.get(Volunteer, batch.volunteer_id)
    ring = ring_target(volunteer) if volunteer else None
    if campaign is None or volunteer is None or not ring:
        raise Refusal("Add your phone number with `signup` first: calls ring it.")
    missing = ring_problem(volunteer, ctx.services.phone_policy)
    if missing is not None:  # changed since the batch was taken, or a stale button
        raise Refusal(f"We cannot ring you yet. {missing}")
    config = campaign_config(campaign.config)
    now = ctx.services.clock.now()
    reason = dial_refusal(session, card.phone, voters[0], now, config)
    if reason is not None:
        raise Refusal(f"Not now: {reason}. Skip this card, or log it later.")
    attempt = CallAttempt(
        campaign_id=batch.campaign_id,
        voter_id=int(voters[0].id or 0),
        volunteer_id=batch.volunteer_id,
        batch_id=batch.id,
        started_at=now,
        call_status="placing",
        request_key=ctx.request_key,
    )
    session.add(attempt)
    session.flush()
    # Renewing the lease writes the batch row: from here on, presses on this batch take turns.
    lease = timedelta(minutes=config.batch_lease_minutes)
    renew_lease(session.connection(), int(batch.id or 0), now, lease)
    call_session = _session_for(session, ctx, batch, attempt)
    names = join_names([voter.first_name for voter in voters])
    request = CallRequest(
        attempt_id=int(attempt.id or 0),
        volunteer_phone=ring,
        voter_phone=card.phone,
        caller_id=config.caller_id,
        whisper=f"Connecting you to {names}.",
        session_id=call_session.id,
    )
    live = call_session.call_sid if call_session.answered_at is not None else None
    return _Start(
        int(batch.id or 0),
        int(attempt.id or 0),
        request,
        names,
        session_id=call_session.id,
        live_call_sid=live,
        campaign_slug=campaign.slug,
    )


def _session_for(session: Session, ctx: Context, batch: Batch, attempt: CallAttempt) -> CallSession:
    """The batch's open calling session the attempt joins, or a new one that will ring."""
    now = ctx.services.clock.now()
    call_session = session.exec(
        select(CallSession)
        .where(col(CallSession.batch_id) == batch.id, col(CallSession.ended_at).is_(None))
        .order_by(col(CallSession.id).desc())
    ).first()
    if call_session is not None and call_session.answered_at is None:
        if now - call_session.started_at < RING_TIMEOUT:
            raise Refusal("Your phone is ringing: answer it, and we dial the voter for you.")
        call_session.ended_at, call_session.end_reason = now, "no_status"
        session.add(call_session)
        call_session = None
    if call_session is not None and call_session.call_sid and _on_a_call(session, call_session):
        raise Refusal("You are on a call: finish it (press * to hang up on the voter) first.")
    if call_session is None:
        call_session = CallSession(
            campaign_id=batch.campaign_id,
            volunteer_id=batch.volunteer_id,
            batch_id=int(batch.id or 0),
            started_at=now,
        )
        session.add(call_session)
        session.flush()
    attempt.session_id = call_session.id
    call_session.current_attempt_id = attempt.id
    session.add_all([attempt, call_session])
    return call_session


def _on_a_call(session: Session, call_session: CallSession) -> bool:
    """Whether the session's current voter leg is still up (a redirect would cut it off)."""
    if call_session.current_attempt_id is None:
        return False
    current = session.get(CallAttempt, call_session.current_attempt_id)
    return current is not None and 0 < status_rank(current.call_status) < status_rank("completed")


def _voter_on_the_line(session: Session, card: BatchCard) -> CallAttempt | None:
    """The card's call whose voter's leg is up now (answered, by a person or a machine)."""
    voter_ids = [int(voter.id or 0) for voter in open_voters(session, card)]
    return session.exec(
        select(CallAttempt)
        .where(
            col(CallAttempt.batch_id) == card.batch_id,
            col(CallAttempt.voter_id).in_(voter_ids),
            col(CallAttempt.call_status) == "in-progress",
            col(CallAttempt.result_code).is_(None),
        )
        .order_by(col(CallAttempt.id).desc())
    ).first()


def _never_placed(services: Services, attempt_id: int) -> bool:
    """A press run again (handlers/requests.py) whose first run stored its call but died
    before telephony rang the volunteer: the attempt and its silent session end as not placed
    (not counted, the card not skipped), so the volunteer is told and a new press rings once."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        attempt = session.get(CallAttempt, attempt_id)
        if attempt is None or attempt.call_status != "placing" or attempt.call_sid is not None:
            return False
        call_session = session.get(CallSession, attempt.session_id) if attempt.session_id else None
        if call_session is None or call_session.call_sid is not None:
            return False  # handed over: the volunteer's leg exists (or a live call continues)
        if now - attempt.started_at < PLACING_TIMEOUT:
            return False  # the first run may still be placing it
        attempt.call_status, attempt.ended_at = NOT_PLACED_STATUS, now
        if call_session.ended_at is None:
            call_session.ended_at, call_session.end_reason = now, "not_placed"
        session.add_all([attempt, call_session])
    return True


def _forget_event(services: Services, key: str) -> None:
    with session_scope(services.engine) as session:
        for event in session.exec(select(ProcessedEvent).where(col(ProcessedEvent.key) == key)):
            session.delete(event)


def _earlier(session: Session, ctx: Context) -> _Start | None:
    """The call a first attempt of this request stored, if any."""
    if ctx.request_key is None:
        return None
    attempt = session.exec(
        select(CallAttempt).where(col(CallAttempt.request_key) == ctx.request_key)
    ).first()
    if attempt is None or attempt.batch_id is None:
        return None
    voter = session.get(Voter, attempt.voter_id)
    names = voter.first_name if voter else "the voter"
    return _Start(attempt.batch_id, int(attempt.id or 0), None, names)


def _place(services: Services, start: _Start) -> str | None:
    """Hand the call to telephony and store what it says; the chat text of a failure, or None."""
    assert start.request is not None
    try:
        if start.live_call_sid is not None:
            handle = services.telephony.continue_session(start.live_call_sid, start.request)
        else:
            handle = services.telephony.place_call(start.request)
    except TelephonyError as exc:
        return _failed(services, start, exc.failure, exc.code)
    except Exception as exc:  # the backend's own errors: the volunteer sees "try again"
        # The type only: a backend's message may quote phone numbers, which logs never carry.
        log.warning("placing call attempt %s failed: %s", start.attempt_id, type(exc).__name__)
        return _failed(services, start, TelephonyFailure.OTHER, None)
    if handle.status == "failed":
        return _failed(services, start, TelephonyFailure.OTHER, None)
    _placed(services, start, handle)
    return None


def _placed(services: Services, start: _Start, handle: CallHandle) -> None:
    """A volunteer leg's sid goes on the session; a call of its own (simulated) on the attempt,
    and its session counts as live at once."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        attempt = session.get(CallAttempt, start.attempt_id)
        call_session = session.get(CallSession, start.session_id) if start.session_id else None
        if handle.volunteer_leg and call_session is not None:
            call_session.call_sid = call_session.call_sid or handle.call_sid or None
            if not moves_forward(handle.status, call_session.status):  # never backwards
                call_session.status = handle.status
            session.add(call_session)
        elif attempt is not None:
            attempt.call_sid = handle.call_sid or None
            if moves_forward(attempt.call_status, handle.status):
                attempt.call_status = handle.status
            session.add(attempt)
            if call_session is not None and call_session.answered_at is None:
                call_session.answered_at, call_session.status = now, "in-progress"
                session.add(call_session)


def _failed(services: Services, start: _Start, failure: TelephonyFailure, code: int | None) -> str:
    """The call was not placed: the attempt failed with the error code, the voter stays on the
    card; a session that never rang (or whose call is gone) ends. The text for the volunteer."""
    now = services.clock.now()
    keep_session = start.live_call_sid is not None and failure in (
        TelephonyFailure.OUTAGE,
        TelephonyFailure.RATE_LIMITED,
    )
    with session_scope(services.engine) as session:
        attempt = session.get(CallAttempt, start.attempt_id)
        if attempt is not None:
            attempt.call_status, attempt.error_code = "failed", code
            attempt.ended_at = now
            session.add(attempt)
        call_session = session.get(CallSession, start.session_id) if start.session_id else None
        if call_session is not None and not keep_session and call_session.ended_at is None:
            call_session.ended_at, call_session.end_reason = now, f"failed:{failure}"[:32]
            session.add(call_session)
    if failure is TelephonyFailure.CALLER_ID:
        alert = (
            f"Calls for campaign {start.campaign_slug} are paused: Twilio refuses its caller id "
            f"(error {code}). Use a number the Twilio account owns or has verified."
        )
        alert_organizers(
            services,
            "telephony.caller_id",
            alert,
            target=start.campaign_slug,
            quiet_for=CALLER_ID_ALERT_QUIET,
        )
    if failure is TelephonyFailure.INVALID_NUMBER and start.live_call_sid is None:
        return "Twilio cannot ring your phone; fix it with `signup`."
    return _FAILURE_TEXT.get(failure, NOT_PLACED)
