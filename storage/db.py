"""One engine factory for both databases, and the session helpers everything else uses.

SQLite: WAL so readers never wait on the writer, a 5 s busy timeout, foreign keys on, and
`BEGIN IMMEDIATE` for every transaction: a deferred `BEGIN` that later writes fails with
"database is locked" under concurrent writers whatever the timeout (REFERENCE.md).
PostgreSQL: psycopg 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, SQLModel, create_engine

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

SQLITE_BUSY_TIMEOUT_MS = 5000
# Execution option marking a read-only unit of work: on SQLite it begins DEFERRED, so a long
# export or report reads a WAL snapshot without holding the write lock from claims.
READ_ONLY_OPTION = "phonebank_read_only"


def normalize_url(url: str | URL) -> URL:
    """Accept `postgres://` and `postgresql://` and route them through psycopg 3."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """The engine for `url`, with the per-database settings this module's docstring explains."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)  # sqlite3 sets busy_timeout
    if url.database in (None, "", ":memory:"):
        kwargs.setdefault("poolclass", NullPool)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        deferred = connection.get_execution_options().get(READ_ONLY_OPTION)
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine


def create_schema(engine: Engine) -> None:
    """Create every table straight from the models (tests; `phonebank db upgrade` migrates)."""
    SQLModel.metadata.create_all(engine)


def read_only(engine: Engine) -> Engine:
    """`engine` for read-only transactions: SQLite begins them DEFERRED (no write lock),
    PostgreSQL runs them READ ONLY. End them with COMMIT, not ROLLBACK: at a ROLLBACK psycopg
    forgets every statement it prepared on the connection, and PostgreSQL would plan each
    later query on it again."""
    return engine.execution_options(**{READ_ONLY_OPTION: True, "postgresql_readonly": True})


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reading only: it never takes SQLite's write lock, and writes nothing.

    It ends with COMMIT (see `read_only`), and nothing can be written by it: PostgreSQL runs
    the transaction READ ONLY, the session never flushes on its own, and whatever was changed
    on its objects is dropped (expunged) first. The objects it loaded stay readable, detached,
    after the block.
    """
    with Session(read_only(engine), autoflush=False) as session:
        yield session
        session.expunge_all()
        session.commit()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def insert_ignoring_duplicates(
    table: Table, dialect_name: str, conflict_columns: list[str], **values: Any
) -> Insert:
    """`INSERT ... ON CONFLICT (conflict_columns) DO NOTHING`, on either database: one round
    trip where "select, then insert if missing" takes two and still races."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_columns)
    )
