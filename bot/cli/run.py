"""`phonebank run` (everything in one process) and `phonebank web` (the web app alone).

`run` starts the web app under uvicorn with every adapter that has credentials: Slack over
Socket Mode when SLACK_APP_TOKEN is set (else Slack posts to /slack/events), the Discord gateway
when DISCORD_BOT_TOKEN is set (a web replica only sends Discord messages), Twilio's webhooks
under /twilio/ when Twilio is set up, else the simulated telephony's clock. `web` serves only HTTP, for the web replicas
behind a load balancer (Slack in HTTP mode). Both say at start-up what is on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

import typer
import uvicorn
from sqlalchemy.engine import Engine
from starlette.applications import Starlette

from bot.app import build_services
from bot.calendar import calendar_routes
from bot.cli.common import console, engine, fail, require_migrated, settings
from bot.dashboard import dashboard_routes
from bot.discord.app import discord_for
from bot.in_flight import InFlight
from bot.later import LaterWork
from bot.logs import configure_logging
from bot.outbox import OutboxWorker
from bot.settings import Settings
from bot.slack.app import slack_for
from bot.telephony import softphone
from bot.telephony.simulated import SimulatedTelephony
from bot.telephony.webhooks import twilio_routes
from bot.web import SLACK_EVENTS_PATH, Background, create_web_app
from handlers.context import Services, Telephony
from scheduling.leader import leadership_for
from scheduling.runner import Scheduler

Host = Annotated[str, typer.Option("--host", help="Interface to listen on.")]
Port = Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)]
SIMULATED_CLOCK_TICK_S = 1.0
# On SIGTERM, how long requests under way may take to finish before uvicorn cancels them; the
# lifespan's drain follows, within docker-compose.yml's stop_grace_period (30 s).
GRACEFUL_SHUTDOWN_S = 15
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Plan:
    """What a process will run, and the lines that say so at start-up."""

    app: Starlette
    lines: list[str]


def run(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Run everything in one process: the web app and every chat adapter with credentials."""
    serve(host, port, everything=True)


def web(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Run the web app alone (Slack events in HTTP mode, health), for the web replicas."""
    serve(host, port, everything=False)


def serve(host: str, port: int, *, everything: bool) -> None:
    """Check the database, say what is on, and serve until interrupted."""
    current = settings()
    if problem := unsafe_setting(current):
        fail(problem)
    db = engine(current)
    require_migrated(db)
    restore_logging = configure_logging(secrets_of(current))
    plan = plan_for(current, db, everything=everything)
    console.print(f"Phonebank on http://{host}:{port}", highlight=False)
    for line in plan.lines:
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    try:
        uvicorn.run(
            plan.app,
            host=host,
            port=port,
            log_level="info",
            log_config=None,  # uvicorn's records go through ours: redacted, JSON off a terminal
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
    finally:
        restore_logging()
        db.dispose()


def plan_for(current: Settings, db: Engine, *, everything: bool) -> Plan:
    """The web app with its adapters, and the start-up report."""
    in_flight = InFlight()  # card redraws let the answers under way go first
    later = LaterWork(wait_quiet=in_flight.wait_quiet)
    worker = web_worker()
    services = build_services(current, engine=db, later=later.submit, outbox=worker)
    slack = slack_for(current, services)
    background: list[Background] = [
        lambda: finish_at_shutdown(later),
        lambda: run_outbox(worker, services),
    ]
    lines: list[str] = []
    if slack is None:
        lines.append("Slack: off (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET)")
    elif everything and current.slack_app_token:
        token = current.slack_app_token
        background.append(lambda: slack.run_socket_mode(token))
        lines.append("Slack: on, Socket Mode (no public URL needed)")
    else:
        url = current.public_base_url.rstrip("/") + SLACK_EVENTS_PATH
        lines.append(f"Slack: on, HTTP mode: Slack posts to {url}")
    discord = discord_for(current, services)
    if discord is None:
        lines.append("Discord: off (set DISCORD_BOT_TOKEN)")
    elif everything:
        background.append(discord.run_gateway)
        lines.append(
            f"Discord: on, gateway (its address from {current.discord_api_url}/gateway/bot)"
        )
    else:
        background.append(discord.run_rest_only)
        lines.append("Discord: messages only here; interactions reach `phonebank discord`")
    if everything:
        background.append(lambda: run_scheduler(services))
        lines.append(
            "Scheduler: on (reminders, shift starts, lease expiry; one leader per database)"
        )
    if current.twilio_enabled:
        base = current.public_base_url.rstrip("/")
        lines.append(f"Telephony: Twilio, calling from {current.twilio_caller_id}")
        lines.append(f"  texts in: set the number's messaging webhook to {base}/twilio/sms")
        if current.softphone_enabled:
            lines.append(f"  softphone: {base}/softphone (volunteers: /phonebank softphone)")
    else:
        lines.append("Telephony: simulated (set TWILIO_* to place real calls)")
        if everything:
            background.append(lambda: tick_simulated_calls(services.telephony))
    if slack is None and discord is None:
        lines += [
            "No chat platform is connected. To connect Slack, create the app from",
            "slack-manifest.yml and set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (README:",
            '"Connecting Slack"). To try Phonebank in the terminal now: phonebank demo',
        ]
    routes = [
        *twilio_routes(current, services),
        *softphone.routes_if_enabled(current, services),
        *calendar_routes(services),
        *dashboard_routes(services, current.public_base_url),
    ]
    app = create_web_app(
        services, slack=slack, background=background, routes=routes, in_flight=in_flight
    )
    return Plan(app, lines)


async def tick_simulated_calls(
    telephony: Telephony, every_s: float = SIMULATED_CLOCK_TICK_S
) -> None:
    """Move simulated calls along (ringing, connected) as time passes, until cancelled."""
    if not isinstance(telephony, SimulatedTelephony):
        return
    while True:
        await asyncio.to_thread(telephony.advance)
        await asyncio.sleep(every_s)


async def run_scheduler(services: Services) -> None:
    """The scheduler in this process, for as long as the app lives."""
    runner = Scheduler(services, leadership_for(services.engine))
    runner.start()
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.to_thread(runner.shutdown)


async def finish_at_shutdown(later: LaterWork, timeout_s: float = 10.0) -> None:
    """Live as long as the app; when it stops, let queued card updates finish first."""
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.to_thread(later.close, timeout_s)


def web_worker() -> OutboxWorker:
    """The outbox worker of a web process (the scheduler's leader sweeps the calling sessions
    that died without a hang-up: scheduling/jobs.py)."""
    return OutboxWorker()


async def run_outbox(worker: OutboxWorker, services: Services) -> None:
    """Carry out the outbox's rows (those a crash left first) as long as the app lives."""
    worker.start(services)
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.to_thread(worker.close, 10.0)


def unsafe_setting(current: Settings) -> str | None:
    """Why the web app must not start with these settings, in one line; None when it may."""
    if current.slack_bot_token and not current.slack_signing_secret:
        return (
            "SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is not: Slack's requests could not be"
            " told from forged ones (set it from the app's Basic Information page)"
        )
    if current.twilio_enabled and not _https_or_loopback(current.public_base_url):
        return (
            f"Twilio is on but PUBLIC_BASE_URL ({current.public_base_url}) is not https: webhooks"
            " and softphone links would travel in clear (use https, or a loopback address to test)"
        )
    return None


def _https_or_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = (parts.hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def secrets_of(current: Settings) -> list[str]:
    """Values that must never appear in a log line."""
    values = [
        current.slack_bot_token,
        current.slack_signing_secret,
        current.slack_app_token,
        current.discord_bot_token,
        current.twilio_auth_token,
    ]
    return [value for value in values if value]
