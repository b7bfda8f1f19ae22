"""Which campaign a conversation is about.

The rule: the campaign an organizer chose for this workspace (`/phonebank campaign use SLUG`,
stored per workspace), else the only campaign there is. With several campaigns and no choice,
volunteers are told to ask an organizer, who is shown the slugs to pick from.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from handlers.context import Context
from handlers.refusal import Refusal
from handlers.replies import Fact, Reply, Section, Tone
from storage.campaign_config import CampaignConfig, CampaignConfigError
from storage.campaign_store import campaign_config, get_campaign, list_campaigns
from storage.db import read_session, session_scope
from storage.models import AuditLog, Campaign, ChatWorkspace, Role


@dataclass(frozen=True)
class ActiveCampaign:
    id: int
    slug: str
    name: str
    config: CampaignConfig


def active_campaign(ctx: Context) -> ActiveCampaign:
    """The campaign of this workspace, or a refusal that says how to get one."""
    with read_session(ctx.services.engine) as session:
        campaign = _chosen(session, ctx) or _only(session, ctx)
        try:
            config = campaign_config(campaign)
        except CampaignConfigError:
            raise Refusal(
                f"The campaign {campaign.slug!r} has an invalid configuration; an organizer"
                " can fix it with `phonebank campaign load`."
            ) from None
        return ActiveCampaign(int(campaign.id or 0), campaign.slug, campaign.name, config)


def show_campaign(ctx: Context, args: list[str]) -> Reply:
    """Which campaign this workspace is calling for."""
    current = active_campaign(ctx)
    facts = (
        Fact("Campaign", f"{current.name} ({current.slug})"),
        Fact("Languages", ", ".join(current.config.scripts)),
        Fact("Batch size", str(current.config.batch_size)),
    )
    return Reply(text=f"Calling for {current.name}.", sections=(Section("", facts=facts),))


def use_campaign(ctx: Context, args: list[str]) -> Reply:
    """Choose the campaign this workspace calls for: `campaign use SLUG`."""
    if len(args) != 1:
        return Reply(text="Say which one: `campaign use SLUG`.", tone=Tone.WARNING)
    engine, now = ctx.services.engine, ctx.services.clock.now()
    with session_scope(engine) as session:
        campaign = get_campaign(session, args[0])
        if campaign is None:
            raise Refusal(f"There is no campaign {args[0]!r}. {_slugs(session)}")
        choice = _workspace(session, ctx) or ChatWorkspace(
            platform=ctx.platform, workspace=ctx.workspace, updated_at=now
        )
        choice.campaign_id, choice.updated_by, choice.updated_at = campaign.id, ctx.identity, now
        session.add(choice)
        session.add(
            AuditLog(
                at=now,
                actor=ctx.identity,
                action="campaign.use",
                target=campaign.slug,
                detail={"platform": str(ctx.platform), "workspace": ctx.workspace},
            )
        )
        name = campaign.name
    return Reply(text=f"This workspace now calls for {name}.", tone=Tone.SUCCESS)


def _chosen(session: Session, ctx: Context) -> Campaign | None:
    choice = _workspace(session, ctx)
    if choice is None or choice.campaign_id is None:
        return None
    return session.get(Campaign, choice.campaign_id)


def _only(session: Session, ctx: Context) -> Campaign:
    campaigns = list_campaigns(session)
    if len(campaigns) == 1:
        return campaigns[0]
    if not campaigns:
        raise Refusal(
            "There is no campaign yet: an organizer loads one with"
            " `phonebank campaign load campaign.yml`."
        )
    if ctx.has_role(Role.ORGANIZER):
        raise Refusal(f"Pick this workspace's campaign with `campaign use SLUG`. {_slugs(session)}")
    raise Refusal("There are several campaigns and none is chosen here yet; ask an organizer.")


def _workspace(session: Session, ctx: Context) -> ChatWorkspace | None:
    return session.exec(
        select(ChatWorkspace).where(
            col(ChatWorkspace.platform) == ctx.platform,
            col(ChatWorkspace.workspace) == ctx.workspace,
        )
    ).first()


def _slugs(session: Session) -> str:
    slugs = [campaign.slug for campaign in list_campaigns(session)]
    return f"Campaigns: {', '.join(slugs)}." if slugs else "There are no campaigns yet."
