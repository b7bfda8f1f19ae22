"""`phonebank import voters|dnc|volunteers` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from bot.cli import app
from tests.import_files import new_campaign, voter_row, voters_in, write_csv


def run(db_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setenv("DATABASE_URL", db_url)
    return CliRunner().invoke(app, ["import", *args])


def test_voters_json_summary(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = new_campaign(engine)
    path = write_csv(tmp_path / "v.csv", [voter_row(), voter_row(), voter_row(CellPhone="x")])
    result = run(db_url, monkeypatch, "voters", str(path), "--campaign", slug, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no progress bar off a terminal
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("read", "imported", "updated", "unchanged", "rejected")} == {
        "read": 3,
        "imported": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    assert summary["on_dnc"] == 0
    assert summary["rejects_file"] == str(tmp_path / "v.rejects.csv")
    assert len(voters_in(engine)) == 2


def test_voters_table_and_map_option(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = new_campaign(engine)
    path = write_csv(
        tmp_path / "v.csv", [["A-1", "Kim", "512-555-0160"]], ["Ref", "Name", "Digits"]
    )
    result = run(
        db_url, monkeypatch, "voters", str(path), "--campaign", slug,
        "--map", "Ref=external_id", "--map", "Name=first_name", "--map", "Digits=phone",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "imported" in result.stdout and "read" in result.stdout
    [voter] = voters_in(engine)
    assert (voter["external_id"], voter["first_name"], voter["phone"]) == (
        "A-1",
        "Kim",
        "+15125550160",
    )


def test_latin1_file_warns_on_stderr(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = new_campaign(engine)
    path = write_csv(tmp_path / "v.csv", [voter_row(FirstName="Zoë")], encoding="latin-1")
    result = run(db_url, monkeypatch, "voters", str(path), "--campaign", slug)
    assert result.exit_code == 0, result.output
    assert "warning: v.csv is not UTF-8" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["voters", "{dir}/missing.csv", "--campaign", "{slug}"], "missing.csv: no such file"),
        (["voters", "{file}", "--campaign", "ghost"], "no campaign 'ghost'"),
        (["voters", "{file}", "--campaign", "{slug}", "--map", "VanID=age"], "unknown field 'age'"),
        (["dnc", "{dir}/missing.csv"], "no such file"),
        (["voters", "{file}", "--campaign", "{slug}", "--map", "Nope=phone"], "not in the file"),
    ],
)
def test_bad_input_fails_with_one_clear_line(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    slug = new_campaign(engine)
    file = write_csv(tmp_path / "v.csv", [voter_row()])
    filled = [a.format(dir=tmp_path, file=file, slug=slug) for a in args]
    result = run(db_url, monkeypatch, *filled)
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""
    assert voters_in(engine) == []


def test_dnc_and_volunteers_commands(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dnc = tmp_path / "dnc.csv"
    dnc.write_text("512-555-0170\n512-555-0171\n")
    result = run(db_url, monkeypatch, "dnc", str(dnc), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imported"] == 2

    people = write_csv(
        tmp_path / "vol.csv", [["Mai", "512-555-0172", "es;vi"]], ["Name", "Cell", "Languages"]
    )
    result = run(db_url, monkeypatch, "volunteers", str(people))
    assert result.exit_code == 0, result.output
    assert "volunteers" in result.stdout and "imported" in result.stdout

    slug = new_campaign(engine)
    voters = write_csv(tmp_path / "v.csv", [voter_row(CellPhone="512-555-0170")])
    result = run(db_url, monkeypatch, "voters", str(voters), "--campaign", slug, "--json")
    assert json.loads(result.stdout)["on_dnc"] == 1


def test_voters_come_out_of_the_import_with_their_calling_zones_resolved(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = new_campaign(engine)
    path = write_csv(tmp_path / "v.csv", [voter_row(), voter_row(State="")])
    result = run(db_url, monkeypatch, "voters", str(path), "--campaign", slug, "--json")
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        keys = conn.exec_driver_sql("SELECT calling_zone_key FROM voter").scalars().all()
    assert len(keys) == 2
    assert all(keys), keys  # none left for the first claims to work out
