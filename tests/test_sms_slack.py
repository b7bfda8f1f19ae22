"""SMS through Slack end to end: the real slack-bolt app, signed requests, the local fake of the
Slack Web API. A volunteer signs up with consent, gets a code by text and verifies it with
`/phonebank verify`; an organizer is alerted to a text that reads like an opt-out and reviews it
(both databases)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bot.telephony.simulated import SimulatedTelephony
from handlers.outbox import run_due
from handlers.sms import IncomingText, receive_text
from handlers.sms_digest import QUIET_PERIOD
from storage.clock import FrozenClock
from storage.db import read_session
from storage.models import SmsInbound, Volunteer
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack_support import SlackWorkspace, open_workspace

pytestmark = pytest.mark.anyio

SAM = "slack:U0SAM"


@pytest.fixture
async def slack(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> AsyncIterator[SlackWorkspace]:
    async with open_workspace(engine, clock, fake_slack, phonebank_admins=SAM) as workspace:
        yield workspace


def texts(slack: SlackWorkspace) -> SimulatedTelephony:
    telephony = slack.adapter.services.telephony
    assert isinstance(telephony, SimulatedTelephony)
    return telephony


async def test_a_volunteer_verifies_their_phone_from_slack(
    slack: SlackWorkspace, engine: Engine
) -> None:
    await slack.command("signup")
    await slack.submit(
        {"name": "Sam Rivera", "phone": "(737) 555-0177", "languages": ["en"], "sms_consent": True}
    )

    [sent] = texts(slack).messages
    assert sent.to == "+17375550177"
    assert "texted you a 6-digit code" in slack.latest().text
    code = re.findall(r"\b\d{6}\b", sent.body)[0]
    assert code not in str(slack.fake.calls())  # the code goes by text only, never to chat

    await slack.command(f"verify {code}")

    assert "Your phone is verified" in slack.latest().text
    with read_session(engine) as session:
        assert session.exec(select(Volunteer.phone_verified_at)).one() is not None


async def test_an_organizer_is_alerted_and_reviews_a_text_in_slack(
    slack: SlackWorkspace, engine: Engine, clock: FrozenClock
) -> None:
    services = slack.adapter.services
    await slack.command("signup")
    await slack.submit({"name": "Sam Rivera", "phone": "(737) 555-0177", "languages": ["en"]})

    receive_text(services, IncomingText("SM1", "+17375550177", "please stop texting me"))
    assert slack.fake.calls("chat.postMessage") == []  # not from inside the webhook
    clock.advance(QUIET_PERIOD)
    run_due(services)  # the outbox worker's turn: the quiet period's digest

    [alert] = [
        call for call in slack.fake.calls("chat.postMessage") if call.body["channel"] == "U0SAM"
    ]
    assert "Sam Rivera" in str(alert.body) and "555" not in str(alert.body)

    await slack.command("sms review")
    assert "please stop texting me" in slack.latest().text
    await slack.press("Reviewed")

    assert "No texts are waiting for review" in slack.latest().text
    with read_session(engine) as session:
        assert session.exec(select(SmsInbound.reviewed_by)).one() == SAM
