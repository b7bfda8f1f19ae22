"""Work owed after an answer, kept in the database until it is done: the durable outbox.

Acknowledged means done (DESIGN.md, Idempotency). Work whose loss changes the truth (a session
ending, voters returned to the pool, an outcome, a message the bot owes someone) is committed
before the answer, or owed here: a row of the `outbox` table written in the same transaction
as the work that owes it (or at least before the answer), and carried out by a worker in the
web process (bot/outbox.py) that also resumes unfinished rows at start-up and after a crash.
Only work whose loss merely delays a redraw (a card edit the next update repeats) may stay in
memory (`Services.after_request`, bot/later.py).

The API, for any module of the core (no bot/ import needed):

    from handlers.outbox import Task, owe, owed, outbox_handler

    @outbox_handler("alerts.digest")            # a kind, registered at import
    def send_digest(services: Services, task: Task) -> None:
        ...                                     # task.payload: the JSON dict given to `owe`

    with services.engine.begin() as conn:      # the work that owes it...
        ...
        owe(conn, "alerts.digest", {"shift_id": 7}, key=f"alerts.digest:7", now=now)
    owed(services)                              # ...committed: run it soon

A row is run at least once and finished once: the worker takes it, runs its handler, and marks
it finished; a crash in between leaves it unfinished, and it runs again. So a handler must be
idempotent, and `task.key` (unique per row) is what its side effect dedupes on: a send-ledger
key, a `processed_event` key, a request key under a unique index, or a state check ("already
closed"). A handler that raises is tried again later, with a back-off, up to
`storage.outbox.MAX_ATTEMPTS` times; `owe` with a key already written does nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from handlers.context import Services
from storage.outbox import Task, due_ids, enqueue, finish, retry_later, take

log = logging.getLogger(__name__)

Handler = Callable[[Services, Task], None]
BATCH = 50  # rows looked up at once by `run_due`

_handlers: dict[str, Handler] = {}
_under_way: set[tuple[str, int]] = set()  # (database, row id) running in this process
_under_way_lock = threading.Lock()

__all__ = ["Handler", "Task", "outbox_handler", "owe", "owed", "run_due", "run_task"]


def outbox_handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that carries out rows of `kind` (one handler per kind)."""

    def register(handler: Handler) -> Handler:
        existing = _handlers.get(kind)
        if existing is not None and existing is not handler:
            raise ValueError(f"outbox kind {kind!r} already has a handler")
        _handlers[kind] = handler
        return handler

    return register


def owe(
    conn: Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    key: str,
    now: datetime,
    due_at: datetime | None = None,
) -> bool:
    """Write a row owing `kind` in `conn`'s transaction; False when `key` was owed before."""
    if kind not in _handlers:
        raise ValueError(f"no outbox handler for {kind!r}")
    return enqueue(conn, kind, payload, key=key, now=now, due_at=due_at)


def owed(services: Services) -> None:
    """Rows were committed: wake the process's worker, or, where there is none (the console,
    most tests), run what is due now, in this thread."""
    if services.outbox is not None:
        services.outbox.wake()
    else:
        run_due(services)


def run_due(services: Services, *, limit: int = BATCH) -> int:
    """Run the rows due now (up to `limit`), oldest first; how many were run."""
    with services.engine.connect() as conn:
        ids = due_ids(conn, services.clock.now(), limit)
        conn.commit()
    return sum(run_task(services, task_id) for task_id in ids)


def run_task(services: Services, task_id: int) -> bool:
    """Take the row, run its handler and mark it finished; False when it was not ours to run
    (finished, not due, or under way elsewhere)."""
    with _ours(services, task_id) as mine:
        if not mine:
            return False
        if services.engine.dialect.name == "postgresql":
            return _run_locked(services, task_id)
        return _run_unlocked(services, task_id)


def _run_locked(services: Services, task_id: int) -> bool:
    """PostgreSQL: the row stays locked by this transaction while its handler runs."""
    with services.engine.begin() as conn:
        task = take(conn, task_id, services.clock.now())
        if task is None:
            return False
        _settle(conn, services, task, _attempt(services, task))
    return True


def _run_unlocked(services: Services, task_id: int) -> bool:
    """SQLite (one process): a write transaction would hold the database while the handler
    runs, so the row is read, run, then marked, each in a short transaction."""
    with services.engine.connect() as conn:
        task = take(conn, task_id, services.clock.now())
        conn.commit()
    if task is None:
        return False
    error = _attempt(services, task)
    with services.engine.begin() as conn:
        _settle(conn, services, task, error)
    return True


def _attempt(services: Services, task: Task) -> str | None:
    """Run the row's handler; None when it succeeded, else what went wrong."""
    handler = _handlers.get(task.kind)
    if handler is None:
        return f"no handler for outbox kind {task.kind!r}"
    try:
        handler(services, task)
    except Exception as exc:
        log.exception("Outbox %s (%s) failed", task.kind, task.key)
        return f"{type(exc).__name__}: {exc}"
    return None


def _settle(conn: Connection, services: Services, task: Task, error: str | None) -> None:
    now = services.clock.now()
    if error is None:
        finish(conn, task.id, now)
    elif not retry_later(conn, task, now, error):
        log.error("Outbox %s (%s) gave up: %s", task.kind, task.key, error)


@contextmanager
def _ours(services: Services, task_id: int) -> Iterator[bool]:
    """Whether no other thread of this process is running the row; held for the block."""
    mark = (str(services.engine.url), task_id)
    with _under_way_lock:
        mine = mark not in _under_way
        _under_way.add(mark)
    try:
        yield mine
    finally:
        if mine:
            with _under_way_lock:
                _under_way.discard(mark)
