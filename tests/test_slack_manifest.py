"""slack-manifest.yml agrees with the code: the command, the URL, the events, exactly the scopes
of the Web API methods Phonebank calls in a whole conversation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from bot.slack.app import COMMAND
from bot.web import SLACK_EVENTS_PATH
from storage.clock import FrozenClock
from storage.db import session_scope
from tests.factories import make_campaign, make_voter
from tests.fakes.slack_api import FakeSlackAPI
from tests.matching_support import matching_config
from tests.slack_support import open_workspace

MANIFEST = Path(__file__).resolve().parents[1] / "slack-manifest.yml"
# The bot scope each Web API method needs (api.slack.com/methods); None: no scope.
METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "conversations.open": "im:write",
    "views.open": None,
    "views.update": None,
    "views.publish": None,
    "response_url": None,  # not a Web API method: the interaction's own URL
}


def manifest() -> dict[str, Any]:
    return dict(yaml.safe_load(MANIFEST.read_text()))


def bot_scopes() -> set[str]:
    return set(manifest()["oauth_config"]["scopes"]["bot"])


def test_the_slash_command_is_ours_and_escapes_mentions() -> None:
    (command,) = manifest()["features"]["slash_commands"]

    assert command["command"] == COMMAND
    assert command["should_escape"] is True
    assert len(command["description"]) <= 100


def test_every_url_is_the_events_route() -> None:
    settings = manifest()["settings"]
    urls = [
        manifest()["features"]["slash_commands"][0]["url"],
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
    ]

    assert all(url.startswith("https://") and url.endswith(SLACK_EVENTS_PATH) for url in urls)
    assert settings["interactivity"]["is_enabled"] is True


def test_the_home_tab_and_its_event_are_on() -> None:
    assert manifest()["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest()["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]


@pytest.mark.anyio
async def test_the_scopes_are_exactly_those_of_the_methods_a_conversation_calls(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    with session_scope(engine) as session:
        campaign = make_campaign(session, matching_config(batch_size=2))
        make_voter(session, campaign)
    async with open_workspace(engine, clock, fake_slack) as slack:
        await slack.sign_up("(737) 555-0101")
        await slack.open_home()
        await slack.press_on_home("Get a batch")  # answered in a direct message
        await slack.press("Log outcome")
        await slack.submit({"result": "talked"})

    called = {call.method for call in fake_slack.calls()}
    assert called <= set(METHOD_SCOPES), f"scope unknown for {called - set(METHOD_SCOPES)}"
    needed = {METHOD_SCOPES[method] for method in called} - {None}
    assert bot_scopes() == needed | {"commands"}
