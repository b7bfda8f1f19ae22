"""Operations: /readyz says which part is not ready (the database gone, the schema behind, the
process warming up or stopping) and recovers; /metrics moves when a claim, an outcome or a
refused signature happens through the real web app; multiprocess mode sums the workers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from bot.app import build_services
from bot.cli.run import plan_for
from bot.settings import load_settings
from bot.web import create_web_app
from storage.clock import FrozenClock
from storage.db import make_engine
from storage.migrate import downgrade, upgrade
from tests.conftest import PostgresServer
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack_support import (
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackWorkspace,
    open_workspace,
    signed_headers,
)
from tests.test_slack_app import command_body, seed_campaign, sign_up

pytestmark = pytest.mark.anyio


def web_app(engine: Engine, clock: FrozenClock) -> object:
    settings = load_settings(database_url=engine.url.render_as_string(hide_password=False))
    return create_web_app(build_services(settings, engine=engine, clock=clock))


async def readyz(app: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get("/readyz")


async def test_readiness_flips_when_the_postgresql_database_goes_away_and_back(
    postgres_server: PostgresServer, clock: FrozenClock
) -> None:
    url = postgres_server.create_database()
    upgrade(url)
    engine = make_engine(url)
    admin = make_engine(postgres_server.admin_url, isolation_level="AUTOCOMMIT")
    app = web_app(engine, clock)
    try:
        async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
            ready = await readyz(app)
            _execute(admin, f'DROP DATABASE "{url.database}" WITH (FORCE)')
            gone = await readyz(app)
            _execute(admin, f'CREATE DATABASE "{url.database}"')
            upgrade(url)
            back = await readyz(app)
    finally:
        engine.dispose()
        admin.dispose()
        postgres_server.drop_database(url)

    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert gone.status_code == 503
    assert gone.json()["failing"] == ["database", "migrations"]
    assert gone.json()["database"] == "unreachable"
    assert back.status_code == 200 and back.json()["failing"] == []


async def test_readiness_names_a_schema_behind_this_release_until_it_is_upgraded(
    empty_db_url: URL, clock: FrozenClock
) -> None:
    upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    app = web_app(engine, clock)
    try:
        async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
            downgrade(empty_db_url, "-1")
            behind = await readyz(app)
            upgrade(empty_db_url)
            current = await readyz(app)
    finally:
        engine.dispose()

    assert behind.status_code == 503
    assert behind.json()["failing"] == ["migrations"]
    assert "this release needs" in behind.json()["migrations"]
    assert current.status_code == 200


async def test_a_process_is_not_ready_before_warm_up_nor_once_it_is_stopping(
    empty_db_url: URL, clock: FrozenClock
) -> None:
    upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    app = web_app(engine, clock)
    try:
        cold = await readyz(app)  # no lifespan yet: not warmed up
        async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
            warm = await readyz(app)
        stopped = await readyz(app)
    finally:
        engine.dispose()

    assert (cold.status_code, cold.json()["warm"]) == (503, "warming up")
    assert warm.status_code == 200
    assert (stopped.status_code, stopped.json()["warm"]) == (503, "shutting down")


def _execute(engine: Engine, sql: str) -> None:
    with engine.connect() as connection:
        connection.execute(text(sql))


# --- metrics ----------------------------------------------------------------------------------


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus's text format (0 when absent)."""
    wanted = name + (
        "{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}" if labels else ""
    )
    for line in metrics.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture
async def slack(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> AsyncIterator[SlackWorkspace]:
    async with open_workspace(engine, clock, fake_slack) as workspace:
        yield workspace


async def scrape(slack: SlackWorkspace) -> str:
    response = await slack.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_move_with_a_claim_an_outcome_and_a_refused_signature(
    slack: SlackWorkspace, engine: Engine
) -> None:
    seed_campaign(engine)
    await sign_up(slack)
    before = await scrape(slack)

    await slack.command("batch")
    await slack.press("Log outcome")
    await slack.submit({"result": "not_home"})
    refused = await slack.http.post(  # unsigned
        "/slack/events",
        content="command=%2Fphonebank",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    await slack.adapter.drain()
    after = await scrape(slack)

    assert refused.status_code == 401
    assert sample(after, "phonebank_database_up") == 1
    assert sample(after, "phonebank_claims_total") == sample(before, "phonebank_claims_total") + 1
    assert sample(after, "phonebank_outcomes_total", result="not_home") == 1
    slack_refused = ("phonebank_refused_signatures_total", {"surface": "slack"})
    assert sample(after, slack_refused[0], **slack_refused[1]) == (
        sample(before, slack_refused[0], **slack_refused[1]) + 1
    )
    acks = "phonebank_slack_ack_seconds_count"
    assert sample(after, acks) >= sample(before, acks) + 4  # command, press, submit, refused


async def test_metrics_say_the_database_is_down_instead_of_failing(clock: FrozenClock) -> None:
    nowhere = make_engine("postgresql://phonebank@127.0.0.1:1/nowhere", connect_args={})
    transport = httpx.ASGITransport(app=web_app(nowhere, clock))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/metrics")

    assert response.status_code == 200
    assert sample(response.text, "phonebank_database_up") == 0


WORKER = """
import sys
from bot.metrics import REFUSED, WEBHOOK
REFUSED.labels(surface="twilio").inc(int(sys.argv[1]))
WEBHOOK.labels(route="/twilio/sms").observe(0.2)
"""
SCRAPE = """
from bot.metrics import _render
from prometheus_client import CollectorRegistry
print(_render(CollectorRegistry()).decode())
"""


def test_several_worker_processes_are_summed_in_multiprocess_mode(tmp_path: Path) -> None:
    environment = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    for count in ("2", "3"):
        subprocess.run([sys.executable, "-c", WORKER, count], env=environment, check=True)
    scraped = subprocess.run(
        [sys.executable, "-c", SCRAPE], env=environment, check=True, capture_output=True, text=True
    ).stdout

    assert sample(scraped, "phonebank_refused_signatures_total", surface="twilio") == 5
    assert sample(scraped, "phonebank_webhook_seconds_count", route="/twilio/sms") == 2


# --- graceful shutdown ------------------------------------------------------------------------


async def test_shutdown_right_after_an_ack_finishes_the_claim_and_its_answer(
    empty_db_url: URL, fake_slack: FakeSlackAPI, clock: FrozenClock
) -> None:
    upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    seed_campaign(engine)
    async with open_workspace(engine, clock, fake_slack) as signing_up:
        await sign_up(signing_up)
    settings = load_settings(
        database_url=empty_db_url.render_as_string(hide_password=False),
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.base_url,
    )
    app = plan_for(settings, engine, everything=False).app  # LaterWork, outbox worker, Slack
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
        ):
            body = command_body("batch", response_url=fake_slack.response_url("batch"))
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            ack = await http.post(
                "/slack/events", content=body, headers=headers | signed_headers(body)
            )
        # the lifespan ended at once after the ack: SIGTERM's path
        with engine.connect() as connection:
            batches = connection.execute(text("SELECT count(*) FROM batch")).scalar_one()
            owed = connection.execute(
                text("SELECT count(*) FROM outbox WHERE finished_at IS NULL")
            ).scalar_one()
    finally:
        engine.dispose()

    assert ack.status_code == 200
    assert batches == 1
    assert owed == 0
    answers = [call for call in fake_slack.calls("response_url") if "blocks" in call.body]
    assert any("Log outcome" in str(call.body["blocks"]) for call in answers)
