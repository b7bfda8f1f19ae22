"""The `Telephony` port over Twilio's REST API, with the real `twilio` client.

A session rings the volunteer once (`place_call`, paced: Twilio counts it against the account's
calls per second); the answer webhook then dials the voter from inside that call, and each next
voter is a redirect of the live call (`continue_session`, not paced: dials from inside a call do
not count). Texts go out through the same client.

Twilio's errors become `TelephonyError`s with a `TelephonyFailure` the core acts on and a message
of our own words: Twilio's messages often quote the phone number, which must never reach chat or
logs. Nothing is retried here; the caller decides.

Defense in depth against toll fraud: whatever the conversation checked, `place_call` rings only
a destination the campaign allows (`PhonePolicy`: its countries, ordinary lines, allowed SIP
domains) that a volunteer proved (`prove_with`: the composition root hands in the check on the
database; without one nothing rings), and `send_sms` texts only allowed phones.

The library has no base-URL setting, so `TWILIO_API_URL` is honoured by an HTTP client that
rewrites Twilio's origin (tests point it at a local fake; a proxy works the same way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import (
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from bot.settings import Settings
from bot.telephony.pacing import CallPacer, process_pacer
from bot.telephony.urls import WebhookUrls
from handlers.context import CallHandle, CallRequest, TelephonyError, TelephonyFailure
from matching.phones import PhonePolicy

log = logging.getLogger(__name__)

TWILIO_ORIGIN = "https://api.twilio.com"
REQUEST_TIMEOUT_SECONDS = 10.0  # connect and read; a chat click is waiting on it
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]

_FAILURE_BY_CODE = {
    21211: TelephonyFailure.INVALID_NUMBER,
    21610: TelephonyFailure.UNSUBSCRIBED,
    21614: TelephonyFailure.CANNOT_RECEIVE_SMS,
    21635: TelephonyFailure.CANNOT_RECEIVE_SMS,
    13214: TelephonyFailure.CALLER_ID,
    21210: TelephonyFailure.CALLER_ID,
    21216: TelephonyFailure.BLOCKED,
    20429: TelephonyFailure.RATE_LIMITED,
}
_MESSAGES = {
    TelephonyFailure.INVALID_NUMBER: "Twilio says the number cannot be called or texted.",
    TelephonyFailure.UNSUBSCRIBED: "The recipient opted out of texts from this number (STOP).",
    TelephonyFailure.CANNOT_RECEIVE_SMS: "The number cannot receive texts (not a mobile phone).",
    TelephonyFailure.CALLER_ID: (
        "The campaign's caller id is not a number this Twilio account owns or has verified."
    ),
    TelephonyFailure.BLOCKED: "Twilio blocks calls and texts to this destination.",
    TelephonyFailure.RATE_LIMITED: "Twilio is limiting our request rate; try again shortly.",
    TelephonyFailure.OUTAGE: "Twilio could not be reached; try again in a moment.",
}
AUTHENTICATION_FAILED = 20003
UNPROVEN = "Phonebank does not ring or text that destination: it is not a proven volunteer's."
# Why a destination must not be rung (a clause), or None: handlers.verification.ring_refusal.
RingProof = Callable[[str], str | None]


class RebasedHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, sending every request to `api_url` instead of Twilio's host."""

    def __init__(self, api_url: str, *, timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout)
        self.api_url = api_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, self.rebase(url), *args, **kwargs)

    def rebase(self, url: str) -> str:
        """`https://api.twilio.com/2010-04-01/...` -> `{api_url}/2010-04-01/...`. With the
        default API URL nothing changes, so Twilio's regional hosts keep working."""
        if self.api_url == TWILIO_ORIGIN:
            return url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.api_url}{parts.path}{query}"


class TwilioTelephony:
    """Implements the `Telephony` port with one `twilio.rest.Client`, made once and reused."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        caller_id: str,
        api_url: str,
        public_base_url: str,
        pacer: CallPacer,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        policy: PhonePolicy | None = None,
        proof: RingProof | None = None,
    ) -> None:
        self.caller_id = caller_id
        self.policy = policy or PhonePolicy()
        self.proof = proof
        self.urls = WebhookUrls(public_base_url)
        self.pacer = pacer
        self.client = Client(
            account_sid, auth_token, http_client=RebasedHttpClient(api_url, timeout=timeout)
        )

    @classmethod
    def from_settings(cls, settings: Settings, pacer: CallPacer | None = None) -> TwilioTelephony:
        """The backend `settings` describe; the pacer defaults to the process's shared one."""
        if not settings.twilio_enabled:
            raise ValueError("Twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_CALLER_ID")
        assert settings.twilio_account_sid and settings.twilio_auth_token
        assert settings.twilio_caller_id
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            caller_id=settings.twilio_caller_id,
            api_url=settings.twilio_api_url,
            public_base_url=settings.public_base_url,
            pacer=pacer or process_pacer(settings.twilio_calls_per_second),
            policy=settings.phone_policy,
        )

    def prove_with(self, proof: RingProof) -> None:
        """Ring only destinations `proof` finds no fault with (on top of the policy)."""
        self.proof = proof

    def place_call(self, request: CallRequest) -> CallHandle:
        """Ring the volunteer (phone or `sip:` address) from the caller id; when they answer,
        Twilio fetches the answer webhook, which dials the voter. Paced."""
        session = _session_of(request)
        self._refuse_unproven(request.volunteer_phone, request.attempt_id)
        self.pacer.wait_turn()
        with _mapped_errors("place a call"):
            call = self.client.calls.create(
                to=request.volunteer_phone,
                from_=request.caller_id,
                url=self.urls.answer(session, request.attempt_id),
                method="POST",
                status_callback=self.urls.session_status(session),
                status_callback_event=CALL_EVENTS,
                status_callback_method="POST",
            )
        return CallHandle(call_sid=call.sid, status=call.status or "queued", volunteer_leg=True)

    def continue_session(self, session_call_sid: str, request: CallRequest) -> CallHandle:
        """Redirect the volunteer's live call to the next-voter webhook. Not paced."""
        session = _session_of(request)
        with _mapped_errors("continue a session"):
            self.client.calls(session_call_sid).update(
                url=self.urls.next(session, request.attempt_id), method="POST"
            )
        return CallHandle(call_sid=session_call_sid, status="in-progress", volunteer_leg=True)

    def drop_voicemail(self, voter_call_sid: str, recording_url: str) -> None:
        """Take the voter's leg out of the bridge to play the recording, then hang it up. The
        volunteer's `<Dial>` ends with it, and their call goes on to the keypad question."""
        twiml = VoiceResponse()
        twiml.play(recording_url)
        twiml.hangup()
        with _mapped_errors("drop a voicemail"):
            self.client.calls(voter_call_sid).update(twiml=str(twiml))

    def send_sms(self, to: str, body: str) -> str:
        """Text `to` from the caller id; delivery reports go to the SMS status webhook."""
        refused = self.policy.phone_problem(to)
        if refused is not None:
            log.warning("Twilio: refused to text a phone the campaign does not allow: %s", refused)
            raise TelephonyError(TelephonyFailure.BLOCKED, UNPROVEN)
        with _mapped_errors("send a text"):
            message = self.client.messages.create(
                to=to, from_=self.caller_id, body=body, status_callback=self.urls.sms_status()
            )
        return str(message.sid)

    def _refuse_unproven(self, target: str, attempt_id: int) -> None:
        """Raise unless the policy allows `target` and a volunteer proved it."""
        if target.startswith("client:"):
            refused = None
        elif target.startswith("sip:"):
            refused = self.policy.sip_problem(target)
        else:
            refused = self.policy.phone_problem(target)
        if refused is None:
            refused = "no proof check is set up" if self.proof is None else self.proof(target)
        if refused is not None:
            log.warning("Twilio: refused to ring for call attempt %s: %s", attempt_id, refused)
            raise TelephonyError(TelephonyFailure.BLOCKED, UNPROVEN)


def _session_of(request: CallRequest) -> int:
    if request.session_id is None:
        raise ValueError("a Twilio call belongs to a calling session: set CallRequest.session_id")
    return request.session_id


@contextmanager
def _mapped_errors(action: str) -> Iterator[None]:
    """Turns what the twilio client raises into `TelephonyError`, logging no Twilio text."""
    try:
        yield
    except (TwilioException, requests.RequestException) as exc:
        error = telephony_error(exc)
        log.warning("Twilio: could not %s: %s (code %s)", action, error.failure, error.code or "-")
        raise error from None


def telephony_error(exc: TwilioException | requests.RequestException) -> TelephonyError:
    """The `TelephonyError` for an exception of the twilio client or of `requests`: an error
    answer by its code and status, anything else (refused, timed out) an outage."""
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        return _rest_error(exc.status, exc.code)
    return TelephonyError(TelephonyFailure.OUTAGE, _MESSAGES[TelephonyFailure.OUTAGE])


def _rest_error(status: int, code: int | None) -> TelephonyError:
    """Map Twilio's error code (then the HTTP status) to a failure and our own message."""
    # Without an error body the client reports the HTTP status as the code: not a Twilio code.
    twilio_code = code if code != status else None
    failure = failure_for(status, twilio_code)
    if failure is TelephonyFailure.OTHER:
        return TelephonyError(failure, _other_message(status, twilio_code), twilio_code)
    return TelephonyError(failure, _MESSAGES[failure], twilio_code)


def failure_for(status: int, code: int | None) -> TelephonyFailure:
    """What a Twilio error means for the core."""
    if code in _FAILURE_BY_CODE:
        return _FAILURE_BY_CODE[code]
    if status == 429:
        return TelephonyFailure.RATE_LIMITED
    if status >= 500:
        return TelephonyFailure.OUTAGE
    return TelephonyFailure.OTHER


def _other_message(status: int, code: int | None) -> str:
    if code == AUTHENTICATION_FAILED or status == 401:
        return "Twilio rejected the account credentials (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)."
    if code:
        return f"Twilio refused the request (error {code}, HTTP {status})."
    return f"Twilio refused the request (HTTP {status})."
