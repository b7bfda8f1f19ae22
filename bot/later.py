"""Work done after the request that asked for it, on a few threads of the web process.

A webhook or a button press often ends with "show the volunteer their updated card": reading the
batch, rendering it and editing a Slack message, which Slack paces to one message a second per
channel. None of that should hold up the answer Twilio or Slack is waiting for. The core hands
such work over with a key (`Services.later`); here it runs once the request has been answered,
and when work for a key is still waiting, newer work for that key replaces it: a card edited
five times in a second is rendered and sent once, as it stands last. Work for one key never
runs on two threads at once, so edits of one card stay in order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Work = Callable[[], None]
DEFAULT_THREADS = 4


class LaterWork:
    """`submit(key, work)`: run `work` soon on a worker thread; latest work per waiting key."""

    def __init__(self, threads: int = DEFAULT_THREADS) -> None:
        self._waiting: dict[str, Work] = {}  # insertion-ordered: oldest key first
        self._running: set[str] = set()
        self._changed = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"phonebank-later-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, key: str, work: Work) -> None:
        """Queue `work`, replacing what still waits under `key` (keeping its place in line).
        After `close`, the work runs at once in the caller's thread: nothing is dropped."""
        with self._changed:
            if not self._closed:
                self._waiting[key] = work
                self._changed.notify()
                return
        _run(key, work)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing waits or runs; False if `timeout` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._waiting and not self._running, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Finish what was submitted, then stop the threads."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            key, work = taken
            try:
                _run(key, work)
            finally:
                with self._changed:
                    self._running.discard(key)
                    self._changed.notify_all()

    def _take(self) -> tuple[str, Work] | None:
        """The oldest waiting work whose key is not running; None once closed and empty."""
        with self._changed:
            while True:
                key = next((k for k in self._waiting if k not in self._running), None)
                if key is not None:
                    self._running.add(key)
                    return key, self._waiting.pop(key)
                if self._closed and not self._waiting:
                    return None
                self._changed.wait()


def _run(key: str, work: Work) -> None:
    try:
        work()
    except Exception:
        log.exception("Work after the request failed (%s)", key)
