"""Outbound call pacing: Twilio accepts about one new outbound call per second per account.

Every thread of the process that starts a call takes a turn from one `CallPacer`, so call starts
are at least `1 / per_second` apart however many chat requests click Call at once. A turn is a
time slot reserved under a lock; the wait for it happens outside the lock, so one thread asleep
never holds up the others' reservations. Calls dialed from inside a live call are not paced:
Twilio does not count them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cache


class CallPacer:
    """Spaces call starts across all threads: `wait_turn()` returns when the next slot is due."""

    def __init__(
        self,
        per_second: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError(f"calls per second must be positive, not {per_second}")
        self.interval = 1.0 / per_second
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot: float | None = None

    def wait_turn(self) -> None:
        """Block until this caller's slot; slots are `interval` apart, first come first served."""
        delay = self._reserve_slot()
        if delay > 0:
            self._sleep(delay)

    def _reserve_slot(self) -> float:
        """Take the earliest free slot; returns how long until it starts (0 if it is now)."""
        with self._lock:
            now = self._monotonic()
            slot = now if self._next_slot is None else max(now, self._next_slot)
            self._next_slot = slot + self.interval
            return slot - now


@cache
def process_pacer(per_second: float) -> CallPacer:
    """The one pacer of this process for a rate: every backend built in it shares the budget."""
    return CallPacer(per_second)
