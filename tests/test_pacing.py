"""The call pacer: call starts across threads at least 1/per_second apart, on recorded time."""

from __future__ import annotations

import threading

import pytest

from bot.telephony.pacing import CallPacer, process_pacer


class StillTime:
    """A monotonic clock that moves only when the test says so; sleeps are recorded, not slept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)


@pytest.fixture
def still() -> StillTime:
    return StillTime()


def pacer(time_: StillTime, per_second: float = 1.0) -> CallPacer:
    return CallPacer(per_second, monotonic=time_.monotonic, sleep=time_.sleep)


def test_the_first_call_goes_at_once(still: StillTime) -> None:
    pacer(still).wait_turn()

    assert still.slept == []


def test_calls_in_a_burst_wait_one_interval_more_each(still: StillTime) -> None:
    calls = pacer(still, per_second=2.0)

    for _ in range(4):
        calls.wait_turn()

    assert still.slept == [0.5, 1.0, 1.5]


def test_a_call_after_a_quiet_spell_goes_at_once(still: StillTime) -> None:
    calls = pacer(still)
    calls.wait_turn()

    still.now += 5.0
    calls.wait_turn()

    assert still.slept == []


def test_a_call_partway_into_the_interval_waits_for_the_rest(still: StillTime) -> None:
    calls = pacer(still)
    calls.wait_turn()

    still.now += 0.25
    calls.wait_turn()

    assert still.slept == [0.75]


def test_a_quiet_spell_does_not_bank_turns_for_a_later_burst(still: StillTime) -> None:
    calls = pacer(still)
    calls.wait_turn()
    still.now += 10.0

    for _ in range(3):
        calls.wait_turn()

    assert still.slept == [1.0, 2.0]


def test_threads_calling_at_once_get_distinct_slots_one_interval_apart(still: StillTime) -> None:
    calls = pacer(still, per_second=1.0)
    start = threading.Barrier(8)

    def place() -> None:
        start.wait()
        calls.wait_turn()

    threads = [threading.Thread(target=place) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # One thread went at once; the others each reserved its own slot: 1 s, 2 s, ... 7 s out.
    assert sorted(still.slept) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


def test_a_sleeping_thread_does_not_hold_up_the_others_reservations(still: StillTime) -> None:
    entered = threading.Event()
    release = threading.Event()
    slept: list[float] = []

    def blocking_sleep(seconds: float) -> None:
        slept.append(seconds)
        entered.set()
        release.wait()

    calls = CallPacer(1.0, monotonic=still.monotonic, sleep=blocking_sleep)
    calls.wait_turn()  # takes the first slot, no sleep
    sleeper = threading.Thread(target=calls.wait_turn)
    sleeper.start()
    entered.wait()

    # The sleeper is inside sleep(); another reservation still goes through (the lock is free).
    reserved = calls._reserve_slot()
    release.set()
    sleeper.join()

    assert slept == [1.0]
    assert reserved == 2.0


@pytest.mark.parametrize("per_second", [0, -1])
def test_a_rate_that_is_not_positive_is_refused(per_second: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        CallPacer(per_second)


def test_the_process_pacer_is_one_per_rate() -> None:
    assert process_pacer(1.0) is process_pacer(1.0)
    assert process_pacer(1.0) is not process_pacer(2.0)
    assert process_pacer(2.0).interval == 0.5
