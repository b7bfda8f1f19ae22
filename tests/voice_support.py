"""A calling session driven by hand, for the voice tests: a telephony stub with a volunteer leg
(as Twilio has), a volunteer with a batch, and the ids each webhook would carry."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any

from handlers.context import CallHandle, CallRequest, Context, Services, TelephonyError
from handlers.replies import Reply
from handlers.router import handle_action, handle_command
from tests.scenarios.world import RecordingNotifier, World, make_services, signed_up_context

_sids = itertools.count(1)


@dataclass
class LegTelephony:
    """Rings the volunteer (a leg of its own, like Twilio) and records every request; raises
    `fail_with` once when set."""

    placed: list[CallRequest] = field(default_factory=list)
    continued: list[tuple[str, CallRequest]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    voicemails: list[tuple[str, str]] = field(default_factory=list)  # (voter leg sid, recording)
    fail_with: TelephonyError | None = None

    def place_call(self, request: CallRequest) -> CallHandle:
        self._maybe_fail()
        self.placed.append(request)
        return CallHandle(f"CAvol{next(_sids):028d}", "queued", volunteer_leg=True)

    def continue_session(self, session_call_sid: str, request: CallRequest) -> CallHandle:
        self._maybe_fail()
        self.continued.append((session_call_sid, request))
        return CallHandle(session_call_sid, "in-progress", volunteer_leg=True)

    def drop_voicemail(self, voter_call_sid: str, recording_url: str) -> None:
        self._maybe_fail()
        self.voicemails.append((voter_call_sid, recording_url))

    def send_sms(self, to: str, body: str) -> str:
        self.texts.append((to, body))
        return f"SM{next(_sids):032d}"

    def _maybe_fail(self) -> None:
        failure, self.fail_with = self.fail_with, None
        if failure is not None:
            raise failure


@dataclass
class Desk:
    """One volunteer (Ana) with a batch, at a phone with a volunteer leg."""

    world: World
    services: Services
    telephony: LegTelephony
    ana: Context
    batch: Reply

    @classmethod
    def open(cls, world: World, *, phone: str = "(512) 555-0142") -> Desk:
        telephony = LegTelephony()
        services = make_services(world.engine, world.clock, telephony=telephony)
        ana = signed_up_context(services, phone=phone)
        return cls(world, services, telephony, ana, handle_command(ana, "batch"))

    def press(self, label: str, near: str = "", *, key: str | None = None) -> Reply:
        """Press a button of the latest batch message (on a card mentioning `near`)."""
        ctx = dataclasses.replace(self.ana, request_key=key) if key else self.ana
        for action_id, value in buttons(self.batch, label, near):
            self.batch = handle_action(ctx, action_id, value)
            return self.batch
        raise AssertionError(f"no {label!r} near {near!r}")

    def press_action(self, action_id: str, value: str) -> Reply:
        """Send an action as if its button were pressed (it may not be on the card)."""
        return handle_action(self.ana, action_id, value)

    def last_ring(self) -> tuple[int, int]:
        """(session id, attempt id) of the latest ring: the answer webhook's ids."""
        request = self.telephony.placed[-1]
        assert request.session_id is not None
        return request.session_id, request.attempt_id

    @property
    def notifier(self) -> RecordingNotifier:
        notifier = self.services.notifier
        assert isinstance(notifier, RecordingNotifier)
        return notifier

    def one(self, sql: str, **params: Any) -> Any:
        """The one row of a query."""
        [row] = self.world.rows(sql, **params)
        return row


def buttons(reply: Reply, label: str, near: str = "") -> list[tuple[str, str]]:
    """(action id, value) of the buttons labelled `label`: the batch's own, or on cards
    mentioning `near`."""
    found = [(b.action_id, b.value) for b in reply.buttons if b.label == label and not near]
    for section in reply.sections:
        if near in section.text:
            found += [(b.action_id, b.value) for b in section.buttons if b.label == label]
    return found
