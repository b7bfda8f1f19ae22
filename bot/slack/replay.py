"""A replayed Slack request changes nothing and uses up nothing.

Bolt checks a request's signature and refuses a timestamp more than five minutes away, but
within those five minutes the same signed body can be posted again by anyone who saw it once
(a proxy's log, a captured request): each copy would run again, and a replayed `/phonebank
verify 000000` would use up the code's tries. So every signed request's timestamp and signature
are recorded in `processed_event` (its unique key decides, across replicas) before any listener
runs, and a request seen before is answered with an empty 200, as harmless as a retry's: no
listener runs, nothing is said. Rows older than the window are useless (Bolt refuses their
requests anyway) and are purged now and then.

Socket Mode requests carry no signature (the socket is authenticated) and are not checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from sqlmodel import col, delete

from handlers.context import Services
from handlers.dialing import first_time
from storage.models import ProcessedEvent

log = logging.getLogger(__name__)

SOURCE = "slack.request"
WINDOW = timedelta(minutes=5)  # Bolt refuses a timestamp further from now
KEEP = 2 * WINDOW  # a row past this is purged: its request would be refused anyway
PURGE_EVERY = timedelta(minutes=1)

Next = Callable[[], Awaitable[BoltResponse]]


async def _in_a_thread(work: Callable[[str], bool], key: str) -> bool:
    return await asyncio.to_thread(work, key)


def replay_middleware(
    services: Services,
    *,
    before_ack: Callable[[Callable[[str], bool], str], Awaitable[bool]] = _in_a_thread,
) -> Callable[..., Awaitable[BoltResponse]]:
    """Bolt middleware (it runs after Bolt's own signature check): a signed request runs once.
    `before_ack` runs the ledger's check in a thread (the adapter's ack threads)."""
    ledger = RequestLedger(services)

    async def refuse_replays(req: AsyncBoltRequest, next_: Next) -> BoltResponse:
        key = request_key(req.headers)
        if key is None:
            return await next_()
        if not await before_ack(ledger.first_time, key):
            log.warning("A Slack request was replayed (%s); it was answered and ignored", key[:40])
            return BoltResponse(status=200, body="")
        return await next_()

    return refuse_replays


class RequestLedger:
    """The signed requests seen in the last few minutes, in `processed_event`."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._purged_at: datetime | None = None

    def first_time(self, key: str) -> bool:
        """Record the request; False when it was recorded before (by any replica)."""
        now = self.services.clock.now()
        with self.services.engine.begin() as conn:
            first = first_time(conn, key, SOURCE, now)
        self._purge_now_and_then(now)
        return first

    def _purge_now_and_then(self, now: datetime) -> None:
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = now
        with self.services.engine.begin() as conn:
            conn.execute(
                delete(ProcessedEvent).where(
                    col(ProcessedEvent.source) == SOURCE,
                    col(ProcessedEvent.created_at) < now - KEEP,
                )
            )


def request_key(headers: Mapping[str, Sequence[str]]) -> str | None:
    """`slack:<timestamp>:<signature>` of a signed request; None for one without (Socket Mode)."""
    timestamp = _first(headers, "x-slack-request-timestamp")
    signature = _first(headers, "x-slack-signature")
    if not timestamp or not signature:
        return None
    return f"slack:{timestamp[:20]}:{signature[:120]}"


def _first(headers: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = headers.get(name) or ()
    return values[0] if values else None
