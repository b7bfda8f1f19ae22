"""Twilio's retries answered as Twilio means them (both databases). Twilio retries a webhook
only when it got no answer, and acts on one answer per request: a retried '#' (or answer) whose
first answer dialed a voter whose leg has reported nothing gets the same `<Dial>` again, so the
voter is rung once; once the leg has reported, no answer dials again."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from handlers import voice
from handlers.voice import Dial, DialResult, Gather, LegEvent
from storage.clock import FrozenClock
from tests.scenarios.world import World, voter
from tests.test_voice_webhooks import URLS, answer_params, dial_tree, open_twilio, twiml
from tests.voice_support import Desk

DAVE = "+15125550202"


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> World:
    return World(engine, clock)


@pytest.fixture
def desk(world: World) -> Desk:
    world.campaign([voter("Maria", 1), voter("Dave", 2), voter("Eve", 3)])
    return Desk.open(world)


def after_maria(desk: Desk) -> tuple[int, int]:
    """Maria called, no answer logged: the keypad waits for '#'."""
    desk.press("Call", "Maria")
    session_id, maria = desk.last_ring()
    voice.volunteer_answered(desk.services, session_id, maria, "CAvolunteer")
    voice.voter_leg_ended(desk.services, session_id, maria, DialResult("no-answer", "CAv1", 0))
    voice.key_pressed(desk.services, session_id, maria, "2")
    return session_id, maria


def attempt_ids(desk: Desk) -> list[int]:
    return [row.id for row in desk.world.rows("SELECT id FROM call_attempt ORDER BY id")]


def test_a_retried_hash_whose_voter_leg_said_nothing_dials_the_same_voter_again(
    desk: Desk,
) -> None:
    session_id, maria = after_maria(desk)

    first = voice.key_pressed(desk.services, session_id, maria, "#")  # its answer is lost
    retry = voice.key_pressed(desk.services, session_id, maria, "#")

    [_, dave] = attempt_ids(desk)
    assert isinstance(first[-1], Dial) and first[-1].attempt_id == dave
    assert retry == first  # the same <Dial>: Twilio acts on this one, Dave is rung once
    assert desk.one("SELECT current_attempt_id FROM call_session").current_attempt_id == dave


@pytest.mark.parametrize("reported", ["initiated", "ringing", "in-progress", "completed"])
def test_a_retried_hash_after_the_voter_leg_started_does_not_dial_again(
    desk: Desk, reported: str
) -> None:
    session_id, maria = after_maria(desk)
    voice.key_pressed(desk.services, session_id, maria, "#")
    [_, dave] = attempt_ids(desk)
    event = LegEvent(f"CAv2:{reported}", "CAv2", reported)
    voice.voter_leg_status(desk.services, session_id, dave, event)

    retry = voice.key_pressed(desk.services, session_id, maria, "#")

    assert not any(isinstance(verb, Dial) for verb in retry)
    assert isinstance(retry[-2], Gather) and retry[-2].attempt_id == dave
    assert attempt_ids(desk) == [maria, dave]


def test_a_retried_answer_dials_until_the_voter_leg_reports(desk: Desk) -> None:
    desk.press("Call", "Maria")
    session_id, maria = desk.last_ring()

    first = voice.volunteer_answered(desk.services, session_id, maria, "CAvolunteer")
    retry = voice.volunteer_answered(desk.services, session_id, maria, "CAvolunteer")
    voice.voter_leg_status(desk.services, session_id, maria, LegEvent("k", "CAv1", "ringing"))
    late = voice.volunteer_answered(desk.services, session_id, maria, "CAvolunteer")

    assert isinstance(first[-1], Dial) and retry == first
    assert not any(isinstance(verb, Dial) for verb in late)


def test_over_http_a_hash_retried_with_its_idempotency_token_gets_the_same_dial(
    desk: Desk,
) -> None:
    [twilio] = open_twilio(desk)
    desk.press("Call", "Maria")
    session, maria = desk.last_ring()
    twilio.post(URLS.answer(session, maria), answer_params())
    ended = {"DialCallStatus": "no-answer", "DialCallSid": "CAv1", "DialCallDuration": "0"}
    twilio.post(URLS.dialed(session, maria), ended)
    token = {"I-Twilio-Idempotency-Token": "hash-press-1"}

    first = twiml(twilio.post(URLS.keypad(session, maria), {"Digits": "#"}, headers=token))
    retry = twiml(twilio.post(URLS.keypad(session, maria), {"Digits": "#"}, headers=token))

    [_, dave] = attempt_ids(desk)
    assert first == retry == ("Response", {}, "", dial_tree(session, dave, "Dave", DAVE))
    started = {"CallSid": "CAv2", "CallStatus": "initiated"}
    twilio.post(URLS.voter_status(session, dave), started)
    again = twiml(twilio.post(URLS.keypad(session, maria), {"Digits": "#"}, headers=token))
    assert all(child[0] != "Dial" for child in again[3])
