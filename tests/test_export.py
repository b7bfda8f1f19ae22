"""`phonebank export results`: the CSV matches the database row for row, on both databases."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner, Result

import storage.export
from bot.cli import app
from storage.campaign_config import CampaignConfig
from storage.campaign_store import campaign_config as stored_config
from storage.campaign_store import get_campaign
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.export import FIXED_AFTER_SURVEY, FIXED_BEFORE_SURVEY, format_time, parse_since
from storage.models import CallAttempt, Volunteer, Voter
from tests.factories import (
    DEFAULT_SURVEY,
    campaign_config,
    make_attempt,
    make_campaign,
    make_volunteer,
    make_voter,
    set_campaign_config,
)

SLUG = "export-test"
RETIRED_QUESTION = {"id": "top_issue", "question": "What matters most?", "choices": ["schools"]}
ADDED_QUESTION = {"id": "volunteer", "question": "Will you volunteer?", "choices": ["yes", "no"]}


def run(db_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setenv("DATABASE_URL", db_url)
    return CliRunner().invoke(app, list(args))


def seed_history(engine: Engine, clock: FrozenClock) -> None:
    """Attempts over two days, a config change between them, and a campaign not exported."""
    with session_scope(engine) as session:
        first = campaign_config(slug=SLUG, survey=[*DEFAULT_SURVEY, RETIRED_QUESTION])
        campaign = make_campaign(session, first)
        alice = make_volunteer(session, name="Alice Caller")
        bob = make_volunteer(session, name='Bob, "the" Dialer')
        jose = make_voter(session, campaign, first_name="José", last_name="Núñez")
        ann = make_voter(session, campaign, first_name="Ann", last_name="Lee")
        no_id = make_voter(session, campaign, external_id=None, first_name="Pat")

        day1 = clock.now() - timedelta(days=1)
        answers = {"support": "yes", "vote_plan": "mail", "top_issue": "schools"}
        make_attempt(session, jose, alice, started_at=day1, survey=answers)
        make_attempt(
            session,
            ann,
            bob,
            started_at=day1 + timedelta(minutes=5),
            result_code="not_home",
            notes='said "call back",\nafter 6pm',
        )
        make_attempt(session, no_id, None, started_at=day1 + timedelta(minutes=9), result_code=None)

        # A question is retired and another added; later attempts answer the new set.
        set_campaign_config(session, campaign, first.model_copy(update={"survey": second_survey()}))
        make_attempt(
            session,
            ann,
            alice,
            started_at=clock.now(),
            survey={"support": "no", "vote_plan": "early", "volunteer": "yes", "hours": 4},
        )
        make_attempt(session, jose, bob, started_at=clock.now(), result_code="legacy_code")

        other = make_campaign(session, slug="other-campaign")
        make_attempt(session, make_voter(session, other), alice, survey={"stray": "x"})


def second_survey() -> tuple[Any, ...]:
    return (*campaign_config(survey=[*DEFAULT_SURVEY, ADDED_QUESTION]).survey,)


def expected_rows(engine: Engine, since: datetime | None = None) -> list[dict[str, str]]:
    """The export as it should be, built from the ORM rows (not from the export's query)."""
    with Session(engine) as session:
        campaign = get_campaign(session, SLUG)
        assert campaign is not None
        config = stored_config(campaign)
        query = select(CallAttempt).where(CallAttempt.campaign_id == campaign.id)
        if since is not None:
            query = query.where(CallAttempt.started_at >= since)
        attempts = session.exec(query.order_by(CallAttempt.started_at, CallAttempt.id)).all()
        asked = [question.id for question in config.survey]
        retired = sorted({key for a in attempts for key in a.survey} - set(asked))
        return [expected_row(session, config, a, asked + retired) for a in attempts]


def expected_row(
    session: Session, config: CampaignConfig, attempt: CallAttempt, survey_keys: list[str]
) -> dict[str, str]:
    voter = session.get(Voter, attempt.voter_id)
    volunteer = session.get(Volunteer, attempt.volunteer_id) if attempt.volunteer_id else None
    assert voter is not None
    code = config.result_code(attempt.result_code or "")
    survey = {key: str(attempt.survey.get(key, "")) for key in survey_keys}
    return {
        "VanID": voter.external_id or "",
        "FirstName": voter.first_name,
        "LastName": voter.last_name,
        "Phone": voter.phone,
        "Volunteer": volunteer.name if volunteer else "",
        "Time": attempt.started_at.isoformat().replace("+00:00", "Z"),
        "ResultCode": attempt.result_code or "",
        "ResultLabel": code.label if code else "",
        **survey,
        "Notes": attempt.notes,
    }


def read_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def test_export_round_trips_every_attempt_field_by_field(
    engine: Engine, db_url: str, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_history(engine, clock)
    target = tmp_path / "results.csv"

    result = run(db_url, monkeypatch, "export", "results", "--campaign", SLUG, "-o", str(target))

    assert result.exit_code == 0, result.output
    header, rows = read_csv(target.read_text(encoding="utf-8"))
    # Config questions in config order, then keys only old attempts carry, sorted.
    assert header == [
        *FIXED_BEFORE_SURVEY,
        "support",
        "vote_plan",
        "volunteer",
        "hours",
        "top_issue",
        *FIXED_AFTER_SURVEY,
    ]
    assert rows == expected_rows(engine)
    assert len(rows) == 5
    assert list(rows[0]) == header
    assert rows[0]["top_issue"] == "schools" and rows[0]["volunteer"] == ""
    assert rows[1]["Notes"] == 'said "call back",\nafter 6pm'
    assert rows[2]["VanID"] == "" and rows[2]["Volunteer"] == "" and rows[2]["ResultCode"] == ""
    assert rows[4]["ResultLabel"] == ""  # a code no longer in the config still exports
    assert result.stderr.strip() == f"5 rows written to {target}"


def test_since_takes_a_date_or_a_timestamp_in_any_offset(
    engine: Engine, db_url: str, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_history(engine, clock)
    yesterday = clock.now() - timedelta(days=1)
    cases = {
        f"{clock.now():%Y-%m-%d}": 2,  # midnight UTC today: only today's attempts
        f"{yesterday:%Y-%m-%d}": 5,
        format_time(yesterday + timedelta(minutes=5)): 4,  # inclusive bound
        "2026-11-02T10:06:00-05:00": 3,  # yesterday 15:06 UTC, written in New York time
        "2026-11-02T15:06:00": 3,  # no offset: UTC
        "2030-01-01": 0,
    }
    for since, count in cases.items():
        target = tmp_path / "since.csv"
        result = run(
            db_url, monkeypatch, "export", "results", "--campaign", SLUG, "--since", since,
            "-o", str(target),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        _, rows = read_csv(target.read_text(encoding="utf-8"))
        assert len(rows) == count, since
        assert rows == expected_rows(engine, parse_since(since))


def test_dash_writes_to_stdout_and_the_summary_to_stderr(
    engine: Engine, db_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_history(engine, clock)

    result = run(db_url, monkeypatch, "export", "results", "--campaign", SLUG, "-o", "-")

    assert result.exit_code == 0, result.output
    _, rows = read_csv(result.stdout)
    assert rows == expected_rows(engine)
    assert result.stderr.strip() == "5 rows written to stdout"


def test_campaign_without_attempts_exports_a_header(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as session:
        make_campaign(session, slug=SLUG)

    result = run(db_url, monkeypatch, "export", "results", "--campaign", SLUG, "-o", "-")

    assert result.exit_code == 0, result.output
    header, rows = read_csv(result.stdout)
    assert header == [*FIXED_BEFORE_SURVEY, "support", "vote_plan", *FIXED_AFTER_SURVEY]
    assert rows == []


def test_a_failed_export_leaves_the_old_file_and_no_temporary_file(
    engine: Engine, db_url: str, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_history(engine, clock)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "results.csv"
    target.write_text("the previous export\n", encoding="utf-8")
    format_row = storage.export._format_row
    calls = {"n": 0}

    def disk_fills_up_on_the_third_row(*args: Any) -> list[str]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return format_row(*args)

    monkeypatch.setattr(storage.export, "_format_row", disk_fills_up_on_the_third_row)
    result = run(db_url, monkeypatch, "export", "results", "--campaign", SLUG, "-o", str(target))

    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert target.read_text(encoding="utf-8") == "the previous export\n"
    assert [p.name for p in target.parent.iterdir()] == ["results.csv"]


def test_an_interrupted_first_export_leaves_no_file(
    engine: Engine, db_url: str, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_history(engine, clock)
    monkeypatch.chdir(tmp_path)

    def interrupted(*args: Any) -> list[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(storage.export, "_format_row", interrupted)
    result = run(db_url, monkeypatch, "export", "results", "--campaign", SLUG, "-o", "out.csv")

    assert result.exit_code != 0
    assert not Path("out.csv").exists()
    assert list(Path().glob(".out.csv.*")) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--campaign", "nope", "-o", "-"], "no campaign 'nope'"),
        (["--campaign", SLUG, "--since", "yesterday", "-o", "-"], "--since: 'yesterday' is not"),
        (["--campaign", SLUG, "--since", "2026-13-01", "-o", "-"], "--since: '2026-13-01' is not"),
        (["--campaign", SLUG, "-o", "no/such/dir/out.csv"], "No such file or directory"),
        (["--campaign", SLUG, "-o", "."], "cannot write .: Is a directory"),
    ],
)
def test_bad_input_is_one_clear_line_and_a_failing_exit(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    with session_scope(engine) as session:
        make_campaign(session, slug=SLUG)
    monkeypatch.chdir(tmp_path)  # short paths: the error line must not wrap

    result = run(db_url, monkeypatch, "export", "results", *args)

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_parse_since_reads_dates_and_timestamps_as_utc() -> None:
    assert parse_since("2026-11-03") == datetime(2026, 11, 3, tzinfo=UTC)
    assert parse_since("2026-11-03T10:00:00Z") == datetime(2026, 11, 3, 10, tzinfo=UTC)
    assert parse_since(" 2026-11-03T10:00:00+02:00 ") == datetime(2026, 11, 3, 8, tzinfo=UTC)
    for bad in ("", "11/03/2026", "2026-02-30", "today"):
        with pytest.raises(ValueError, match="is not a date"):
            parse_since(bad)
