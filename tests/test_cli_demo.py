"""`phonebank demo`: the README's first command, end to end on a fresh database."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.demo import EXAMPLES
from storage.db import make_engine, read_session
from storage.models import Campaign, DncEntry, Voter


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A copy of the shipped examples, so rejects files land in tmp_path."""
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns("*.rejects.csv"))
    return copy


def _counts(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    with read_session(engine) as session:
        counts = (
            session.exec(select(func.count()).select_from(Campaign)).one(),
            session.exec(select(func.count()).select_from(Voter)).one(),
            session.exec(select(func.count()).select_from(DncEntry)).one(),
        )
    engine.dispose()
    return counts


def test_demo_builds_the_campaign_and_is_safe_to_rerun(
    tmp_path: Path, examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()

    first = runner.invoke(app, ["demo", "--examples", str(examples), "--no-console"])
    assert first.exit_code == 0, first.output
    campaigns, voters, dnc = _counts(url)
    assert campaigns == 1
    assert voters > 100
    assert dnc > 0
    assert (examples / "voters.rejects.csv").is_file()
    assert "voters total" in first.output

    second = runner.invoke(app, ["demo", "--examples", str(examples), "--no-console"])
    assert second.exit_code == 0, second.output
    assert _counts(url) == (campaigns, voters, dnc)
    dnc_unchanged, voters_unchanged = re.findall(r"unchanged\W+(\d+)", second.output)
    assert (int(dnc_unchanged), int(voters_unchanged)) == (dnc, voters)


def test_demo_without_examples_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    result = CliRunner().invoke(app, ["demo", "--examples", str(tmp_path), "--no-console"])
    assert result.exit_code == 1
    assert "campaign.yml not found" in result.output
