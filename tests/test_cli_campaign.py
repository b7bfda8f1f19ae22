"""`phonebank init` and `phonebank campaign load/list/show`, through the real CLI."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import URL, Engine
from sqlmodel import func, select
from typer.testing import CliRunner, Result

import bot.cli.campaign as campaign_cli
from bot.cli import app
from storage import migrate
from storage.campaign_config import load_campaign_config
from storage.campaign_store import campaign_config, get_campaign
from storage.clock import FrozenClock
from storage.db import make_engine, session_scope
from storage.models import AuditLog, Campaign

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "campaign.yml"
INVALID = """\
slug: broken
name: Broken
caller_id: "+1 555 010 0000"
scripts: {en: Hi}
result_codes:
  - {code: talked, label: Talked, kind: contact, keypad: 1}
  - {code: dnc, label: Do not call, kind: never, action: dnc, keypad: 1}
calling_hours:
  mon: 18:00-09:00
recordin: true
"""


def run(url: str | URL, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """Invoke `phonebank ARGS` against the database at `url`."""
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", text)
    return CliRunner().invoke(app, list(args))


def example_file(tmp_path: Path, name: str | None = None) -> Path:
    """The demo campaign, copied to `tmp_path` (renamed when `name` is given)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    if name is not None:
        text = text.replace("name: Riverside County GOTV 2026", f"name: {name}")
    path = tmp_path / "campaign.yml"
    path.write_text(text, encoding="utf-8")
    return path


def stored_counts(engine: Engine) -> tuple[int, int]:
    with session_scope(engine) as session:
        campaigns = session.exec(select(func.count()).select_from(Campaign)).one()
        logs = session.exec(select(func.count()).select_from(AuditLog)).one()
    return campaigns, logs


@pytest.fixture(autouse=True)
def frozen_cli_clock(clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    monkeypatch.setattr(campaign_cli, "clock", clock)
    return clock


# --- phonebank init ------------------------------------------------------------------------------


def test_init_writes_the_starter_and_creates_the_database(
    empty_db_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "new" / "campaign.yml"
    result = run(empty_db_url, monkeypatch, "init", "--dir", str(target.parent))
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == campaign_cli.starter_text()
    load_campaign_config(target.read_text(encoding="utf-8"), str(target))
    assert f"phonebank campaign load {target}" in result.stdout
    assert migrate.current_revision(empty_db_url) == migrate.head_revision()
    engine = make_engine(empty_db_url)
    try:
        assert inspect(engine).has_table("campaign")
        assert inspect(engine).has_table("voter")
    finally:
        engine.dispose()


def test_init_refuses_to_overwrite_without_force(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "campaign.yml"
    target.write_text("slug: mine\n", encoding="utf-8")
    result = run(db_url, monkeypatch, "init", "--dir", str(tmp_path))
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert "--force" in result.stderr
    assert target.read_text(encoding="utf-8") == "slug: mine\n"


def test_init_with_force_overwrites_and_migrating_again_is_harmless(
    empty_db_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(empty_db_url, monkeypatch, "init", "--dir", str(tmp_path)).exit_code == 0
    target = tmp_path / "campaign.yml"
    target.write_text("slug: mine\n", encoding="utf-8")
    result = run(empty_db_url, monkeypatch, "init", "--dir", str(tmp_path), "--force")
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == campaign_cli.starter_text()
    assert migrate.current_revision(empty_db_url) == migrate.head_revision()


def test_init_on_an_unreachable_database_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://nobody@127.0.0.1:1/none"
    result = run(url, monkeypatch, "init", "--dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: database error:")
    assert not (tmp_path / "campaign.yml").exists()


# --- phonebank campaign load ---------------------------------------------------------------------


def test_load_stores_a_valid_campaign(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    path = example_file(tmp_path)
    result = run(db_url, monkeypatch, "campaign", "load", str(path))
    assert result.exit_code == 0, result.output
    assert "Campaign 'demo' created" in result.stdout
    with session_scope(engine) as session:
        stored = get_campaign(session, "demo")
    assert stored is not None
    assert campaign_config(stored) == load_campaign_config(path.read_text(encoding="utf-8"))
    assert stored.config_source == path.read_text(encoding="utf-8")
    assert stored.created_at == clock.now()
    assert stored_counts(engine) == (1, 1)


def test_reloading_updates_the_campaign_instead_of_duplicating_it(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    assert run(db_url, monkeypatch, "campaign", "load", str(example_file(tmp_path))).exit_code == 0
    clock.advance(timedelta(minutes=5))
    path = example_file(tmp_path, name="Riverside GOTV, final week")
    result = run(db_url, monkeypatch, "campaign", "load", str(path))
    assert result.exit_code == 0, result.output
    assert "Campaign 'demo' updated" in result.stdout
    with session_scope(engine) as session:
        stored = get_campaign(session, "demo")
    assert stored is not None
    assert stored.name == "Riverside GOTV, final week"
    assert stored.updated_at == clock.now()
    assert stored_counts(engine) == (1, 2)


def test_an_invalid_file_lists_every_problem_and_stores_nothing(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(INVALID, encoding="utf-8")
    result = run(db_url, monkeypatch, "campaign", "load", str(path))
    assert result.exit_code == 1
    problem_lines = [line for line in result.stderr.splitlines() if line.startswith(str(path))]
    assert [
        re.match(rf"{re.escape(str(path))}:(\d+): ([\w.]+): ", line).groups()
        for line in problem_lines
    ] == [  # type: ignore[union-attr]
        ("3", "caller_id"),
        ("7", "result_codes.1.keypad"),
        ("7", "result_codes.1.kind"),
        ("9", "calling_hours.mon"),
        ("10", "recordin"),
    ]
    assert "5 problems in" in result.stderr
    assert "nothing was stored" in result.stderr
    assert stored_counts(engine) == (0, 0)


def test_a_yaml_syntax_error_is_reported_with_its_line(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "campaign.yml"
    path.write_text("slug: x\nname: a: b\n", encoding="utf-8")
    result = run(db_url, monkeypatch, "campaign", "load", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:2: YAML syntax error: ")
    assert stored_counts(engine) == (0, 0)


def test_check_validates_without_storing(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(db_url, monkeypatch, "campaign", "load", "--check", str(example_file(tmp_path)))
    assert result.exit_code == 0, result.output
    assert "is valid" in result.stdout
    assert stored_counts(engine) == (0, 0)


def test_notes_are_printed_for_hours_past_the_legal_cap(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = example_file(tmp_path)
    path.write_text(path.read_text().replace("sat: 10:00-19:00", "sat: 07:00-22:00"))
    result = run(db_url, monkeypatch, "campaign", "load", str(path))
    assert result.exit_code == 0, result.output
    assert "note: calling_hours.sat: calls are placed only within 08:00-21:00" in result.stderr


def test_a_missing_file_is_one_error_line(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(db_url, monkeypatch, "campaign", "load", str(tmp_path / "nope.yml"))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot read")


def test_loading_into_a_database_without_tables_says_what_to_run(
    empty_db_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(empty_db_url, monkeypatch, "campaign", "load", str(example_file(tmp_path)))
    assert result.exit_code == 1
    assert "run `phonebank init` or `phonebank db upgrade`" in result.stderr


# --- phonebank campaign list / show --------------------------------------------------------------


def test_list_and_show_a_stored_campaign(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "No campaigns yet" in run(db_url, monkeypatch, "campaign", "list").stdout
    assert run(db_url, monkeypatch, "campaign", "load", str(example_file(tmp_path))).exit_code == 0
    listed = run(db_url, monkeypatch, "campaign", "list")
    assert listed.exit_code == 0, listed.output
    assert "demo" in listed.stdout
    assert "+12025550142" in listed.stdout
    shown = run(db_url, monkeypatch, "campaign", "show", "demo", "--scripts")
    assert shown.exit_code == 0, shown.output
    for expected in (
        "do_not_call",
        "language_barrier",
        "plan_to_vote",
        "calling-basics",
        "America/Los_Angeles",
        "{{ polling_place",
    ):
        assert expected in shown.stdout


def test_show_an_unknown_campaign_fails(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(db_url, monkeypatch, "campaign", "show", "nope")
    assert result.exit_code == 1
    assert "no campaign 'nope'" in result.stderr
