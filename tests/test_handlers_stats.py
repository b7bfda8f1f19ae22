"""My stats: dials, contacts and survey answers in the campaign's own today and week (from
Monday), only mine and only this campaign's; the reply adds the campaign's totals."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from handlers.campaigns import ActiveCampaign
from handlers.router import handle_command
from handlers.stats import Tally, volunteer_stats
from storage.campaign_config import CampaignConfig
from storage.clock import FrozenClock
from storage.db import read_session, session_scope
from tests.factories import make_attempt, make_campaign, make_volunteer, make_voter
from tests.scenarios.world import make_services, reply_text, scenario_config, signed_up_context

# Wednesday 2026-11-04 in New York (the factories' campaign time zone), 17:00 UTC = 12:00 local.
NOW = datetime(2026, 11, 4, 17, 0, tzinfo=UTC)


def test_today_and_this_week_are_the_campaigns_local_days(engine: Engine) -> None:
    config = scenario_config(time_zone="America/New_York")
    with session_scope(engine) as session:
        campaign = make_campaign(session, config)
        other_campaign = make_campaign(session)
        me, someone = make_volunteer(session), make_volunteer(session)
        voter = make_voter(session, campaign)
        elsewhere = make_voter(session, other_campaign)

        def attempt(at: datetime, code: str | None = "talked", **fields: object) -> None:
            make_attempt(session, voter, me, started_at=at, result_code=code, **fields)

        attempt(datetime(2026, 11, 4, 5, 0, tzinfo=UTC), survey={"support": "yes"})  # 00:00 local
        attempt(datetime(2026, 11, 4, 16, 0, tzinfo=UTC), "not_home")
        attempt(datetime(2026, 11, 4, 16, 30, tzinfo=UTC), None)  # a call with no result yet
        attempt(datetime(2026, 11, 4, 4, 59, tzinfo=UTC))  # 23:59 Tuesday: this week only
        attempt(datetime(2026, 11, 2, 5, 0, tzinfo=UTC), survey={"support": "no"})  # Monday 00:00
        attempt(datetime(2026, 11, 2, 4, 59, tzinfo=UTC))  # Sunday 23:59: last week
        make_attempt(session, voter, someone, started_at=NOW)
        make_attempt(session, elsewhere, me, started_at=NOW)
        current = ActiveCampaign(int(campaign.id or 0), campaign.slug, campaign.name, config)
        volunteer_id = int(me.id or 0)

    with read_session(engine) as session:
        mine = volunteer_stats(session, current, volunteer_id, NOW)

    assert mine.today == Tally(dials=3, contacts=1, surveys=1)
    assert mine.week == Tally(dials=5, contacts=3, surveys=2)


def test_the_stats_reply_has_mine_and_the_campaigns(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    with session_scope(engine) as session:
        make_campaign(session, CampaignConfig.model_validate(scenario_config().model_dump()))
    text = reply_text(handle_command(signed_up_context(services), "stats"))
    assert "Dials: 0 today, 0 this week" in text
    assert "Contact rate: none yet" in text and "Voters left to call: 0 of 0" in text
