"""The outbox table: work owed after an answer, written in the transaction that owes it.

Rows are written by `enqueue` on the caller's connection, so they commit (or roll back) with
the work that owes them, and are unique by `key`: owing the same thing twice writes one row.
handlers/outbox.py runs them (which code carries out which `kind`); this module only moves a
row through its life: due -> taken -> finished, or due again later after a failure, and
finished as failed after `MAX_ATTEMPTS`.

A row is taken under a row lock on PostgreSQL (`FOR UPDATE SKIP LOCKED`, held by the taker's
transaction while the work runs): two web replicas never run one row at once, and a process
that dies mid-work drops its connection, which releases the row at once for the next taker.
SQLite runs one process (DESIGN.md), which keeps its own list of rows under way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.sql.dml import Insert

from storage.db import insert_ignoring_duplicates
from storage.models import OutboxTask

OUTBOX: Table = OutboxTask.__table__  # type: ignore[attr-defined]
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(minutes=10)
ERROR_CHARS = 500


@dataclass(frozen=True)
class Task:
    """One outbox row as its handler sees it: `key` is what its side effect dedupes on."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int  # earlier tries that failed


def enqueue(
    conn: Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    key: str,
    now: datetime,
    due_at: datetime | None = None,
) -> bool:
    """Owe `kind` with `payload`, in `conn`'s transaction; False when a row with `key` exists."""
    row = {
        "kind": kind,
        "key": key[:200],
        "payload": payload,
        "created_at": now,
        "due_at": due_at or now,
        "attempts": 0,
        "failed": False,
    }
    return conn.execute(_insert(conn.dialect.name), row).first() is not None


@cache
def _insert(dialect_name: str) -> Insert:
    names = ("kind", "key", "payload", "created_at", "due_at", "attempts", "failed")
    values = {name: bindparam(name, type_=OUTBOX.c[name].type) for name in names}
    statement = insert_ignoring_duplicates(OUTBOX, dialect_name, ["key"], **values)
    return statement.returning(OUTBOX.c.id)


def due_ids(conn: Connection, now: datetime, limit: int) -> list[int]:
    """Unfinished rows due by `now`, soonest first (ix_outbox_due)."""
    query = (
        select(OUTBOX.c.id)
        .where(OUTBOX.c.finished_at.is_(None), OUTBOX.c.due_at <= now)
        .order_by(OUTBOX.c.due_at, OUTBOX.c.id)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def take(conn: Connection, task_id: int, now: datetime) -> Task | None:
    """The row, if it is still unfinished, due, and not taken by another transaction; on
    PostgreSQL it stays locked until `conn`'s transaction ends."""
    query = select(
        OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.key, OUTBOX.c.payload, OUTBOX.c.attempts
    ).where(OUTBOX.c.id == task_id, OUTBOX.c.finished_at.is_(None), OUTBOX.c.due_at <= now)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = conn.execute(query).first()
    return None if row is None else Task(**row._mapping)


def finish(conn: Connection, task_id: int, now: datetime) -> None:
    """The row's work is done: it is never run again."""
    conn.execute(update(OUTBOX).where(OUTBOX.c.id == task_id).values(finished_at=now))


def retry_later(conn: Connection, task: Task, now: datetime, error: str) -> bool:
    """The work failed: due again after a back-off that doubles with each try, or, after
    `MAX_ATTEMPTS`, finished as failed. Whether it will be tried again."""
    attempts = task.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:ERROR_CHARS]}
    again = attempts < MAX_ATTEMPTS
    if again:
        values["due_at"] = now + min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)
    else:
        values.update(finished_at=now, failed=True)
    conn.execute(update(OUTBOX).where(OUTBOX.c.id == task.id).values(**values))
    return again


def unfinished_count(conn: Connection) -> int:
    """How many rows are still owed (due now or later)."""
    query = select(OUTBOX.c.id).where(OUTBOX.c.finished_at.is_(None))
    return len(conn.execute(query).all())
