"""Rallies: when a region's callable voters outnumber its callers, ask for help in its channel.

For each campaign whose file names rally channels (`rally.channels`, region -> channel), the
check counts, per region (the voter's state), the voters a claim could hand out now (the same
eligibility as the claim: in the pool, inside their calling hours, not on the do-not-call list)
and the volunteers holding an open batch with voters there. It rallies when the voters reach
`min_voters` and exceed `voters_per_caller` × callers, at most once per `interval_minutes` per
region: the send ledger remembers the last rally, and its unique key (one per interval) keeps
two leaders from posting twice. Outside calling hours nobody is callable, so nothing is posted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select
from sqlmodel import col
from sqlmodel import select as sqlmodel_select

from handlers.context import Platform, Services
from handlers.replies import Button, ButtonStyle, Reply
from handlers.send_ledger import Ledger, Sent
from matching.eligibility import pool_conditions, pool_params, pool_rules
from matching.pool import distinct_zone_keys
from matching.tables import BATCH, ITEM, VOTER
from matching.zones import callable_keys
from storage.campaign_config import CampaignConfig, CampaignConfigError, RallyChannel
from storage.campaign_store import campaign_config
from storage.db import read_session
from storage.models import Campaign, SendLedger

RALLY_JOB = "rally"


@dataclass(frozen=True)
class RegionCount:
    region: str
    voters: int
    callers: int


def rally_where_needed(services: Services, ledger: Ledger) -> int:
    """Post a rally in every region that needs one now; how many were posted."""
    now = services.clock.now()
    posted = 0
    for campaign_id, config in _rallying_campaigns(services):
        for count in region_counts(services, campaign_id, config, now):
            channel = config.rally.channels[count.region]
            if _needs_rally(config, count) and not _rallied_lately(
                services, campaign_id, count.region, now, config.rally.interval_minutes
            ):
                posted += _rally(services, ledger, campaign_id, config, channel, count, now)
    return posted


def region_counts(
    services: Services, campaign_id: int, config: CampaignConfig, now: datetime
) -> list[RegionCount]:
    """Callable voters and callers on, for each region with a rally channel."""
    regions = sorted(config.rally.channels)
    with services.engine.connect() as conn:
        keys = callable_keys(distinct_zone_keys(conn, campaign_id), now, config.calling_hours)
        voters = _callable_by_region(conn, campaign_id, config, now, keys, regions) if keys else {}
        callers = _callers_by_region(conn, campaign_id, regions)
        conn.rollback()
    return [RegionCount(r, voters.get(r, 0), callers.get(r, 0)) for r in regions]


def _needs_rally(config: CampaignConfig, count: RegionCount) -> bool:
    rally = config.rally
    return (
        count.voters >= rally.min_voters and count.voters > rally.voters_per_caller * count.callers
    )


def _callable_by_region(
    conn: Connection,
    campaign_id: int,
    config: CampaignConfig,
    now: datetime,
    keys: list[str],
    regions: list[str],
) -> dict[str, int]:
    dialect = conn.dialect.name
    rules = pool_rules(campaign_id, config, now, keys)
    rows = conn.execute(
        select(VOTER.c.state, func.count())
        .where(*pool_conditions(dialect), VOTER.c.state.in_(regions))
        .group_by(VOTER.c.state),
        pool_params(rules),
    ).all()
    return {str(state): int(count) for state, count in rows}


def _callers_by_region(conn: Connection, campaign_id: int, regions: list[str]) -> dict[str, int]:
    rows = conn.execute(
        select(VOTER.c.state, func.count(func.distinct(BATCH.c.volunteer_id)))
        .select_from(BATCH.join(ITEM, ITEM.c.batch_id == BATCH.c.id))
        .join(VOTER, VOTER.c.id == ITEM.c.voter_id)
        .where(
            BATCH.c.campaign_id == campaign_id,
            BATCH.c.closed_at.is_(None),
            VOTER.c.state.in_(regions),
        )
        .group_by(VOTER.c.state)
    ).all()
    return {str(state): int(count) for state, count in rows}


def _rallying_campaigns(services: Services) -> list[tuple[int, CampaignConfig]]:
    found = []
    with read_session(services.engine) as session:
        for campaign in session.exec(sqlmodel_select(Campaign)):
            try:
                config = campaign_config(campaign)
            except CampaignConfigError:
                continue
            if config.rally.channels:
                found.append((int(campaign.id or 0), config))
    return found


def _kind_prefix(campaign_id: int, region: str) -> str:
    return f"rally:{campaign_id}:{region}:"


def _rallied_lately(
    services: Services, campaign_id: int, region: str, now: datetime, minutes: int
) -> bool:
    with read_session(services.engine) as session:
        latest = session.exec(
            sqlmodel_select(func.max(col(SendLedger.claimed_at))).where(
                col(SendLedger.job) == RALLY_JOB,
                col(SendLedger.kind).startswith(_kind_prefix(campaign_id, region)),
            )
        ).one()
    return latest is not None and now - latest < timedelta(minutes=minutes)


def _rally(
    services: Services,
    ledger: Ledger,
    campaign_id: int,
    config: CampaignConfig,
    channel: RallyChannel,
    count: RegionCount,
    now: datetime,
) -> int:
    interval = config.rally.interval_minutes * 60
    bucket = int(now.timestamp()) // interval
    name = channel.name or count.region
    callers = "1 caller" if count.callers == 1 else f"{count.callers} callers"
    reply = Reply(
        text=f"{name}: {count.voters:,} voters callable now, {callers} on. Join now!",
        buttons=(Button("Get a batch", "pb:batch:claim", "", ButtonStyle.PRIMARY),),
        ephemeral=False,
    )
    platform = Platform(channel.platform)

    def post() -> Sent:
        services.notifier.to_channel(platform, channel.channel, reply)
        return Sent.SENT

    recipient = f"{platform}:{channel.channel}"
    kind = f"{_kind_prefix(campaign_id, count.region)}{bucket}"
    return int(ledger.once(RALLY_JOB, recipient, kind, post))
