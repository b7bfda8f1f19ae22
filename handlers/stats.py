"""My figures (dials, contacts, survey answers today and this week) and the campaign's totals.

Days and weeks are the campaign's own (its `time_zone`; a week starts on Monday). A dial is a
call attempt; a contact is one logged with a result of kind `contact`; a survey answer is an
attempt with at least one answer. Counted by the database, like storage/reports.py, which
gives the campaign's totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, func, select
from sqlmodel import Session, col

from handlers.campaigns import ActiveCampaign, active_campaign
from handlers.context import Context
from handlers.refusal import signed_up
from handlers.replies import Fact, Reply, Section
from storage.attempts import was_rung
from storage.campaign_config import ResultKind
from storage.db import read_session
from storage.models import CallAttempt, Campaign
from storage.reports import campaign_stats, local_day_bounds


@dataclass(frozen=True)
class Tally:
    dials: int
    contacts: int
    surveys: int


@dataclass(frozen=True)
class MyStats:
    today: Tally
    week: Tally


def stats(ctx: Context, args: list[str]) -> Reply:
    """Your calls today and this week, and the campaign's totals."""
    volunteer_id = signed_up(ctx)
    current = active_campaign(ctx)
    now = ctx.services.clock.now()
    with read_session(ctx.services.engine) as session:
        mine = volunteer_stats(session, current, volunteer_id, now)
        campaign = session.get(Campaign, current.id)
        assert campaign is not None
        totals = campaign_stats(session, campaign, current.config, now)
    you = Section(
        "You",
        facts=(
            Fact("Dials", f"{mine.today.dials} today, {mine.week.dials} this week"),
            Fact("Contacts", f"{mine.today.contacts} today, {mine.week.contacts} this week"),
            Fact("Survey answers", f"{mine.today.surveys} today, {mine.week.surveys} this week"),
        ),
    )
    rate = f"{totals.contact_rate:.0%}" if totals.contact_rate is not None else "none yet"
    left = totals.voters_by_status.get("ready", 0)
    everyone = Section(
        current.name,
        facts=(
            Fact("Dials", f"{totals.attempts_today} today, {totals.attempts} in all"),
            Fact("Contacts", f"{totals.contacts_today} today, {totals.contacts} in all"),
            Fact("Contact rate", rate),
            Fact("Voters left to call", f"{left} of {totals.voters_total}"),
        ),
    )
    return Reply(text="Your calling so far.", sections=(you, everyone))


def volunteer_stats(
    session: Session, campaign: ActiveCampaign, volunteer_id: int, now: datetime
) -> MyStats:
    """The volunteer's tallies for the campaign's local today and this week (from Monday)."""
    zone = ZoneInfo(campaign.config.time_zone)
    today = now.astimezone(zone).date()
    day_start, day_end = local_day_bounds(today, zone)
    week_start, _ = local_day_bounds(today - timedelta(days=today.weekday()), zone)
    contact_codes = [c.code for c in campaign.config.result_codes if c.kind is ResultKind.CONTACT]
    started = col(CallAttempt.started_at)
    in_day = and_(started >= day_start, started < day_end)
    is_contact = col(CallAttempt.result_code).in_(contact_codes or [""])
    # '{}' is how both databases print an empty JSON object (JSON text on SQLite, JSONB here).
    answered = cast(col(CallAttempt.survey), String) != "{}"
    row = session.execute(
        select(
            func.count().filter(in_day),
            func.count().filter(and_(in_day, is_contact)),
            func.count().filter(and_(in_day, answered)),
            func.count(),
            func.count().filter(is_contact),
            func.count().filter(answered),
        ).where(
            col(CallAttempt.campaign_id) == campaign.id,
            col(CallAttempt.volunteer_id) == volunteer_id,
            was_rung(
                col(CallAttempt.call_sid),
                col(CallAttempt.call_status),
                col(CallAttempt.result_code),
            ),
            started >= week_start,
            started < day_end,
        )
    ).one()
    return MyStats(today=Tally(*row[:3]), week=Tally(*row[3:]))
