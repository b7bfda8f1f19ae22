"""The durable outbox (handlers/outbox.py, storage/outbox.py, bot/outbox.py), on both databases:
a row owed with its work runs once and is finished; owed twice, rolled back, failing, left
unfinished by a crash, taken by another transaction; and the web process's worker, which runs
rows owed before it started and wakes for new ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from bot.outbox import OutboxWorker, Periodic
from handlers.context import Services
from handlers.dialing import first_time
from handlers.outbox import Task, outbox_handler, owe, owed, run_due
from storage.clock import FrozenClock
from storage.outbox import MAX_ATTEMPTS, OUTBOX, take, unfinished_count
from tests.scenarios.world import make_services

DEADLINE_S = 10.0  # an upper bound for the worker to get going; never reached when it works


class Crash(BaseException):
    """Stands for the process dying in the middle of a handler (not an Exception: nothing in
    the runner catches it)."""


class Effects:
    """What the test kinds did: every call, and the side effects deduped on the task's key."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.effects: list[str] = []
        self.fail_next = 0
        self.crash_next = False
        self.lock = threading.Lock()


EFFECTS = Effects()


@outbox_handler("test.effect")
def _effect(services: Services, task: Task) -> None:
    with EFFECTS.lock:
        EFFECTS.calls.append(task.key)
    with services.engine.begin() as conn:  # the side effect, deduped on the task's key
        if first_time(conn, task.key, "test", services.clock.now()):
            EFFECTS.effects.append(str(task.payload["say"]))
    if EFFECTS.crash_next:
        EFFECTS.crash_next = False
        raise Crash
    if EFFECTS.fail_next:
        EFFECTS.fail_next -= 1
        raise RuntimeError("Slack is down")


@pytest.fixture(autouse=True)
def fresh_effects() -> Iterator[None]:
    EFFECTS.__init__()  # type: ignore[misc]
    yield


@pytest.fixture
def services(engine: Engine, clock: FrozenClock) -> Services:
    return make_services(engine, clock)


def owe_effect(services: Services, key: str, say: str = "hi") -> bool:
    with services.engine.begin() as conn:
        made = owe(conn, "test.effect", {"say": say}, key=key, now=services.clock.now())
    owed(services)
    return made


def rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(OUTBOX).order_by(OUTBOX.c.id))]


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        threading.Event().wait(0.01)


def test_owed_work_runs_once_and_is_finished(services: Services) -> None:
    assert owe_effect(services, "k1", "hello")
    assert EFFECTS.effects == ["hello"]
    [row] = rows(services.engine)
    assert row["finished_at"] == services.clock.now() and not row["failed"]
    assert run_due(services) == 0  # finished rows never run again


def test_owing_the_same_key_twice_writes_one_row(services: Services) -> None:
    assert owe_effect(services, "same")
    assert not owe_effect(services, "same")
    assert len(rows(services.engine)) == 1
    assert EFFECTS.calls == ["same"]


def test_a_rolled_back_transaction_owes_nothing(services: Services) -> None:
    with pytest.raises(RuntimeError), services.engine.begin() as conn:
        owe(conn, "test.effect", {"say": "x"}, key="gone", now=services.clock.now())
        raise RuntimeError("the work that owed it failed")
    assert rows(services.engine) == []


def test_an_unknown_kind_is_refused_when_owed(services: Services) -> None:
    with pytest.raises(ValueError), services.engine.begin() as conn:
        owe(conn, "no.such.kind", {}, key="x", now=services.clock.now())


def test_a_failing_row_is_retried_later_then_given_up(
    services: Services, clock: FrozenClock
) -> None:
    EFFECTS.fail_next = MAX_ATTEMPTS
    owe_effect(services, "flaky")
    [row] = rows(services.engine)
    assert row["finished_at"] is None and row["attempts"] == 1
    assert "Slack is down" in str(row["last_error"])
    assert run_due(services) == 0  # not due before its back-off
    for _ in range(MAX_ATTEMPTS - 1):
        clock.advance(timedelta(minutes=11))
        assert run_due(services) == 1
    [row] = rows(services.engine)
    assert row["failed"] and row["finished_at"] is not None and row["attempts"] == MAX_ATTEMPTS
    assert EFFECTS.effects == ["hi"]  # tried ten times, done once: its key dedupes the effect


def test_a_row_that_recovers_is_finished(services: Services, clock: FrozenClock) -> None:
    EFFECTS.fail_next = 1
    owe_effect(services, "once-down")
    clock.advance(timedelta(seconds=5))
    assert run_due(services) == 1
    [row] = rows(services.engine)
    assert row["finished_at"] is not None and not row["failed"] and row["attempts"] == 1


def test_a_crash_between_effect_and_finish_runs_it_again_with_one_effect(
    services: Services,
) -> None:
    EFFECTS.crash_next = True
    with pytest.raises(Crash):
        owe_effect(services, "crashy", "once")
    assert rows(services.engine)[0]["finished_at"] is None  # left owed by the dead process
    assert run_due(services) == 1  # the restarted process resumes it
    assert EFFECTS.calls == ["crashy", "crashy"] and EFFECTS.effects == ["once"]
    assert rows(services.engine)[0]["finished_at"] is not None


def test_a_row_taken_by_another_transaction_is_skipped(services: Services) -> None:
    if services.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one process: rows under way are kept in memory")
    with services.engine.begin() as conn:
        owe(conn, "test.effect", {"say": "x"}, key="held", now=services.clock.now())
    [row] = rows(services.engine)
    with services.engine.begin() as other:
        assert take(other, int(row["id"]), services.clock.now()) is not None  # locked here
        assert run_due(services) == 0  # another replica skips it
    assert run_due(services) == 1
    assert EFFECTS.effects == ["x"]


def test_the_worker_resumes_rows_owed_before_it_started(services: Services) -> None:
    with services.engine.begin() as conn:  # rows a dead process owed
        for n in range(3):
            owe(conn, "test.effect", {"say": str(n)}, key=f"left-{n}", now=services.clock.now())
    worker = OutboxWorker(poll_s=60)  # no poll in the test's time: only start-up finds them
    worker.start(services)
    try:
        wait_for(lambda: unfinished(services) == 0)
    finally:
        worker.close(DEADLINE_S)
    assert sorted(EFFECTS.effects) == ["0", "1", "2"]


def test_the_worker_wakes_for_new_rows_and_runs_its_jobs(services: Services) -> None:
    swept = threading.Event()
    worker = OutboxWorker(poll_s=60, periodic=[Periodic("sweep", 60, lambda s: swept.set())])
    woken = Services(**{**services.__dict__, "outbox": worker})
    worker.start(woken)
    try:
        assert swept.wait(DEADLINE_S)  # a periodic job runs at start-up
        owe_effect(woken, "new", "woken")  # `owed` wakes the worker: no 60 s poll
        wait_for(lambda: unfinished(services) == 0)
    finally:
        worker.close(DEADLINE_S)
    assert EFFECTS.effects == ["woken"]


def unfinished(services: Services) -> int:
    with services.engine.connect() as conn:
        return unfinished_count(conn)
