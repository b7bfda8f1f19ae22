"""The one ASGI app: Slack events (HTTP mode) at POST /slack/events, the Twilio webhooks under
/twilio/ (passed in as `routes`), GET /healthz (the process answers), GET /readyz (ready for
traffic: bot/health.py) and GET /metrics (Prometheus: bot/metrics.py). No request body over 1 MiB is read
(bot/body_limit.py). The app warms up (bot/warm.py) in its lifespan, before uvicorn takes the
first connection: a server that answers is a warm one.

Everything the app serves comes from `Services` built once by the composition root; the Slack
adapter is there when Slack has credentials, the Twilio routes when Twilio has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

import anyio.to_thread
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import WORKER_THREADS
from bot.body_limit import BodyLimit
from bot.health import Readiness, failing
from bot.in_flight import CountInFlight, InFlight
from bot.metrics import Measure, metrics_endpoint
from bot.slack.app import SlackAdapter
from bot.warm import warm_up
from handlers.context import Services

log = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
# Work that lives as long as the app (Socket Mode, the simulated telephony's clock): started
# after start-up, cancelled at shutdown.
Background = Callable[[], Coroutine[Any, Any, None]]


def create_web_app(
    services: Services,
    *,
    slack: SlackAdapter | None = None,
    background: Sequence[Background] = (),
    routes: Sequence[BaseRoute] = (),
    in_flight: InFlight | None = None,
) -> Starlette:
    """The ASGI app; Slack's route answers 404 when Slack is not configured. `in_flight` counts
    the requests under way, for the work after the answer to let them go first."""

    async def slack_events(request: Request) -> Response:
        if slack is None:
            return JSONResponse({"error": "Slack is not configured here"}, status_code=404)
        return await handler.handle(request)  # type: ignore[union-attr]

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "slack": "on" if slack is not None else "off"})

    readiness = Readiness(services.engine)

    async def readyz(request: Request) -> Response:
        parts = await asyncio.to_thread(readiness.check)
        not_ready = failing(parts)
        body = {"status": "not ready" if not_ready else "ready", "failing": not_ready, **parts}
        return JSONResponse(body, status_code=503 if not_ready else 200)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        # Before uvicorn opens its socket: the first wave of requests meets a warm server.
        await warm_up(services, slack)
        readiness.warmed = True
        tasks = [asyncio.create_task(work()) for work in background]
        try:
            yield
        finally:
            readiness.stopping = True
            # uvicorn has finished the requests under way; first the answers Slack was told to
            # wait for (their card updates and outbox rows then still find LaterWork and the
            # outbox worker running), then the background work, which drains on cancel.
            if slack is not None:
                await slack.drain()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if slack is not None:
                await slack.close()  # answer what was acknowledged before stopping

    handler = AsyncSlackRequestHandler(slack.app) if slack is not None else None
    own_routes = [
        Route(SLACK_EVENTS_PATH, slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint(services.engine), methods=["GET"]),
    ]
    # Every body is capped while it streams in, before any route reads it (bot/body_limit.py).
    middleware = [Middleware(Measure), Middleware(BodyLimit)]
    if in_flight is not None:
        middleware.insert(0, Middleware(CountInFlight, in_flight=in_flight))
    return Starlette(routes=[*own_routes, *routes], lifespan=lifespan, middleware=middleware)
