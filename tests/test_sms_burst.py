"""Inbound texts cannot drive the bot: a burst of texts to the campaign's number, through the
web app's signed Twilio webhook, is answered once per sender and kind a day (once ever for a
number we do not know), and organizers hear of it once, in one digest the outbox sends after
the quiet period, quoting short excerpts without links, mentions or numbers. Slack's answers go
on meanwhile, through the real Bolt app and the fake Web API (both databases)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine
from twilio.request_validator import RequestValidator

from bot.app import build_services
from bot.settings import load_settings
from bot.slack.app import slack_for
from bot.telephony.signature import SIGNATURE_HEADER, TwilioSignatureCheck
from bot.telephony.simulated import SimulatedTelephony
from bot.telephony.sms_webhook import sms_routes
from bot.web import create_web_app
from handlers.context import Services
from handlers.outbox import run_due
from handlers.sms import FREE_TEXT_REPLY, REVIEW_REPLY
from handlers.sms_digest import QUIET_PERIOD, SENDERS_LISTED, digest_text, excerpt
from storage.clock import FrozenClock
from storage.models import SmsInbound
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack_support import BOT_TOKEN, SIGNING_SECRET, SlackWorkspace
from tests.sms_support import add_volunteer

TOKEN = "12345678901234567890123456789012"
PUBLIC = "https://bank.example.org"
ANA = "+15125550142"
STRANGER = "+15125550177"
AWAY = "+15125550188"  # an auto-responder: answers every text it gets
PHISH = "STOP texting me!! verify at https://evil.example/login <!channel> @here or 512-555-0199"
ORGANIZERS = {"U0SAM", "U0ORG"}
_sids = itertools.count(1)


@contextlib.asynccontextmanager
async def campaign_line(
    engine: Engine, clock: FrozenClock, fake: FakeSlackAPI
) -> AsyncIterator[tuple[httpx.AsyncClient, SlackWorkspace, Services]]:
    """The web app with Slack on and Twilio's SMS webhook, as `phonebank web` serves them."""
    settings = load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake.base_url,
        phonebank_admins="slack:U0SAM,slack:U0ORG",
    )
    services = build_services(
        settings, engine=engine, clock=clock, telephony=SimulatedTelephony(clock)
    )
    adapter = slack_for(settings, services, sleep=_no_sleep)
    assert adapter is not None
    check = TwilioSignatureCheck(TOKEN, PUBLIC)
    app = create_web_app(services, slack=adapter, routes=sms_routes(services, check))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, SlackWorkspace(http, adapter, fake), services
    finally:
        await adapter.close()


async def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"slept {seconds}s")


async def text(http: httpx.AsyncClient, sender: str, body: str) -> list[str]:
    """Twilio posts a text, signed; the messages the TwiML answer sends back."""
    params = {
        "MessageSid": f"SM{next(_sids):032d}",
        "From": sender,
        "To": "+15125550100",
        "Body": body,
    }
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/twilio/sms", params)
    response = await http.post("/twilio/sms", data=params, headers={SIGNATURE_HEADER: signature})
    assert response.status_code == 200, response.text
    return [child.text or "" for child in ET.fromstring(response.text)]


def direct_messages(fake: FakeSlackAPI) -> list[tuple[str, str]]:
    """(channel, text) of every chat.postMessage to an organizer's DM."""
    return [
        (call.body["channel"], str(call.body))
        for call in fake.calls("chat.postMessage")
        if call.body["channel"] in ORGANIZERS
    ]


@pytest.mark.anyio
async def test_a_burst_of_texts_is_answered_once_each_and_alerted_once(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    add_volunteer(engine, clock, phone=ANA, name="Ana Lopez")
    burst = (
        [(ANA, "please stop texting me")] * 6
        + [(ANA, "HELP")] * 4
        + [(ANA, "Running late")] * 4
        + [(STRANGER, PHISH)] * 6
        + [(AWAY, "Thanks for your message! I am away until Monday.")] * 6
    )
    async with campaign_line(engine, clock, fake_slack) as (http, sam, services):
        answers = await asyncio.gather(*(text(http, sender, body) for sender, body in burst))
        await sam.command("help")  # Slack meanwhile

        replies: dict[str, list[str]] = {}
        for (sender, _), messages in zip(burst, answers, strict=True):
            replies.setdefault(sender, []).extend(messages)
        assert sorted(replies[ANA]) == sorted(
            [REVIEW_REPLY, help_reply(replies[ANA]), FREE_TEXT_REPLY]
        )
        assert len(replies[STRANGER]) == 1 and len(replies[AWAY]) == 1  # one reply, ever
        assert "/phonebank" in sam.latest().text  # Slack answered as usual
        assert direct_messages(fake_slack) == []  # no alert from inside a webhook

        clock.advance(QUIET_PERIOD)
        run_due(services)  # the outbox worker's turn
        run_due(services)
        clock.advance(QUIET_PERIOD)
        run_due(services)

        digests = direct_messages(fake_slack)
        assert sorted(channel for channel, _ in digests) == sorted(ORGANIZERS)  # one each
        digest = digests[0][1]
        assert "12 texts" in digest and "Ana Lopez (6 texts)" in digest
        assert "an unknown sender (6 texts)" in digest
        for leaked in ("evil.example", "https", "<!channel>", "@here", "0199", "0177"):
            assert leaked not in digest

        clock.advance(timedelta(days=1))  # a new day: one more of each kind for Ana only
        assert await text(http, ANA, "help") != []
        assert await text(http, STRANGER, "help") == []


def help_reply(replies: list[str]) -> str:
    [found] = [reply for reply in replies if "Reply STOP to opt out" in reply]
    return found


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("please stop texting me", "please stop texting me"),
        ("stop. see https://evil.example/a?b=c now", "stop. see (link) now"),
        ("go to www.evil.example", "go to (link)"),
        ("visit evil.example/login please", "visit (link) please"),
        ("mail me: mailto:a@b.example", "mail me: (link)"),
        ("<!channel> <@U123> stop", "!channel U123 stop"),
        ("*bold* _it_ ~x~ `code` stop", "bold it x code stop"),
        ("call 512-555-0199 instead", "call … instead"),
        ("note: please stop", "note: please stop"),
        ("x" * 200, "x" * 59 + "…"),
    ],
)
def test_an_excerpt_carries_no_link_mention_markup_or_number(body: str, shown: str) -> None:
    assert excerpt(body) == shown


def test_a_digest_lists_at_most_ten_senders(clock: FrozenClock) -> None:
    texts = [
        SmsInbound(
            message_sid=f"SM{i}",
            from_phone=f"+1512555{i:04d}",
            body="stop",
            received_at=clock.now(),
        )
        for i in range(SENDERS_LISTED + 3)
    ]

    digest = digest_text(texts, {}, clock.now())

    assert digest.count("• an unknown sender") == SENDERS_LISTED
    assert "• and 3 more senders" in digest and "13 texts since 15:00 UTC" in digest
