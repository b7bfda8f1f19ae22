"""Helpers for the SMS tests: a telephony that refuses texts, volunteers, and reading them back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from bot.telephony.simulated import SimulatedTelephony
from handlers.context import Services, TelephonyError, TelephonyFailure
from storage.clock import FrozenClock
from storage.db import read_session, session_scope
from storage.models import Volunteer
from tests.factories import make_volunteer
from tests.scenarios.world import make_services


class RefusingTelephony(SimulatedTelephony):
    """Simulated telephony whose texts fail as Twilio's would on the tries scheduled with
    `fail_with`; every other text is kept in `messages` like a simulated one."""

    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock)
        self.failures: dict[int, TelephonyError] = {}
        self.tried: list[str] = []

    def fail_with(
        self, failure: TelephonyFailure, code: int | None = None, *, on_try: int | None = None
    ) -> None:
        """Fail try number `on_try` (1-based over the test; default: the next one)."""
        number = on_try if on_try is not None else len(self.tried) + 1
        self.failures[number] = TelephonyError(failure, f"refused ({failure})", code)

    def send_sms(self, to: str, body: str) -> str:
        self.tried.append(body)
        failure = self.failures.pop(len(self.tried), None)
        if failure is not None:
            raise failure
        return super().send_sms(to, body)


def sms_services(engine: Engine, clock: FrozenClock) -> tuple[Services, RefusingTelephony]:
    telephony = RefusingTelephony(clock)
    return make_services(engine, clock, telephony=telephony), telephony


def add_volunteer(engine: Engine, clock: FrozenClock, **fields: Any) -> int:
    """A volunteer who agreed to texts and verified their phone (override anything); their id."""
    fields = {"phone_verified_at": clock.now()} | fields
    with session_scope(engine) as session:
        return int(make_volunteer(session, clock=clock, **fields).id or 0)


def volunteer(engine: Engine, volunteer_id: int) -> Volunteer:
    with read_session(engine) as session:
        row = session.get(Volunteer, volunteer_id)
        assert row is not None
        return row
