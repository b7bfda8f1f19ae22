"""The voice core's reads (handlers/dialing.reading) end their transaction with COMMIT, not
ROLLBACK: psycopg forgets the statements it prepared on a connection at every ROLLBACK, so a read
ending that way made every later query on it be planned again (both databases)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event, text

from handlers.dialing import reading
from storage.clock import FrozenClock
from tests.scenarios.world import make_services


def test_a_read_ends_with_commit_and_leaves_no_transaction_open(
    engine: Engine, clock: FrozenClock
) -> None:
    ended: list[str] = []
    services = make_services(engine, clock)

    def on(name: str) -> Any:
        return lambda conn: ended.append(name)

    event.listen(engine, "commit", on("commit"))
    event.listen(engine, "rollback", on("rollback"))
    with reading(services) as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1

    assert ended[:1] == ["commit"] and "rollback" not in ended


def test_a_read_that_fails_is_rolled_back(engine: Engine, clock: FrozenClock) -> None:
    ended: list[str] = []
    services = make_services(engine, clock)
    event.listen(engine, "rollback", lambda conn: ended.append("rollback"))

    try:
        with reading(services) as conn:
            conn.execute(text("SELECT 1"))
            raise LookupError("gone")
    except LookupError:
        pass

    assert ended == ["rollback"]
