"""A web process warms up before its first request (bot/warm.py), and a first wave of Slack
requests all at once pays for nothing twice: Slack's auth.test is asked once, replies are
rendered off the event loop the acks share. Both databases."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

import bot.slack.app as slack_app
from bot.app import build_services, database_engine
from bot.settings import load_settings
from bot.slack.app import slack_for
from bot.warm import open_pool, warm_up
from bot.web import create_web_app
from handlers.context import Services
from storage.clock import FrozenClock
from storage.db import make_engine
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack_support import BOT_TOKEN, SIGNING_SECRET, open_app, signed_headers
from tests.test_slack_app import command_body

pytestmark = pytest.mark.anyio
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def slack_services(engine: Engine, clock: FrozenClock, fake: FakeSlackAPI) -> tuple[Any, Services]:
    settings = load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake.base_url,
    )
    return settings, build_services(settings, engine=engine, clock=clock)


async def post_command(
    http: httpx.AsyncClient, text: str, user: str, fake: FakeSlackAPI
) -> httpx.Response:
    answer_at = f"{fake.origin}/response/{user}"
    body = command_body(text, user_id=user, trigger_id=f"1.1.{user}", response_url=answer_at)
    return await http.post("/slack/events", content=body, headers=FORM | signed_headers(body))


async def test_a_first_wave_of_requests_asks_slack_who_we_are_once(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    async with open_app(engine, clock, fake_slack) as (http, adapter):  # no lifespan: no warm-up
        answers = await asyncio.gather(
            *(post_command(http, "help", f"U0W{n}", fake_slack) for n in range(8))
        )
        await adapter.drain()

    assert [answer.status_code for answer in answers] == [200] * 8
    assert len(fake_slack.calls("response_url")) == 8
    assert len(fake_slack.calls("auth.test")) == 1  # Bolt's own authorization: once per request


async def test_warm_up_asks_slack_before_the_first_request_and_never_again(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    settings, services = slack_services(engine, clock, fake_slack)
    adapter = slack_for(settings, services)
    app = create_web_app(services, slack=adapter)
    transport = httpx.ASGITransport(app=app)

    async with app.router.lifespan_context(app):
        asked_at_start = len(fake_slack.calls("auth.test"))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            answer = await post_command(http, "help", "U0WARM", fake_slack)
        assert adapter is not None
        await adapter.drain()

    assert asked_at_start == 1
    assert answer.status_code == 200
    assert len(fake_slack.calls("auth.test")) == 1


async def test_replies_are_rendered_in_a_worker_thread_not_on_the_event_loop(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered_on: list[threading.Thread] = []
    render = slack_app.rendered_for

    def recording(*args: Any) -> Any:
        rendered_on.append(threading.current_thread())
        return render(*args)

    monkeypatch.setattr(slack_app, "rendered_for", recording)
    async with open_app(engine, clock, fake_slack) as (http, adapter):
        loop_thread = threading.current_thread()
        await post_command(http, "help", "U0RENDER", fake_slack)
        await adapter.drain()

    assert rendered_on and loop_thread not in rendered_on
    assert len(fake_slack.calls("response_url")) == 1  # and the reply still arrived


def test_warm_up_opens_every_connection_the_pool_keeps(db_url: str) -> None:
    engine = database_engine(load_settings(database_url=db_url))
    try:
        opened = open_pool(engine)

        assert isinstance(engine.pool, QueuePool)
        assert opened == engine.pool.size() > 1
        assert engine.pool.checkedin() == opened  # open, and back in the pool for requests
    finally:
        engine.dispose()


async def test_a_server_whose_database_does_not_answer_still_starts_and_says_so(
    clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = make_engine("postgresql://phonebank@127.0.0.1:1/nowhere", connect_args={})
    settings = load_settings(database_url="postgresql://phonebank@127.0.0.1:1/nowhere")
    app = create_web_app(build_services(settings, engine=nowhere, clock=clock))
    transport = httpx.ASGITransport(app=app)
    caplog.set_level(logging.WARNING, logger="bot.warm")

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        health = await http.get("/readyz")

    assert health.status_code == 503
    assert "Warm-up: database pool failed" in caplog.text


async def test_warm_up_gives_up_waiting_after_its_timeout(
    engine: Engine,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stuck = threading.Event()
    monkeypatch.setattr("bot.warm.load_phone_data", lambda: stuck.wait(10))
    caplog.set_level(logging.WARNING, logger="bot.warm")
    services = build_services(load_settings(), engine=engine, clock=clock)
    try:
        await warm_up(services, timeout_s=0.05)
    finally:
        stuck.set()

    assert "serving anyway" in caplog.text
