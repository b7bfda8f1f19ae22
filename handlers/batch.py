"""Taking a batch of voters to call, skipping a card, and "I'm done".

The claim is matching's (matching/claims.py): atomic, one household per card, nobody in two
open batches. Only a volunteer whose calls can ring something proven (a verified phone in the
campaign's countries, an allowed SIP address, the browser softphone) gets one; anyone else is
told what is missing and how to fix it. A retried request (same `Context.request_key`) gets the batch its first attempt
claimed. "I'm done" returns every voter not yet called to the pool; Skip returns one card's.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from handlers.campaigns import active_campaign
from handlers.cards import CLAIM, BatchView, load_batch, render_batch
from handlers.context import Context
from handlers.limits import check_claims
from handlers.refusal import Refusal, int_value, signed_up
from handlers.replies import Button, ButtonStyle, Reply, Tone
from handlers.training import refuse_if_suspended, require_certified
from handlers.verification import ring_problem
from matching.claims import ClaimStatus, claim_batch
from matching.leases import release_batch, release_card
from storage.db import read_session
from storage.models import Batch, BatchCard, Volunteer, VolunteerStatus


def take_batch(ctx: Context, args: list[str]) -> Reply:
    """Get a batch of voters to call, matched to your area code and languages."""
    volunteer_id = signed_up(ctx)
    campaign = active_campaign(ctx)
    require_certified(ctx, volunteer_id, campaign)
    _ready_to_ring(ctx, volunteer_id)
    if _would_claim(ctx, volunteer_id, campaign.id):
        check_claims(ctx, volunteer_id, campaign.config.limits)
    services = ctx.services
    result = claim_batch(
        services.engine,
        volunteer_id,
        campaign.id,
        clock=services.clock,
        request_key=ctx.request_key,
    )
    if result.status is ClaimStatus.BUSY:
        return Reply(
            text="Others are taking voters this very moment; try again in a moment.",
            tone=Tone.WARNING,
            buttons=(Button("Try again", CLAIM, style=ButtonStyle.PRIMARY),),
        )
    if result.status is ClaimStatus.EMPTY or result.batch_id is None:
        return Reply(text=f"Nothing to call: {result.message}. Thank you for checking!")
    _release_if_suspended_meanwhile(ctx, volunteer_id, result.batch_id)
    view = batch_view(ctx, result.batch_id)
    if result.status is ClaimStatus.HELD:
        return render_batch(view, "You have a batch open: finish it, or press I'm done.")
    return render_batch(view)


def _would_claim(ctx: Context, volunteer_id: int, campaign_id: int) -> bool:
    """False when the request finds a batch instead: its own retry's, or one still open."""
    with read_session(ctx.services.engine) as session:
        open_or_retried = select(Batch.id).where(
            (col(Batch.request_key) == ctx.request_key)
            | (
                (col(Batch.volunteer_id) == volunteer_id)
                & (col(Batch.campaign_id) == campaign_id)
                & col(Batch.closed_at).is_(None)
            )
        )
        return session.exec(open_or_retried).first() is None


def _ready_to_ring(ctx: Context, volunteer_id: int) -> None:
    """A refusal saying what to prove first, unless calls can ring the volunteer."""
    with read_session(ctx.services.engine) as session:
        volunteer = session.get(Volunteer, volunteer_id)
        missing = ring_problem(volunteer, ctx.services.phone_policy) if volunteer else None
    if missing is not None:
        raise Refusal(
            Reply(
                text=f"Before you get a batch: {missing}",
                tone=Tone.WARNING,
                buttons=(Button("Edit profile", "pb:signup:open"),),
            )
        )


def _release_if_suspended_meanwhile(ctx: Context, volunteer_id: int, batch_id: int) -> None:
    """A suspension that raced this claim wins: the batch goes straight back."""
    with read_session(ctx.services.engine) as session:
        volunteer = session.get(Volunteer, volunteer_id)
        suspended = volunteer is not None and volunteer.status == VolunteerStatus.SUSPENDED
    if suspended:
        release_batch(ctx.services.engine, batch_id, clock=ctx.services.clock, reason="suspended")
        refuse_if_suspended(volunteer)


def claim(ctx: Context, value: str) -> Reply:
    """The Get a batch button."""
    return take_batch(ctx, [])


def release(ctx: Context, value: str) -> Reply:
    """I'm done: the voters not called yet go back to the list for others."""
    batch_id = int_value(value)
    with read_session(ctx.services.engine) as session:
        own_batch(session, ctx, batch_id)
    returned = release_batch(ctx.services.engine, batch_id, clock=ctx.services.clock)
    view = batch_view(ctx, batch_id)
    people = "voter" if returned == 1 else "voters"
    text = f"Thanks for calling! {returned} {people} went back to the list for others."
    return render_batch(view, text, Tone.SUCCESS)


def skip(ctx: Context, value: str) -> Reply:
    """Skip a card without calling: its voters go back to the list, no attempt counted."""
    card_id = int_value(value)
    with read_session(ctx.services.engine) as session:
        card, batch = own_card(session, ctx, card_id)
        still_open, batch_id = card.released_at is None, int(batch.id or 0)
    if still_open:
        release_card(ctx.services.engine, card_id, clock=ctx.services.clock)
    view = batch_view(ctx, batch_id)
    return render_batch(view, "Skipped. On to the next one." if still_open else None)


def batch_view(ctx: Context, batch_id: int) -> BatchView:
    """The batch as it stands now."""
    with read_session(ctx.services.engine) as session:
        view = load_batch(session, batch_id)
    if view is None:
        raise Refusal("That batch no longer exists; get a new one.")
    return view


def own_batch(session: Session, ctx: Context, batch_id: int) -> Batch:
    """The asker's batch, or a refusal: buttons of another volunteer's batch do nothing."""
    volunteer_id = signed_up(ctx)
    refuse_if_suspended(session.get(Volunteer, volunteer_id))
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise Refusal("That batch no longer exists; get a new one.")
    if batch.volunteer_id != volunteer_id:
        raise Refusal("That batch belongs to another volunteer: only they can work on it.")
    return batch


def own_card(session: Session, ctx: Context, card_id: int) -> tuple[BatchCard, Batch]:
    """The asker's card and its batch, or a refusal."""
    if ctx.volunteer_id is not None:
        refuse_if_suspended(session.get(Volunteer, ctx.volunteer_id))
    card = session.get(BatchCard, card_id)
    if card is None:
        raise Refusal("That card no longer exists; get a new batch.")
    try:
        return card, own_batch(session, ctx, card.batch_id)
    except Refusal:
        if ctx.volunteer_id is None:
            raise
        raise Refusal(
            "That card is on another volunteer's batch: only they can call it or log its outcome."
        ) from None
