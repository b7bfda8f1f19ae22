"""Turnout goals: progress from the rollup per scope, campaign-file goals, pace and projection,
and the behind-pace alert owed to coordinators once per goal per campaign day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from handlers.goals import (
    alert_all_behind_pace,
    alert_behind_pace,
    goal_progress,
    parse_goal,
    progress_bar,
)
from handlers.refusal import Refusal
from storage.clock import FrozenClock
from storage.db import read_session, session_scope
from storage.models import CallRollup, ChatIdentity, Goal
from tests.factories import make_campaign, make_volunteer
from tests.scenarios.world import RecordingNotifier, make_services, scenario_config

NOW = datetime(2026, 11, 3, 17, 0, tzinfo=UTC)  # Tuesday noon in New York
TODAY = date(2026, 11, 3)


def seed(engine: Engine, **config: object) -> tuple[int, int, int]:
    """A campaign, a volunteer with 3 contacts a day in 512 over the last 4 days, and a
    coordinator; (campaign id, volunteer id, coordinator's volunteer id)."""
    campaign_config = scenario_config(
        goals=[{"metric": "contacts", "target": 100, "deadline": "2026-11-10"}], **config
    )
    with session_scope(engine) as session:
        campaign = make_campaign(session, campaign_config)
        caller, boss = make_volunteer(session, name="Caller"), make_volunteer(session, name="Boss")
        for back in range(4):
            session.add(
                CallRollup(
                    campaign_id=campaign.id,
                    volunteer_id=caller.id,
                    day=TODAY - timedelta(days=back),
                    area_code="512",
                    dials=5,
                    contacts=3,
                )
            )
        session.add(
            ChatIdentity(
                platform="slack",
                workspace="T1",
                user_id="UBOSS",
                volunteer_id=boss.id,
                roles=["coordinator"],
                created_at=NOW,
            )
        )
        return int(campaign.id or 0), int(caller.id or 0), int(boss.id or 0)


def test_a_file_goal_is_shown_with_pace_and_projection(engine: Engine) -> None:
    campaign_id, _, _ = seed(engine)
    clock = FrozenClock(NOW)
    services = make_services(engine, clock)
    alert_behind_pace(services, campaign_id)  # syncs the file's goal into a row
    with read_session(engine) as session:
        config = scenario_config(
            goals=[{"metric": "contacts", "target": 100, "deadline": "2026-11-10"}]
        )
        [p] = goal_progress(session.connection(), campaign_id, config, NOW)
    assert (p.done, p.target, p.deadline, p.from_file) == (12, 100, date(2026, 11, 10), True)
    assert p.pace == pytest.approx(12 / 7)  # the last 7 days, today included
    assert p.needed == pytest.approx(88 / 8)  # 8 days left, today included
    assert p.projected == 12 + round(12 / 7 * 7)


def test_behind_pace_is_alerted_once_a_day_to_coordinators(engine: Engine) -> None:
    campaign_id, _, boss = seed(engine)
    clock = FrozenClock(NOW)
    services = make_services(engine, clock)
    notifier = services.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert alert_behind_pace(services, campaign_id) == 1
    assert alert_all_behind_pace(services) == 0  # same day: not again
    [(to, reply)] = notifier.to_volunteers
    assert to == boss and "Behind pace: contacts for the campaign at 12 of 100" in reply.text
    clock.advance(timedelta(hours=13))  # 01:00 the next day in New York
    assert alert_behind_pace(services, campaign_id) == 1
    assert len(notifier.to_volunteers) == 2


def test_a_goal_on_track_is_not_alerted(engine: Engine) -> None:
    campaign_id, _, _ = seed(engine)
    with session_scope(engine) as session:
        session.add(
            Goal(
                campaign_id=campaign_id,
                scope="area:512",
                metric="contacts",
                target=20,
                deadline=datetime(2026, 11, 10, 23, 0, tzinfo=UTC),
                created_by="slack:UBOSS",
                created_at=NOW,
            )
        )
    services = make_services(engine, FrozenClock(NOW))
    assert alert_behind_pace(services, campaign_id) == 1  # only the file's 100 is behind


def test_a_volunteer_with_no_calls_leaves_a_goal_at_zero(engine: Engine) -> None:
    config = scenario_config()
    with session_scope(engine) as session:
        campaign = make_campaign(session, config)
        session.add(
            Goal(
                campaign_id=campaign.id,
                scope="language:es",
                metric="dials",
                target=5,
                created_at=NOW,
            )
        )
        campaign_id = int(campaign.id or 0)
    with read_session(engine) as session:
        [p] = goal_progress(session.connection(), campaign_id, config, NOW)
    assert (p.done, p.pace, p.needed, p.projected) == (0, 0, None, None)


@pytest.mark.parametrize(
    ("words", "reason"),
    [
        (["contacts"], "Say what and how many"),
        (["contacts", "0"], "more than zero"),
        (["contacts", "-1"], "more than zero"),
        (["contacts", "99999999999"], "at most 10,000,000"),
        (["votes", "5"], "can't count 'votes'"),
        (["pledges", "5"], "which survey answer is a pledge"),
        (["contacts", "5", "--by", "2026-11-02"], "has passed"),
        (["contacts", "5", "--by", "next week"], "a date like"),
        (["contacts", "5", "--by"], "needs a value"),
        (["contacts", "5", "--area", "512", "--state", "TX"], "one scope"),
        (["contacts", "5", "--state", "Texas"], "not a valid state"),
    ],
)
def test_bad_goals_are_refused(words: list[str], reason: str) -> None:
    with pytest.raises(Refusal) as refused:
        parse_goal(words, scenario_config(), TODAY)
    assert reason in refused.value.reply.text


def test_good_goals_are_read() -> None:
    config = scenario_config(teams=[{"name": "North", "members": ["slack:U1"]}])
    assert parse_goal(
        ["Contacts", "5,000", "--area", "512", "--by", "2026-11-03"], config, TODAY
    ) == (
        "contacts",
        5000,
        "area:512",
        date(2026, 11, 3),
    )
    assert parse_goal(["dials", "9", "--team", "north"], config, TODAY)[2] == "team:North"
    assert parse_goal(["dials", "9", "--language", "ES"], config, TODAY)[2] == "language:es"


def test_the_progress_bar() -> None:
    assert progress_bar(0) == "░░░░░░░░░░ 0%"
    assert progress_bar(0.55) == "█████░░░░░ 55%"
    assert progress_bar(1) == "██████████ 100%"


@pytest.mark.parametrize(
    ("match", "reason"),
    [
        ({"question": "mood", "answers": ["yes"]}, "'mood' is not a survey question"),
        ({"question": "support", "answers": ["maybe"]}, "'maybe' is not a choice of 'support'"),
    ],
)
def test_a_pledge_names_a_survey_answer(match: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        scenario_config(pledge=match)
