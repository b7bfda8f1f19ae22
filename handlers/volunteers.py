"""Organizers certify, suspend and reinstate volunteers by hand, each change in the audit log.

`volunteer certify NAME` marks every training module of the workspace's campaign passed (by
hand: no score) and the volunteer certified; `suspend` stops them at once: their open batches
go back to the pool and they cannot claim, call or log until `reinstate`. NAME is a mention or
a volunteer's exact name (case-insensitive); a name two volunteers share asks for a mention.
"""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from handlers.campaigns import ActiveCampaign, active_campaign
from handlers.context import Context
from handlers.identity import parse_mention
from handlers.refusal import Refusal
from handlers.replies import Reply, Tone
from handlers.training import missing_modules
from matching.leases import release_batch
from storage.db import read_session, session_scope
from storage.models import AuditLog, Batch, ChatIdentity, TrainingProgress, Volunteer
from storage.models import VolunteerStatus as Status

USAGE = "`volunteer certify|suspend|reinstate NAME` (a mention or their name)"
MAX_NAME = 200


def certify(ctx: Context, args: list[str]) -> Reply:
    """Certify a volunteer by hand, as if they had passed the training."""
    campaign = active_campaign(ctx)
    with session_scope(ctx.services.engine) as session:
        volunteer = _find(session, ctx, args)
        if volunteer.status == Status.SUSPENDED:
            raise Refusal(f"{volunteer.name} is suspended: reinstate them first.")
        if volunteer.status == Status.CERTIFIED and not missing_modules(
            session, _id(volunteer), campaign
        ):
            return Reply(text=f"{volunteer.name} is certified already; nothing changed.")
        _pass_every_module(ctx, session, volunteer, campaign)
        volunteer.status = Status.CERTIFIED
        _audit(ctx, session, "volunteer.certify", volunteer, campaign=campaign.slug)
        name = volunteer.name
    return Reply(text=f"{name} is certified to call for {campaign.name}.", tone=Tone.SUCCESS)


def suspend(ctx: Context, args: list[str]) -> Reply:
    """Suspend a volunteer: their open batch goes back to the list, no new ones."""
    with session_scope(ctx.services.engine) as session:
        volunteer = _find(session, ctx, args)
        if volunteer.status == Status.SUSPENDED:
            return Reply(text=f"{volunteer.name} is suspended already; nothing changed.")
        previous = volunteer.status
        volunteer.status = Status.SUSPENDED
        _audit(ctx, session, "volunteer.suspend", volunteer, previous=previous)
        volunteer_id, name = _id(volunteer), volunteer.name
    returned = _release_open_batches(ctx, volunteer_id)
    voters = (
        f" {returned} voter{'s' if returned != 1 else ''} went back to the list."
        if returned
        else ""
    )
    return Reply(text=f"{name} is suspended: no batches or calls.{voters}", tone=Tone.SUCCESS)


def reinstate(ctx: Context, args: list[str]) -> Reply:
    """Lift a suspension: the volunteer is back where their training left them."""
    campaign = active_campaign(ctx)
    with session_scope(ctx.services.engine) as session:
        volunteer = _find(session, ctx, args)
        if volunteer.status != Status.SUSPENDED:
            return Reply(text=f"{volunteer.name} is not suspended; nothing changed.")
        certified = not missing_modules(session, _id(volunteer), campaign)
        volunteer.status = Status.CERTIFIED if certified else Status.APPLICANT
        _audit(ctx, session, "volunteer.reinstate", volunteer, status=volunteer.status)
        name = volunteer.name
    return Reply(text=f"{name} is reinstated and can call again.", tone=Tone.SUCCESS)


def _find(session: Session, ctx: Context, args: list[str]) -> Volunteer:
    wanted = " ".join(args).strip()
    if not wanted or len(wanted) > MAX_NAME:
        raise Refusal(f"Say who: {USAGE}.")
    user_id = parse_mention(wanted) if wanted.startswith(("<@", "@")) else None
    if user_id is not None:
        identity = session.exec(
            select(ChatIdentity).where(
                ChatIdentity.platform == str(ctx.platform),
                ChatIdentity.workspace == ctx.workspace,
                ChatIdentity.user_id == user_id,
            )
        ).first()
        found = (
            session.get(Volunteer, identity.volunteer_id)
            if identity and identity.volunteer_id
            else None
        )
        if found is None:
            raise Refusal(f"{wanted} has not signed up, so there is nobody to change.")
        return found
    named = session.exec(
        select(Volunteer).where(func.lower(Volunteer.name) == wanted.lower()).limit(3)
    ).all()
    if not named:
        raise Refusal(f"No volunteer is called {wanted!r}; mention them instead.")
    if len(named) > 1:
        raise Refusal(f"Several volunteers are called {wanted!r}; mention the one you mean.")
    return named[0]


def _pass_every_module(
    ctx: Context, session: Session, volunteer: Volunteer, campaign: ActiveCampaign
) -> None:
    now = ctx.services.clock.now()
    rows = {
        row.module: row
        for row in session.exec(
            select(TrainingProgress).where(
                TrainingProgress.volunteer_id == _id(volunteer),
                TrainingProgress.campaign_id == campaign.id,
            )
        )
    }
    for module in campaign.config.training:
        row = rows.get(module.id) or TrainingProgress(
            volunteer_id=_id(volunteer), campaign_id=campaign.id, module=module.id
        )
        if not row.passed:
            row.passed, row.completed_at, row.answers = True, now, ""
            session.add(row)


def _release_open_batches(ctx: Context, volunteer_id: int) -> int:
    with read_session(ctx.services.engine) as session:
        open_ids = session.exec(
            select(Batch.id).where(
                Batch.volunteer_id == volunteer_id, col(Batch.closed_at).is_(None)
            )
        ).all()
    clock = ctx.services.clock
    return sum(
        release_batch(ctx.services.engine, int(batch_id or 0), clock=clock, reason="suspended")
        for batch_id in open_ids
    )


def _audit(
    ctx: Context, session: Session, action: str, volunteer: Volunteer, **detail: str
) -> None:
    session.add(
        AuditLog(
            at=ctx.services.clock.now(),
            actor=ctx.identity,
            action=action,
            target=f"volunteer:{volunteer.id}",
            detail={"name": volunteer.name, **{k: str(v) for k, v in detail.items()}},
        )
    )


def _id(volunteer: Volunteer) -> int:
    return int(volunteer.id or 0)
