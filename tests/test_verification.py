"""Verifying a phone by text on signup: a 6-digit code (only its hash stored) that lives 10
minutes and 5 wrong tries, a resend at most once a minute, the code texted whatever was said
about reminders (calls ring only a proven phone); and the SIP address on the signup form (both
databases)."""

from __future__ import annotations

import dataclasses
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from bot.settings import load_settings
from bot.telephony.twilio_backend import TwilioTelephony
from handlers.context import Context, Platform, Services, TelephonyFailure
from handlers.identity import context_for
from handlers.replies import Reply, Tone
from handlers.router import handle_command, handle_form
from handlers.send_limits import Asker
from handlers.signup import valid_sip_address, validate
from handlers.sms import IncomingText, receive_text
from handlers.texting import TextStatus, text_volunteer
from handlers.verification import Sending, send_code
from matching.phones import PhonePolicy
from storage.clock import FrozenClock
from storage.db import read_session
from storage.models import SmsVerification, Volunteer
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.scenarios.world import make_services, reply_text
from tests.sms_support import RefusingTelephony, sms_services

ANA = {"name": "Ana Lopez", "phone": "(512) 555-0142", "languages": ["en"]}
AGREED = ANA | {"sms_consent": "yes"}


def sign_up(services: Services, answers: dict[str, Any], user: str = "U1") -> tuple[Context, Reply]:
    """Submit the signup form as a Slack user; their Context afterwards, and the reply."""
    first = context_for(services, Platform.SLACK, "T1", user, display_name=user)
    reply = handle_form(first, "pb:signup:submit", "", answers)
    return context_for(services, Platform.SLACK, "T1", user), reply


def codes_texted(telephony: RefusingTelephony) -> list[str]:
    return [re.findall(r"\b\d{6}\b", message.body)[0] for message in telephony.messages]


def ana_row(engine: Engine) -> Volunteer:
    with read_session(engine) as session:
        return session.exec(select(Volunteer)).one()


def verifications(engine: Engine) -> list[SmsVerification]:
    with read_session(engine) as session:
        query = select(SmsVerification).order_by(col(SmsVerification.id))
        return list(session.exec(query).all())


def test_signing_up_with_consent_texts_a_code_that_verifies_the_phone(
    engine: Engine, clock: FrozenClock
) -> None:
    services, telephony = sms_services(engine, clock)

    ana, welcome = sign_up(services, AGREED)

    [code] = codes_texted(telephony)
    assert telephony.messages[0].to == "+15125550142"
    note = reply_text(welcome)
    assert "texted you a 6-digit code" in note and "/phonebank verify CODE" in note
    [row] = verifications(engine)
    assert code not in row.code_hash and row.expires_at == clock.now() + timedelta(minutes=10)
    assert ana_row(engine).phone_verified_at is None

    clock.advance(timedelta(minutes=9))
    verified = handle_command(ana, f"verify {code}")

    assert verified.tone is Tone.SUCCESS and "verified" in verified.text
    assert ana_row(engine).phone_verified_at == clock.now()
    assert context_for(services, Platform.SLACK, "T1", "U1").volunteer_id == ana_row(engine).id
    assert "already verified" in handle_command(ana, f"verify {code}").text


def test_five_wrong_tries_kill_the_code(engine: Engine, clock: FrozenClock) -> None:
    services, telephony = sms_services(engine, clock)
    ana, _ = sign_up(services, AGREED)
    [code] = codes_texted(telephony)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    answers = [handle_command(ana, f"verify {wrong}").text for _ in range(5)]

    assert "4 tries left" in answers[0] and "1 try left" in answers[3]
    assert "last try" in answers[4]
    dead = handle_command(ana, f"verify {code}")
    assert dead.tone is Tone.WARNING and "Too many wrong tries" in dead.text
    assert ana_row(engine).phone_verified_at is None
    assert verifications(engine)[0].attempts == 5


def test_an_expired_code_is_refused(engine: Engine, clock: FrozenClock) -> None:
    services, telephony = sms_services(engine, clock)
    ana, _ = sign_up(services, AGREED)
    [code] = codes_texted(telephony)

    clock.advance(timedelta(minutes=10))
    expired = handle_command(ana, f"verify {code}")

    assert "expired" in expired.text and "verify resend" in expired.text
    assert ana_row(engine).phone_verified_at is None


def test_resend_is_limited_to_once_a_minute_and_kills_the_old_code(
    engine: Engine, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = iter([111111, 222222])
    monkeypatch.setattr("handlers.verification.secrets.randbelow", lambda _: next(drawn))
    services, telephony = sms_services(engine, clock)
    ana, _ = sign_up(services, AGREED)

    clock.advance(timedelta(seconds=20))
    too_soon = handle_command(ana, "verify resend")
    clock.advance(timedelta(seconds=40))
    again = handle_command(ana, "verify RESEND")

    assert too_soon.tone is Tone.WARNING and "in 40 s" in too_soon.text
    assert again.tone is Tone.SUCCESS
    assert codes_texted(telephony) == ["111111", "222222"]
    assert "not right" in handle_command(ana, "verify 111111").text  # only the newest counts
    assert "verified" in handle_command(ana, "verify 222222").text
    assert len(verifications(engine)) == 2


def test_without_consent_to_reminders_the_code_is_still_texted_but_nothing_else(
    engine: Engine, clock: FrozenClock
) -> None:
    services, telephony = sms_services(engine, clock)

    ana, welcome = sign_up(services, ANA)
    [code] = codes_texted(telephony)
    assert "texted you a 6-digit code" in reply_text(welcome)
    assert "verified" in handle_command(ana, f"verify {code}").text

    reminder = text_volunteer(services, ana_row(engine).id or 0, "Shift at 6", purpose="reminder")
    assert reminder.status is TextStatus.NO_CONSENT and len(telephony.messages) == 1


def test_changing_the_phone_unverifies_it_and_texts_the_new_one(
    engine: Engine, clock: FrozenClock
) -> None:
    services, telephony = sms_services(engine, clock)
    ana, _ = sign_up(services, AGREED)
    handle_command(ana, f"verify {codes_texted(telephony)[0]}")
    assert ana_row(engine).phone_verified_at is not None

    clock.advance(timedelta(minutes=2))
    _, edited = sign_up(services, AGREED | {"phone": "512 555 0199"})

    assert ana_row(engine).phone_verified_at is None
    assert [m.to for m in telephony.messages] == ["+15125550142", "+15125550199"]
    assert "texted you a 6-digit code" in reply_text(edited)
    assert "verified" in handle_command(ana, f"verify {codes_texted(telephony)[1]}").text


def test_editing_the_name_sends_no_new_code(engine: Engine, clock: FrozenClock) -> None:
    services, telephony = sms_services(engine, clock)
    sign_up(services, AGREED)
    clock.advance(timedelta(minutes=3))

    _, edited = sign_up(services, AGREED | {"name": "Ana L."})

    assert len(telephony.messages) == 1
    assert "/phonebank verify CODE" in reply_text(edited)


def test_a_code_for_the_old_phone_does_not_verify_the_new_one(
    engine: Engine, clock: FrozenClock
) -> None:
    services, telephony = sms_services(engine, clock)
    ana, _ = sign_up(services, AGREED)
    [code] = codes_texted(telephony)
    clock.advance(timedelta(minutes=2))
    sign_up(services, AGREED | {"phone": "512 555 0199"})

    refused = handle_command(ana, f"verify {code}")

    assert "not right" in refused.text  # only the newest code, the new phone's, counts
    assert ana_row(engine).phone_verified_at is None
    assert ana_row(engine).phone == "+15125550199"


def test_a_verified_old_phone_does_not_make_the_new_one_verified(
    engine: Engine, clock: FrozenClock
) -> None:
    services, telephony = sms_services(engine, clock)
    ana, _ = sign_up(services, AGREED)
    [code] = codes_texted(telephony)
    handle_command(ana, f"verify {code}")
    clock.advance(timedelta(minutes=2))
    _, edited = sign_up(services, AGREED | {"phone": "512 555 0199"})

    assert "Phone verified: not yet" in reply_text(edited)
    assert "already verified" not in handle_command(ana, f"verify {code}").text
    assert ana_row(engine).phone_verified_at is None


def test_a_phone_that_cannot_take_texts_gets_no_code_and_no_waiting(
    engine: Engine, clock: FrozenClock
) -> None:
    services, telephony = sms_services(engine, clock)
    telephony.fail_with(TelephonyFailure.CANNOT_RECEIVE_SMS, 21635)

    ana, welcome = sign_up(services, AGREED)

    assert "could not text you a code" in reply_text(welcome)
    assert verifications(engine) == [] and ana_row(engine).sms_undeliverable == "landline"
    assert "cannot receive texts (landline)" in handle_command(ana, "verify resend").text


def test_a_phone_that_texted_stop_gets_no_code_and_is_told_how_to_undo_it(
    engine: Engine, clock: FrozenClock
) -> None:
    services, telephony = sms_services(engine, clock)
    receive_text(services, IncomingText("SMstop", "+15125550142", "STOP"))

    _, welcome = sign_up(services, AGREED)

    assert "you replied STOP to our texts; text START" in reply_text(welcome)
    assert telephony.tried == [] and verifications(engine) == []


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("verify", "Type the 6-digit code"),
        ("verify 12ab56", "6 digits"),
        ("verify 1234567", "6 digits"),
        ("verify ١٢٣٤٥٦", "6 digits"),  # digits, but not the ones we send
        ("verify 1 2", "Type"),
    ],
)
def test_a_malformed_verify_is_explained(
    engine: Engine, clock: FrozenClock, typed: str, message: str
) -> None:
    services, _ = sms_services(engine, clock)
    ana, _ = sign_up(services, AGREED)
    assert message in handle_command(ana, typed).text


def test_verify_before_signing_up_says_to_sign_up(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    stranger = context_for(services, Platform.SLACK, "T1", "U9")
    assert "Sign up first" in handle_command(stranger, "verify 123456").text


def test_the_code_goes_through_the_real_twilio_client(
    engine: Engine, clock: FrozenClock, fake_twilio: FakeTwilioAPI
) -> None:
    settings = load_settings(**fake_twilio.settings(public_base_url="https://bank.example.org"))
    services = make_services(engine, clock, telephony=TwilioTelephony.from_settings(settings))

    ana, welcome = sign_up(services, AGREED)

    [sent] = fake_twilio.messages_created()
    assert sent.params["To"] == "+15125550142"
    assert sent.params["StatusCallback"] == "https://bank.example.org/twilio/sms/status"
    code = re.findall(r"\b\d{6}\b", sent.params["Body"])[0]
    assert "texted you" in reply_text(welcome)
    assert "verified" in handle_command(ana, f"verify {code}").text


# --- the SIP address ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("sip:maria@example.sip.twilio.com", "sip:maria@example.sip.twilio.com"),
        (" SIP:Maria@Example.SIP.twilio.com ", "sip:Maria@example.sip.twilio.com"),
        ("sip:ana.l+calls@pbx.example.org:5061", "sip:ana.l+calls@pbx.example.org:5061"),
        ("sip:ana@pbx.example.org;transport=TLS", "sip:ana@pbx.example.org;transport=tls"),
    ],
)
def test_a_sip_address_is_accepted_and_normalized(typed: str, stored: str) -> None:
    assert valid_sip_address(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "maria@example.sip.twilio.com",  # no scheme
        "sips:maria@example.org",
        "sip:@example.org",
        "sip:maria",
        "sip:maria@localhost",
        "sip:maria@exa mple.org",
        "sip:maria@example.org:99999",
        "sip:maria@example.org;transport=carrier-pigeon",
        "tel:+15125550142",
    ],
)
def test_a_bad_sip_address_is_named_on_the_form(typed: str) -> None:
    profile, errors = validate(ANA | {"sip_address": typed}, "US")
    assert profile is None and "sip:maria@example.sip.twilio.com" in errors["sip_address"]


def test_a_sip_address_is_saved_shown_and_cleared(engine: Engine, clock: FrozenClock) -> None:
    policy = PhonePolicy(sip_domains=frozenset({"bank.sip.twilio.com"}))
    services = dataclasses.replace(make_services(engine, clock), phone_policy=policy)

    _, saved = sign_up(services, ANA | {"sip_address": "sip:ana@bank.sip.twilio.com"})

    assert ana_row(engine).sip_address == "sip:ana@bank.sip.twilio.com"
    facts = {fact.label: fact.value for fact in saved.sections[0].facts}
    assert facts["Calls ring"] == "sip:ana@bank.sip.twilio.com" and facts["Phone"] == "+15125550142"

    sign_up(services, ANA | {"sip_address": ""})
    assert ana_row(engine).sip_address is None


def test_the_phone_stays_required_with_a_sip_address() -> None:
    profile, errors = validate(ANA | {"phone": "", "sip_address": "sip:ana@example.org"}, "US")
    assert profile is None and "phone" in errors


def test_codes_asked_for_at_the_same_moment_text_only_one(
    engine: Engine, clock: FrozenClock
) -> None:
    services, telephony = sms_services(engine, clock)
    ana, _ = sign_up(services, ANA)  # one code on signup
    volunteer_id = int(ana.volunteer_id or 0)
    clock.advance(timedelta(minutes=2))
    start = threading.Barrier(6)

    def ask() -> Sending:
        start.wait()
        return send_code(services, volunteer_id, Asker.of(ana)).outcome

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda _: ask(), range(6)))

    assert sorted(outcomes) == sorted([Sending.SENT] + [Sending.TOO_SOON] * 5)
    assert len(codes_texted(telephony)) == 2
    assert len(verifications(engine)) == 2
