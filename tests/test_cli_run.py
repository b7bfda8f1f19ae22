"""`phonebank run` and `phonebank web`: what starts, what the start-up says, and refusals.

uvicorn itself is replaced by a recorder: the app it would serve is called in-process instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

import bot.cli.run
from bot.cli import app
from bot.settings import Settings
from storage import migrate

SETTING_VARIABLES = [name.upper() for name in Settings.model_fields]
SLACK = {"SLACK_BOT_TOKEN": "xoxb-1-2-run", "SLACK_SIGNING_SECRET": "run-secret"}


class Served:
    """What `uvicorn.run` was asked to serve."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def __call__(self, asgi_app: Any, **options: Any) -> None:
        self.calls.append((asgi_app, options))

    @property
    def app(self) -> Any:
        (served, _), *_ = self.calls
        return served


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Served:
    recorder = Served()
    monkeypatch.setattr(bot.cli.run.uvicorn, "run", recorder)
    return recorder


@pytest.fixture
def migrated_url(empty_db_url: URL) -> str:
    url = empty_db_url.render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url


@pytest.fixture
def environment(
    migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Only the variables a test sets (no .env, nothing from the outer environment)."""
    monkeypatch.chdir(tmp_path)
    for variable in SETTING_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    variables = {"DATABASE_URL": migrated_url}
    yield variables


def invoke(environment: dict[str, str], *arguments: str, **variables: str) -> Any:
    result = CliRunner().invoke(app, list(arguments), env=environment | variables)
    return result


async def get(asgi_app: Any, path: str, method: str = "GET") -> httpx.Response:
    transport = httpx.ASGITransport(app=asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.request(method, path)


def test_without_credentials_run_says_how_to_connect_and_points_to_the_demo(
    environment: dict[str, str], served: Served
) -> None:
    result = invoke(environment, "run", "--port", "8123")

    assert result.exit_code == 0, result.output
    assert "Slack: off" in result.output
    assert "No chat platform is connected" in result.output
    assert "slack-manifest.yml" in result.output and "phonebank demo" in result.output
    assert "Telephony: simulated" in result.output
    ((_, options),) = served.calls
    assert (options["host"], options["port"]) == ("127.0.0.1", 8123)


@pytest.mark.anyio
async def test_the_served_app_answers_health_and_slack(
    environment: dict[str, str], served: Served
) -> None:
    result = invoke(environment, "web", "--host", "0.0.0.0", "--port", "8000", **SLACK)

    assert result.exit_code == 0, result.output
    health = await get(served.app, "/healthz")
    assert health.json() == {"status": "ok", "slack": "on"}
    ready = await get(served.app, "/readyz")
    assert ready.json()["database"] == "ok" and ready.json()["migrations"] == "ok"
    unsigned = await get(served.app, "/slack/events", method="POST")
    assert unsigned.status_code == 401


def test_slack_in_http_mode_names_the_url_slack_must_post_to(
    environment: dict[str, str], served: Served
) -> None:
    result = invoke(environment, "run", PUBLIC_BASE_URL="https://pb.example.org/", **SLACK)

    assert (
        "Slack: on, HTTP mode: Slack posts to https://pb.example.org/slack/events" in result.output
    )
    assert "No chat platform" not in result.output


def test_an_app_token_turns_on_socket_mode_for_run_but_not_for_the_web_replicas(
    environment: dict[str, str], served: Served
) -> None:
    token = {"SLACK_APP_TOKEN": "xapp-1-A1-2-run"}

    everything = invoke(environment, "run", **SLACK, **token)
    replica = invoke(environment, "web", **SLACK, **token)

    assert "Slack: on, Socket Mode" in everything.output
    assert "Slack: on, HTTP mode" in replica.output


TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "t" * 32,
    "TWILIO_CALLER_ID": "(512) 555-0100",
    "PUBLIC_BASE_URL": "https://phonebank.example.org",
}


@pytest.mark.anyio
async def test_twilio_credentials_say_real_calls_and_serve_the_webhooks(
    environment: dict[str, str], served: Served
) -> None:
    result = invoke(environment, "web", **TWILIO)

    assert "Telephony: Twilio, calling from +15125550100" in result.output
    assert "https://phonebank.example.org/twilio/sms" in result.output
    for path in ("/twilio/sms", "/twilio/voice/answer?session=1&attempt=1"):
        unsigned = await get(served.app, path, method="POST")
        assert unsigned.status_code == 403, path  # served, and refused without a signature


@pytest.mark.anyio
async def test_an_api_key_serves_the_softphone_and_says_where(
    environment: dict[str, str], served: Served
) -> None:
    without = invoke(environment, "web", **TWILIO)
    assert "softphone" not in without.output
    assert (await get(served.app, "/softphone")).status_code == 404

    key = {"TWILIO_API_KEY_SID": "SK1", "TWILIO_API_KEY_SECRET": "k" * 32}
    result = invoke(environment, "web", **TWILIO, **key)

    assert "softphone: https://phonebank.example.org/softphone" in result.output
    _, (app_with_key, _) = served.calls
    assert (await get(app_with_key, "/softphone")).status_code == 200


@pytest.mark.anyio
async def test_without_twilio_there_are_no_twilio_webhooks(
    environment: dict[str, str], served: Served
) -> None:
    result = invoke(environment, "web")

    assert "Telephony: simulated" in result.output
    assert (await get(served.app, "/twilio/sms", method="POST")).status_code == 404


def test_an_unmigrated_database_is_refused_before_serving(
    empty_db_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served: Served
) -> None:
    monkeypatch.chdir(tmp_path)
    url = empty_db_url.render_as_string(hide_password=False)

    result = CliRunner().invoke(app, ["web"], env={"DATABASE_URL": url})

    assert result.exit_code == 1
    assert "the database is empty: run `phonebank init`" in result.output
    assert served.calls == []


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_a_port_out_of_range_is_refused(
    environment: dict[str, str], served: Served, port: str
) -> None:
    result = invoke(environment, "run", "--port", port)

    assert result.exit_code == 2
    assert served.calls == []


def test_a_discord_token_runs_the_gateway_in_run_and_only_messages_in_web(
    environment: dict[str, str], served: Served
) -> None:
    token = {"DISCORD_BOT_TOKEN": "discord-run-token"}

    ran = invoke(environment, "run", **token)
    web = invoke(environment, "web", **token)

    assert ran.exit_code == 0 and web.exit_code == 0, (ran.output, web.output)
    assert "Discord: on, gateway" in ran.output and "/gateway/bot" in ran.output
    assert "No chat platform is connected" not in ran.output
    assert "Discord: messages only here" in web.output


def test_phonebank_discord_without_a_token_says_what_to_set(environment: dict[str, str]) -> None:
    result = invoke(environment, "discord")

    assert result.exit_code == 1
    assert "DISCORD_BOT_TOKEN" in result.output


# --- settings that must not go live -----------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "web"])
def test_slack_without_a_signing_secret_refuses_to_start_saying_why(
    environment: dict[str, str], served: Served, command: str
) -> None:
    result = invoke(environment, command, SLACK_BOT_TOKEN="xoxb-1-2-run")

    assert result.exit_code == 1
    assert "SLACK_SIGNING_SECRET is not" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert served.calls == []


@pytest.mark.parametrize("command", ["run", "web"])
def test_twilio_behind_a_plain_http_public_url_refuses_to_start_saying_why(
    environment: dict[str, str], served: Served, command: str
) -> None:
    plain = TWILIO | {"PUBLIC_BASE_URL": "http://phonebank.example.org"}

    result = invoke(environment, command, **plain)

    assert result.exit_code == 1
    assert "PUBLIC_BASE_URL (http://phonebank.example.org) is not https" in result.output
    assert served.calls == []


@pytest.mark.parametrize(
    "base",
    ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000", "https://pb.org"],
)
def test_twilio_may_use_http_on_a_loopback_address_or_https(
    environment: dict[str, str], served: Served, base: str
) -> None:
    result = invoke(environment, "web", **(TWILIO | {"PUBLIC_BASE_URL": base}))

    assert result.exit_code == 0, result.output
    assert len(served.calls) == 1
