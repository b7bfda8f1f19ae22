"""Ending a calling session (matching/sessions.py, both databases): one transaction closes it
and returns its uncalled voters; the sweep ends sessions that died without a hang-up (nothing
heard for longer than Twilio keeps a call up), and leaves live ones alone: a voter on the line,
an idle keypad that keeps asking, a phone still ringing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from handlers import voice
from handlers.voice import DialResult, LegEvent
from matching.sessions import SILENCE, end_session
from storage.clock import FrozenClock
from tests.scenarios.world import World, voter
from tests.voice_support import Desk

LATER = SILENCE + timedelta(seconds=1)


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> World:
    return World(engine, clock)


@pytest.fixture
def desk(world: World) -> Desk:
    world.campaign([voter("Maria", 1), voter("Dave", 2), voter("Eve", 3)])
    return Desk.open(world)


def called_maria(desk: Desk) -> tuple[int, int]:
    """Maria called and her call over; the keypad asks how it went."""
    desk.press("Call", "Maria")
    session_id, maria = desk.last_ring()
    voice.volunteer_answered(desk.services, session_id, maria, "CAvolunteer")
    voice.voter_leg_ended(desk.services, session_id, maria, DialResult("completed", "CAv1", 30))
    return session_id, maria


def open_voters(desk: Desk) -> list[str]:
    rows = desk.world.rows(
        "SELECT v.first_name FROM batch_item i JOIN voter v ON v.id = i.voter_id "
        "WHERE i.released_at IS NULL ORDER BY v.id"
    )
    return [row.first_name for row in rows]


def test_a_silent_session_is_ended_and_its_uncalled_voters_returned(
    desk: Desk, clock: FrozenClock
) -> None:
    session_id, _ = called_maria(desk)
    assert voice.sweep_sessions(desk.services) == 0  # just heard from

    clock.advance(LATER)
    assert voice.sweep_sessions(desk.services) == 1

    session = desk.one("SELECT ended_at, end_reason FROM call_session")
    assert session.ended_at is not None and session.end_reason == "no_status"
    assert open_voters(desk) == ["Maria"]  # called, still to log in chat
    told = desk.notifier.to_volunteers[-1][1]
    assert told.text == "Your call ended. 2 voters not called went back to the list."
    assert voice.sweep_sessions(desk.services) == 0  # ended once
    # A hang-up that arrives after all finds the session ended: nothing happens twice.
    voice.volunteer_leg_status(desk.services, session_id, LegEvent("k", "CAvol", "completed"))
    assert desk.one("SELECT end_reason FROM call_session").end_reason == "no_status"


def test_a_voter_on_the_line_keeps_the_session_alive(desk: Desk, clock: FrozenClock) -> None:
    session_id, maria = called_maria(desk)
    voice.key_pressed(desk.services, session_id, maria, "#")
    [dave] = [r.id for r in desk.world.rows("SELECT id FROM call_attempt WHERE id <> :m", m=maria)]
    voice.voter_leg_status(desk.services, session_id, dave, LegEvent("a", "CAv2", "in-progress"))

    clock.advance(timedelta(minutes=30))  # a long conversation: no webhook meanwhile
    assert voice.sweep_sessions(desk.services) == 0

    clock.advance(timedelta(hours=4))  # longer than Twilio lets a <Dial> last
    assert voice.sweep_sessions(desk.services) == 1


def test_an_idle_keypad_keeps_the_session_alive(desk: Desk, clock: FrozenClock) -> None:
    session_id, maria = called_maria(desk)
    for _ in range(12):  # six minutes of the keypad asking again, every 30 s
        clock.advance(timedelta(seconds=30))
        voice.key_pressed(desk.services, session_id, maria, "")
        assert voice.sweep_sessions(desk.services) == 0

    clock.advance(LATER)  # then the redirects stop: Twilio hung up and we never heard
    assert voice.sweep_sessions(desk.services) == 1


def test_a_phone_that_rang_and_went_silent_is_ended_and_the_batch_kept(
    desk: Desk, clock: FrozenClock
) -> None:
    desk.press("Call", "Maria")
    clock.advance(LATER)

    assert voice.sweep_sessions(desk.services) == 1

    session = desk.one("SELECT end_reason FROM call_session")
    assert session.end_reason == "no_status"
    assert desk.one("SELECT call_status FROM call_attempt").call_status == "not-placed"
    assert open_voters(desk) == ["Maria", "Dave", "Eve"]  # never answered: still theirs
    told = desk.notifier.to_volunteers[-1][1]
    assert "did not answer" in told.text
    assert desk.press("Call", "Dave").text.startswith("Calling: your phone rings first")


def test_ending_is_one_transaction(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    session_id, _ = called_maria(desk)

    def fails(*args: object, **kwargs: object) -> int:
        raise RuntimeError("killed between closing the session and returning its voters")

    monkeypatch.setattr("matching.sessions.release_cards_in", fails)
    with pytest.raises(RuntimeError), desk.world.engine.begin() as conn:
        end_session(conn, session_id, desk.world.clock.now())

    assert desk.one("SELECT ended_at FROM call_session").ended_at is None  # all or nothing
    assert open_voters(desk) == ["Maria", "Dave", "Eve"]
