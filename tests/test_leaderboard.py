"""Leaderboards: ranks with ties in name order, streaks across the volunteer's midnight, teams
from the campaign file, bad requests refused, and the chart sent with the reply (a Slack file
upload to the asker's DM; a path on the console)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from handlers.campaigns import ActiveCampaign
from handlers.context import Context, Platform
from handlers.leaderboard import (
    BoardRequest,
    board_reply,
    last_fire_time,
    parse_request,
    post_due_leaderboards,
)
from handlers.refusal import Refusal
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import CallRollup, ChatIdentity
from storage.standings import ranked, streak_length, streaks
from tests.factories import make_campaign, make_volunteer
from tests.fakes.slack_api import FakeSlackAPI
from tests.scenarios.console_driver import ConsoleSurface
from tests.scenarios.conversations import ANA_PHONE, sign_up
from tests.scenarios.slack_driver import SlackSurface
from tests.scenarios.standings_conversations import call_and_log
from tests.scenarios.world import (
    RecordingNotifier,
    World,
    make_services,
    reply_text,
    scenario_config,
    voter,
)

PNG = "89504e470d0a1a0a"


def test_ties_share_a_rank_and_are_listed_by_name() -> None:
    board = ranked(
        [
            ("v:1", "zoe", 3),
            ("v:2", "Bea", 5),
            ("v:3", "al", 3),
            ("v:4", "Cy", 1),
            ("v:5", "Nil", 0),
        ]
    )
    assert [(s.rank, s.name, s.tied) for s in board] == [
        (1, "Bea", False),
        (2, "al", True),
        (2, "zoe", True),
        (4, "Cy", False),
    ]  # a volunteer with nothing is not ranked


def test_an_empty_board() -> None:
    assert ranked([]) == []


def test_a_streak_is_alive_until_the_volunteers_day_ends() -> None:
    days = {date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)}
    assert streak_length(days, date(2026, 11, 3)) == 3
    assert streak_length(days, date(2026, 11, 4)) == 3  # nothing yet today: not broken
    assert streak_length(days, date(2026, 11, 5)) == 0  # a whole day missed
    assert streak_length(days | {date(2026, 10, 30)}, date(2026, 11, 3)) == 3  # a gap ends it


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([], BoardRequest("week", "contacts", None)),
        (["today"], BoardRequest("today", "contacts", None)),
        (["all", "by", "Dials", "teams"], BoardRequest("all", "dials", "team")),
        (["by", "follow-through"], BoardRequest("week", "shifts", None)),
        (["areas", "by", "streaks"], BoardRequest("week", "streak", "area")),
    ],
)
def test_requests_are_read(words: list[str], expected: BoardRequest) -> None:
    assert parse_request(words, "contacts") == expected


@pytest.mark.parametrize("words", [["by", "luck"], ["yesterday"], ["by"], ["today", "now"]])
def test_bad_requests_are_refused_with_the_usage(words: list[str]) -> None:
    with pytest.raises(Refusal) as refused:
        parse_request(words, "contacts")
    assert "leaderboard [today|week|all]" in refused.value.reply.text


def test_teams_from_the_campaign_file_count_hidden_members(
    engine: Engine, clock: FrozenClock
) -> None:
    config = scenario_config(
        teams=[
            {"name": "North", "members": ["slack:U1", "ann@example.org"]},
            {"name": "South", "members": ["slack:U3"]},
        ]
    )
    today = date(2026, 11, 3)  # the clock's day in New York
    with session_scope(engine) as session:
        campaign = make_campaign(session, config)
        ann = make_volunteer(session, name="Ann", email="ANN@example.org", leaderboard_hidden=True)
        ben, cat = make_volunteer(session, name="Ben"), make_volunteer(session, name="Cat")
        session.add(
            ChatIdentity(
                platform="slack",
                workspace="T1",
                user_id="U1",
                volunteer_id=ben.id,
                created_at=clock.now(),
            )
        )
        session.add(
            ChatIdentity(
                platform="slack",
                workspace="T1",
                user_id="U3",
                volunteer_id=cat.id,
                created_at=clock.now(),
            )
        )
        for person, contacts in ((ann, 2), (ben, 1), (cat, 3)):
            for day in (today, today - timedelta(days=1)):
                session.add(
                    CallRollup(
                        campaign_id=campaign.id,
                        volunteer_id=person.id,
                        day=day,
                        dials=contacts,
                        contacts=contacts,
                    )
                )
        current = ActiveCampaign(int(campaign.id or 0), campaign.slug, campaign.name, config)
    ctx = Context(Platform.SLACK, "T1", "U9", make_services(engine, clock))
    teams = reply_text(board_reply(ctx, current, BoardRequest("all", "contacts", "team")))
    assert "1= North: 6" in teams and "1= South: 6" in teams  # Ann is hidden but counts
    people = reply_text(board_reply(ctx, current, BoardRequest("all", "contacts", None)))
    assert "1. Cat: 6" in people and "2. Ben: 2" in people and "Ann" not in people


def test_a_volunteer_with_no_calls_is_told_so(engine: Engine, clock: FrozenClock) -> None:
    config = scenario_config()
    with session_scope(engine) as session:
        campaign = make_campaign(session, config)
        me, other = make_volunteer(session, name="Me"), make_volunteer(session, name="Other")
        session.add(
            CallRollup(
                campaign_id=campaign.id, volunteer_id=other.id, day=date(2026, 11, 3), dials=1
            )
        )
        current = ActiveCampaign(int(campaign.id or 0), campaign.slug, campaign.name, config)
    ctx = Context(Platform.SLACK, "T1", "U9", make_services(engine, clock), volunteer_id=me.id)
    text = reply_text(board_reply(ctx, current, BoardRequest("all", "dials", None)))
    assert "1. Other: 1" in text and "You have no dials here yet" in text


def _one_contact(world: World, surface: SlackSurface | ConsoleSurface) -> None:
    world.campaign([voter("Maria", 1)])
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    ana.command("batch")
    call_and_log(ana, "Maria")


def test_the_chart_is_uploaded_to_the_askers_dm_on_slack(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    world = World(engine, clock)
    surface = SlackSurface(world, fake_slack)
    try:
        _one_contact(world, surface)
        assert fake_slack.calls("file_upload") == []
        assert surface.user("ana").command("leaderboard today").has("1. Ana: 1")
        [uploaded] = fake_slack.calls("file_upload")
        assert uploaded.body["head"] == PNG and uploaded.body["size"] > 1000
        [done] = fake_slack.calls("files.completeUploadExternal")
        assert done.body["channel_id"].startswith("D")  # the asker's DM, not the channel
    finally:
        surface.close()


def test_the_console_prints_the_charts_path(engine: Engine, clock: FrozenClock) -> None:
    world = World(engine, clock)
    surface = ConsoleSurface(world)
    _one_contact(world, surface)
    shown = surface.user("ana").command("leaderboard today")
    [path] = [
        line.split("[chart: ")[1].rstrip("]")
        for line in shown.text.splitlines()
        if "[chart: " in line
    ]
    assert Path(path).read_bytes()[:8].hex() == PNG


def test_the_board_is_posted_once_per_scheduled_time(engine: Engine) -> None:
    """18:00 in New York each day: a run at 18:05 posts, a second run does not, the next day's
    run posts again; a run more than an hour late skips that time."""
    config = scenario_config(leaderboard={"schedule": "0 18 * * *", "channel": "#phones"})
    clock = FrozenClock(datetime(2026, 11, 3, 23, 5, tzinfo=UTC))  # 18:05 in New York
    with session_scope(engine) as session:
        campaign = make_campaign(session, config)
        ana = make_volunteer(session, name="Ana")
        session.add(
            CallRollup(
                campaign_id=campaign.id, volunteer_id=ana.id, day=date(2026, 11, 3), contacts=2
            )
        )
    services = make_services(engine, clock)
    notifier = services.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert post_due_leaderboards(services) == 1
    assert post_due_leaderboards(services) == 0
    [(platform, channel, reply)] = notifier.to_channels
    assert (platform, channel, reply.ephemeral) == ("slack", "#phones", False)
    assert "1. Ana: 2" in reply_text(reply) and reply.image_file
    clock.advance(timedelta(days=1))
    assert post_due_leaderboards(services) == 1
    clock.advance(timedelta(hours=2))  # 20:05: the 18:00 post is done, nothing new is due
    assert post_due_leaderboards(services) == 0
    assert len(notifier.to_channels) == 2


def test_the_last_fire_time_follows_the_campaigns_zone() -> None:
    now = datetime(2026, 11, 3, 22, 59, tzinfo=UTC)  # 17:59 in New York
    fired = last_fire_time("0 18 * * *", "America/New_York", now)
    assert fired is not None and fired.astimezone(UTC) == datetime(2026, 11, 2, 23, 0, tzinfo=UTC)


def test_streaks_follow_each_volunteers_midnight(engine: Engine) -> None:
    """At 07:30 UTC it is 23:30 yesterday in Los Angeles and 02:30 today in New York: a run
    that ended two days ago by the server's date is still alive in Los Angeles only."""
    now = datetime(2026, 11, 3, 7, 30, tzinfo=UTC)
    runs = {
        ("+13105550101", "la_recent"): [date(2026, 11, 1), date(2026, 11, 2)],
        ("+12125550101", "ny_recent"): [date(2026, 11, 1), date(2026, 11, 2)],
        ("+13105550102", "la_older"): [date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1)],
        ("+12125550102", "ny_older"): [date(2026, 10, 31), date(2026, 11, 1)],
        ("+12125550103", "ny_gap"): [date(2026, 10, 29), date(2026, 11, 1), date(2026, 11, 3)],
    }
    with session_scope(engine) as session:
        campaign = make_campaign(session, scenario_config())
        ids = {}
        for (phone, name), days in runs.items():
            volunteer = make_volunteer(session, name=name, phone=phone)
            ids[name] = volunteer.id
            for day in days:
                session.add(
                    CallRollup(campaign_id=campaign.id, volunteer_id=volunteer.id, day=day, dials=1)
                )
        campaign_id = int(campaign.id or 0)
    with engine.connect() as conn:
        found = streaks(conn, campaign_id, "America/New_York", now)
    assert {name: found.get(vid, 0) for name, vid in ids.items()} == {
        "la_recent": 2,
        "ny_recent": 2,
        "la_older": 3,  # their today is Nov 2: yesterday (Nov 1) ends the run
        "ny_older": 0,  # their today is Nov 3: Nov 2 was missed
        "ny_gap": 1,  # today only
    }
