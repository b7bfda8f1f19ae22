"""Work done after the request that asked for it, on a few threads of the web process.

A webhook or a button press often ends with "show the volunteer their updated card": reading the
batch, rendering it and editing a Slack message, which Slack paces to one message a second per
channel. None of that should hold up the answer Twilio or Slack is waiting for. The core hands
such work over with a key (`Services.later`); here it runs once the request has been answered,
and when work for a key is still waiting, newer work for that key replaces it: a card edited
five times in a second is rendered and sent once, as it stands last. Work for one key never
runs on two threads at once, so edits of one card stay in order, and it starts at most once a
`key_interval_s` (a second by default, Slack's pace): a card that changes with every webhook of
a live call is drawn once a second, not eight times, and the process spends its time answering.
Work under a key of its own is never held back.

Only redraws may be handed over here (DESIGN.md, "Acknowledged means done"): this queue lives in
the process's memory, and a process that dies loses it. Work whose loss changes the truth (a
session ending, voters returned, an outcome, a message the bot owes someone) is committed before
the answer, or owed to the durable outbox before it (handlers/outbox.py). What is queued here
today: card redraws (`handlers.dialing.show_batch`, which the next update repeats) and a voter
leg's progress reports (bot/telephony/voice_webhooks.py, which its last report repeats).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Work = Callable[[], None]
DEFAULT_THREADS = 4
KEY_INTERVAL_S = 1.0  # Slack posts about one message a second per channel
_PRUNE_AT = 256  # start times remembered before the expired ones are forgotten


class LaterWork:
    """`submit(key, work)`: run `work` soon on a worker thread; latest work per waiting key, each
    key started at most once every `key_interval_s`."""

    def __init__(
        self,
        threads: int = DEFAULT_THREADS,
        *,
        key_interval_s: float = KEY_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
        wait_quiet: Callable[[], object] | None = None,
    ) -> None:
        # Called before each work starts: blocks (for a bounded time) while the process answers
        # requests, so that work after the answer never holds up an answer (bot/in_flight.py).
        self._wait_quiet = wait_quiet
        self._waiting: dict[str, Work] = {}  # insertion-ordered: oldest key first
        self._running: set[str] = set()
        self._started: dict[str, float] = {}  # when each key's last work started
        self._interval = key_interval_s
        self._monotonic = monotonic
        self._changed = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"phonebank-later-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, key: str, work: Work, *, replace: bool = True) -> None:
        """Queue `work`, replacing what still waits under `key` (keeping its place in line); with
        `replace=False`, work already waiting under `key` stays and `work` is dropped. After
        `close`, the work runs at once in the caller's thread: nothing is dropped."""
        with self._changed:
            if not self._closed:
                if replace or key not in self._waiting:
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
                if self._wait_quiet is not None:
                    self._wait_quiet()
                _run(key, work)
            finally:
                with self._changed:
                    self._running.discard(key)
                    self._changed.notify_all()

    def _take(self) -> tuple[str, Work] | None:
        """The oldest waiting work whose key is free to start; None once closed and empty."""
        with self._changed:
            while True:
                now = self._monotonic()
                key, due = self._next_due(now)
                if key is not None:
                    self._running.add(key)
                    self._remember_start(key, now)
                    work = self._waiting.pop(key)
                    if self._waiting:  # another thread watches the clock for what is left
                        self._changed.notify()
                    return key, work
                if self._closed and not self._waiting:
                    return None
                self._changed.wait(None if due is None else due - now)

    def _next_due(self, now: float) -> tuple[str | None, float | None]:
        """The oldest waiting key that may start now, or else when the soonest one may."""
        soonest: float | None = None
        for key in self._waiting:
            if key in self._running:
                continue
            due = self._started.get(key, -math.inf) + self._interval
            if due <= now or self._closed:  # closing: finish everything without waiting
                return key, None
            soonest = due if soonest is None else min(soonest, due)
        return None, soonest

    def _remember_start(self, key: str, now: float) -> None:
        if len(self._started) >= _PRUNE_AT:
            expired = now - self._interval
            self._started = {k: t for k, t in self._started.items() if t > expired}
        self._started[key] = now


def _run(key: str, work: Work) -> None:
    try:
        work()
    except Exception:
        log.exception("Work after the request failed (%s)", key)
