"""Requests being answered right now, so that work after the answer can let them go first.

A web process's Python runs on one core at a time. At a shift start, fifty calling sessions'
answer webhooks arrive together, and each answer queues a card redraw (bot/later.py); drawn at
once, the redraws take the core from the answers still waiting, and Twilio waits longer for
every one of them. Redraws are only a picture, so they hold back, for a bounded time, while
requests are in flight (`InFlight.wait_quiet`); the answers go first.
"""

from __future__ import annotations

import threading

from starlette.types import ASGIApp, Receive, Scope, Send

QUIET_WAIT_S = 0.5  # how long a redraw waits for a quiet moment before it runs anyway


class InFlight:
    """A count of HTTP requests under way, and a wait for none."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    @property
    def count(self) -> int:
        return self._count

    def enter(self) -> None:
        with self._changed:
            self._count += 1

    def leave(self) -> None:
        with self._changed:
            self._count -= 1
            if self._count == 0:
                self._changed.notify_all()

    def wait_quiet(self, timeout: float = QUIET_WAIT_S) -> bool:
        """Block until no request is under way; False if `timeout` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, timeout)


class CountInFlight:
    """ASGI middleware: every HTTP request counts in `in_flight` until its answer is sent."""

    def __init__(self, app: ASGIApp, in_flight: InFlight) -> None:
        self.app = app
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.in_flight.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight.leave()
