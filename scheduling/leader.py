"""Who runs the jobs: exactly one scheduler process at a time, the leader.

APScheduler 3 cannot share a job store between running schedulers, so every scheduler process
runs the same fixed jobs in memory and competes for one lock; only the holder's jobs do
anything. On PostgreSQL the lock is a session-level advisory lock held on a connection of its
own (not from the pool, so nothing else ever runs on it or returns it): when the leader dies,
its connection closes and the server frees the lock at once. On SQLite it is an exclusive
`flock` on a file beside the database, which the kernel frees when the process dies. Followers
try again every poll, so one takes over within one poll interval.
"""

from __future__ import annotations

import logging
import threading
import zlib
from pathlib import Path
from typing import Protocol

from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# pg_try_advisory_lock takes a bigint; the key is fixed so every scheduler of a database meets.
LOCK_KEY = zlib.crc32(b"phonebank:scheduler")


class Leadership(Protocol):
    def try_lead(self) -> bool:
        """Take the lock if free, or check it is still ours; whether this process leads."""

    def release(self) -> None:
        """Let the lock go (at shutdown)."""


class PostgresLeadership:
    """A session-level `pg_try_advisory_lock` on a dedicated connection."""

    def __init__(self, engine: Engine) -> None:
        url = engine.url
        # Its own engine without a pool: the connection lives exactly as long as the lock.
        self._engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def try_lead(self) -> bool:
        with self._lock:
            if self._conn is not None:
                if self._still_held(self._conn):
                    return True
                self._drop()
            return self._acquire()

    def release(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                except Exception:
                    log.warning("Could not unlock the scheduler lock; closing its connection")
                self._drop()
            self._engine.dispose()

    def _acquire(self) -> bool:
        try:
            conn = self._engine.connect()
        except Exception:
            log.warning("Cannot reach the database to compete for the scheduler lock")
            return False
        held = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar()
        if held:
            self._conn = conn
            return True
        conn.close()
        return False

    @staticmethod
    def _still_held(conn: Connection) -> bool:
        """The lock lives with the session: a working connection still holds it."""
        try:
            conn.execute(text("SELECT 1"))
            return True
        except Exception:
            log.warning("Lost the scheduler lock's connection; no longer the leader")
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.debug("closing a broken lock connection failed", exc_info=True)
            self._conn = None


class FileLeadership:
    """An exclusive lock on a file (SQLite: beside the database)."""

    def __init__(self, path: Path) -> None:
        self._lock = FileLock(str(path))

    def try_lead(self) -> bool:
        if self._lock.is_locked:
            return True
        try:
            self._lock.acquire(timeout=0)
            return True
        except Timeout:
            return False

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


def leadership_for(engine: Engine, lock_dir: Path | None = None) -> Leadership:
    """The lock every scheduler of this database competes for."""
    if engine.dialect.name == "postgresql":
        return PostgresLeadership(engine)
    database = engine.url.database
    if database and database != ":memory:":
        return FileLeadership(Path(database).with_suffix(".scheduler.lock"))
    return FileLeadership((lock_dir or Path(".")) / "phonebank.scheduler.lock")
