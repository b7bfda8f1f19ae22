"""The webhook URLs Twilio is given, in one place: the REST backend hands them to Twilio, the
TwiML points at them, and the web app serves them (bot/telephony/voice_webhooks.py and
bot/telephony/sms_webhook.py). All are POST, under `PUBLIC_BASE_URL`.
"""

from __future__ import annotations

from urllib.parse import urlencode

VOICE = "/twilio/voice"
SMS = "/twilio/sms"


class WebhookUrls:
    """Absolute URLs for Twilio: `PUBLIC_BASE_URL` + path + the ids the handler needs."""

    def __init__(self, public_base_url: str) -> None:
        self.base = public_base_url.rstrip("/")

    def _url(self, path: str, **ids: int) -> str:
        query = urlencode(ids)
        return f"{self.base}{path}" + (f"?{query}" if query else "")

    def answer(self, session: int, attempt: int) -> str:
        """The volunteer picked up: whisper, then dial the voter of `attempt`."""
        return self._url(f"{VOICE}/answer", session=session, attempt=attempt)

    def next(self, session: int, attempt: int) -> str:
        """A live session redirected (chat Call or Next): dial the voter of `attempt`."""
        return self._url(f"{VOICE}/next", session=session, attempt=attempt)

    def dialed(self, session: int, attempt: int) -> str:
        """`<Dial action>`: the voter's leg ended; ask for the outcome on the keypad."""
        return self._url(f"{VOICE}/dialed", session=session, attempt=attempt)

    def keypad(self, session: int, attempt: int) -> str:
        """`<Gather action>`: the key the volunteer pressed."""
        return self._url(f"{VOICE}/keypad", session=session, attempt=attempt)

    def notice(self, session: int, attempt: int) -> str:
        """`<Number url>`: said to the voter before the bridge (the recording notice)."""
        return self._url(f"{VOICE}/notice", session=session, attempt=attempt)

    def session_status(self, session: int) -> str:
        """Status callbacks of the volunteer's leg (hanging up ends the session)."""
        return self._url(f"{VOICE}/status", session=session)

    def voter_status(self, session: int, attempt: int) -> str:
        """Status callbacks of the voter's leg (`<Number statusCallback>`)."""
        return self._url(f"{VOICE}/voter-status", session=session, attempt=attempt)

    def sms_incoming(self) -> str:
        """Texts volunteers send to the campaign's number."""
        return self._url(SMS)

    def sms_status(self) -> str:
        """Delivery reports of texts we sent (21610 unsubscribed arrives here too)."""
        return self._url(f"{SMS}/status")
