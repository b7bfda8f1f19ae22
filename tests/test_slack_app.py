"""The real Bolt app behind the ASGI app: signatures, acks, retries, failures, health.

Requests are signed as Slack signs them; the app's Web API client talks to the local fake.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy.engine import Engine

from bot.app import build_services
from bot.settings import load_settings
from bot.slack.app import QUIET_BELOW
from bot.slack.privacy import install_log_redaction
from bot.web import create_web_app
from handlers import router
from storage.clock import FrozenClock
from storage.db import session_scope
from tests.factories import make_campaign, make_voter
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.matching_support import matching_config, rows
from tests.slack_support import (
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackWorkspace,
    open_workspace,
    signed_headers,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def redacted_logs() -> Iterator[None]:
    """Log redaction as `phonebank run` installs it."""
    undo = install_log_redaction([BOT_TOKEN, SIGNING_SECRET])
    yield
    undo()


@pytest.fixture
async def slack(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> AsyncIterator[SlackWorkspace]:
    async with open_workspace(engine, clock, fake_slack) as workspace:
        yield workspace


def seed_campaign(engine: Engine, voters: int = 3) -> None:
    """A campaign open all legal hours with `voters` Austin voters."""
    with session_scope(engine) as session:
        campaign = make_campaign(session, matching_config(batch_size=2))
        for _ in range(voters):
            make_voter(session, campaign)


async def sign_up(slack: SlackWorkspace, phone: str = "(737) 555-0142") -> None:
    await slack.sign_up(phone, name="Sam Rivera")


def command_body(text: str, **fields: str) -> str:
    form = {
        "team_id": TEAM_ID,
        "user_id": "U0SAM",
        "user_name": "sam",
        "channel_id": "C0CALLS",
        "command": "/phonebank",
        "text": text,
        "response_url": "http://127.0.0.1:9/never",
        "trigger_id": "1.1.t",
    }
    return urlencode(form | fields)


# --- signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="unsigned"),
        pytest.param(
            signed_headers(command_body("batch"), timestamp=int(time.time()) - 6 * 60),
            id="stale",
        ),
        pytest.param(signed_headers(command_body("batch"), secret="not-the-secret"), id="wrong"),
        pytest.param(signed_headers(command_body("help")), id="body-changed-after-signing"),
        pytest.param(
            {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"},
            id="garbage",
        ),
    ],
)
async def test_a_request_without_a_valid_signature_is_401_and_changes_nothing(
    slack: SlackWorkspace, engine: Engine, fake_slack: FakeSlackAPI, headers: dict[str, str]
) -> None:
    seed_campaign(engine)

    response = await slack.http.post(
        "/slack/events",
        content=command_body("batch"),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )
    await slack.adapter.drain()

    assert response.status_code == 401
    assert fake_slack.calls() == []
    assert rows(engine, "SELECT id FROM chat_identity") == []
    assert rows(engine, "SELECT id FROM batch") == []


async def test_slacks_url_check_is_answered(slack: SlackWorkspace) -> None:
    body = json.dumps(
        {
            "token": "t",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )

    response = await slack.post(body, "application/json")

    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


# --- commands ---------------------------------------------------------------------------------


async def test_a_command_is_acknowledged_empty_and_answered_on_its_response_url(
    slack: SlackWorkspace, fake_slack: FakeSlackAPI
) -> None:
    response = await slack.command("help")

    assert response.status_code == 200
    assert response.content == b""
    (answer,) = fake_slack.calls("response_url")
    assert answer.body["response_type"] == "ephemeral"
    assert "signup" in slack.latest().text


async def test_an_unknown_subcommand_says_so_and_lists_what_there_is(
    slack: SlackWorkspace,
) -> None:
    await slack.command("dance wildly")

    shown = slack.latest().text
    assert "I don't know `dance wildly`" in shown
    assert "batch" in shown and "stats" in shown


async def test_asking_for_a_batch_before_signing_up_offers_the_signup(
    slack: SlackWorkspace, engine: Engine
) -> None:
    seed_campaign(engine)

    await slack.command("batch")

    assert "sign up" in slack.latest().text.lower()
    assert rows(engine, "SELECT id FROM batch") == []


# --- retries and replays ----------------------------------------------------------------------


async def test_a_retried_batch_command_claims_once_and_shows_the_same_batch(
    slack: SlackWorkspace, engine: Engine, fake_slack: FakeSlackAPI
) -> None:
    seed_campaign(engine, voters=4)
    await sign_up(slack)
    body = command_body(
        "batch", response_url=fake_slack.response_url("batch"), trigger_id="9.9.batch"
    )

    first = await slack.post(body, "application/x-www-form-urlencoded")
    await slack.adapter.drain()
    again = await slack.post(  # signed anew, as Slack's retry is (the same signature: a replay)
        body,
        "application/x-www-form-urlencoded",
        **signed_headers(body, timestamp=int(time.time()) + 1),
        **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    await slack.adapter.drain()

    assert first.status_code == again.status_code == 200
    assert len(rows(engine, "SELECT id FROM batch")) == 1
    assert len(rows(engine, "SELECT id FROM batch_card WHERE released_at IS NULL")) == 2
    answers = [c.body for c in fake_slack.calls("response_url") if c.path.endswith("/batch")]
    assert len(answers) == 2
    assert answers[0]["blocks"] == answers[1]["blocks"]


async def test_a_replayed_outcome_submission_logs_once(
    slack: SlackWorkspace, engine: Engine
) -> None:
    seed_campaign(engine)
    await sign_up(slack)
    await slack.command("batch")
    await slack.press("Log outcome")
    body = slack.submission_body({"result": "not_home"})

    for retry in ("", "1"):
        headers = {"X-Slack-Retry-Num": retry} if retry else {}
        response = await slack.post(body, "application/x-www-form-urlencoded", **headers)
        await slack.adapter.drain()
        assert response.status_code == 200

    assert rows(engine, "SELECT result_code FROM call_attempt") == [("not_home",)]


# --- when things go wrong ---------------------------------------------------------------------


async def test_a_failing_conversation_apologises_and_logs_without_phone_numbers(
    slack: SlackWorkspace,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    redacted_logs: None,
) -> None:
    def broken(ctx: Any, text: str) -> Any:
        raise RuntimeError("voter +15125550123 exploded")

    monkeypatch.setattr(router, "handle_command", broken)

    response = await slack.command("stats")

    assert response.status_code == 200
    assert "Something went wrong" in slack.latest().text
    assert "voter (512) •••-••23 exploded" in caplog.text
    assert "5550123" not in caplog.text


async def test_a_slow_form_is_acked_saving_then_shows_its_errors_with_the_answers_kept(
    slack: SlackWorkspace, engine: Engine, fake_slack: FakeSlackAPI
) -> None:
    slack.adapter.form_budget_s = 0  # the handler never finishes before the ack
    await slack.command("signup")

    response = await slack.submit({"name": "", "phone": "12", "languages": ["en"]})

    ack = response.json()
    assert ack["response_action"] == "update"
    assert ack["view"]["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Saving…"}}
    ]
    assert "submit" not in ack["view"]
    (update,) = fake_slack.calls("views.update")
    assert update.body["view_id"] == slack.modal_id
    assert slack.modal is not None and slack.modal["submit"]["text"] == "Save"
    blocks = slack.modal["blocks"]
    name_at = next(i for i, b in enumerate(blocks) if b.get("block_id") == "name")
    assert blocks[name_at + 1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": ":warning: Tell us your name."}],
    }
    phone = next(b for b in blocks if b.get("block_id") == "phone")
    assert phone["element"]["initial_value"] == "12"
    assert rows(engine, "SELECT id FROM volunteer") == []


async def test_on_a_busy_server_a_submission_is_acked_at_once(
    slack: SlackWorkspace, engine: Engine
) -> None:
    await slack.command("signup")
    slack.adapter.form_budget_s = 60  # would wait, were the server quiet
    busy = [asyncio.get_running_loop().create_future() for _ in range(QUIET_BELOW)]
    slack.adapter._tasks.update(busy)  # answers under way for other people

    body = slack.submission_body({"name": "Sam", "phone": "(737) 555-0178", "languages": ["en"]})
    response = await slack.post(body, "application/x-www-form-urlencoded")
    for task in busy:
        task.set_result(None)
    slack.adapter._tasks.difference_update(busy)
    await slack.adapter.drain()

    assert response.json()["view"]["blocks"][0]["text"]["text"] == "Saving…"
    assert rows(engine, "SELECT phone FROM volunteer") == [("+17375550178",)]


async def test_a_slow_form_that_succeeds_says_so_in_the_modal_and_answers(
    slack: SlackWorkspace, engine: Engine
) -> None:
    slack.adapter.form_budget_s = 0
    await slack.command("signup")
    await slack.submit({"name": "", "phone": "(737) 555-0177", "languages": ["en"]})

    await slack.submit({"name": "Sam Rivera"})  # the rest kept from the first try

    assert slack.modal is not None
    assert slack.modal["blocks"][0]["text"]["text"] == ":white_check_mark: You're signed up, Sam!"
    assert "signed up" in slack.latest().text
    assert rows(engine, "SELECT phone FROM volunteer") == [("+17375550177",)]


async def test_form_errors_are_shown_on_the_modal_inputs(slack: SlackWorkspace) -> None:
    await slack.command("signup")

    response = await slack.submit({"name": "Sam", "phone": "555", "languages": ["en"]})

    assert response.json()["response_action"] == "errors"
    assert set(slack.errors) == {"phone"}
    assert slack.modal is not None  # still open, for another try


async def test_a_rate_limited_modal_waits_retry_after(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    fake_slack.rate_limit("views.open", times=1, retry_after=3)
    async with open_workspace(engine, clock, fake_slack, sleep=sleep) as slack:
        await slack.command("signup")

    assert slept == [3.0]
    assert len(fake_slack.calls("views.open")) == 2
    assert slack.modal is not None


# --- the web app ------------------------------------------------------------------------------


async def test_health_says_the_process_answers_and_whether_slack_is_on(
    slack: SlackWorkspace,
) -> None:
    response = await slack.http.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "slack": "on"}


async def test_without_slack_credentials_the_events_route_is_404(
    engine: Engine, clock: FrozenClock
) -> None:
    settings = load_settings(database_url=engine.url.render_as_string(hide_password=False))
    app = create_web_app(build_services(settings, engine=engine, clock=clock))
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        events = await http.post("/slack/events", content=command_body("help"))
        health = await http.get("/healthz")

    assert events.status_code == 404
    assert health.json()["slack"] == "off"


async def test_debug_logs_of_a_whole_exchange_carry_no_token_secret_or_phone(
    slack: SlackWorkspace, engine: Engine, redacted_logs: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seed_campaign(engine)

    await sign_up(slack, phone="(737) 555-0199")
    await slack.command("batch")

    assert caplog.records, "debug logging was on: something was logged"
    for secret in (BOT_TOKEN, SIGNING_SECRET, "555-0199", "7375550199", "+1512555"):
        assert secret not in caplog.text
