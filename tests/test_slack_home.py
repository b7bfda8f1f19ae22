"""The App Home tab: my status from the stats conversation, and a Get a batch button."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.slack.home import GET_BATCH_ACTION, home_view
from handlers.replies import Fact, Reply, Section
from storage.clock import FrozenClock
from storage.db import session_scope
from tests.factories import make_campaign, make_voter
from tests.fakes.slack_api import FakeSlackAPI
from tests.matching_support import matching_config, rows
from tests.slack_blockkit import block_kit_problems
from tests.slack_support import SlackWorkspace, open_workspace, texts


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def test_the_tab_is_a_header_the_button_and_the_status() -> None:
    status = Reply(text="Your calling so far.", sections=(Section("You", (Fact("Dials", "3"),)),))

    assert home_view(status) == {
        "type": "home",
        "blocks": [
            {"type": "header", "text": plain("Phonebank")},
            {
                "type": "actions",
                "block_id": "home",
                "elements": [
                    {
                        "type": "button",
                        "action_id": GET_BATCH_ACTION,
                        "text": plain("Get a batch"),
                        "style": "primary",
                    }
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": "Your calling so far."}},
            {"type": "divider"},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "You"},
                "fields": [{"type": "mrkdwn", "text": "*Dials*\n3"}],
            },
        ],
    }


def test_a_long_status_is_cut_to_the_tabs_100_blocks() -> None:
    status = Reply(text="Shifts", sections=tuple(Section(f"Shift {i}") for i in range(120)))

    view = home_view(status)

    assert len(view["blocks"]) == 100
    assert view["blocks"][-1]["elements"][0]["text"] == "_…more in /phonebank stats_"
    assert block_kit_problems({"view": view}) == []


@pytest.fixture
async def slack(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> AsyncIterator[SlackWorkspace]:
    with session_scope(engine) as session:
        campaign = make_campaign(session, matching_config(batch_size=2))
        for _ in range(3):
            make_voter(session, campaign)
    async with open_workspace(engine, clock, fake_slack) as workspace:
        yield workspace


@pytest.mark.anyio
async def test_opening_the_tab_publishes_my_status(slack: SlackWorkspace) -> None:
    await slack.command("signup")
    await slack.submit({"name": "Sam", "phone": "(737) 555-0120", "languages": ["en"]})

    await slack.open_home()

    shown = "\n".join(texts(slack.home()["blocks"]))
    assert "Dials: 0 today, 0 this week" in shown
    assert "Voters left to call: 3 of 3" in shown


@pytest.mark.anyio
async def test_get_a_batch_on_the_tab_claims_sends_the_cards_and_refreshes_the_tab(
    slack: SlackWorkspace, engine: Engine, fake_slack: FakeSlackAPI
) -> None:
    await slack.sign_up("(737) 555-0121")
    await slack.open_home()

    await slack.press_on_home("Get a batch")

    assert len(rows(engine, "SELECT id FROM batch")) == 1
    assert slack.latest().body["channel"] == "DU0SAM"
    assert "Call" in [button["text"]["text"] for _, button, _ in slack.latest().buttons()]
    assert len(fake_slack.calls("views.publish")) == 2


@pytest.mark.anyio
async def test_the_tab_of_someone_not_signed_up_offers_signup(slack: SlackWorkspace) -> None:
    await slack.open_home()

    await slack.press_on_home("Get a batch")

    assert "Sign up first" in slack.latest().text


@pytest.mark.anyio
async def test_the_tab_shows_my_training(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    from tests.scenarios.training import BASICS

    with session_scope(engine) as session:
        make_campaign(session, matching_config(training=[BASICS]))
    async with open_workspace(engine, clock, fake_slack) as slack:
        await slack.sign_up("(737) 555-0122")
        await slack.open_home()
        shown = "\n".join(texts(slack.home()["blocks"]))
        assert "0 of 1 modules passed" in shown and "Calling basics: not started" in shown

        await slack.press_on_home("Start training")
        assert "page 1 of 2" in slack.latest().text
