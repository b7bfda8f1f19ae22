"""A telephony backend without a phone network, for local mode, demos and tests.

A call "rings" when placed and "connects" once `ring_seconds` have passed on the injected clock
(`advance()` looks at the clock; nothing sleeps), or one state at a time with `step()`. Every
change goes to the status listeners, as Twilio's status callbacks will: the composition root
(bot/app.py) points them at `handlers.calls.call_status_changed`. Texts are kept in `messages`
and handed to the text listeners (the console prints them).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers.context import CallHandle, CallRequest
from storage.clock import Clock

RINGING, CONNECTED, COMPLETED = "ringing", "in-progress", "completed"
_NEXT = {RINGING: CONNECTED, CONNECTED: COMPLETED}


@dataclass(frozen=True)
class CallEvent:
    """A call changed state (Twilio's statuses: ringing, in-progress, completed ...)."""

    call_sid: str
    attempt_id: int
    status: str


@dataclass
class SimulatedCall:
    sid: str
    request: CallRequest
    status: str
    changed_at: datetime


@dataclass(frozen=True)
class SentText:
    message_id: str
    to: str
    body: str


Listener = Callable[[CallEvent], None]
TextListener = Callable[[SentText], None]


class SimulatedTelephony:
    """Implements the `Telephony` port; calls move on with the clock or by explicit steps."""

    def __init__(
        self, clock: Clock, *, ring_seconds: float = 2.0, talk_seconds: float | None = None
    ) -> None:
        self.clock = clock
        self.ring = timedelta(seconds=ring_seconds)
        self.talk = None if talk_seconds is None else timedelta(seconds=talk_seconds)
        self.calls: dict[str, SimulatedCall] = {}
        self.messages: list[SentText] = []
        self._listeners: list[Listener] = []
        self._text_listeners: list[TextListener] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def on_status(self, listener: Listener) -> None:
        """Call `listener` with every change of a call's state."""
        self._listeners.append(listener)

    def on_text(self, listener: TextListener) -> None:
        """Call `listener` with every text sent (the console shows them: there is no phone)."""
        self._text_listeners.append(listener)

    def place_call(self, request: CallRequest) -> CallHandle:
        """Start ringing the volunteer; the call connects `ring_seconds` later."""
        with self._lock:
            sid = f"SIM{next(self._ids):032d}"
            self.calls[sid] = SimulatedCall(sid, request, RINGING, self.clock.now())
        return CallHandle(call_sid=sid, status=RINGING)

    def continue_session(self, session_call_sid: str, request: CallRequest) -> CallHandle:
        """No volunteer leg is simulated: the next voter's call simply starts ringing."""
        return self.place_call(request)

    def drop_voicemail(self, voter_call_sid: str, recording_url: str) -> None:
        """The message "plays" and the voter's call ends."""
        if voter_call_sid in self.calls:
            self.hang_up(voter_call_sid)

    def send_sms(self, to: str, body: str) -> str:
        """Keep the text in `messages`; its id."""
        with self._lock:
            message = SentText(f"SIMSM{next(self._ids):030d}", to, body)
            self.messages.append(message)
        for listener in self._text_listeners:
            listener(message)
        return message.message_id

    def advance(self) -> list[CallEvent]:
        """Move every call along as far as the clock says; the changes, reported."""
        now = self.clock.now()
        with self._lock:
            events = [event for call in self.calls.values() for event in self._due(call, now)]
        self._report(events)
        return events

    def step(self, call_sid: str) -> CallEvent:
        """Move one call to its next state now (ringing -> in-progress -> completed)."""
        with self._lock:
            call = self.calls[call_sid]
            event = self._move(call, _NEXT.get(call.status, call.status), self.clock.now())
        self._report([event])
        return event

    def hang_up(self, call_sid: str) -> CallEvent:
        """End the call now, whatever its state."""
        with self._lock:
            event = self._move(self.calls[call_sid], COMPLETED, self.clock.now())
        self._report([event])
        return event

    def _due(self, call: SimulatedCall, now: datetime) -> list[CallEvent]:
        events = []
        if call.status == RINGING and now - call.changed_at >= self.ring:
            events.append(self._move(call, CONNECTED, call.changed_at + self.ring))
        if (
            call.status == CONNECTED
            and self.talk is not None
            and now - call.changed_at >= self.talk
        ):
            events.append(self._move(call, COMPLETED, call.changed_at + self.talk))
        return events

    @staticmethod
    def _move(call: SimulatedCall, status: str, at: datetime) -> CallEvent:
        call.status, call.changed_at = status, at
        return CallEvent(call.sid, call.request.attempt_id, status)

    def _report(self, events: list[CallEvent]) -> None:
        for event in events:
            for listener in self._listeners:
                listener(event)
