"""Time for pacers under test: `monotonic()` and `sleep()` that move only when slept on, and
record every sleep (nothing really sleeps)."""

from __future__ import annotations


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
