"""Call: ring the volunteer's phone, then bridge to the voter, through the Telephony port.

Before every call: the card must be the volunteer's and open, the number not on the do-not-call
list, and the voter inside calling hours now (a batch claimed at 20:55 is not called at 21:05).
The call attempt is stored first, with the request's key under a unique index, so a retried
press finds it and never rings twice. The voter's number goes to telephony only, never to chat.
Progress reported by telephony (`call_status_changed`) updates the attempt and the card.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.batch import batch_view, own_card
from handlers.cards import join_names, load_batch, render_batch
from handlers.context import CallHandle, CallRequest, Context, Services
from handlers.refusal import Refusal, int_value
from handlers.replies import Reply, Tone
from matching.leases import renew_lease
from matching.zones import calling_zone_key, key_verdict
from storage.campaign_config import CampaignConfig
from storage.db import read_session, session_scope
from storage.models import BatchCard, BatchItem, CallAttempt, Campaign, DncEntry, Volunteer, Voter

log = logging.getLogger(__name__)
ENDED = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


@dataclass(frozen=True)
class _Start:
    batch_id: int
    attempt_id: int
    request: CallRequest | None  # None: a retry of a call already placed (or being placed)
    names: str


def call(ctx: Context, value: str) -> Reply:
    """Call the phone on a card: your phone rings first, then the voter's."""
    start = _start(ctx, int_value(value))
    text = f"Calling: your phone rings first, then we connect you to {start.names}."
    tone = Tone.INFO
    if start.request is not None:
        handle = _place(ctx.services, start)
        if handle.status == "failed":
            text, tone = "The call could not be placed; try again in a moment.", Tone.WARNING
    return render_batch(batch_view(ctx, start.batch_id), text, tone)


def call_status_changed(services: Services, call_sid: str, status: str) -> None:
    """Telephony's report on a call: store it, and show the volunteer their updated card."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        attempt = session.exec(
            select(CallAttempt).where(col(CallAttempt.call_sid) == call_sid)
        ).first()
        if attempt is None:
            return
        attempt.call_status = status
        if status in ENDED and attempt.ended_at is None:
            attempt.ended_at = now
            attempt.duration_s = int((now - attempt.started_at).total_seconds())
        session.add(attempt)
        volunteer_id, batch_id = attempt.volunteer_id, attempt.batch_id
    if volunteer_id is None or batch_id is None:
        return
    with read_session(services.engine) as session:
        view = load_batch(session, batch_id)
    if view is not None:
        services.notifier.to_volunteer(volunteer_id, render_batch(view))


def _start(ctx: Context, card_id: int) -> _Start:
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


def _start_in(session: Session, ctx: Context, card_id: int) -> _Start:
    card, batch = own_card(session, ctx, card_id)
    earlier = _earlier(session, ctx)
    if earlier is not None:
        return earlier
    if card.released_at is not None or batch.closed_at is not None:
        raise Refusal("That card is closed: its outcome is logged, or it went back to the list.")
    voters = _open_voters(session, card)
    if not voters:
        raise Refusal("Nobody is left to call on that card.")
    campaign = session.get(Campaign, batch.campaign_id)
    volunteer = session.get(Volunteer, batch.volunteer_id)
    if campaign is None or volunteer is None or not volunteer.phone:
        raise Refusal("Add your phone number with `signup` first: calls ring it.")
    config = CampaignConfig.model_validate(campaign.config)
    _check_callable(session, ctx, card, voters[0], config)
    now = ctx.services.clock.now()
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
    lease = timedelta(minutes=config.batch_lease_minutes)
    renew_lease(session.connection(), int(batch.id or 0), now, lease)
    names = join_names([voter.first_name for voter in voters])
    request = CallRequest(
        attempt_id=int(attempt.id or 0),
        volunteer_phone=volunteer.phone,
        voter_phone=card.phone,
        caller_id=config.caller_id,
        whisper=f"Connecting you to {names}.",
    )
    return _Start(int(batch.id or 0), int(attempt.id or 0), request, names)


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


def _open_voters(session: Session, card: BatchCard) -> list[Voter]:
    return list(
        session.exec(
            select(Voter)
            .join(BatchItem, col(BatchItem.voter_id) == col(Voter.id))
            .where(col(BatchItem.card_id) == card.id, col(BatchItem.released_at).is_(None))
            .order_by(col(Voter.id))
        ).all()
    )


def _check_callable(
    session: Session, ctx: Context, card: BatchCard, voter: Voter, config: CampaignConfig
) -> None:
    """The do-not-call list and calling hours, checked again at the moment of the call."""
    listed = session.exec(select(DncEntry.id).where(col(DncEntry.phone) == card.phone)).first()
    if listed is not None:
        raise Refusal("This number is on the do-not-call list now: skip the card.")
    key = voter.calling_zone_key
    if key is None:
        key = calling_zone_key(voter.phone, voter.state, voter.time_zones, voter.zip)
    verdict = key_verdict(key, ctx.services.clock.now(), config.calling_hours)
    if not verdict.ok:
        raise Refusal(f"Not now: {verdict.reason}. Skip this card, or log it later.")


def _place(services: Services, start: _Start) -> CallHandle:
    """Hand the call to telephony and store its id; a failure is stored as `failed`."""
    assert start.request is not None
    try:
        handle = services.telephony.place_call(start.request)
    except Exception as exc:  # the backend's own errors: the volunteer sees "try again"
        # The type only: a backend's message may quote phone numbers, which logs never carry.
        log.warning("placing call attempt %s failed: %s", start.attempt_id, type(exc).__name__)
        handle = CallHandle(call_sid="", status="failed")
    with session_scope(services.engine) as session:
        attempt = session.get(CallAttempt, start.attempt_id)
        if attempt is not None:
            attempt.call_sid = handle.call_sid or None
            attempt.call_status = handle.status
            session.add(attempt)
    return handle
