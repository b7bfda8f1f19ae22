"""Updates the core pushes unasked (a call rang, connected) replace the card where it is shown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.slack.live import RESPONSE_URL_LIFETIME_S, LiveMessages, Posted
from bot.slack.render import Page
from bot.telephony.simulated import SimulatedTelephony
from storage.clock import FrozenClock
from storage.db import session_scope
from tests.factories import make_campaign, make_voter
from tests.fakes.slack_api import FakeSlackAPI
from tests.matching_support import matching_config
from tests.slack_support import SlackWorkspace, open_workspace

PAGE = Page("batch:1", 0, 2, 2)


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def slack(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> AsyncIterator[SlackWorkspace]:
    with session_scope(engine) as session:
        campaign = make_campaign(session, matching_config(batch_size=2))
        for _ in range(2):
            make_voter(session, campaign)
    async with open_workspace(engine, clock, fake_slack) as workspace:
        await workspace.sign_up("(737) 555-0110")
        yield workspace


def ring_through(slack: SlackWorkspace, clock: FrozenClock) -> None:
    """Let the simulated call connect, as the telephony's clock would."""
    telephony = slack.adapter.services.telephony
    assert isinstance(telephony, SimulatedTelephony)
    clock.advance(timedelta(seconds=5))
    telephony.advance()
    slack.read_calls()


@pytest.mark.anyio
async def test_a_connected_call_updates_the_card_in_the_ephemeral_message(
    slack: SlackWorkspace, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    await slack.command("batch")
    await slack.press("Call")
    batch = slack.latest()
    before = len(slack.messages)

    ring_through(slack, clock)

    assert "Status: Connected: you are on the call" in batch.text
    assert len(slack.messages) == before  # replaced, not posted again
    assert fake_slack.calls("conversations.open") == []
    assert fake_slack.calls("chat.postMessage") == []


@pytest.mark.anyio
async def test_a_batch_taken_from_the_home_tab_is_updated_in_the_direct_message(
    slack: SlackWorkspace, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    await slack.open_home()
    await slack.press_on_home("Get a batch")
    (dm,) = fake_slack.calls("chat.postMessage")
    assert dm.body["channel"] == "DU0SAM"
    await slack.press("Call")

    ring_through(slack, clock)

    assert "Status: Connected: you are on the call" in slack.latest().text
    assert len(fake_slack.calls("chat.postMessage")) == 1


def test_a_response_url_is_used_five_times_at_most() -> None:
    live = LiveMessages(Ticks())
    live.shown_via_response_url("batch:1", "https://r/1", PAGE, used=2)

    taken = [live.take_response_url("batch:1") for _ in range(4)]

    assert taken == [("https://r/1", PAGE)] * 3 + [None]


def test_a_response_url_expires_before_slacks_thirty_minutes() -> None:
    ticks = Ticks()
    live = LiveMessages(ticks)
    live.shown_via_response_url("batch:1", "https://r/1", PAGE, used=1)

    ticks.now = RESPONSE_URL_LIFETIME_S - 1
    assert live.take_response_url("batch:1") == ("https://r/1", PAGE)
    ticks.now = RESPONSE_URL_LIFETIME_S
    assert live.take_response_url("batch:1") is None
    assert RESPONSE_URL_LIFETIME_S < 30 * 60


def test_posts_are_remembered_per_reply() -> None:
    live = LiveMessages()
    live.shown_as_posts("batch:1", [Posted("D1", "1.0"), Posted("D1", "2.0")])

    assert live.posts("batch:1") == [Posted("D1", "1.0"), Posted("D1", "2.0")]
    assert live.posts("batch:2") == []
    assert live.take_response_url("batch:1") is None
