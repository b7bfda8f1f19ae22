"""The console surface: every conversation scenario, typed into the console on both databases,
and a scripted session of `phonebank console` through standard input."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL
from typer.testing import CliRunner

import bot.cli.console
import handlers.verification
from bot.cli import app
from bot.cli.demo import EXAMPLES, calling_hours_clock
from storage import migrate
from storage.clock import FrozenClock
from storage.db import make_engine
from tests.scenarios.console_driver import ConsoleSurface
from tests.scenarios.conversations import SCENARIOS, Scenario
from tests.scenarios.world import World, phones_in, scenario_config, voter


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_scenario_on_the_console(scenario: Scenario, engine: Engine, clock: FrozenClock) -> None:
    world = World(engine, clock)
    surface = ConsoleSurface(world)

    scenario(world, surface)

    assert phones_in(surface.everything_shown(), world.voter_phones()) == []


# --- `phonebank console` through standard input -------------------------------------------


@pytest.fixture
def console_db(
    empty_db_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> Iterator[World]:
    """A migrated database with a campaign of two voters; the CLI reads it at `clock`'s time."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", empty_db_url.render_as_string(hide_password=False))
    monkeypatch.setattr(bot.cli.console, "clock", clock)
    migrate.upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    world = World(engine, clock)
    world.campaign([voter("Maria", 1, language="es"), voter("Dave", 2)])
    yield world
    engine.dispose()


SESSION = [
    "batch",  # not signed up yet: offered the form
    "signup",
    "Ana Lopez",
    "(512) 555-0142",
    "",  # SIP address: none, calls ring the phone
    "",  # area code: the phone's
    "1,2",  # English, Spanish
    "y",
    "batch",  # the phone is not verified yet: refused, saying how
    "verify 123456",  # the code the console showed as texted
    "batch",
    "1a",  # Call Maria
    "1c",  # Log outcome for Maria
    "1",  # Talked to voter
    "",  # language heard
    "1",  # support: yes
    "",  # vote plan
    "Friendly",
    "2b",  # Skip Dave
    "stats",
    "dance",
    "quit",
]


def test_a_scripted_console_session(console_db: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers.verification, "new_code", lambda: "123456")
    result = CliRunner().invoke(app, ["console", "--as", "Ana Lopez"], input="\n".join(SESSION))

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "you are Ana Lopez, a volunteer" in out
    assert "Sign up first" in out and "You're signed up, Ana!" in out
    assert "Your Phonebank code is 123456" in out and "not verified yet" in out
    assert "Your phone is verified" in out
    assert "Hola Maria, soy Ana Lopez. Vote en Maria's School." in out
    assert "[1a] Call   [1b] Skip   [1c] Log outcome" in out
    assert "Calling: your phone rings first" in out
    assert "Logged for Maria: Talked to voter." in out and "Skipped." in out
    assert "Dials: 1 today, 1 this week" in out
    assert "I don't know `dance`" in out and out.rstrip().endswith("Bye! Thanks for calling.")
    assert phones_in(out, console_db.voter_phones()) == []
    [attempt] = console_db.rows("SELECT result_code, notes, survey FROM call_attempt")
    assert (attempt.result_code, attempt.notes) == ("talked", "Friendly")
    [identity] = console_db.rows("SELECT platform, workspace, user_id FROM chat_identity")
    assert tuple(identity) == ("console", "local", "ana-lopez")


def test_the_console_ends_at_end_of_input_and_cancels_forms(console_db: World) -> None:
    result = CliRunner().invoke(app, ["console", "--as", "ana"], input="signup\nAna\ncancel\n9\n")
    assert result.exit_code == 0, result.output
    assert "Cancelled." in result.stdout and "There is no button [9]" in result.stdout
    assert console_db.rows("SELECT id FROM volunteer") == []


def test_an_organizer_console_may_choose_the_campaign(console_db: World) -> None:
    script = "help\ncampaign use nope\ncampaign\nquit\n"
    out = CliRunner().invoke(app, ["console", "--as", "olga", "--organizer"], input=script).stdout
    assert "you are olga, an organizer" in out and "campaign use SLUG" in out
    assert "There is no campaign 'nope'" in out and "Calling for Austin GOTV" in out


def test_the_console_needs_a_migrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    result = CliRunner().invoke(app, ["console"], input="quit\n")
    assert result.exit_code == 1 and "phonebank demo" in result.stderr


def test_the_demo_opens_the_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLES, examples, ignore=shutil.ignore_patterns("*.rejects.csv"))
    result = CliRunner().invoke(
        app, ["demo", "--examples", str(examples), "--as", "dee"], input="help\nquit\n"
    )
    assert result.exit_code == 0, result.output
    assert "voters total" in result.stdout and "you are dee, a volunteer" in result.stdout
    assert "Bye!" in result.stdout


@pytest.mark.parametrize(
    ("utc", "pretend"),
    [
        (datetime(2026, 11, 3, 20, 0, tzinfo=UTC), None),  # Tuesday 12:00 in Los Angeles
        (datetime(2026, 11, 4, 7, 0, tzinfo=UTC), "Tuesday 14:30"),  # Tuesday 23:00
        (datetime(2026, 11, 8, 12, 0, tzinfo=UTC), "Monday 14:30"),  # Sunday 04:00; closed
    ],
)
def test_a_demo_at_night_pretends_to_be_inside_calling_hours(
    utc: datetime, pretend: str | None
) -> None:
    hours = {day: "08:00-21:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat")}
    config = scenario_config(
        time_zone="America/Los_Angeles", calling_hours=hours | {"sun": "closed"}
    )
    real = FrozenClock(utc)

    clock, note = calling_hours_clock(config, real)

    if pretend is None:
        assert clock is real and note is None
        return
    assert note is not None and f"pretends it is {pretend} there" in note
    local = clock.now().astimezone(ZoneInfo("America/Los_Angeles"))
    assert f"{local:%A %H:%M}" == pretend
    real.advance(timedelta(seconds=5))
    assert clock.now() - local == timedelta(seconds=5)  # the pretend clock keeps running
