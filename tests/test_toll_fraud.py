"""Nobody runs up the phone bill: what a volunteer types is rung or texted only once proven.

Each attack goes through the real Bolt app (signed Slack requests, the Web API fake) and the real
`twilio` client against the fake of Twilio's REST API, and is judged by what the Twilio fake was
asked to do: premium-rate, foreign and satellite numbers, unverified phones and SIP addresses on
a stranger's domain are never rung (nor texted), whatever the conversation or a stale button
says; and codes asked for with alternating phones stay within the send limits, across a restart
(a new app and engine on the same database). Both databases.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from bot.app import build_services
from bot.settings import load_settings
from bot.slack.app import slack_for
from bot.telephony.pacing import CallPacer
from bot.telephony.twilio_backend import UNPROVEN, TwilioTelephony
from bot.web import create_web_app
from handlers.context import CallRequest, Services, TelephonyError, TelephonyFailure
from storage.clock import FrozenClock
from storage.db import make_engine
from tests.fakes.chat_payloads import register_voter_phones
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.twilio_api import CALLER_ID, FakeTwilioAPI
from tests.scenarios.world import World, voter
from tests.slack_support import BOT_TOKEN, SIGNING_SECRET, SlackWorkspace

BASE = "https://phonebank.example.org"
SAM = {"name": "Sam Rivera", "languages": ["en"]}
PHONE_A, PHONE_B = "(737) 555-0142", "(737) 555-0143"
E164_A, E164_B = "+17375550142", "+17375550143"


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"the call pacer tried to sleep {seconds}s in a test")


async def _no_async_sleep(seconds: float) -> None:
    raise AssertionError(f"the Slack adapter tried to sleep {seconds}s in a test")


@asynccontextmanager
async def phonebank(
    engine: Engine,
    clock: FrozenClock,
    fake_slack: FakeSlackAPI,
    fake_twilio: FakeTwilioAPI,
    **settings: Any,
) -> AsyncIterator[tuple[SlackWorkspace, Services]]:
    """A Phonebank process: the web app with Slack on, Twilio pointed at the fake, wired by the
    composition root (so the Twilio edge checks destinations on the database)."""
    config = load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.base_url,
        public_base_url=BASE,
        **fake_twilio.settings(),
        **settings,
    )
    telephony = TwilioTelephony.from_settings(config, pacer=CallPacer(50, sleep=_no_sleep))
    services = build_services(config, engine=engine, clock=clock, telephony=telephony)
    adapter = slack_for(config, services, sleep=_no_async_sleep)
    assert adapter is not None
    transport = httpx.ASGITransport(app=create_web_app(services, slack=adapter))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield SlackWorkspace(http, adapter, fake_slack), services
        await adapter.close()
    finally:
        with engine.connect() as connection:
            register_voter_phones(connection.execute(text("SELECT phone FROM voter")).scalars())


async def sign_up(slack: SlackWorkspace, **answers: Any) -> None:
    await slack.command("signup")
    await slack.submit(SAM | answers)


def form_problems(slack: SlackWorkspace) -> str:
    """The problems shown on the open form: in the submission's ack, or (when the answer took
    longer than the ack may wait, as the first phone-number lookups do) in the updated modal."""
    assert slack.modal is not None, "the form closed: it was accepted"
    return " ".join(slack.errors.values()) or json.dumps(slack.modal, ensure_ascii=False)


def code_texted(fake_twilio: FakeTwilioAPI, to: str) -> str:
    [*_, last] = [m for m in fake_twilio.messages_created() if m.params["To"] == to]
    return str(re.findall(r"\b\d{6}\b", last.params["Body"])[0])


def rung(fake_twilio: FakeTwilioAPI) -> list[str]:
    return [call.params["To"] for call in fake_twilio.calls_created()]


def rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql)).all())


def request_to(target: str) -> CallRequest:
    return CallRequest(
        attempt_id=1,
        volunteer_phone=target,
        voter_phone="+15125550201",
        caller_id=CALLER_ID,
        whisper="Connecting you to Maria.",
        session_id=1,
    )


# --- calls ring only what was proven -----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("+1 900 222 5555", "premium-rate"),
        ("+870 776 123456", "satellite"),
        ("+269 321 2345", "outside the countries"),
        ("+1 800 555 0100", "toll-free"),
        ("+44 20 7946 0018", "outside the countries"),
    ],
)
async def test_a_costly_or_foreign_number_is_refused_at_signup_and_never_rung_or_texted(
    engine: Engine,
    clock: FrozenClock,
    fake_slack: FakeSlackAPI,
    fake_twilio: FakeTwilioAPI,
    typed: str,
    why: str,
) -> None:
    World(engine, clock).campaign([voter("Maria", 1)])
    async with phonebank(engine, clock, fake_slack, fake_twilio) as (slack, _):
        await sign_up(slack, phone=typed)
        assert why in form_problems(slack) and "the US or Canada" in form_problems(slack)
        await slack.command("batch")

    assert "Sign up first" in slack.latest().text
    assert rows(engine, "SELECT id FROM volunteer") == []
    assert fake_twilio.calls_created() == [] and fake_twilio.messages_created() == []


@pytest.mark.anyio
async def test_an_unverified_phone_gets_no_batch_and_a_changed_phone_is_not_rung(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI, fake_twilio: FakeTwilioAPI
) -> None:
    World(engine, clock).campaign([voter("Maria", 1), voter("Dave", 2)])
    async with phonebank(engine, clock, fake_slack, fake_twilio) as (slack, _):
        await sign_up(slack, phone=PHONE_A)
        await slack.command("batch")
        refused = slack.latest().text
        assert "not verified yet" in refused and "/phonebank verify resend" in refused
        assert rows(engine, "SELECT id FROM batch") == []

        await slack.command(f"verify {code_texted(fake_twilio, E164_A)}")
        await slack.command("batch")
        batch = slack.latest()

        # The phone changes to one nobody proved: the batch's Call button rings nothing.
        clock.advance(timedelta(minutes=2))
        await sign_up(slack, phone=PHONE_B)
        await slack.press("Call", near="Maria", message=batch)
        assert "not verified yet" in slack.latest().text

    assert rung(fake_twilio) == []
    assert rows(engine, "SELECT id FROM call_attempt") == []


@pytest.mark.anyio
async def test_a_verified_phone_is_rung(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI, fake_twilio: FakeTwilioAPI
) -> None:
    """The counterpart of the refusals: the same path rings a proven phone."""
    World(engine, clock).campaign([voter("Maria", 1)])
    async with phonebank(engine, clock, fake_slack, fake_twilio) as (slack, _):
        await sign_up(slack, phone=PHONE_A)
        await slack.command(f"verify {code_texted(fake_twilio, E164_A)}")
        await slack.command("batch")
        await slack.press("Call", near="Maria")

    assert rung(fake_twilio) == [E164_A]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("allowed", "why"),
    [("", "not enabled here"), ("bank.sip.twilio.com", "not a SIP domain this campaign allows")],
)
async def test_a_sip_address_on_a_strangers_domain_is_refused(
    engine: Engine,
    clock: FrozenClock,
    fake_slack: FakeSlackAPI,
    fake_twilio: FakeTwilioAPI,
    allowed: str,
    why: str,
) -> None:
    async with phonebank(engine, clock, fake_slack, fake_twilio, phonebank_sip_domains=allowed) as (
        slack,
        _,
    ):
        await sign_up(slack, phone=PHONE_A, sip_address="sip:anyone@attacker.example")

    assert why in form_problems(slack)
    assert rows(engine, "SELECT id FROM volunteer") == [] and rung(fake_twilio) == []


@pytest.mark.anyio
async def test_an_allowed_sip_address_is_rung_instead_of_the_phone(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI, fake_twilio: FakeTwilioAPI
) -> None:
    World(engine, clock).campaign([voter("Maria", 1)])
    sip = "sip:sam@bank.sip.twilio.com"
    async with phonebank(
        engine, clock, fake_slack, fake_twilio, phonebank_sip_domains="bank.sip.twilio.com"
    ) as (slack, _):
        await sign_up(slack, phone=PHONE_A, sip_address=sip)
        await slack.command("batch")
        await slack.press("Call", near="Maria")

    assert rung(fake_twilio) == [sip]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "target",
    [
        "+19002225555",  # premium rate
        "+870776123456",  # satellite
        "+2693212345",  # Comoros
        E164_B,  # a fine number, but nobody verified it
        "sip:anyone@attacker.example",  # no SIP domain allowed
        "client:volunteer_999",  # nobody's browser
    ],
)
async def test_the_twilio_edge_refuses_an_unproven_destination_whatever_the_core_asks(
    engine: Engine,
    clock: FrozenClock,
    fake_slack: FakeSlackAPI,
    fake_twilio: FakeTwilioAPI,
    target: str,
) -> None:
    """Defense in depth: a bug in a conversation that hands telephony an unproven destination
    still rings nothing."""
    async with phonebank(engine, clock, fake_slack, fake_twilio) as (slack, services):
        await sign_up(slack, phone=PHONE_A)
        await slack.command(f"verify {code_texted(fake_twilio, E164_A)}")

        with pytest.raises(TelephonyError) as raised:
            services.telephony.place_call(request_to(target))
        services.telephony.place_call(request_to(E164_A))  # the proven phone rings

    assert raised.value.failure is TelephonyFailure.BLOCKED and str(raised.value) == UNPROVEN
    assert rung(fake_twilio) == [E164_A]


@pytest.mark.anyio
@pytest.mark.parametrize("target", ["+19002225555", "+870776123456", "+2693212345"])
async def test_the_twilio_edge_texts_no_costly_or_foreign_number(
    engine: Engine,
    clock: FrozenClock,
    fake_slack: FakeSlackAPI,
    fake_twilio: FakeTwilioAPI,
    target: str,
) -> None:
    async with phonebank(engine, clock, fake_slack, fake_twilio) as (_, services):
        with pytest.raises(TelephonyError) as raised:
            services.telephony.send_sms(target, "Your Phonebank code is 123456.")

    assert raised.value.failure is TelephonyFailure.BLOCKED
    assert fake_twilio.messages_created() == []


# --- texts that cost money are limited by who asks --------------------------------------------


@pytest.mark.anyio
async def test_alternating_phones_send_one_code_a_minute_and_five_an_hour_across_a_restart(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI, fake_twilio: FakeTwilioAPI
) -> None:
    async with phonebank(engine, clock, fake_slack, fake_twilio) as (slack, _):
        for phone in (PHONE_A, PHONE_B) * 3:  # six saves at once, alternating two phones
            await sign_up(slack, phone=phone, sms_consent=True)
        assert len(fake_twilio.messages_created()) == 1
        assert "try again in" in slack.latest().text

        for phone in (PHONE_A, PHONE_B, PHONE_A, PHONE_B):  # a minute apart: the hour's five
            clock.advance(timedelta(seconds=61))
            await sign_up(slack, phone=phone, sms_consent=True)
        assert len(fake_twilio.messages_created()) == 5

    # A restart: a new process, a new engine, the same database.
    clock.advance(timedelta(seconds=61))
    restarted = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        async with phonebank(restarted, clock, fake_slack, fake_twilio) as (slack, _):
            await sign_up(slack, phone=PHONE_A, sms_consent=True)
            limited = slack.latest().text
            await slack.command("verify resend")
            resent = slack.latest().text
    finally:
        restarted.dispose()

    assert len(fake_twilio.messages_created()) == 5
    assert "You have asked for 5 texts in the last hour" in limited
    # The first of the five went out at 15:00, five times 61 s ago: it leaves the hour at 16:00.
    assert "try again in 55 minutes (at 16:00 UTC)" in limited, limited
    assert "try again in 55 minutes" in resent
    per_phone = {to: 0 for to in (E164_A, E164_B)}
    for message in fake_twilio.messages_created():
        per_phone[message.params["To"]] += 1
    assert per_phone == {E164_A: 3, E164_B: 2}
