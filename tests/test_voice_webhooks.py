"""The voice webhooks over HTTP (bot/telephony/voice_webhooks.py): requests signed as Twilio
signs them (`RequestValidator`), TwiML read as parsed XML; a bad, missing or foreign signature
gets 403 and changes nothing, bad ids 400, a repeated callback is applied once (both
databases)."""

from __future__ import annotations

import asyncio
import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from twilio.request_validator import RequestValidator

from bot.later import LaterWork
from bot.telephony.signature import TwilioSignatureCheck
from bot.telephony.urls import WebhookUrls
from bot.telephony.voice_webhooks import voice_routes
from bot.web import create_web_app
from handlers.context import Later
from handlers.dialing import show_batch
from handlers.replies import Tone
from storage.clock import FrozenClock
from tests.scenarios.world import World, voter
from tests.voice_support import Desk

TOKEN = "12345678901234567890123456789012"
BASE = "https://phonebank.example.org"
URLS = WebhookUrls(BASE)
INTERNAL = "http://10.0.0.7:8000"  # where the app runs behind the proxy: not what is signed
MARIA, DAVE = "+15125550201", "+15125550202"
CALLER_ID = "+15125550100"

Tree = tuple[str, dict[str, str], str, list[Any]]


def tree(element: ET.Element) -> Tree:
    """An XML element as (tag, attributes, text, children), for whole-document comparisons."""
    return (
        element.tag,
        dict(element.attrib),
        (element.text or "").strip(),
        [tree(child) for child in element],
    )


def twiml(response: Any) -> Tree:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    return tree(ET.fromstring(response.content))


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> World:
    return World(engine, clock)


class Twilio:
    """Posts webhooks to the app the way Twilio does, signed for `BASE`."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def post(
        self,
        url: str,
        params: dict[str, str],
        *,
        signed_params: dict[str, str] | None = None,
        signed_url: str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """POST `params` to `url` (absolute, under BASE); signed over `signed_params` at
        `signed_url` (default: what is sent), or with `signature` as given ("" for none)."""
        if signature is None:
            validator = RequestValidator(TOKEN)
            signature = validator.compute_signature(
                signed_url or url, signed_params if signed_params is not None else params
            )
        all_headers = dict(headers or {})
        if signature:
            all_headers["X-Twilio-Signature"] = signature
        path = url.removeprefix(BASE)

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=INTERNAL) as client:
                return await client.post(path, data=params, headers=all_headers)

        return asyncio.run(send())


def open_twilio(desk: Desk) -> Iterator[Twilio]:
    check = TwilioSignatureCheck(TOKEN, BASE)
    app = create_web_app(desk.services, routes=voice_routes(desk.services, check, URLS))
    yield Twilio(app)


@pytest.fixture
def desk(world: World) -> Desk:
    world.campaign([voter("Maria", 1), voter("Dave", 2)])
    return Desk.open(world)


@pytest.fixture
def twilio(desk: Desk) -> Iterator[Twilio]:
    yield from open_twilio(desk)


def answer_params() -> dict[str, str]:
    return {"CallSid": "CAvolunteer", "CallStatus": "in-progress", "To": "+15125550142"}


def dial_tree(session: int, attempt: int, name: str, number: str) -> list[Tree]:
    return [
        ("Say", {}, f"Connecting you to {name}.", []),
        (
            "Dial",
            {
                "action": URLS.dialed(session, attempt),
                "answerOnBridge": "true",
                "callerId": CALLER_ID,
                "hangupOnStar": "true",
                "method": "POST",
            },
            "",
            [
                (
                    "Number",
                    {
                        "statusCallback": URLS.voter_status(session, attempt),
                        "statusCallbackEvent": "initiated ringing answered completed",
                        "statusCallbackMethod": "POST",
                    },
                    number,
                    [],
                )
            ],
        ),
    ]


def test_the_answer_dials_the_voter_with_the_campaign_caller_id(desk: Desk, twilio: Twilio) -> None:
    desk.press("Call", "Maria")
    session, attempt = desk.last_ring()

    response = twilio.post(URLS.answer(session, attempt), answer_params())

    assert twiml(response) == ("Response", {}, "", dial_tree(session, attempt, "Maria", MARIA))
    assert desk.one("SELECT answered_at FROM call_session").answered_at is not None


@pytest.mark.parametrize(
    "forgery",
    [
        {"signed_params": answer_params() | {"CallSid": "CAother"}},  # a tampered parameter
        {"signature": ""},  # no signature at all
        {"signed_url": "https://attacker.example.net/twilio/voice/answer?session=1&attempt=1"},
        {"signature": "bm90IGEgc2lnbmF0dXJl"},
    ],
    ids=["tampered-parameter", "missing-signature", "wrong-host", "garbage-signature"],
)
def test_a_bad_signature_gets_403_and_changes_nothing(
    desk: Desk, twilio: Twilio, forgery: dict[str, Any]
) -> None:
    desk.press("Call", "Maria")
    session, attempt = desk.last_ring()
    if "signed_url" in forgery:
        forgery = {"signed_url": forgery["signed_url"].replace("attempt=1", f"attempt={attempt}")}

    response = twilio.post(URLS.answer(session, attempt), answer_params(), **forgery)

    assert response.status_code == 403
    assert desk.one("SELECT answered_at FROM call_session").answered_at is None
    assert desk.one("SELECT call_status FROM call_attempt").call_status == "placing"


@pytest.mark.parametrize(
    "query", ["session=abc&attempt=1", "session=1", "session=0&attempt=1", "session=-1&attempt=1"]
)
def test_bad_ids_get_400(twilio: Twilio, query: str) -> None:
    response = twilio.post(f"{BASE}/twilio/voice/answer?{query}", answer_params())
    assert response.status_code == 400


def test_ids_of_no_call_hang_up(twilio: Twilio) -> None:
    response = twilio.post(URLS.answer(41, 42), answer_params())
    assert twiml(response)[3] == [
        ("Say", {}, "Phonebank does not know this call. Goodbye.", []),
        ("Hangup", {}, "", []),
    ]


def test_a_repeated_status_callback_is_applied_once(desk: Desk, twilio: Twilio) -> None:
    desk.press("Call", "Maria")
    session, _ = desk.last_ring()
    params = {"CallSid": "CAvolunteer", "CallStatus": "ringing"}
    token = {"I-Twilio-Idempotency-Token": "idem-1"}

    first = twilio.post(URLS.session_status(session), params, headers=token)
    again = twilio.post(URLS.session_status(session), params, headers=token)

    assert twiml(first) == twiml(again) == ("Response", {}, "", [])
    assert [row.key for row in desk.world.rows("SELECT key FROM processed_event")] == ["idem-1"]
    assert desk.one("SELECT status FROM call_session").status == "ringing"


def test_voter_callbacks_out_of_order_never_reopen_a_finished_call(
    desk: Desk, twilio: Twilio
) -> None:
    desk.press("Call", "Maria")
    session, attempt = desk.last_ring()
    twilio.post(URLS.answer(session, attempt), answer_params())
    url = URLS.voter_status(session, attempt)

    twilio.post(url, {"CallSid": "CAvoter", "CallStatus": "completed", "CallDuration": "33"})
    twilio.post(url, {"CallSid": "CAvoter", "CallStatus": "ringing"})

    row = desk.one("SELECT call_sid, call_status, duration_s FROM call_attempt")
    assert (row.call_sid, row.call_status, row.duration_s) == ("CAvoter", "completed", 33)


def test_keypad_then_hash_dials_the_next_voter(desk: Desk, twilio: Twilio) -> None:
    desk.press("Call", "Maria")
    session, maria = desk.last_ring()
    twilio.post(URLS.answer(session, maria), answer_params())
    ended = {"DialCallStatus": "completed", "DialCallSid": "CAv1", "DialCallDuration": "40"}
    asked = twiml(twilio.post(URLS.dialed(session, maria), ended))
    gather = {
        "action": URLS.keypad(session, maria),
        "finishOnKey": "",
        "method": "POST",
        "numDigits": "1",
        "timeout": "20",
    }
    assert asked[3][0][:2] == ("Gather", gather)
    assert asked[3][1] == ("Redirect", {"method": "POST"}, URLS.keypad(session, maria), [])

    logged = twiml(twilio.post(URLS.keypad(session, maria), {"Digits": "1"}))
    hashed = twiml(twilio.post(URLS.keypad(session, maria), {"Digits": "#"}))

    assert logged[3][0] == ("Say", {}, "Logged Talked to voter.", [])
    [dave] = [r.id for r in desk.world.rows("SELECT id FROM call_attempt WHERE id <> :m", m=maria)]
    assert hashed == ("Response", {}, "", dial_tree(session, dave, "Dave", DAVE))


def test_recording_on_notifies_both_parties_and_records(world: World) -> None:
    world.campaign([voter("Maria", 1)], recording=True)
    desk = Desk.open(world)
    desk.press("Call", "Maria")
    session, attempt = desk.last_ring()
    for twilio in open_twilio(desk):
        answer = twiml(twilio.post(URLS.answer(session, attempt), answer_params()))
        notice = twiml(twilio.post(URLS.notice(session, attempt), {"CallSid": "CAvoter"}))

    said, _, dial = answer[3]
    assert said[0] == "Say" and "recorded" in said[2]
    assert dial[1]["record"] == "record-from-answer-dual"
    assert dial[3][0][1]["url"] == URLS.notice(session, attempt)
    assert notice == (
        "Response",
        {},
        "",
        [("Say", {}, "This call is recorded for quality and training.", [])],
    )


def test_recording_off_records_nothing(desk: Desk, twilio: Twilio) -> None:
    desk.press("Call", "Maria")
    session, attempt = desk.last_ring()
    answer = ET.fromstring(twilio.post(URLS.answer(session, attempt), answer_params()).content)
    assert answer.find("Record") is None
    assert all("record" not in element.attrib for element in answer.iter())
    assert all("url" not in element.attrib for element in answer.iter("Number"))


def answered_with_later(desk: Desk, later: Later) -> tuple[Twilio, int, int]:
    """Maria's call answered through an app whose work after the request goes to `later`;
    the app, the session and the attempt."""
    services = dataclasses.replace(desk.services, later=later)
    check = TwilioSignatureCheck(TOKEN, BASE)
    twilio = Twilio(create_web_app(services, routes=voice_routes(services, check, URLS)))
    desk.press("Call", "Maria")
    session, attempt = desk.last_ring()
    twilio.post(URLS.answer(session, attempt), answer_params())
    return twilio, session, attempt


def test_with_a_later_queue_status_callbacks_are_answered_first_and_applied_after(
    desk: Desk,
) -> None:
    queued: list[tuple[str, Any]] = []
    twilio, session, attempt = answered_with_later(
        desk, lambda key, w, **_: queued.append((key, w))
    )
    queued.clear()  # the card update the answer asked for

    url = URLS.voter_status(session, attempt)
    response = twilio.post(url, {"CallSid": "CAvoter", "CallStatus": "ringing"})

    assert twiml(response) == ("Response", {}, "", [])
    assert desk.one("SELECT call_status FROM call_attempt").call_status != "ringing"
    assert [key for key, _ in queued] == [f"twilio:voter-leg:{session}:{attempt}"]
    _, apply = queued.pop()
    apply()
    assert desk.one("SELECT call_status FROM call_attempt").call_status == "ringing"
    batch_id = desk.one("SELECT batch_id FROM call_session").batch_id
    assert [key for key, _ in queued] == [f"batch:{batch_id}"]  # the card follows, after that


def test_a_legs_progress_waits_and_its_last_report_is_committed_before_the_200_with_it(
    desk: Desk,
) -> None:
    waiting: dict[str, Any] = {}  # as bot/later.py keeps it: newest work per waiting key

    def later(key: str, work: Any, *, replace: bool = True) -> None:
        if replace or key not in waiting:
            waiting[key] = work

    twilio, session, attempt = answered_with_later(desk, later)
    waiting.clear()  # the card update the answer asked for
    shown = len(desk.notifier.to_volunteers)
    url = URLS.voter_status(session, attempt)

    for status in ("initiated", "ringing", "in-progress", "ringing"):
        params = {"CallSid": "CAvoter", "CallStatus": status, "CallDuration": "12"}
        assert twiml(twilio.post(url, params)) == ("Response", {}, "", [])
    assert desk.one("SELECT call_status FROM call_attempt").call_status == "placing"
    [progress] = waiting.values()  # only a redraw's worth: still in memory
    waiting.clear()

    params = {"CallSid": "CAvoter", "CallStatus": "completed", "CallDuration": "12"}
    assert twiml(twilio.post(url, params)) == ("Response", {}, "", [])

    row = desk.one("SELECT call_sid, call_status, duration_s FROM call_attempt")
    assert tuple(row) == ("CAvoter", "completed", 12)  # the leg's last word, before the 200
    keys = {r.key for r in desk.world.rows("SELECT key FROM processed_event")}
    assert {f"CAvoter:{s}" for s in ("initiated", "ringing", "in-progress", "completed")} <= keys
    progress()  # the queued work finds nothing left to apply
    batch_id = desk.one("SELECT batch_id FROM call_session").batch_id
    assert list(waiting) == [f"batch:{batch_id}"]  # the card follows once, after all of them
    waiting.popitem()[1]()
    assert len(desk.notifier.to_volunteers) == shown + 1


def card_texts_after(desk: Desk, later: LaterWork, *messages: str | None) -> list[str]:
    """The texts of the batch messages shown when the card is updated once (at once), then with
    each of `messages` (None: no message) while the first is still within its second."""
    desk.press("Call", "Maria")
    call = desk.one("SELECT volunteer_id, batch_id FROM call_session")
    services = dataclasses.replace(desk.services, later=later.submit)
    shown = len(desk.notifier.to_volunteers)
    show_batch(services, call.volunteer_id, call.batch_id)
    assert later.wait_idle(10)
    for message in messages:
        show_batch(services, call.volunteer_id, call.batch_id, message, Tone.SUCCESS)
    later.close(10)  # runs what waits for the clock, which never moves here
    return [reply.text for _, reply in desk.notifier.to_volunteers[shown:]]


def test_a_card_message_waiting_is_not_replaced_by_an_update_without_one(desk: Desk) -> None:
    later = LaterWork(threads=1, monotonic=lambda: 0.0)

    texts = card_texts_after(desk, later, "Logged from your keypad: Talked.", None)

    assert len(texts) == 2 and texts[1] == "Logged from your keypad: Talked."


def test_of_two_card_messages_waiting_the_newer_is_shown(desk: Desk) -> None:
    later = LaterWork(threads=1, monotonic=lambda: 0.0)

    texts = card_texts_after(desk, later, None, "First.", None, "Second.", None)

    assert len(texts) == 2 and texts[1] == "Second."
