"""Alembic migrations, driven from code: `upgrade`, `downgrade`, `current_revision`.

The Alembic configuration is built here from the package's own path, so migrating works from
any working directory and from an installed wheel; alembic.ini at the repository root is only
for developers writing new revisions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import types
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, Connection, Engine

from storage.db import READ_ONLY_OPTION, make_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed 64-bit number: PostgreSQL migrators take this advisory lock, so two at once queue up.
MIGRATION_LOCK_KEY = 7_160_001_432_915_502

Target = str | URL | Engine


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for our migrations; with `connection`, env.py migrates through it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(target: Target, revision: str = "head") -> None:
    """Migrate the database up to `revision` (all the way by default); a no-op when already there."""
    with _connection(target) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(target: Target, revision: str = "base") -> None:
    """Migrate the database down to `revision` (an empty schema by default)."""
    with _connection(target) as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision(target: Target) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with _connection(target) as connection:
        reading = connection.execution_options(**{READ_ONLY_OPTION: True})
        revision = MigrationContext.configure(reading).get_current_revision()
        reading.rollback()
        return revision


def head_revision() -> str | None:
    """The newest revision shipped with this version of Phonebank."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextmanager
def _connection(target: Target) -> Iterator[Connection]:
    if isinstance(target, Engine):
        with target.connect() as connection:
            yield connection
        return
    engine = make_engine(target)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def render_item(kind: str, item: Any, context: AutogenContext) -> str | Literal[False]:
    """Autogenerate hook: write our own column types as the plain SQLAlchemy types they emit.

    A revision describes DDL frozen in time; it should not import `storage.types` or sqlmodel,
    whose classes may change or go away after the revision is written.
    """
    if kind != "type":
        return False
    if isinstance(item, postgresql.JSONB):
        # Alembic's default would write `astext_type=Text()` with no import when run on SQLite.
        context.imports.add("from sqlalchemy.dialects import postgresql")
        return "postgresql.JSONB()"
    if type(item).__module__.startswith("sqlalchemy."):
        return False
    plain = _plain_sqlalchemy_type(item)
    return False if plain is None else f"sa.{plain!r}"


def _plain_sqlalchemy_type(type_: types.TypeEngine[Any]) -> types.TypeEngine[Any] | None:
    """UTCDateTime -> DateTime(timezone=True); sqlmodel's AutoString(64) -> String(64)."""
    if isinstance(type_, types.TypeDecorator):
        return _plain_sqlalchemy_type(type_.impl_instance)
    for base in type(type_).__mro__:
        if base.__module__ == "sqlalchemy.sql.sqltypes":
            return type_.adapt(base)
    return None
