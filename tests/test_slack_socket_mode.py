"""Socket Mode: the same Bolt app, its events arriving over a websocket from the local fake.

The Socket Mode client asks the fake Web API for a websocket URL with the app token, connects,
and acknowledges each envelope on the socket; the answers go out as in HTTP mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import Engine

from bot.app import build_services
from bot.settings import load_settings
from bot.slack.app import SlackAdapter, slack_for
from bot.telephony.simulated import SimulatedTelephony
from storage.clock import FrozenClock
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.fakes.slack_socket import FakeSocketMode
from tests.slack_support import BOT_TOKEN, SIGNING_SECRET

APP_TOKEN = "xapp-1-A0PHONEBK-1-0f3e"
pytestmark = pytest.mark.anyio


@pytest.fixture
def socket() -> Iterator[FakeSocketMode]:
    with FakeSocketMode() as fake:
        yield fake


@pytest.fixture
def fake_slack(socket: FakeSocketMode) -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI(socket_url=socket.url) as fake:
        yield fake


@pytest.fixture
async def connected(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI, socket: FakeSocketMode
) -> AsyncIterator[SlackAdapter]:
    """The adapter, connected over Socket Mode to the fake."""
    settings = load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_app_token=APP_TOKEN,
        slack_api_url=fake_slack.base_url,
    )
    services = build_services(
        settings, engine=engine, clock=clock, telephony=SimulatedTelephony(clock)
    )
    adapter = slack_for(settings, services)
    assert adapter is not None
    running = asyncio.create_task(adapter.run_socket_mode(APP_TOKEN))
    await socket.connected()
    try:
        yield adapter
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await adapter.close()


def slash_command(text: str, response_url: str) -> dict[str, str]:
    return {
        "team_id": TEAM_ID,
        "channel_id": "C0CALLS",
        "user_id": "U0SAM",
        "user_name": "sam",
        "command": "/phonebank",
        "text": text,
        "response_url": response_url,
        "trigger_id": "7.7.socket",
    }


async def test_a_command_over_socket_mode_is_acked_on_the_socket_then_answered(
    connected: SlackAdapter, fake_slack: FakeSlackAPI, socket: FakeSocketMode
) -> None:
    command = slash_command("help", fake_slack.response_url("socket-help"))

    ack = await socket.deliver("slash_commands", command, envelope_id="env-1")
    await connected.drain()

    assert ack["envelope_id"] == "env-1"
    (opened,) = fake_slack.calls("apps.connections.open")
    assert opened.token == APP_TOKEN
    (answer,) = fake_slack.calls("response_url")
    assert answer.body["response_type"] == "ephemeral"
    assert "signup" in str(answer.body["blocks"])


async def test_the_home_tab_is_published_for_an_event_over_the_socket(
    connected: SlackAdapter, fake_slack: FakeSlackAPI, socket: FakeSocketMode
) -> None:
    event = {
        "team_id": TEAM_ID,
        "type": "event_callback",
        "event_id": "Ev0SOCKET",
        "event": {"type": "app_home_opened", "user": "U0SAM", "tab": "home"},
    }

    await socket.deliver("events_api", event, envelope_id="env-2")
    await connected.drain()

    (published,) = fake_slack.calls("views.publish")
    assert published.body["user_id"] == "U0SAM"
    assert published.body["view"]["type"] == "home"
