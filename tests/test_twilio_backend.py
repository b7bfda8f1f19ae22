"""The Twilio backend: the real `twilio` client, pointed by TWILIO_API_URL at the local fake.

What Twilio is asked to do (parameters of call create, redirect, message create), how its errors
become `TelephonyFailure`s without quoting a phone number, outages, and which backend the
settings pick. The pacer is a `CallPacer` on recorded time: nothing sleeps.
"""

from __future__ import annotations

import logging
import socket
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
from twilio.base.exceptions import TwilioServiceException

from bot.settings import Settings, load_settings
from bot.telephony import SimulatedTelephony, TwilioTelephony, telephony_for
from bot.telephony.pacing import CallPacer
from bot.telephony.twilio_backend import RebasedHttpClient, telephony_error
from handlers.context import CallRequest, TelephonyError, TelephonyFailure
from storage.clock import FrozenClock
from tests.fakes.chat_payloads import written_forms
from tests.fakes.time import FakeTime
from tests.fakes.twilio_api import (
    ACCOUNT_SID,
    CALLER_ID,
    CALLS_CREATE,
    CALLS_UPDATE,
    MESSAGES_CREATE,
    FakeTwilioAPI,
    closed_origin,
)

PUBLIC = "https://bank.example.org"
VOLUNTEER = "+15125551234"
VOTER = "+12025550143"
SIP_VOLUNTEER = "sip:maria@volunteers.sip.twilio.com"


def settings_for(fake: FakeTwilioAPI, **overrides: object) -> Settings:
    return load_settings(**fake.settings(public_base_url=PUBLIC, **overrides))


def backend(fake: FakeTwilioAPI, fake_time: FakeTime, **overrides: object) -> TwilioTelephony:
    """The backend with SIP allowed on the volunteers' domain, every destination proven (the
    tests of the proof itself give their own)."""
    pacer = CallPacer(1.0, monotonic=fake_time.monotonic, sleep=fake_time.sleep)
    overrides = {"phonebank_sip_domains": "volunteers.sip.twilio.com"} | overrides
    telephony = TwilioTelephony.from_settings(settings_for(fake, **overrides), pacer=pacer)
    telephony.prove_with(lambda target: None)
    return telephony


def call_request(
    attempt_id: int = 7, session_id: int | None = 3, volunteer: str = VOLUNTEER
) -> CallRequest:
    return CallRequest(
        attempt_id=attempt_id,
        volunteer_phone=volunteer,
        voter_phone=VOTER,
        caller_id=CALLER_ID,
        whisper="Connecting you to Maria",
        session_id=session_id,
    )


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- calls ------------------------------------------------------------------------------------


def test_placing_a_call_rings_the_volunteer_with_the_session_webhooks(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    handle = backend(fake_twilio, fake_time).place_call(call_request(attempt_id=7, session_id=3))

    [created] = fake_twilio.calls_created()
    assert created.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    assert created.params == {
        "To": VOLUNTEER,
        "From": CALLER_ID,
        "Url": f"{PUBLIC}/twilio/voice/answer?session=3&attempt=7",
        "Method": "POST",
        "StatusCallback": f"{PUBLIC}/twilio/voice/status?session=3",
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "StatusCallbackMethod": "POST",
    }
    assert query_of(created.params["Url"]) == {"session": ["3"], "attempt": ["7"]}
    assert handle.call_sid == created.sid
    assert handle.call_sid.startswith("CA") and len(handle.call_sid) == 34
    assert handle.status == "queued"
    assert handle.volunteer_leg is True


def test_the_voter_number_is_never_sent_when_the_volunteer_is_rung(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    backend(fake_twilio, fake_time).place_call(call_request())

    [created] = fake_twilio.calls_created()
    sent = " ".join(str(value) for value in created.params.values())
    assert not any(form in sent for form in written_forms(VOTER))


def test_a_sip_volunteer_is_dialed_at_the_sip_address(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    backend(fake_twilio, fake_time).place_call(call_request(volunteer=SIP_VOLUNTEER))

    [created] = fake_twilio.calls_created()
    assert created.params["To"] == SIP_VOLUNTEER
    assert created.params["From"] == CALLER_ID


def test_a_call_without_a_session_is_refused_before_twilio_is_asked(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    telephony = backend(fake_twilio, fake_time)

    with pytest.raises(ValueError, match="session"):
        telephony.place_call(call_request(session_id=None))
    with pytest.raises(ValueError, match="session"):
        telephony.continue_session("CA" + "1" * 32, call_request(session_id=None))
    assert fake_twilio.requests() == []


def test_calls_are_paced_and_the_first_does_not_wait(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    telephony = backend(fake_twilio, fake_time)

    for attempt in (1, 2, 3):
        telephony.place_call(call_request(attempt_id=attempt))

    assert len(fake_twilio.calls_created()) == 3
    assert fake_time.slept == [1.0, 1.0]


def test_continuing_a_session_redirects_the_live_call_without_pacing(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    telephony = backend(fake_twilio, fake_time)
    first = telephony.place_call(call_request(attempt_id=7, session_id=3))

    handles = [
        telephony.continue_session(first.call_sid, call_request(attempt_id=a, session_id=3))
        for a in (8, 9)
    ]

    updates = fake_twilio.calls_updated(first.call_sid)
    assert [u.path for u in updates] == [
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{first.call_sid}.json"
    ] * 2
    assert [u.params for u in updates] == [
        {"Url": f"{PUBLIC}/twilio/voice/next?session=3&attempt=8", "Method": "POST"},
        {"Url": f"{PUBLIC}/twilio/voice/next?session=3&attempt=9", "Method": "POST"},
    ]
    assert {(h.call_sid, h.status, h.volunteer_leg) for h in handles} == {
        (first.call_sid, "in-progress", True)
    }
    assert len(fake_twilio.calls_created()) == 1
    assert fake_time.slept == []


def test_redirecting_a_call_that_ended_is_an_error_not_a_new_call(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    telephony = backend(fake_twilio, fake_time)
    first = telephony.place_call(call_request())
    fake_twilio.set_call_status(first.call_sid, "completed")

    with pytest.raises(TelephonyError) as raised:
        telephony.continue_session(first.call_sid, call_request(attempt_id=8))

    assert raised.value.failure is TelephonyFailure.OTHER
    assert raised.value.code == 21220
    assert len(fake_twilio.calls_created()) == 1


def test_a_voicemail_drop_plays_the_recording_on_the_voters_leg_and_hangs_it_up(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    telephony = backend(fake_twilio, fake_time)
    voter_leg = telephony.place_call(call_request()).call_sid  # any live call the fake knows

    telephony.drop_voicemail(voter_leg, "https://example.org/vm.mp3")

    [update] = fake_twilio.calls_updated(voter_leg)
    twiml = ET.fromstring(update.params["Twiml"])
    assert [(verb.tag, (verb.text or "").strip()) for verb in twiml] == [
        ("Play", "https://example.org/vm.mp3"),
        ("Hangup", ""),
    ]
    assert set(update.params) == {"Twiml"}


# --- texts ------------------------------------------------------------------------------------


def test_a_text_goes_from_the_caller_id_with_a_status_callback(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    message_id = backend(fake_twilio, fake_time).send_sms(VOLUNTEER, "Your code is 123456")

    [sent] = fake_twilio.messages_created()
    assert sent.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert sent.params == {
        "To": VOLUNTEER,
        "From": CALLER_ID,
        "Body": "Your code is 123456",
        "StatusCallback": f"{PUBLIC}/twilio/sms/status",
    }
    assert message_id == sent.sid
    assert message_id.startswith("SM") and len(message_id) == 34
    assert fake_time.slept == []


def test_texts_are_not_held_back_by_the_call_pacer(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    telephony = backend(fake_twilio, fake_time)
    telephony.place_call(call_request())

    for n in range(3):
        telephony.send_sms(VOLUNTEER, f"Reminder {n}")

    assert len(fake_twilio.messages_created()) == 3
    assert fake_time.slept == []


# --- errors -----------------------------------------------------------------------------------

ERROR_CODES = [
    (400, 21211, TelephonyFailure.INVALID_NUMBER),
    (400, 21610, TelephonyFailure.UNSUBSCRIBED),
    (400, 21614, TelephonyFailure.CANNOT_RECEIVE_SMS),
    (400, 21635, TelephonyFailure.CANNOT_RECEIVE_SMS),
    (400, 13214, TelephonyFailure.CALLER_ID),
    (400, 21210, TelephonyFailure.CALLER_ID),
    (400, 21216, TelephonyFailure.BLOCKED),
    (429, 20429, TelephonyFailure.RATE_LIMITED),
    (429, None, TelephonyFailure.RATE_LIMITED),
    (503, 20503, TelephonyFailure.OUTAGE),
    (500, None, TelephonyFailure.OUTAGE),
    (400, 21201, TelephonyFailure.OTHER),
    (404, 20404, TelephonyFailure.OTHER),
]


@pytest.mark.parametrize(("status", "code", "failure"), ERROR_CODES)
def test_twilio_errors_on_a_call_become_telephony_failures(
    fake_twilio: FakeTwilioAPI,
    fake_time: FakeTime,
    status: int,
    code: int | None,
    failure: TelephonyFailure,
) -> None:
    fake_twilio.fail_next(CALLS_CREATE, status=status, code=code, message="Twilio says no")

    with pytest.raises(TelephonyError) as raised:
        backend(fake_twilio, fake_time).place_call(call_request())

    assert raised.value.failure is failure
    assert raised.value.code == code
    assert str(raised.value)  # a message of our own for the chat reply
    assert "Twilio says no" not in str(raised.value)


@pytest.mark.parametrize(("status", "code", "failure"), ERROR_CODES)
def test_twilio_errors_on_a_text_become_telephony_failures(
    fake_twilio: FakeTwilioAPI,
    fake_time: FakeTime,
    status: int,
    code: int | None,
    failure: TelephonyFailure,
) -> None:
    fake_twilio.fail_next(MESSAGES_CREATE, status=status, code=code, message="Twilio says no")

    with pytest.raises(TelephonyError) as raised:
        backend(fake_twilio, fake_time).send_sms(VOLUNTEER, "Shift at 6")

    assert raised.value.failure is failure
    assert fake_twilio.messages_created() == []


def test_an_error_on_a_redirect_becomes_a_telephony_failure(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    telephony = backend(fake_twilio, fake_time)
    first = telephony.place_call(call_request())
    fake_twilio.fail_next(CALLS_UPDATE, status=429, code=20429, message="Too Many Requests")

    with pytest.raises(TelephonyError) as raised:
        telephony.continue_session(first.call_sid, call_request(attempt_id=8))

    assert raised.value.failure is TelephonyFailure.RATE_LIMITED
    assert fake_twilio.calls_updated() == []


def test_an_invalid_number_error_quotes_no_phone_number_in_message_or_log(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    fake_twilio.fail_next(
        MESSAGES_CREATE,
        status=400,
        code=21211,
        message=f"The 'To' number {VOTER} is not a valid phone number.",
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(TelephonyError) as raised:
        backend(fake_twilio, fake_time).send_sms(VOTER, "hello")

    assert raised.value.failure is TelephonyFailure.INVALID_NUMBER
    said = " ".join([str(raised.value), *(r.getMessage() for r in caplog.records)])
    assert not any(form in said for form in written_forms(VOTER))
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_errors_are_not_retried(fake_twilio: FakeTwilioAPI, fake_time: FakeTime) -> None:
    fake_twilio.outage(CALLS_CREATE, times=5)

    with pytest.raises(TelephonyError):
        backend(fake_twilio, fake_time).place_call(call_request())

    assert len(fake_twilio.requests(CALLS_CREATE)) == 1


def test_a_twilio_outage_is_an_outage(fake_twilio: FakeTwilioAPI, fake_time: FakeTime) -> None:
    fake_twilio.outage(CALLS_CREATE)
    telephony = backend(fake_twilio, fake_time)

    with pytest.raises(TelephonyError) as raised:
        telephony.place_call(call_request())

    assert raised.value.failure is TelephonyFailure.OUTAGE
    assert telephony.place_call(call_request()).call_sid  # the next try goes through


def test_an_unreachable_twilio_is_an_outage(fake_time: FakeTime) -> None:
    with FakeTwilioAPI() as fake:
        telephony = backend(fake, fake_time, twilio_api_url=closed_origin())

        for attempt in (
            lambda: telephony.place_call(call_request()),
            lambda: telephony.continue_session("CA" + "1" * 32, call_request()),
            lambda: telephony.send_sms(VOLUNTEER, "hello"),
        ):
            with pytest.raises(TelephonyError) as raised:
                attempt()
            assert raised.value.failure is TelephonyFailure.OUTAGE
            assert raised.value.code is None
        assert fake.requests() == []


def test_a_twilio_that_never_answers_times_out_as_an_outage(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    """A server that accepts the connection and says nothing: the request timeout ends it."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        host, port = silent.getsockname()[:2]
        telephony = TwilioTelephony(
            account_sid=ACCOUNT_SID,
            auth_token=fake_twilio.auth_token,
            caller_id=CALLER_ID,
            api_url=f"http://{host}:{port}",
            public_base_url=PUBLIC,
            pacer=CallPacer(1.0, monotonic=fake_time.monotonic, sleep=fake_time.sleep),
            timeout=0.05,
            proof=lambda target: None,
        )

        with pytest.raises(TelephonyError) as raised:
            telephony.place_call(call_request())

    assert raised.value.failure is TelephonyFailure.OUTAGE


def test_a_problem_details_error_is_mapped_by_its_code_too() -> None:
    """Newer Twilio APIs answer RFC 9457 problem details; the client raises another class."""
    problem = TwilioServiceException(
        type_uri="https://www.twilio.com/docs/errors/21610",
        title="Unsubscribed recipient",
        status=400,
        code=21610,
        detail=f"{VOTER} replied STOP",
    )

    error = telephony_error(problem)

    assert error.failure is TelephonyFailure.UNSUBSCRIBED
    assert error.code == 21610
    assert VOTER not in str(error)


def test_wrong_credentials_are_a_telephony_error_that_names_the_settings(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    """Twilio answers 401 with code 20003: OTHER (not retryable), code kept for the caller."""
    telephony = backend(fake_twilio, fake_time, twilio_auth_token="not-the-token")

    with pytest.raises(TelephonyError) as raised:
        telephony.place_call(call_request())

    assert raised.value.failure is TelephonyFailure.OTHER
    assert raised.value.code == 20003
    assert "TWILIO_AUTH_TOKEN" in str(raised.value)
    assert "not-the-token" not in str(raised.value)
    [refused] = fake_twilio.requests()
    assert refused.status == 401
    assert fake_twilio.calls_created() == []


def test_the_fake_answers_wrong_credentials_as_twilio_does(fake_twilio: FakeTwilioAPI) -> None:
    status, payload = fake_twilio.answer(
        "POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json", {}, (ACCOUNT_SID, "wrong")
    )

    assert status == 401
    assert payload == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


# --- settings ---------------------------------------------------------------------------------


def test_requests_go_to_twilio_api_url_and_never_to_twilio(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime
) -> None:
    telephony = backend(fake_twilio, fake_time)
    client = telephony.client.http_client
    assert isinstance(client, RebasedHttpClient)

    telephony.place_call(call_request())
    telephony.send_sms(VOLUNTEER, "hello")

    assert client._test_only_last_request is not None
    assert client._test_only_last_request.url.startswith(fake_twilio.base_url + "/2010-04-01/")
    assert [r.username for r in fake_twilio.requests()] == [ACCOUNT_SID, ACCOUNT_SID]


@pytest.mark.parametrize(
    ("api_url", "url", "expected"),
    [
        (
            "http://127.0.0.1:9/",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json",
            "http://127.0.0.1:9/2010-04-01/Accounts/AC1/Calls.json",
        ),
        (
            "https://proxy.example.org/twilio",
            "https://api.dublin.ie1.twilio.com/2010-04-01/Calls.json?PageSize=1",
            "https://proxy.example.org/twilio/2010-04-01/Calls.json?PageSize=1",
        ),
        (
            "https://api.twilio.com",
            "https://api.dublin.ie1.twilio.com/2010-04-01/Calls.json",
            "https://api.dublin.ie1.twilio.com/2010-04-01/Calls.json",
        ),
        (
            "http://127.0.0.1:9",
            "https://example.org/elsewhere",
            "https://example.org/elsewhere",
        ),
        (
            "http://127.0.0.1:9",
            "https://nottwilio.com/2010-04-01/Calls.json",
            "https://nottwilio.com/2010-04-01/Calls.json",
        ),
    ],
)
def test_twilio_urls_are_rebased_on_the_api_url(api_url: str, url: str, expected: str) -> None:
    assert RebasedHttpClient(api_url).rebase(url) == expected


def test_the_client_has_a_request_timeout(fake_twilio: FakeTwilioAPI, fake_time: FakeTime) -> None:
    timeout = backend(fake_twilio, fake_time).client.http_client.timeout

    assert timeout is not None and 0 < timeout <= 30


def test_telephony_for_picks_twilio_when_its_three_settings_are_set(
    fake_twilio: FakeTwilioAPI, clock: FrozenClock
) -> None:
    telephony = telephony_for(settings_for(fake_twilio), clock)

    assert isinstance(telephony, TwilioTelephony)
    assert telephony.caller_id == CALLER_ID


@pytest.mark.parametrize("missing", ["twilio_account_sid", "twilio_auth_token", "twilio_caller_id"])
def test_telephony_for_simulates_when_a_twilio_setting_is_missing(
    fake_twilio: FakeTwilioAPI, clock: FrozenClock, missing: str
) -> None:
    settings = settings_for(fake_twilio, **{missing: None})

    assert isinstance(telephony_for(settings, clock), SimulatedTelephony)
    with pytest.raises(ValueError, match="TWILIO_"):
        TwilioTelephony.from_settings(settings)


def test_backends_of_one_process_share_one_call_pacer(
    fake_twilio: FakeTwilioAPI, clock: FrozenClock
) -> None:
    first = telephony_for(settings_for(fake_twilio), clock)
    second = telephony_for(settings_for(fake_twilio), clock)

    assert isinstance(first, TwilioTelephony) and isinstance(second, TwilioTelephony)
    assert first.pacer is second.pacer
    assert first.pacer.interval == 1.0


def test_the_pacer_follows_twilio_calls_per_second(
    fake_twilio: FakeTwilioAPI, clock: FrozenClock
) -> None:
    telephony = telephony_for(settings_for(fake_twilio, twilio_calls_per_second=4), clock)

    assert isinstance(telephony, TwilioTelephony)
    assert telephony.pacer.interval == 0.25


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # GSM-7 extension characters take two septets
        ("{" * 81, 2),
        ("ü" * 160, 1),  # in the GSM-7 basic set
        ("ł" * 70, 1),  # not GSM-7: UCS-2
        ("ł" * 71, 2),
        ("🙂" * 35, 1),  # a surrogate pair is two UCS-2 units
        ("🙂" * 36, 2),
    ],
)
def test_the_fake_counts_segments_as_twilio_does(
    fake_twilio: FakeTwilioAPI, fake_time: FakeTime, body: str, expected: int
) -> None:
    message_id = backend(fake_twilio, fake_time).send_sms(VOLUNTEER, body)

    assert fake_twilio.resources[message_id]["num_segments"] == str(expected)
