"""The whole click-to-call flow, end to end: the real Bolt app fed signed Slack requests, the
real `twilio` client against the local fake of Twilio's REST API, and Twilio's webhooks signed
as Twilio signs them (both databases).

Click Call -> the fake sees a call to the volunteer -> the answer TwiML dials the voter from
the campaign's number -> the voter's status callbacks update the Slack card in place -> a key
logs the outcome -> '#' dials the next voter inside the same call (no new call at the fake) ->
Next in Slack redirects the live call -> the volunteer hangs up and the voters not called go
back to the list. No voter's number reaches Slack.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine, text
from twilio.request_validator import RequestValidator

from bot.app import FanOutNotifier, build_services
from bot.settings import load_settings
from bot.slack.app import slack_for
from bot.slack.notifier import ChannelPacer, SlackNotifier
from bot.telephony.pacing import CallPacer
from bot.telephony.signature import TwilioSignatureCheck
from bot.telephony.twilio_backend import TwilioTelephony
from bot.telephony.urls import WebhookUrls
from bot.telephony.voice_webhooks import voice_routes
from bot.web import create_web_app
from handlers.context import Platform
from storage.clock import FrozenClock
from tests.fakes.chat_payloads import register_voter_phones
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.twilio_api import CALLER_ID, FakeTwilioAPI
from tests.scenarios.world import World, phones_in, voter
from tests.slack_support import BOT_TOKEN, SIGNING_SECRET, SlackWorkspace

BASE = "https://phonebank.example.org"
URLS = WebhookUrls(BASE)
VOLUNTEER = "+17375550142"
MARIA, DAVE, EVE = "+15125550201", "+15125550202", "+15125550203"


@dataclass
class Phone:
    """Twilio's side of the flow: signed webhooks posted to the app, TwiML read back."""

    http: httpx.AsyncClient
    auth_token: str

    async def post(self, url: str, params: dict[str, str]) -> ET.Element:
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        response = await self.http.post(
            url.removeprefix(BASE), data=params, headers={"X-Twilio-Signature": signature}
        )
        assert response.status_code == 200, response.text
        return ET.fromstring(response.content)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"the call pacer tried to sleep {seconds}s in a test")


async def _no_async_sleep(seconds: float) -> None:
    raise AssertionError(f"the Slack adapter tried to sleep {seconds}s in a test")


@pytest.fixture
async def flow(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI, fake_twilio: FakeTwilioAPI
) -> AsyncIterator[tuple[SlackWorkspace, Phone]]:
    """The web app with Slack and the voice webhooks, its clients pointed at the two fakes."""
    settings = load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.base_url,
        public_base_url=BASE,
        **fake_twilio.settings(),
    )
    telephony = TwilioTelephony(
        account_sid=fake_twilio.account_sid,
        auth_token=fake_twilio.auth_token,
        caller_id=CALLER_ID,
        api_url=fake_twilio.base_url,
        public_base_url=BASE,
        pacer=CallPacer(1, sleep=_no_sleep),
    )
    services = build_services(settings, engine=engine, clock=clock, telephony=telephony)
    adapter = slack_for(settings, services, sleep=_no_async_sleep)
    assert adapter is not None
    # The same notifier slack_for registers, with its one-post-a-second channel pacing not
    # sleeping: the webhooks post several card updates to the volunteer's DM in a row.
    notifier = services.notifier
    assert isinstance(notifier, FanOutNotifier)
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.base_url)
    pacer = ChannelPacer(sleep=lambda seconds: None)
    slack_notifier = SlackNotifier(client, engine, live=adapter.live, pacer=pacer)
    notifier.register(Platform.SLACK, slack_notifier)
    check = TwilioSignatureCheck(fake_twilio.auth_token, BASE)
    app = create_web_app(services, slack=adapter, routes=voice_routes(services, check, URLS))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield SlackWorkspace(http, adapter, fake_slack), Phone(http, fake_twilio.auth_token)
        await adapter.close()
    finally:
        with engine.connect() as connection:
            register_voter_phones(connection.execute(text("SELECT phone FROM voter")).scalars())


def dial_of(twiml: ET.Element) -> ET.Element:
    dial = twiml.find("Dial")
    assert dial is not None, ET.tostring(twiml)
    return dial


def said(twiml: ET.Element) -> str | None:
    """What the TwiML says first."""
    say = twiml.find("Say")
    return None if say is None else say.text


def number_of(twiml: ET.Element) -> ET.Element:
    number = dial_of(twiml).find("Number")
    assert number is not None
    return number


async def voter_leg(phone: Phone, twiml: ET.Element, sid: str, *statuses: str) -> None:
    """Twilio's status callbacks of the voter's leg the TwiML dialed."""
    url = number_of(twiml).attrib["statusCallback"]
    for status in statuses:
        params = {"CallSid": sid, "CallStatus": status, "ParentCallSid": "CAparent"}
        if status == "completed":
            params["CallDuration"] = "45"
        await phone.post(url, params)


def card_of(fake_slack: FakeSlackAPI, name: str) -> str:
    """The facts of the card about `name` as Slack shows it last: the newest message body the
    fake received (a response_url replacement, a direct message, or its chat.update)."""
    for call in reversed(fake_slack.calls()):
        for block in call.body.get("blocks") or []:
            if block["type"] == "section" and name in block.get("text", {}).get("text", ""):
                return " ".join(field["text"] for field in block.get("fields") or [])
    raise AssertionError(f"no card about {name}")


def rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql)).all())


@pytest.mark.anyio
async def test_call_session_from_slack_click_to_hang_up(
    engine: Engine,
    clock: FrozenClock,
    fake_slack: FakeSlackAPI,
    fake_twilio: FakeTwilioAPI,
    flow: tuple[SlackWorkspace, Phone],
) -> None:
    slack, phone = flow
    world = World(engine, clock)
    world.campaign(
        [voter("Maria", 1), voter("Dave", 2), voter("Eve", 3), voter("Fay", 4)], batch_size=4
    )
    await slack.command("signup")
    await slack.submit({"name": "Sam Rivera", "phone": "(737) 555-0142", "languages": ["en"]})
    [texted] = fake_twilio.messages_created()  # the code that proves the phone
    assert texted.params["To"] == VOLUNTEER
    await slack.command(f"verify {re.findall(r'[0-9]{6}', texted.params['Body'])[0]}")
    await slack.command("batch")

    # Click Call: Twilio is asked to ring the volunteer, from the campaign's number.
    await slack.press("Call", near="Maria")
    [ring] = fake_twilio.calls_created()
    assert (ring.params["To"], ring.params["From"]) == (VOLUNTEER, CALLER_ID)
    assert ring.params["Url"].startswith(f"{BASE}/twilio/voice/answer?")
    volunteer_sid = ring.sid
    assert volunteer_sid is not None

    # The volunteer picks up: whisper, then the voter is dialed showing the campaign's number.
    answer = await phone.post(
        ring.params["Url"], {"CallSid": volunteer_sid, "CallStatus": "in-progress"}
    )
    assert said(answer) == "Connecting you to Maria."
    assert dial_of(answer).attrib["callerId"] == CALLER_ID
    assert dial_of(answer).attrib["answerOnBridge"] == "true"
    assert number_of(answer).text == MARIA
    await phone.post(
        ring.params["StatusCallback"], {"CallSid": volunteer_sid, "CallStatus": "in-progress"}
    )

    # The voter's leg: each callback updates the card in Slack, in place.
    await voter_leg(phone, answer, "CAmaria", "initiated", "ringing", "in-progress")
    assert "Connected: you are on the call" in card_of(fake_slack, "Maria")
    await voter_leg(phone, answer, "CAmaria", "completed", "ringing")  # a late ringing: ignored
    assert "Call ended" in card_of(fake_slack, "Maria")

    # The voter's leg ended: the keypad logs the outcome, once.
    ended = {"DialCallStatus": "completed", "DialCallSid": "CAmaria", "DialCallDuration": "45"}
    asked = await phone.post(dial_of(answer).attrib["action"], ended)
    gather = asked.find("Gather")
    assert gather is not None
    keypad_url = gather.attrib["action"]
    logged = await phone.post(keypad_url, {"Digits": "1", "CallSid": volunteer_sid})
    assert said(logged) == "Logged Talked to voter."
    assert "Talked to voter" in card_of(fake_slack, "Maria")
    assert rows(engine, "SELECT result_code, call_sid FROM call_attempt ORDER BY id")[0] == (
        "talked",
        "CAmaria",
    )

    # '#': the next voter is dialed inside the same call; Twilio sees no new call.
    nxt = await phone.post(keypad_url, {"Digits": "#", "CallSid": volunteer_sid})
    assert number_of(nxt).text == DAVE and dial_of(nxt).attrib["callerId"] == CALLER_ID
    assert len(fake_twilio.calls_created()) == 1 and fake_twilio.calls_updated() == []
    await voter_leg(phone, nxt, "CAdave", "initiated", "no-answer")
    await phone.post(dial_of(nxt).attrib["action"], {"DialCallStatus": "no-answer"})

    # Next in Slack: the live call is redirected to the next voter (still one call).
    slack.read_calls()  # what the webhooks sent Slack meanwhile (a direct message, updated)
    await slack.press("Next")
    [redirect] = fake_twilio.calls_updated(volunteer_sid)
    assert redirect.params["Url"].startswith(f"{BASE}/twilio/voice/next?")
    eve = await phone.post(redirect.params["Url"], {"CallSid": volunteer_sid})
    assert number_of(eve).text == EVE
    assert len(fake_twilio.calls_created()) == 1

    # The volunteer hangs up: the session ends, Fay (never called) goes back to the list.
    await voter_leg(phone, eve, "CAeve", "initiated", "in-progress", "completed")
    await phone.post(
        ring.params["StatusCallback"], {"CallSid": volunteer_sid, "CallStatus": "completed"}
    )
    [session] = rows(engine, "SELECT end_reason FROM call_session")
    assert session.end_reason == "hung_up"
    fay = rows(engine, "SELECT batch_id FROM voter WHERE first_name = 'Fay'")
    assert fay == [(None,)]
    held = rows(engine, "SELECT first_name FROM voter WHERE batch_id IS NOT NULL ORDER BY id")
    assert [row.first_name for row in held] == ["Dave", "Eve"]  # called, to log in chat

    # Nothing Slack received carries a voter's number.
    shown = "\n".join(str(call.body) for call in fake_slack.calls())
    assert phones_in(shown, [MARIA, DAVE, EVE, "+15125550204"]) == []
    assert fake_slack.calls("chat.update")  # the card, updated in place
