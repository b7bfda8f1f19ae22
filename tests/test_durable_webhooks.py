"""Acknowledged means done, over HTTP (both databases): when the process dies right after a
webhook got its 200, what the 200 acknowledged is already true. A process's memory is played by
a `later` queue that never runs (lost with the process) and an outbox worker that never wakes
(the process died before it ran); the restarted process is `run_due`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.telephony.signature import TwilioSignatureCheck
from bot.telephony.voice_webhooks import voice_routes
from bot.web import create_web_app
from handlers.context import Services
from handlers.outbox import run_due
from storage.clock import FrozenClock
from tests.scenarios.world import World, voter
from tests.test_voice_webhooks import BASE, TOKEN, URLS, Twilio, answer_params, twiml
from tests.voice_support import Desk


class Dead:
    """The process's memory after a kill: queued work never runs, the worker never wakes."""

    def __init__(self) -> None:
        self.queued: list[str] = []

    def later(self, key: str, work: Callable[[], None], *, replace: bool = True) -> None:
        self.queued.append(key)

    def wake(self) -> None:
        pass


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> World:
    return World(engine, clock)


@pytest.fixture
def desk(world: World) -> Desk:
    world.campaign([voter("Maria", 1), voter("Dave", 2), voter("Eve", 3)])
    return Desk.open(world)


def dying_app(desk: Desk) -> tuple[Twilio, Services, Dead]:
    dead = Dead()
    services = dataclasses.replace(desk.services, later=dead.later, outbox=dead)
    check = TwilioSignatureCheck(TOKEN, BASE)
    return (
        Twilio(create_web_app(services, routes=voice_routes(services, check, URLS))),
        services,
        dead,
    )


def answered(desk: Desk, twilio: Twilio) -> tuple[int, int]:
    desk.press("Call", "Maria")
    session, attempt = desk.last_ring()
    twilio.post(URLS.answer(session, attempt), answer_params())
    return session, attempt


def finish_maria(desk: Desk, twilio: Twilio, session: int, attempt: int) -> None:
    url = URLS.voter_status(session, attempt)
    twilio.post(url, {"CallSid": "CAmaria", "CallStatus": "completed", "CallDuration": "30"})


def test_a_hang_up_that_got_its_200_has_ended_the_session_and_returned_the_voters(
    desk: Desk,
) -> None:
    twilio, services, dead = dying_app(desk)
    session, attempt = answered(desk, twilio)
    finish_maria(desk, twilio, session, attempt)
    shown = len(desk.notifier.to_volunteers)

    hung_up = {"CallSid": "CAvolunteer", "CallStatus": "completed", "CallDuration": "95"}
    assert twiml(twilio.post(URLS.session_status(session), hung_up)) == ("Response", {}, "", [])

    # The process dies here: nothing it kept in memory runs. The truth is already written...
    ended = desk.one("SELECT ended_at, end_reason FROM call_session")
    assert ended.ended_at is not None and ended.end_reason == "hung_up"
    cards = desk.world.rows(
        "SELECT v.first_name, c.released_at FROM batch_card c JOIN batch_item i "
        "ON i.card_id = c.id JOIN voter v ON v.id = i.voter_id ORDER BY v.id"
    )
    assert [(c.first_name, c.released_at is None) for c in cards] == [
        ("Maria", True),
        ("Dave", False),
        ("Eve", False),
    ]
    held = desk.world.rows("SELECT id FROM voter WHERE batch_id IS NOT NULL")
    assert len(held) == 1  # Maria only: Dave and Eve are back in the pool
    # ...and the notice the volunteer is owed waits in the outbox for the restarted process.
    assert len(desk.notifier.to_volunteers) == shown
    assert run_due(services) == 1
    told = desk.notifier.to_volunteers[-1][1]
    assert told.text == "Your call ended. 2 voters not called went back to the list."
    assert run_due(services) == 0


def test_a_voter_legs_last_report_that_got_its_200_is_stored(desk: Desk) -> None:
    twilio, _, dead = dying_app(desk)
    session, attempt = answered(desk, twilio)
    url = URLS.voter_status(session, attempt)
    for status in ("initiated", "ringing", "in-progress"):
        twilio.post(url, {"CallSid": "CAmaria", "CallStatus": status})
    assert desk.one("SELECT call_status FROM call_attempt").call_status == "placing"

    params: dict[str, Any] = {"CallSid": "CAmaria", "CallStatus": "busy"}
    assert twiml(twilio.post(url, params)) == ("Response", {}, "", [])

    row = desk.one("SELECT call_sid, call_status, ended_at FROM call_attempt")
    assert (row.call_sid, row.call_status) == ("CAmaria", "busy") and row.ended_at is not None


def test_a_hang_up_whose_work_fails_gets_no_200(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    twilio, _, _ = dying_app(desk)
    session, _ = answered(desk, twilio)

    def database_gone(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("handlers.voice.advance_session", database_gone)
    hung_up = {"CallSid": "CAvolunteer", "CallStatus": "completed"}
    with pytest.raises(RuntimeError):  # the server answers 500: Twilio may send it again
        twilio.post(URLS.session_status(session), hung_up)

    assert desk.one("SELECT ended_at FROM call_session").ended_at is None
