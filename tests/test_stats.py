"""`phonebank stats`: exact figures on a known data set, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner, Result

import bot.cli.exports
from bot.cli import app
from storage.campaign_store import campaign_config, get_campaign
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import VoterStatus
from storage.reports import campaign_stats, local_day_bounds
from tests.factories import (
    make_attempt,
    make_batch,
    make_campaign,
    make_volunteer,
    make_voter,
)

SLUG = "stats-test"


def run(db_url: str, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock, *args: str) -> Result:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setattr(bot.cli.exports, "clock", clock)
    return CliRunner().invoke(app, list(args))


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def seed_known_campaign(engine: Engine) -> None:
    """8 voters (5 ready, 2 done, 1 removed) and 8 attempts, 5 of them today in New York.

    The clock reads 2026-11-03 15:00 UTC = 10:00 in New York (EST, UTC-5), so New York's "today"
    runs from 05:00 UTC on the 3rd to 05:00 UTC on the 4th.
    """
    with session_scope(engine) as session:
        campaign = make_campaign(session, slug=SLUG)
        caller = make_volunteer(session)
        batch = make_batch(session, campaign, caller)
        statuses = [VoterStatus.READY] * 5 + [VoterStatus.DONE] * 2 + [VoterStatus.REMOVED]
        voters = [make_voter(session, campaign, status=status) for status in statuses]
        history: list[tuple[datetime, str | None]] = [
            (utc(2, 18), "not_home"),  # yesterday
            (utc(3, 3), "talked"),  # the 3rd in UTC, but 22:00 on the 2nd in New York
            (utc(3, 4, 59), "legacy_code"),  # a code no longer in the config; 23:59 yesterday
            (utc(3, 5), "talked"),  # midnight in New York: today
            (utc(3, 14, 30), "not_home"),
            (utc(3, 14, 45), "refused"),
            (utc(3, 15), "talked"),
            (utc(3, 15), None),  # a call still in progress
        ]
        for voter, (started_at, code) in zip(voters, history, strict=True):
            make_attempt(session, voter, caller, batch, started_at=started_at, result_code=code)

        other = make_campaign(session, slug="someone-else")
        make_attempt(session, make_voter(session, other), caller, started_at=utc(3, 15))


def stats_of(engine: Engine, clock: FrozenClock) -> Any:
    with Session(engine) as session:
        campaign = get_campaign(session, SLUG)
        assert campaign is not None
        return campaign_stats(session, campaign, campaign_config(campaign), clock.now())


def test_figures_on_a_known_data_set(engine: Engine, clock: FrozenClock) -> None:
    seed_known_campaign(engine)

    stats = stats_of(engine, clock)

    assert stats.today == date(2026, 11, 3)
    assert stats.voters_by_status == {"ready": 5, "done": 2, "review": 0, "removed": 1}
    assert stats.voters_total == 8
    assert (stats.attempts, stats.contacts, stats.contact_rate) == (8, 3, 0.375)
    assert (stats.attempts_today, stats.contacts_today) == (5, 2)
    by_code = {r.code: (r.kind, r.attempts, r.today) for r in stats.by_result}
    assert by_code == {
        "talked": ("contact", 3, 2),
        "not_home": ("retry", 2, 1),
        "refused": ("terminal", 1, 1),
        "legacy_code": (None, 1, 0),
        None: (None, 1, 1),
    }
    # Config order first, then codes the config does not know.
    assert [r.code for r in stats.by_result] == [
        "talked",
        "not_home",
        "refused",
        None,
        "legacy_code",
    ]


def test_today_follows_the_clock_in_the_campaign_time_zone(
    engine: Engine, clock: FrozenClock
) -> None:
    seed_known_campaign(engine)

    clock.advance(timedelta(hours=14))  # 05:00 UTC on the 4th: a new day in New York

    stats = stats_of(engine, clock)
    assert stats.today == date(2026, 11, 4)
    assert (stats.attempts_today, stats.contacts_today) == (0, 0)
    assert (stats.attempts, stats.contacts) == (8, 3)


def test_an_empty_campaign_has_zeros_and_no_contact_rate(
    engine: Engine, clock: FrozenClock
) -> None:
    with session_scope(engine) as session:
        make_campaign(session, slug=SLUG)

    stats = stats_of(engine, clock)

    assert stats.voters_by_status == {"ready": 0, "done": 0, "review": 0, "removed": 0}
    assert (stats.attempts, stats.contacts, stats.contact_rate) == (0, 0, None)
    assert stats.by_result == []


def test_queries_are_aggregates_whose_number_does_not_grow_with_the_data(
    engine: Engine, clock: FrozenClock
) -> None:
    seed_known_campaign(engine)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        stats_of(engine, clock)
        small = len(statements)
        with session_scope(engine) as session:
            campaign = get_campaign(session, SLUG)
            assert campaign is not None
            for _ in range(20):
                make_attempt(session, make_voter(session, campaign), started_at=clock.now())
        statements.clear()
        stats = stats_of(engine, clock)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert stats.attempts == 28
    assert len(statements) == small
    assert sum("GROUP BY" in s for s in statements) == 2


def test_json_output_shape(
    engine: Engine, db_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_known_campaign(engine)

    result = run(db_url, monkeypatch, clock, "stats", "--campaign", SLUG, "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document == {
        "campaign": SLUG,
        "time_zone": "America/New_York",
        "today": "2026-11-03",
        "voters_total": 8,
        "voters_by_status": {"ready": 5, "done": 2, "review": 0, "removed": 1},
        "attempts": 8,
        "contacts": 3,
        "contact_rate": 0.375,
        "attempts_today": 5,
        "contacts_today": 2,
        "by_result": [
            {"code": "talked", "label": "Talked to voter", "kind": "contact", "attempts": 3, "today": 2},
            {"code": "not_home", "label": "Not home", "kind": "retry", "attempts": 2, "today": 1},
            {"code": "refused", "label": "Refused", "kind": "terminal", "attempts": 1, "today": 1},
            {"code": None, "label": "(no result yet)", "kind": None, "attempts": 1, "today": 1},
            {"code": "legacy_code", "label": "", "kind": None, "attempts": 1, "today": 0},
        ],
    }  # fmt: skip


def test_table_output_shows_the_figures(
    engine: Engine, db_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_known_campaign(engine)

    result = run(db_url, monkeypatch, clock, "stats", "--campaign", SLUG)

    assert result.exit_code == 0, result.output
    lines = [" ".join(line.replace("│", " ").split()) for line in result.stdout.splitlines()]
    for expected in (
        "voters ready 5",
        "voters total 8",
        "attempts 8",
        "contacts 3",
        "contact rate 37.5%",
        "attempts today 5",
        "contacts today 2",
        "talked Talked to voter contact 3 2",
    ):
        assert expected in lines


@pytest.mark.parametrize("flags", [[], ["--json"]])
@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("nope", "error: no campaign 'nope' (see `phonebank campaign list`)"),
        ("broken", "error: the stored configuration of 'broken' is invalid: "),
    ],
)
def test_bad_campaign_is_one_clear_line(
    engine: Engine,
    db_url: str,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    slug: str,
    message: str,
) -> None:
    with session_scope(engine) as session:
        broken = make_campaign(session, slug="broken")
        broken.config = {"slug": "broken", "batch_size": 0}  # stored before a schema change

    result = run(db_url, monkeypatch, clock, "stats", "--campaign", slug, *flags)

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message)


def test_local_day_bounds_span_25_hours_when_daylight_saving_ends() -> None:
    start, end = local_day_bounds(date(2026, 11, 1), ZoneInfo("America/New_York"))
    assert start == utc(1, 4)  # EDT midnight
    assert end == utc(2, 5)  # EST midnight
