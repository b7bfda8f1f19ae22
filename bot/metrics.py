"""Prometheus metrics at `GET /metrics` (prometheus-client).

Two kinds, each counted where it is true:

- What the campaign did (claims, calls by status, outcomes, SMS opt-outs, texts sent by kind) is
  read from the database when Prometheus scrapes. The database is the one truth every worker and
  replica writes to, so the figures are right with any number of processes, survive restarts,
  and need no hook in the core (which may not import `bot`). Every replica reports the same
  totals: aggregate them with `max`, not `sum`.
- What only the process sees (webhook and Slack ack latency, refused signatures) is counted in
  the process by the `Measure` middleware. Several worker processes sharing one port (uvicorn
  `--workers`, gunicorn) must share these counts: start them with `PROMETHEUS_MULTIPROC_DIR` set
  to an empty directory they all write to, and any of them serves the sum (prometheus-client's
  multiprocess mode). Without it each process has its own registry, which is right for
  `phonebank web` replicas: each is one process, scraped as its own target.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlmodel import col, func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handlers.texting import OPT_OUT_WORDS
from storage.db import read_session
from storage.models import Batch, CallAttempt, SmsInbound, SmsSend

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Slack retries an event it has no answer for within 3 s; Twilio waits up to 15 s.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0)
REFUSED_STATUSES = frozenset({401, 403})  # Bolt answers a bad signature 401, our Twilio routes 403

SLACK_ACK = Histogram(
    "phonebank_slack_ack_seconds",
    "Time to answer a Slack request at /slack/events (Slack retries after 3 s).",
    buckets=LATENCY_BUCKETS,
)
WEBHOOK = Histogram(
    "phonebank_webhook_seconds",
    "Time to answer a Twilio webhook, by route (/twilio/voice, /twilio/sms ...).",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
REFUSED = Counter(
    "phonebank_refused_signatures",
    "Requests refused for a missing or bad Slack or Twilio signature.",
    ["surface"],
)


class Measure:
    """ASGI middleware: times Slack and Twilio requests and counts refused signatures."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        surface = _surface(scope.get("path", "")) if scope["type"] == "http" else None
        if surface is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            if surface == "slack":
                SLACK_ACK.observe(elapsed)
            else:
                WEBHOOK.labels(route=_route(scope["path"])).observe(elapsed)
            if status in REFUSED_STATUSES:
                REFUSED.labels(surface=surface).inc()


def _surface(path: str) -> str | None:
    if path.startswith("/slack/"):
        return "slack"
    if path.startswith("/twilio/"):
        return "twilio"
    return None


def _route(path: str) -> str:
    """The first two segments (`/twilio/voice`): ids in the rest would grow the label set."""
    return "/".join(path.split("/")[:3])


class CampaignCounts(Collector):
    """The campaign's figures, counted in the database at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "phonebank_database_up", "1 when the scrape could read the database."
        )
        try:
            families = list(self._families())
        except Exception as error:
            log.warning("Metrics: the database does not answer (%s)", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[Metric]:
        with read_session(self.engine) as session:
            claims = session.exec(select(func.count()).select_from(Batch)).one()
            calls = session.exec(
                select(CallAttempt.call_status, func.count()).group_by(CallAttempt.call_status)
            ).all()
            outcomes = session.exec(
                select(CallAttempt.result_code, func.count())
                .where(col(CallAttempt.result_code).is_not(None))
                .group_by(CallAttempt.result_code)
            ).all()
            opt_outs = session.exec(
                select(func.count())
                .select_from(SmsInbound)
                .where(col(SmsInbound.keyword).in_(sorted(OPT_OUT_WORDS)))
            ).one()
            sends = session.exec(
                select(SmsSend.purpose, func.count()).group_by(SmsSend.purpose)
            ).all()
        yield CounterMetricFamily("phonebank_claims", "Batches claimed.", value=claims)
        yield _labelled(
            GaugeMetricFamily(
                "phonebank_calls", "Calls placed, by their latest status.", labels=["status"]
            ),
            ((status or "placing", n) for status, n in calls),
        )
        yield _labelled(
            CounterMetricFamily(
                "phonebank_outcomes", "Outcomes logged, by result.", labels=["result"]
            ),
            outcomes,
        )
        yield CounterMetricFamily(
            "phonebank_sms_opt_outs", "Opt-out texts received (STOP ...).", value=opt_outs
        )
        yield _labelled(
            CounterMetricFamily(
                "phonebank_sends", "Texts sent on request, by kind.", labels=["kind"]
            ),
            sends,
        )


def _labelled(
    family: CounterMetricFamily | GaugeMetricFamily, rows: Iterable[tuple[str | None, int]]
) -> Metric:
    for label, count in rows:
        family.add_metric([str(label)], count)
    return family


def process_registry() -> CollectorRegistry:
    """This process's metrics, or (in multiprocess mode) every worker's, summed."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def metrics_endpoint(engine: Engine) -> Callable[[Request], Awaitable[Response]]:
    """The `GET /metrics` route's handler, for the database behind `engine`."""
    campaign = CollectorRegistry(auto_describe=False)
    campaign.register(CampaignCounts(engine))

    async def metrics(request: Request) -> Response:
        body = await asyncio.to_thread(_render, campaign)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics


def _render(campaign: CollectorRegistry) -> bytes:
    return generate_latest(process_registry()) + generate_latest(campaign)
