"""The web process's outbox worker: a few threads that carry out the outbox's rows.

Rows are owed by the core (handlers/outbox.py explains the API and the rule); this worker runs
the due ones as soon as it is woken (`wake`, after a commit that owed some), every `poll_s`
seconds otherwise (rows owed by another replica, retries that came due), and once at start-up,
which is how rows left unfinished by a crash are resumed. It also runs a few periodic jobs
(`Periodic`, e.g. the sweep of calling sessions that died without a hang-up) until the scheduler
process takes them over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from handlers.context import Services
from handlers.outbox import run_due

log = logging.getLogger(__name__)

THREADS = 2
POLL_S = 2.0


@dataclass(frozen=True)
class Periodic:
    """A job the worker runs every `every_s` seconds, first at start-up."""

    name: str
    every_s: float
    run: Callable[[Services], object]


class OutboxWorker:
    """`start(services)`, then `wake()` after owing work; `close()` at shutdown. Implements
    `handlers.context.OutboxWorker`."""

    def __init__(
        self,
        *,
        threads: int = THREADS,
        poll_s: float = POLL_S,
        periodic: Sequence[Periodic] = (),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._count = threads
        self._poll_s = poll_s
        self._periodic = list(periodic)
        self._next_run = [0.0] * len(self._periodic)  # monotonic time each job is due
        self._monotonic = monotonic
        self._changed = threading.Condition()
        self._wakes = 0
        self._closed = False
        self._threads: list[threading.Thread] = []

    def start(self, services: Services) -> None:
        """Start the threads; the first looks for due rows (and runs the jobs) at once."""
        self._threads = [
            threading.Thread(
                target=self._work, args=(services, n), name=f"phonebank-outbox-{n}", daemon=True
            )
            for n in range(self._count)
        ]
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """Rows were committed: look for due work now."""
        with self._changed:
            self._wakes += 1
            self._changed.notify_all()

    def close(self, timeout: float | None = None) -> None:
        """Stop after the rows under way (what is left stays owed in the database)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _work(self, services: Services, n: int) -> None:
        seen = -1  # the first turn never waits
        while True:
            with self._changed:
                if seen == self._wakes and not self._closed:
                    self._changed.wait(self._wait_s(n))
                if self._closed:
                    return
                seen = self._wakes
            ran = self._run_due(services)
            if n == 0:
                self._run_periodic(services)
            if ran:
                seen = -1  # more may be due: look again without waiting

    def _run_due(self, services: Services) -> int:
        try:
            return run_due(services)
        except Exception:  # the database is away: try again at the next turn
            log.exception("The outbox worker could not read the outbox")
            return 0

    def _wait_s(self, n: int) -> float:
        if n != 0 or not self._periodic:
            return self._poll_s
        soonest = min(self._next_run) - self._monotonic()
        return max(0.0, min(self._poll_s, soonest))

    def _run_periodic(self, services: Services) -> None:
        for index, job in enumerate(self._periodic):
            now = self._monotonic()
            if now < self._next_run[index]:
                continue
            self._next_run[index] = now + job.every_s
            try:
                job.run(services)
            except Exception:
                log.exception("Periodic job %s failed", job.name)
