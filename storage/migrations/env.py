"""Alembic environment: migrates the database `storage.migrate` (or the `alembic` CLI) points at.

A caller hands over an open connection in `config.attributes["connection"]`, so the engine comes
from `storage.db.make_engine` (SQLite pragmas, `BEGIN IMMEDIATE`). Without one, the URL comes
from the `sqlalchemy.url` option or `DATABASE_URL`.

Every upgrade runs in one transaction on both databases: SQLite's DDL is transactional once the
driver stops managing transactions itself, which our engine does. A failed upgrade therefore
leaves the schema and `alembic_version` as they were.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage.db import make_engine
from storage.migrate import MIGRATION_LOCK_KEY, render_item

target_metadata = SQLModel.metadata
config = context.config


def _configured_url() -> str:
    """`sqlalchemy.url` from alembic.ini if set, else the app's own DATABASE_URL and default."""
    return config.get_main_option("sqlalchemy.url") or os.environ.get(
        "DATABASE_URL", "sqlite:///phonebank.db"
    )


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        transactional_ddl=True,
        compare_type=True,
        compare_server_default=True,
    )


def _serialize_with_other_migrators(connection: Connection) -> None:
    """Hold off a second migrator until this one commits (SQLite's BEGIN IMMEDIATE already does)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
    if connection.dialect.name == "sqlite":
        # A batch migration drops and re-creates a parent table; check foreign keys at commit.
        connection.exec_driver_sql("PRAGMA defer_foreign_keys=ON")


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        _serialize_with_other_migrators(connection)
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through the caller's connection, or through a fresh engine on the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_configured_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (`alembic upgrade head --sql`)."""
    url = _configured_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
