"""The calling session's core (handlers/voice.py) as the voice webhooks drive it: the answer
dials the voter after the checks of that moment, the keypad logs once, '#' dials the next voter
inside the same call, and status reports apply once and forward only (both databases)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from handlers import voice
from handlers.router import handle_form
from handlers.voice import Dial, DialResult, Gather, Hangup, LegEvent, Redirect, Say
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import DncEntry
from tests.scenarios.world import World, voter
from tests.voice_support import Desk, buttons

MARIA, DAVE, EVE = "+15125550201", "+15125550202", "+15125550203"


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> World:
    return World(engine, clock)


@pytest.fixture
def desk(world: World) -> Desk:
    world.campaign([voter("Maria", 1), voter("Dave", 2), voter("Eve", 3)])
    return Desk.open(world)


def answered(desk: Desk) -> tuple[int, int]:
    """Call Maria and pick up: the session is live, Maria is being dialed."""
    desk.press("Call", "Maria")
    session_id, attempt_id = desk.last_ring()
    voice.volunteer_answered(desk.services, session_id, attempt_id, "CAvolunteer")
    return session_id, attempt_id


def test_the_answer_whispers_then_dials_the_voter_from_the_campaign_number(desk: Desk) -> None:
    desk.press("Call", "Maria")
    session_id, attempt_id = desk.last_ring()
    assert desk.telephony.placed[-1].volunteer_phone == "+15125550142"

    plan = voice.volunteer_answered(desk.services, session_id, attempt_id, "CAvolunteer")

    assert plan == (
        Say("Connecting you to Maria."),
        Dial(MARIA, "+15125550100", session_id, attempt_id, record=False),
    )
    session = desk.one("SELECT status, answered_at, call_sid FROM call_session")
    assert session.status == "in-progress" and session.answered_at is not None
    assert buttons(desk.notifier.to_volunteers[-1][1], "Next")


def test_recording_on_plays_a_notice_first(world: World) -> None:
    world.campaign([voter("Maria", 1)], recording=True)
    desk = Desk.open(world)
    desk.press("Call", "Maria")
    session_id, attempt_id = desk.last_ring()

    plan = voice.volunteer_answered(desk.services, session_id, attempt_id, "CAvol")

    assert isinstance(plan[0], Say) and "recorded" in plan[0].text
    assert plan[-1] == Dial(MARIA, "+15125550100", session_id, attempt_id, record=True)
    assert voice.recording_notice() == (Say(voice.RECORDING_NOTICE),)


def test_calling_hours_are_checked_again_when_the_volunteer_answers(desk: Desk) -> None:
    desk.press("Call", "Maria")
    session_id, attempt_id = desk.last_ring()
    desk.world.clock.advance(timedelta(hours=12))  # 21:00 in Austin: too late now

    plan = voice.volunteer_answered(desk.services, session_id, attempt_id, "CAvol")

    assert not any(isinstance(verb, Dial) for verb in plan)
    said = plan[0]
    assert isinstance(said, Say) and said.text.startswith("Not calling this voter:")
    assert "0201" not in said.text and "512" not in said.text
    assert isinstance(plan[1], Gather) and "Press #" in plan[1].prompt
    assert desk.one("SELECT call_status FROM call_attempt").call_status == "canceled"
    # A key other than '#' logs nothing for a voter who was never called.
    keyed = voice.key_pressed(desk.services, session_id, attempt_id, "1")
    assert keyed[0] == Say("That voter was not called.")
    assert desk.world.rows("SELECT id FROM call_attempt WHERE result_code IS NOT NULL") == []


def test_a_number_listed_meanwhile_is_not_dialed(desk: Desk) -> None:
    desk.press("Call", "Maria")
    session_id, attempt_id = desk.last_ring()
    with session_scope(desk.world.engine) as session:
        session.add(DncEntry(phone=MARIA, created_at=desk.world.clock.now()))

    plan = voice.volunteer_answered(desk.services, session_id, attempt_id, "CAvol")

    assert plan[0] == Say("Not calling this voter: this number is on the do-not-call list now.")
    assert not any(isinstance(verb, Dial) for verb in plan)


def test_after_a_busy_line_the_keypad_and_the_chat_form_offer_the_retry_code(desk: Desk) -> None:
    session_id, attempt_id = answered(desk)

    plan = voice.voter_leg_ended(
        desk.services, session_id, attempt_id, DialResult("busy", "CAvoter1", 0)
    )

    gather, redirect = plan
    assert isinstance(gather, Gather) and gather.attempt_id == attempt_id
    assert gather.prompt == (
        "The line was busy. Press 1 for Talked to voter, 2 for Not home, 3 for Refused, "
        "4 for Wrong number, 5 for Asked not to be called, or log it in chat. "
        "Press # for the next voter."
    )
    assert redirect == Redirect(session_id, attempt_id)
    attempt = desk.one("SELECT call_status, call_sid, duration_s FROM call_attempt")
    assert tuple(attempt) == ("busy", "CAvoter1", 0)
    form = desk.press("Log outcome", "Maria").form
    assert form is not None
    result = next(item for item in form.inputs if item.id == "result")
    assert result.initial == "not_home"


def test_an_invalid_voter_number_is_logged_as_a_wrong_number(desk: Desk) -> None:
    session_id, attempt_id = answered(desk)
    failed = DialResult("failed", None, None, voice.INVALID_NUMBER)

    plan = voice.voter_leg_ended(desk.services, session_id, attempt_id, failed)
    again = voice.voter_leg_ended(desk.services, session_id, attempt_id, failed)

    assert isinstance(plan[0], Gather) and plan[0].prompt.startswith("Logged: Wrong number.")
    assert again == plan
    attempt = desk.one("SELECT result_code, error_code, call_status FROM call_attempt")
    assert tuple(attempt) == ("wrong_number", 21211, "failed")
    maria = desk.one("SELECT status, attempts FROM voter WHERE first_name = 'Maria'")
    assert tuple(maria) == ("done", 1)


def test_a_key_logs_the_outcome_once(desk: Desk) -> None:
    session_id, attempt_id = answered(desk)
    voice.voter_leg_ended(desk.services, session_id, attempt_id, DialResult("completed", "CAv", 42))

    first = voice.key_pressed(desk.services, session_id, attempt_id, "1")
    repeated = voice.key_pressed(desk.services, session_id, attempt_id, "1")
    other = voice.key_pressed(desk.services, session_id, attempt_id, "3")

    assert first[0] == Say("Logged Talked to voter.")
    assert isinstance(first[1], Gather) and first[1].prompt.startswith("Logged: Talked to voter.")
    assert repeated[0] == other[0] == Say("Already logged: Talked to voter.")
    attempt = desk.one("SELECT result_code, outcome_key, duration_s FROM call_attempt")
    assert tuple(attempt) == ("talked", f"twilio:keypad:{attempt_id}", 42)
    assert desk.one("SELECT attempts FROM voter WHERE first_name = 'Maria'").attempts == 1
    assert "Logged from your keypad" in desk.notifier.to_volunteers[-1][1].text


def test_a_key_after_the_outcome_was_logged_in_chat_logs_nothing(desk: Desk) -> None:
    session_id, attempt_id = answered(desk)
    voice.voter_leg_ended(desk.services, session_id, attempt_id, DialResult("completed", "CAv", 9))
    form = desk.press("Log outcome", "Maria").form
    assert form is not None
    handle_form(desk.ana, form.submit_action, form.value, {"result": "refused"})

    keyed = voice.key_pressed(desk.services, session_id, attempt_id, "1")

    assert keyed[0] == Say("Already logged: Refused.")
    assert [row.result_code for row in desk.world.rows("SELECT result_code FROM call_attempt")] == [
        "refused"
    ]


def test_a_key_while_chat_logs_the_same_voter_says_what_chat_logged(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, attempt_id = answered(desk)
    voice.voter_leg_ended(desk.services, session_id, attempt_id, DialResult("completed", "CAv", 9))
    form = desk.press("Log outcome", "Maria").form
    assert form is not None
    record = voice.record_outcome

    def chat_first(*args: Any, **kwargs: Any) -> Any:  # the form lands between read and write
        handle_form(desk.ana, form.submit_action, form.value, {"result": "refused"})
        return record(*args, **kwargs)

    monkeypatch.setattr(voice, "record_outcome", chat_first)

    keyed = voice.key_pressed(desk.services, session_id, attempt_id, "1")

    assert keyed[0] == Say("Already logged: Refused.")
    assert isinstance(keyed[1], Gather) and keyed[1].prompt.startswith("Logged: Refused.")
    rows = desk.world.rows("SELECT result_code FROM call_attempt")
    assert [row.result_code for row in rows] == ["refused"]


def test_an_unknown_key_is_said_and_asked_again(desk: Desk) -> None:
    session_id, attempt_id = answered(desk)
    voice.voter_leg_ended(desk.services, session_id, attempt_id, DialResult("completed", "CAv", 9))

    plan = voice.key_pressed(desk.services, session_id, attempt_id, "9")
    silent = voice.key_pressed(desk.services, session_id, attempt_id, "")

    assert plan[0] == Say("Key 9 does not log an outcome here.")
    assert isinstance(plan[1], Gather) and isinstance(silent[0], Gather)
    assert desk.world.rows("SELECT id FROM call_attempt WHERE result_code IS NOT NULL") == []


def test_hash_dials_the_next_voter_inside_the_same_call(desk: Desk) -> None:
    session_id, maria = answered(desk)
    voice.voter_leg_ended(desk.services, session_id, maria, DialResult("completed", "CAv1", 30))
    voice.key_pressed(desk.services, session_id, maria, "2")

    plan = voice.key_pressed(desk.services, session_id, maria, "#")
    repeated = voice.key_pressed(desk.services, session_id, maria, "#")

    [dave] = [
        row.id for row in desk.world.rows("SELECT id FROM call_attempt WHERE id <> :m", m=maria)
    ]
    assert plan == (
        Say("Connecting you to Dave."),
        Dial(DAVE, "+15125550100", session_id, dave, record=False),
    )
    # The same webhook again, Dave's leg silent: its first answer was lost, the same dial again
    # (tests/test_voice_retries.py has both sides).
    assert repeated == plan
    assert len(desk.telephony.placed) == 1 and desk.telephony.continued == []
    row = desk.one(
        "SELECT session_id, current_attempt_id FROM call_attempt "
        "JOIN call_session ON call_session.id = call_attempt.session_id "
        "WHERE call_attempt.id = :d",
        d=dave,
    )
    assert tuple(row) == (session_id, dave)


def test_hash_after_the_last_card_says_goodbye(world: World) -> None:
    world.campaign([voter("Maria", 1)])
    desk = Desk.open(world)
    session_id, maria = answered(desk)
    voice.voter_leg_ended(desk.services, session_id, maria, DialResult("no-answer", "CAv1", 0))

    plan = voice.key_pressed(desk.services, session_id, maria, "#")

    assert plan == (Say("That was the last one on your batch. Thank you for calling!"), Hangup())


@pytest.mark.parametrize("db_kind", ["postgresql"])  # SQLite's write transactions take turns
def test_hash_twice_at_once_dials_one_voter_and_hangs_up_nobody(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, maria = answered(desk)
    voice.voter_leg_ended(desk.services, session_id, maria, DialResult("completed", "CAv1", 30))
    voice.key_pressed(desk.services, session_id, maria, "2")
    real_target = voice._target

    def other_request_commits_first(conn: Any, query: Any, **params: Any) -> Any:
        """The twin request: it reads the same next card and commits its attempt while this
        one is between reading the session and inserting its own."""
        monkeypatch.setattr(voice, "_target", real_target)
        twin = voice.key_pressed(desk.services, session_id, maria, "#")
        assert isinstance(twin[-1], Dial)
        return real_target(conn, query, **params)

    monkeypatch.setattr(voice, "_target", other_request_commits_first)
    plan = voice.key_pressed(desk.services, session_id, maria, "#")

    [dave] = [
        row.id for row in desk.world.rows("SELECT id FROM call_attempt WHERE id <> :m", m=maria)
    ]
    # It used to answer "Sorry, something went wrong" and hang up the volunteer. Now it answers
    # as a repeated '#' does: with the voter the twin chose, dialed again since Dave's leg has
    # reported nothing (Twilio acts on one of the two answers: Dave is rung once).
    assert Hangup() not in plan
    assert isinstance(plan[-1], Dial) and plan[-1].attempt_id == dave
    attempts = desk.world.rows("SELECT id FROM call_attempt ORDER BY id")
    assert [row.id for row in attempts] == [maria, dave]  # one attempt for the two requests


def test_volunteer_status_is_applied_once_and_forward_only(desk: Desk) -> None:
    desk.press("Call", "Maria")
    session_id, _ = desk.last_ring()
    ringing = LegEvent("token-1", "CAvol", "ringing")

    voice.volunteer_leg_status(desk.services, session_id, ringing)
    voice.volunteer_leg_status(desk.services, session_id, ringing)
    voice.volunteer_leg_status(desk.services, session_id, LegEvent("token-2", "CAvol", "queued"))

    assert desk.one("SELECT status FROM call_session").status == "ringing"
    keys = [row.key for row in desk.world.rows("SELECT key FROM processed_event")]
    assert sorted(keys) == ["token-1", "token-2"]


def test_a_volunteer_who_never_answers_keeps_the_batch_and_is_told(desk: Desk) -> None:
    desk.press("Call", "Maria")
    session_id, _ = desk.last_ring()

    voice.volunteer_leg_status(desk.services, session_id, LegEvent("k1", "CAvol", "no-answer"))

    session = desk.one("SELECT ended_at, end_reason FROM call_session")
    assert session.ended_at is not None and session.end_reason == "no-answer"
    told = desk.notifier.to_volunteers[-1][1]
    assert "did not answer" in told.text
    assert desk.one("SELECT call_status FROM call_attempt").call_status == "not-placed"
    open_cards = desk.world.rows("SELECT id FROM batch_card WHERE released_at IS NULL")
    assert len(open_cards) == 3
    assert desk.press("Call", "Dave").text.startswith("Calling: your phone rings first")
    assert len(desk.telephony.placed) == 2


def test_a_phone_twilio_cannot_ring_is_sent_to_signup(desk: Desk) -> None:
    desk.press("Call", "Maria")
    session_id, _ = desk.last_ring()
    failed = LegEvent("k1", "CAvol", "failed", error_code=voice.INVALID_NUMBER)

    voice.volunteer_leg_status(desk.services, session_id, failed)

    told = desk.notifier.to_volunteers[-1][1]
    assert told.text == "Twilio cannot ring your phone; fix it with `signup`."
    assert desk.one("SELECT end_reason FROM call_session").end_reason == "failed"


def test_hanging_up_returns_the_voters_not_called(desk: Desk) -> None:
    session_id, maria = answered(desk)
    voice.voter_leg_ended(desk.services, session_id, maria, DialResult("completed", "CAv1", 30))

    voice.volunteer_leg_status(desk.services, session_id, LegEvent("k1", "CAvol", "completed"))

    assert desk.one("SELECT end_reason FROM call_session").end_reason == "hung_up"
    rows = desk.world.rows(
        "SELECT v.first_name, c.released_at FROM batch_card c "
        "JOIN batch_item i ON i.card_id = c.id JOIN voter v ON v.id = i.voter_id ORDER BY v.id"
    )
    assert [(r.first_name, r.released_at is None) for r in rows] == [
        ("Maria", True),  # called, not logged yet: still on the card to log in chat
        ("Dave", False),
        ("Eve", False),
    ]
    told = desk.notifier.to_volunteers[-1][1]
    assert "2 voters not called went back" in told.text


def test_voter_status_is_applied_once_and_never_reopens_a_finished_call(desk: Desk) -> None:
    session_id, maria = answered(desk)
    status = desk.notifier.to_volunteers

    for event in (
        LegEvent("CAv1:initiated", "CAv1", "initiated"),
        LegEvent("CAv1:in-progress", "CAv1", "in-progress"),
        LegEvent("CAv1:completed", "CAv1", "completed", duration_s=61),
    ):
        voice.voter_leg_status(desk.services, session_id, maria, event)
    shown = len(status)
    voice.voter_leg_status(
        desk.services, session_id, maria, LegEvent("CAv1:ringing", "CAv1", "ringing")
    )
    voice.voter_leg_status(
        desk.services, session_id, maria, LegEvent("CAv1:completed", "CAv1", "completed", 61)
    )

    attempt = desk.one("SELECT call_sid, call_status, duration_s FROM call_attempt")
    assert tuple(attempt) == ("CAv1", "completed", 61)
    assert len(status) == shown  # nothing changed, nothing re-sent
    assert "Call ended" in str(status[-1][1].sections[0].facts)


def test_voter_statuses_applied_together_end_as_one_by_one_would(desk: Desk) -> None:
    session_id, maria = answered(desk)
    status = desk.notifier.to_volunteers
    shown = len(status)
    together = [
        LegEvent("CAv1:ringing", "CAv1", "ringing"),
        LegEvent("CAv1:completed", "CAv1", "completed", duration_s=42),
        LegEvent("CAv1:in-progress", "CAv1", "in-progress"),  # late: never reopens the call
        LegEvent("CAv1:completed", "CAv1", "completed", duration_s=99),  # a repeat: once
    ]

    voice.voter_leg_statuses(desk.services, session_id, maria, together)
    voice.voter_leg_statuses(desk.services, session_id, maria, together)  # all seen before

    attempt = desk.one("SELECT call_sid, call_status, duration_s FROM call_attempt")
    assert tuple(attempt) == ("CAv1", "completed", 42)
    assert len(status) == shown + 1  # one card update for the lot, none for the repeat
    assert "Call ended" in str(status[-1][1].sections[0].facts)


def test_webhook_ids_that_do_not_belong_together_hang_up(desk: Desk) -> None:
    session_id, attempt_id = answered(desk)
    assert (
        voice.volunteer_answered(desk.services, session_id + 1, attempt_id, "")
        == voice.UNKNOWN_CALL
    )
    assert voice.key_pressed(desk.services, session_id, attempt_id + 99, "1") == voice.UNKNOWN_CALL


def test_next_button_press_is_refused_while_the_voter_is_on_the_line(desk: Desk) -> None:
    session_id, maria = answered(desk)
    voice.voter_leg_status(desk.services, session_id, maria, LegEvent("a", "CAv1", "in-progress"))

    refused = desk.press("Call", "Dave")

    assert "You are on a call" in refused.text
    assert desk.telephony.continued == []
