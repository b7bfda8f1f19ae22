"""The chat side of a calling session (handlers/calls.py): the first Call rings the volunteer,
later presses continue the live call, telephony errors become clear text and state, and Next
calls the next card nobody called (both databases)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import Engine

from handlers import voice
from handlers.context import Platform, TelephonyError, TelephonyFailure
from handlers.identity import context_for, grant_role
from handlers.replies import Tone
from matching.phones import PhonePolicy
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import Role, Volunteer
from tests.scenarios.world import World, phones_in, reply_text, voter
from tests.voice_support import Desk, buttons


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> World:
    return World(engine, clock)


@pytest.fixture
def desk(world: World) -> Desk:
    world.campaign([voter("Maria", 1), voter("Dave", 2), voter("Eve", 3)])
    return Desk.open(world)


def test_the_first_call_rings_the_volunteer_once_for_a_session(desk: Desk) -> None:
    reply = desk.press("Call", "Maria")

    [request] = desk.telephony.placed
    session = desk.one("SELECT id, call_sid, status, answered_at FROM call_session")
    attempt = desk.one("SELECT session_id, call_sid, call_status FROM call_attempt")
    assert request.session_id == session.id
    assert session.call_sid.startswith("CAvol") and session.status == "queued"
    assert tuple(attempt) == (session.id, None, "placing")
    assert reply.text.startswith("Calling: your phone rings first")
    assert buttons(reply, "Next") == []  # not on the line yet


def test_a_second_press_while_the_phone_rings_is_refused(desk: Desk) -> None:
    desk.press("Call", "Maria")

    refused = desk.press("Call", "Dave")

    assert refused.tone is Tone.WARNING and "Your phone is ringing" in refused.text
    assert len(desk.telephony.placed) == 1
    assert len(desk.world.rows("SELECT id FROM call_attempt")) == 1


def test_a_press_during_a_live_session_continues_the_call(desk: Desk) -> None:
    desk.press("Call", "Maria")
    session_id, maria = desk.last_ring()
    voice.volunteer_answered(desk.services, session_id, maria, "")
    voice.voter_leg_ended(desk.services, session_id, maria, voice.DialResult("completed", "CA1", 5))

    reply = desk.press("Call", "Eve")

    [(sid, request)] = desk.telephony.continued
    assert sid == desk.one("SELECT call_sid FROM call_session").call_sid
    assert request.session_id == session_id and request.voter_phone == "+15125550203"
    assert reply.text == "Calling Eve on your open line."
    assert len(desk.telephony.placed) == 1
    plan = voice.session_redirected(desk.services, session_id, request.attempt_id)
    assert plan[-1] == voice.Dial("+15125550203", "+15125550100", session_id, request.attempt_id)


def test_next_calls_the_next_card_nobody_called(desk: Desk) -> None:
    desk.press("Call", "Maria")
    session_id, maria = desk.last_ring()
    voice.volunteer_answered(desk.services, session_id, maria, "")
    voice.voter_leg_ended(desk.services, session_id, maria, voice.DialResult("no-answer", "CA1", 0))
    desk.batch = desk.notifier.to_volunteers[-1][1]

    desk.press("Next")

    [(_, request)] = desk.telephony.continued
    assert request.voter_phone == "+15125550202"  # Dave, the next card
    assert phones_in(reply_text(desk.batch), desk.world.voter_phones()) == []


def _ring_sip(desk: Desk, address: str, allowed: str) -> None:
    """The volunteer's SIP address, and the campaign's allowed SIP domain."""
    with session_scope(desk.world.engine) as session:
        volunteer = session.get(Volunteer, desk.ana.volunteer_id)
        assert volunteer is not None
        volunteer.sip_address = address
        session.add(volunteer)
    policy = PhonePolicy(sip_domains=frozenset({allowed}))
    desk.services = dataclasses.replace(desk.services, phone_policy=policy)
    desk.ana = dataclasses.replace(desk.ana, services=desk.services)


def test_the_volunteers_sip_address_is_rung_instead_of_the_phone(world: World) -> None:
    world.campaign([voter("Maria", 1)])
    desk = Desk.open(world)
    _ring_sip(desk, "sip:ana@phonebank.sip.twilio.com", "phonebank.sip.twilio.com")

    desk.press("Call", "Maria")

    assert desk.telephony.placed[0].volunteer_phone == "sip:ana@phonebank.sip.twilio.com"


def test_a_sip_address_on_a_domain_not_allowed_is_never_rung(world: World) -> None:
    world.campaign([voter("Maria", 1)])
    desk = Desk.open(world)
    _ring_sip(desk, "sip:anyone@attacker.example", "phonebank.sip.twilio.com")

    refused = desk.press("Call", "Maria")

    assert refused.tone is Tone.WARNING and "attacker.example is not a SIP domain" in refused.text
    assert desk.telephony.placed == [] and world.rows("SELECT id FROM call_attempt") == []


@pytest.mark.parametrize(
    ("failure", "code", "said"),
    [
        (TelephonyFailure.INVALID_NUMBER, 21211, "Twilio cannot ring your phone; fix it with"),
        (TelephonyFailure.OUTAGE, None, "Twilio is not answering; try again in a minute."),
        (TelephonyFailure.RATE_LIMITED, 20429, "Twilio is not answering; try again in a minute."),
    ],
)
def test_telephony_errors_become_clear_text_and_keep_the_voter(
    desk: Desk, failure: TelephonyFailure, code: int | None, said: str
) -> None:
    desk.telephony.fail_with = TelephonyError(failure, "refused", code)

    reply = desk.press("Call", "Maria")

    assert reply.tone is Tone.WARNING and reply.text.startswith(said)
    attempt = desk.one("SELECT call_status, error_code FROM call_attempt")
    assert tuple(attempt) == ("failed", code)
    assert desk.one("SELECT end_reason FROM call_session").end_reason == f"failed:{failure}"
    maria = desk.world.rows(
        "SELECT c.released_at FROM batch_card c JOIN batch_item i "
        "ON i.card_id = c.id JOIN voter v ON v.id = i.voter_id "
        "WHERE v.first_name = 'Maria'"
    )
    assert maria[0].released_at is None  # still on the card, nobody lost from the pool
    assert buttons(reply, "Call", "Maria")  # and the next press rings again
    desk.press("Call", "Maria")
    assert len(desk.telephony.placed) == 1


def test_a_refused_caller_id_pauses_calls_and_tells_organizers(desk: Desk) -> None:
    context_for(desk.services, Platform.SLACK, "T1", "UORG")
    grant_role(desk.world.engine, desk.world.clock, "slack", "UORG", Role.ORGANIZER, actor="t")
    desk.telephony.fail_with = TelephonyError(TelephonyFailure.CALLER_ID, "caller id", 21210)

    reply = desk.press("Call", "Maria")

    assert reply.text == (
        "Calls are paused: the campaign's caller id is not set up; organizers are told."
    )
    told = desk.notifier.to_channels
    assert [(channel, "21210" in r.text) for _, channel, r in told] == [("UORG", True)]
    actions = [row.action for row in desk.world.rows("SELECT action FROM audit_log")]
    assert "telephony.caller_id" in actions
