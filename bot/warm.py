"""Warming a web process up before it takes its first request.

A shift starts with everyone at once: fifty volunteers type `/phonebank batch` in the same
second, and each of those first requests used to pay for what a server does once: Slack's
`auth.test` (in the ack), a PostgreSQL connection opened for each worker thread (a server
process started, then pinged), and the phone-number geocoder's data imported (half a second
of CPU under the import lock, about 100 MB). While a few of them paid, the others' acks waited
for the CPU. The web app's lifespan runs `warm_up` before uvicorn opens its socket, so a
server that answers `/healthz` at all is a warm one.

Nothing here is required: a part that fails (the database or Slack unreachable) is logged and
start-up goes on, and the first request that needs the part pays for it as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable

from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from bot.slack.app import SlackAdapter
from handlers.context import Services
from matching.phones import normalize_phone

log = logging.getLogger(__name__)

WARM_UP_TIMEOUT_S = 30.0
SAMPLE_PHONE = "+12125550100"  # any valid US number: its state comes from the geocoder


async def warm_up(
    services: Services, slack: SlackAdapter | None = None, timeout_s: float = WARM_UP_TIMEOUT_S
) -> None:
    """Open the database pool, load the phone data and (with Slack) authorize, all at once;
    give up waiting after `timeout_s`."""
    started = time.perf_counter()
    parts: dict[str, Awaitable[object]] = {
        "database pool": asyncio.to_thread(open_pool, services.engine),
        "phone data": asyncio.to_thread(load_phone_data),
    }
    if slack is not None:
        parts["Slack"] = slack.warm_up()
    try:
        async with asyncio.timeout(timeout_s):
            results = await asyncio.gather(*parts.values(), return_exceptions=True)
    except TimeoutError:
        log.warning("Warm-up took over %.0f s; serving anyway", timeout_s)
        return
    for name, result in zip(parts, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("Warm-up: %s failed (%s); the first request will pay for it", name, result)
    log.info("Warmed up in %.2f s", time.perf_counter() - started)


def open_pool(engine: Engine) -> int:
    """Open every connection the pool keeps; how many. Raw connections, held all at once (so
    each is a new one): no transaction is begun, which on SQLite would take its write lock."""
    size = engine.pool.size() if isinstance(engine.pool, QueuePool) else 1
    with contextlib.ExitStack() as held:
        for _ in range(size):
            held.enter_context(contextlib.closing(engine.raw_connection()))
    return size


def load_phone_data() -> None:
    """Import the geocoder's data, which the first claim would otherwise import (matching
    reads a volunteer's state from it)."""
    normalize_phone(SAMPLE_PHONE)
