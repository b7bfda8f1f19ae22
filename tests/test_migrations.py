"""Migrations: the migrated schema is exactly the models, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL
from sqlmodel import SQLModel
from typer.testing import CliRunner

from bot.cli import app
from storage import migrate
from storage.db import make_engine

runner = CliRunner()


def schema_differences(url: URL, metadata: sa.MetaData = SQLModel.metadata) -> list[Any]:
    """What autogenerate would write to turn the database at `url` into `metadata`."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def table_names(url: URL) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()


def url_string(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def test_upgrade_to_head_builds_exactly_the_models(empty_db_url: URL) -> None:
    migrate.upgrade(empty_db_url)

    assert schema_differences(empty_db_url) == []
    assert migrate.current_revision(empty_db_url) == migrate.head_revision()


def test_there_is_one_head_and_it_is_reachable_from_base() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(scripts.get_heads()) == 1
    assert [rev.down_revision for rev in scripts.walk_revisions()][-1] is None


# --- the parity check is not vacuous: each kind of drift is noticed -------------------------


def _models_copy() -> sa.MetaData:
    copy = sa.MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(copy)
    return copy


def _longer_zip(metadata: sa.MetaData) -> None:
    metadata.tables["voter"].c.zip.type = sa.String(20)


def _new_column(metadata: sa.MetaData) -> None:
    metadata.tables["voter"].append_column(sa.Column("precinct", sa.String(20)))


def _no_household_index(metadata: sa.MetaData) -> None:
    table = metadata.tables["voter"]
    table.indexes.remove(next(i for i in table.indexes if i.name == "ix_voter_campaign_phone"))


def _no_voter_key(metadata: sa.MetaData) -> None:
    table = metadata.tables["voter"]
    table.constraints.remove(
        next(c for c in table.constraints if c.name == "uq_voter_campaign_key")
    )


def _one_voter_per_phone(metadata: sa.MetaData) -> None:
    metadata.tables["voter"].append_constraint(sa.UniqueConstraint("campaign_id", "phone"))


def _server_default(metadata: sa.MetaData) -> None:
    metadata.tables["voter"].c.language.server_default = sa.DefaultClause("en")


@pytest.mark.parametrize(
    "drift",
    [
        _longer_zip,
        _new_column,
        _no_household_index,
        _no_voter_key,
        _one_voter_per_phone,
        _server_default,
    ],
)
def test_parity_check_notices_drift(
    empty_db_url: URL, drift: Callable[[sa.MetaData], None]
) -> None:
    migrate.upgrade(empty_db_url)
    drifted = _models_copy()
    drift(drifted)

    assert schema_differences(empty_db_url, drifted) != []


# --- downgrade and atomicity ------------------------------------------------------


def test_downgrade_to_base_then_upgrade_again(empty_db_url: URL) -> None:
    migrate.upgrade(empty_db_url)
    migrate.downgrade(empty_db_url, "base")

    assert table_names(empty_db_url) == {"alembic_version"}
    assert migrate.current_revision(empty_db_url) is None

    migrate.upgrade(empty_db_url)
    assert schema_differences(empty_db_url) == []


def _failing_revision(directory: Path) -> Path:
    """A revision after head that creates a table, then fails."""
    directory.mkdir()
    (directory / "ffff_fails.py").write_text(
        f"""
import sqlalchemy as sa
from alembic import op

revision = "ffff"
down_revision = {migrate.head_revision()!r}
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    raise RuntimeError("the migration broke halfway")


def downgrade():
    pass
"""
    )
    return directory


def test_a_failed_upgrade_changes_nothing(empty_db_url: URL, tmp_path: Path) -> None:
    extra = _failing_revision(tmp_path / "versions")
    engine = make_engine(empty_db_url)
    try:
        with engine.connect() as connection:
            config = migrate.alembic_config(connection)
            locations = [migrate.MIGRATIONS_DIR / "versions", extra]
            config.set_main_option("version_locations", os.pathsep.join(map(str, locations)))
            with pytest.raises(RuntimeError, match="broke halfway"):
                command.upgrade(config, "head")
    finally:
        engine.dispose()

    # The whole run, the initial revision included, was one transaction.
    assert table_names(empty_db_url) == set()
    assert migrate.current_revision(empty_db_url) is None


# --- the command line -----------------------------------------------------------------------


@pytest.fixture
def cli_env(empty_db_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """DATABASE_URL for the CLI, run from a directory without a developer's `.env`."""
    monkeypatch.chdir(tmp_path)
    return {"DATABASE_URL": url_string(empty_db_url)}


def test_cli_upgrade_migrates_then_is_a_no_op(cli_env: dict[str, str], empty_db_url: URL) -> None:
    head = migrate.head_revision()

    first = runner.invoke(app, ["db", "upgrade"], env=cli_env)
    assert first.exit_code == 0, first.output
    assert f"from empty to {head}" in first.stdout

    again = runner.invoke(app, ["db", "upgrade"], env=cli_env)
    assert again.exit_code == 0, again.output
    assert f"already at revision {head}" in again.stdout
    assert schema_differences(empty_db_url) == []


def test_cli_unreachable_database_is_one_line_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    unreachable = "postgresql://phonebank:s3cret@127.0.0.1:1/phonebank"

    result = runner.invoke(app, ["db", "upgrade"], env={"DATABASE_URL": unreachable})

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "s3cret" not in result.output


def test_cli_current_reports_head_after_upgrade(cli_env: dict[str, str]) -> None:
    runner.invoke(app, ["db", "upgrade"], env=cli_env)

    result = runner.invoke(app, ["db", "current", "--check"], env=cli_env)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{migrate.head_revision()} (head)"


def test_cli_current_check_fails_on_an_unmigrated_database(cli_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["db", "current", "--check"], env=cli_env)

    assert result.exit_code == 1
    assert "phonebank db upgrade" in result.stdout


def test_cli_upgrade_to_an_unknown_revision_fails_in_one_line(cli_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--revision", "[nope]"], env=cli_env)

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "'[nope]'" in result.stderr  # brackets are text, not rich markup
