"""The SMS webhooks through the web app: signed with Twilio's algorithm, answered in TwiML
(compared as parsed XML), delivery reports marking volunteers; a bad, missing or tampered
signature, or one made for another host, is refused with 403 and stores nothing (both
databases)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select
from starlette.applications import Starlette
from twilio.request_validator import RequestValidator

from bot.settings import load_settings
from bot.telephony.signature import SIGNATURE_HEADER, TwilioSignatureCheck
from bot.telephony.sms_webhook import sms_routes, twiml_reply
from bot.telephony.twilio_backend import TwilioTelephony
from bot.web import create_web_app
from handlers.context import Services
from handlers.sms import OPTED_IN
from handlers.texting import TextStatus, text_volunteer
from storage.clock import FrozenClock
from storage.db import read_session
from storage.models import SmsInbound
from tests.fakes.twilio_api import MESSAGES_CREATE, FakeTwilioAPI
from tests.scenarios.world import make_services
from tests.sms_support import add_volunteer, volunteer

TOKEN = "12345678901234567890123456789012"
PUBLIC = "https://bank.example.org"
ANA = "+15125550142"


@pytest.fixture
def services(engine: Engine, clock: FrozenClock) -> Services:
    return make_services(engine, clock)


class WebhookClient:
    """Posts forms to the ASGI app in-process, as Twilio would over HTTP."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def post(self, path: str, data: dict[str, str], headers: dict[str, str]) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                return await http.post(path, data=data, headers=headers)

        return asyncio.run(send())


@pytest.fixture
def client(services: Services) -> WebhookClient:
    check = TwilioSignatureCheck(TOKEN, PUBLIC)
    return WebhookClient(create_web_app(services, routes=sms_routes(services, check)))


def signature(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def post(
    client: WebhookClient,
    path: str,
    params: dict[str, str],
    *,
    signed_url: str | None = None,
    signed_params: dict[str, str] | None = None,
    token: str = TOKEN,
    sign: bool = True,
) -> tuple[int, str]:
    headers = {}
    if sign:
        url = signed_url or f"{PUBLIC}{path}"
        headers[SIGNATURE_HEADER] = signature(url, signed_params or params, token)
    response = client.post(path, data=params, headers=headers)
    return response.status_code, response.text


def text_params(body: str, sid: str = "SM" + "a" * 32, sender: str = ANA) -> dict[str, str]:
    return {"MessageSid": sid, "From": sender, "To": "+15125550100", "Body": body}


def messages(twiml: str) -> list[str]:
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    assert all(child.tag == "Message" for child in root)
    return [child.text or "" for child in root]


def stored(engine: Engine) -> list[SmsInbound]:
    with read_session(engine) as session:
        return list(session.exec(select(SmsInbound)).all())


def test_a_signed_start_is_answered_in_twiml(
    client: WebhookClient, engine: Engine, clock: FrozenClock
) -> None:
    ana = add_volunteer(engine, clock, phone=ANA, sms_opted_out=True)

    status, body = post(client, "/twilio/sms", text_params(" Start "))

    assert status == 200 and messages(body) == [OPTED_IN]
    assert not volunteer(engine, ana).sms_opted_out


def test_a_stop_is_answered_with_an_empty_response(
    client: WebhookClient, engine: Engine, clock: FrozenClock
) -> None:
    ana = add_volunteer(engine, clock, phone=ANA)

    status, body = post(client, "/twilio/sms", text_params("STOP"))

    assert status == 200 and ET.fromstring(body).tag == "Response" and messages(body) == []
    assert volunteer(engine, ana).sms_opted_out


def test_a_repeated_webhook_is_answered_empty_and_stored_once(
    client: WebhookClient, engine: Engine, clock: FrozenClock
) -> None:
    add_volunteer(engine, clock, phone=ANA)

    first = post(client, "/twilio/sms", text_params("running late"))
    again = post(client, "/twilio/sms", text_params("running late"))

    assert len(messages(first[1])) == 1 and messages(again[1]) == []
    assert len(stored(engine)) == 1


@pytest.mark.parametrize(
    "tamper",
    ["missing", "bad", "wrong token", "tampered body", "added parameter", "wrong host"],
)
def test_an_unsigned_or_badly_signed_text_is_refused_and_nothing_changes(
    client: WebhookClient, engine: Engine, clock: FrozenClock, tamper: str
) -> None:
    ana = add_volunteer(engine, clock, phone=ANA)
    params = text_params("STOP")
    changes: dict[str, dict[str, object]] = {
        "missing": {"sign": False},
        "bad": {"signed_params": {"x": "y"}},
        "wrong token": {"token": "0" * 32},
        "tampered body": {"signed_params": text_params("hello")},
        "added parameter": {"signed_params": {k: v for k, v in params.items() if k != "To"}},
        "wrong host": {"signed_url": "https://evil.example.com/twilio/sms"},
    }

    status, _ = post(client, "/twilio/sms", params, **changes[tamper])  # type: ignore[arg-type]

    assert status == 403
    assert stored(engine) == [] and not volunteer(engine, ana).sms_opted_out


def test_a_signed_text_without_a_message_sid_is_a_bad_request(
    client: WebhookClient, engine: Engine
) -> None:
    status, _ = post(client, "/twilio/sms", {"From": ANA, "Body": "STOP"})
    assert status == 400 and stored(engine) == []


def test_a_long_reply_comes_back_as_one_segment_messages() -> None:
    parts = messages(bytes(twiml_reply("word " * 50).body).decode())

    assert [p[:6] for p in parts] == ["(1/2) ", "(2/2) "]
    assert messages(bytes(twiml_reply(None).body).decode()) == []


@pytest.mark.parametrize(
    ("code", "opted_out", "undeliverable"),
    [
        ("21610", True, None),
        ("21614", False, "not a mobile number"),
        ("21635", False, "landline"),
        ("21211", False, "invalid number"),
        ("30003", False, None),  # unreachable handset: try again another day
    ],
)
def test_delivery_reports_mark_the_volunteer(
    client: WebhookClient,
    engine: Engine,
    clock: FrozenClock,
    code: str,
    opted_out: bool,
    undeliverable: str | None,
) -> None:
    ana = add_volunteer(engine, clock, phone=ANA)
    report = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": code, "To": ANA}

    first, _ = post(client, "/twilio/sms/status", report)
    repeated, _ = post(client, "/twilio/sms/status", report)

    assert first == repeated == 204
    row = volunteer(engine, ana)
    assert (row.sms_opted_out, row.sms_undeliverable) == (opted_out, undeliverable)


def test_a_delivered_report_marks_nothing(
    client: WebhookClient, engine: Engine, clock: FrozenClock
) -> None:
    ana = add_volunteer(engine, clock, phone=ANA)
    report = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": ANA}

    assert post(client, "/twilio/sms/status", report)[0] == 204
    row = volunteer(engine, ana)
    assert (row.sms_opted_out, row.sms_undeliverable) == (False, None)


@pytest.mark.parametrize("tamper", ["missing", "tampered"])
def test_a_badly_signed_delivery_report_changes_nothing(
    client: WebhookClient, engine: Engine, clock: FrozenClock, tamper: str
) -> None:
    ana = add_volunteer(engine, clock, phone=ANA)
    report = {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "21610", "To": ANA}
    options: dict[str, object] = (
        {"sign": False} if tamper == "missing" else {"signed_params": report | {"ErrorCode": "1"}}
    )

    status, _ = post(client, "/twilio/sms/status", report, **options)  # type: ignore[arg-type]

    assert status == 403 and not volunteer(engine, ana).sms_opted_out


# --- with the real twilio client against the fake REST API -------------------------------


def twilio_services(engine: Engine, clock: FrozenClock, fake: FakeTwilioAPI) -> Services:
    settings = load_settings(**fake.settings(public_base_url=PUBLIC))
    return make_services(engine, clock, telephony=TwilioTelephony.from_settings(settings))


def test_stop_through_the_webhook_then_no_reminder_reaches_twilio(
    engine: Engine, clock: FrozenClock, fake_twilio: FakeTwilioAPI
) -> None:
    services = twilio_services(engine, clock, fake_twilio)
    client = WebhookClient(
        create_web_app(services, routes=sms_routes(services, TwilioSignatureCheck(TOKEN, PUBLIC)))
    )
    ana = add_volunteer(engine, clock, phone=ANA)
    assert text_volunteer(services, ana, "Shift at 6 PM tonight.", purpose="reminder").sent

    assert post(client, "/twilio/sms", text_params("Stop"))[0] == 200
    reminder = text_volunteer(services, ana, "Shift at 6 PM tomorrow.", purpose="reminder")

    assert reminder.status is TextStatus.OPTED_OUT
    assert [m.params["Body"] for m in fake_twilio.messages_created()] == ["Shift at 6 PM tonight."]


def test_twilio_refusing_an_unsubscribed_number_marks_the_volunteer(
    engine: Engine, clock: FrozenClock, fake_twilio: FakeTwilioAPI
) -> None:
    services = twilio_services(engine, clock, fake_twilio)
    ana = add_volunteer(engine, clock, phone=ANA)
    fake_twilio.fail_next(
        MESSAGES_CREATE, code=21610, message="Attempt to send to unsubscribed recipient"
    )

    result = text_volunteer(services, ana, "Shift at 6 PM.", purpose="reminder")

    assert result.status is TextStatus.OPTED_OUT and volunteer(engine, ana).sms_opted_out
    again = text_volunteer(services, ana, "Shift at 6 PM.", purpose="reminder")
    assert again.status is TextStatus.OPTED_OUT
    assert len(fake_twilio.requests(MESSAGES_CREATE)) == 1  # the gate kept the second one back
