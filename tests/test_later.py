"""Work after the request (bot/later.py): runs, coalesces per waiting key, keeps one key in
order, starts one key at most once an interval, survives a failing piece of work, and finishes
everything at close."""

from __future__ import annotations

import logging
import threading

import pytest

from bot.later import LaterWork

WAIT_S = 10  # an upper bound for a thread to get going; never reached when things work


def test_submitted_work_runs_on_a_worker_thread() -> None:
    later = LaterWork(threads=2)
    ran: list[str] = []
    later.submit("a", lambda: ran.append(threading.current_thread().name))
    assert later.wait_idle(WAIT_S)
    later.close(WAIT_S)
    assert len(ran) == 1 and ran[0].startswith("phonebank-later-")


def test_newer_work_replaces_what_still_waits_under_its_key() -> None:
    later = LaterWork(threads=1)
    gate, started = threading.Event(), threading.Event()
    ran: list[str] = []

    def blocker() -> None:
        started.set()
        gate.wait(WAIT_S)

    later.submit("busy", blocker)
    assert started.wait(WAIT_S)  # the only thread is held: the rest waits in line
    later.submit("card:1", lambda: ran.append("first"))
    later.submit("card:2", lambda: ran.append("other card"))
    later.submit("card:1", lambda: ran.append("latest"))
    gate.set()
    assert later.wait_idle(WAIT_S)
    later.close(WAIT_S)
    assert ran == ["latest", "other card"]  # card 1 kept its place in line, with its newest work


def test_work_for_one_key_never_runs_twice_at_once() -> None:
    later = LaterWork(threads=4, key_interval_s=0)
    gate, started = threading.Event(), threading.Event()
    running, most = [0], [0]
    lock = threading.Lock()

    def edit() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        started.set()
        gate.wait(WAIT_S)
        with lock:
            running[0] -= 1

    later.submit("card:1", edit)
    assert started.wait(WAIT_S)
    later.submit("card:1", edit)  # waits for the first, though three threads are free
    gate.set()
    assert later.wait_idle(WAIT_S)
    later.close(WAIT_S)
    assert most[0] == 1


def test_a_failing_piece_of_work_is_logged_and_the_rest_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    later = LaterWork(threads=1)
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="bot.later"):
        later.submit("bad", broken)
        later.submit("good", lambda: ran.append("good"))
        assert later.wait_idle(WAIT_S)
    later.close(WAIT_S)
    assert ran == ["good"]
    assert "Work after the request failed (bad)" in caplog.text


def test_close_finishes_what_was_queued_and_later_work_runs_inline() -> None:
    later = LaterWork(threads=1)
    ran: list[int] = []
    for n in range(20):
        later.submit(f"k{n}", lambda n=n: ran.append(n))
    later.close(WAIT_S)
    assert sorted(ran) == list(range(20))
    later.submit("after", lambda: ran.append(99))  # no thread left: done at once, not lost
    assert ran[-1] == 99


class StoppedClock:
    """A monotonic clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_a_key_starts_again_only_once_its_interval_has_passed() -> None:
    clock = StoppedClock()
    later = LaterWork(threads=1, key_interval_s=1.0, monotonic=clock)
    ran: list[str] = []
    later.submit("card:1", lambda: ran.append("first edit"))
    assert later.wait_idle(WAIT_S)

    later.submit("card:1", lambda: ran.append("second edit"))
    other_done = threading.Event()

    def other_card() -> None:
        ran.append("other card")
        other_done.set()

    later.submit("card:2", other_card)
    assert other_done.wait(WAIT_S)
    assert ran == ["first edit", "other card"]  # card 1 waits out its second; others do not

    clock.now += 1.0
    later.submit("card:3", lambda: ran.append("third card"))  # wakes the worker to look again
    assert later.wait_idle(WAIT_S)
    later.close(WAIT_S)
    assert ran == ["first edit", "other card", "second edit", "third card"]


def test_edits_held_back_by_the_interval_are_merged_into_the_newest() -> None:
    clock = StoppedClock()
    later = LaterWork(threads=2, key_interval_s=1.0, monotonic=clock)
    ran: list[int] = []
    later.submit("card:1", lambda: ran.append(0))
    assert later.wait_idle(WAIT_S)

    for n in range(1, 6):
        later.submit("card:1", lambda n=n: ran.append(n))
    clock.now += 1.0
    later.submit("poke", lambda: None)
    assert later.wait_idle(WAIT_S)
    later.close(WAIT_S)
    assert ran == [0, 5]


def test_closing_runs_work_held_back_by_the_interval_at_once() -> None:
    later = LaterWork(threads=1, key_interval_s=1.0, monotonic=StoppedClock())
    ran: list[str] = []
    later.submit("card:1", lambda: ran.append("first"))
    assert later.wait_idle(WAIT_S)
    later.submit("card:1", lambda: ran.append("held"))

    later.close(WAIT_S)  # the clock never moves: closing must not wait for it

    assert ran == ["first", "held"]


def test_start_times_of_keys_long_quiet_are_forgotten() -> None:
    clock = StoppedClock()
    later = LaterWork(threads=1, key_interval_s=1.0, monotonic=clock)
    for n in range(2000):  # a key of its own each, as card updates that carry a message have
        clock.now += 0.01
        later.submit(f"batch:1:{n}", lambda: None)
        assert later.wait_idle(WAIT_S)
    later.close(WAIT_S)

    assert len(later._started) <= 256  # only the last second's keys, not all 2000


def test_work_that_need_not_replace_leaves_what_waits_under_its_key() -> None:
    later = LaterWork(threads=1, key_interval_s=1.0, monotonic=StoppedClock())
    ran: list[str] = []
    later.submit("card:1", lambda: ran.append("shown at once"))
    assert later.wait_idle(WAIT_S)

    later.submit("card:1", lambda: ran.append("with a message"))
    later.submit("card:1", lambda: ran.append("without"), replace=False)  # dropped: one waits
    later.submit("card:2", lambda: ran.append("nothing waits: queued"), replace=False)
    later.close(WAIT_S)

    assert ran[0] == "shown at once"
    assert sorted(ran[1:]) == ["nothing waits: queued", "with a message"]  # and never "without"
