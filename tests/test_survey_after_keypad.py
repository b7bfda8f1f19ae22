"""Survey answers for a conversation logged from the keypad: the card keeps a Survey button
until they are in, the answers land on that call, and bad input is refused (both databases)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from handlers import voice
from handlers.replies import Tone
from handlers.router import handle_action, handle_form
from handlers.voice import DialResult, Gather
from storage.clock import FrozenClock
from tests.scenarios.world import World, signed_up_context, voter
from tests.voice_support import Desk, buttons


@pytest.fixture
def desk(engine: Engine, clock: FrozenClock) -> Desk:
    world = World(engine, clock)
    world.campaign([voter("Maria", 1)])
    return Desk.open(world)


def talked_on_the_keypad(desk: Desk) -> int:
    desk.press("Call", "Maria")
    session_id, attempt_id = desk.last_ring()
    voice.volunteer_answered(desk.services, session_id, attempt_id, "CAvolunteer")
    voice.voter_leg_ended(desk.services, session_id, attempt_id, DialResult("completed", "CAv", 60))
    plan = voice.key_pressed(desk.services, session_id, attempt_id, "1")
    gather = plan[1]
    assert isinstance(gather, Gather) and "Add the survey answers in chat" in gather.prompt
    desk.batch = desk.notifier.to_volunteers[-1][1]  # the card as the chat shows it now
    return attempt_id


def test_the_card_offers_the_survey_and_the_answers_land_on_the_call(desk: Desk) -> None:
    attempt_id = talked_on_the_keypad(desk)
    [(action, value)] = buttons(desk.batch, "Survey: Maria", "Maria")

    form = handle_action(desk.ana, action, value).form
    assert form is not None
    assert [i.id for i in form.inputs] == ["survey:support", "survey:vote_plan", "notes"]
    answers = {"survey:support": "yes", "survey:vote_plan": "mail", "notes": "needs a ride"}
    saved = handle_form(desk.ana, form.submit_action, form.value, answers)

    assert saved.text == "Survey saved for Maria."
    row = desk.one("SELECT id, survey, notes, result_code FROM call_attempt")
    assert (row.id, row.result_code, row.notes) == (attempt_id, "talked", "needs a ride")
    assert "mail" in str(row.survey)
    assert buttons(saved, "Survey: Maria", "Maria") == []  # asked once
    again = handle_action(desk.ana, action, value)
    assert again.form is None and "saved already" in again.text


def test_a_retried_submit_writes_the_same_answers_once(desk: Desk) -> None:
    talked_on_the_keypad(desk)
    [(action, value)] = buttons(desk.batch, "Survey: Maria", "Maria")
    form = handle_action(desk.ana, action, value).form
    assert form is not None
    retry = dataclasses.replace(desk.ana, request_key="slack-view-1")
    answers = {"survey:support": "no", "notes": "polite"}

    handle_form(retry, form.submit_action, form.value, answers)
    handle_form(retry, form.submit_action, form.value, answers)

    row = desk.one("SELECT survey, notes FROM call_attempt")
    assert row.notes == "polite"  # not "polite" twice
    assert desk.one("SELECT count(*) AS n FROM call_attempt").n == 1


def test_an_answer_that_is_not_a_choice_is_refused_and_nothing_is_saved(desk: Desk) -> None:
    talked_on_the_keypad(desk)
    [(action, value)] = buttons(desk.batch, "Survey: Maria", "Maria")
    form = handle_action(desk.ana, action, value).form
    assert form is not None

    refused = handle_form(desk.ana, form.submit_action, form.value, {"survey:support": "maybe"})

    assert "survey:support" in refused.errors
    assert desk.one("SELECT survey FROM call_attempt").survey in ({}, "{}")


def test_someone_else_cannot_open_or_answer_the_survey(desk: Desk) -> None:
    attempt_id = talked_on_the_keypad(desk)
    bob = signed_up_context(desk.services, "U2", phone="(512) 555-0199")

    opened = handle_action(bob, "pb:card:survey", str(attempt_id))
    sent = handle_form(bob, "pb:survey:submit", str(attempt_id), {"survey:support": "yes"})

    assert opened.form is None and "not" in opened.text
    assert sent.tone is not Tone.SUCCESS and "not" in sent.text
    assert desk.one("SELECT survey FROM call_attempt").survey in ({}, "{}")


def test_a_call_logged_in_chat_has_no_survey_button(desk: Desk) -> None:
    desk.press("Call", "Maria")
    form = desk.press("Log outcome", "Maria").form
    assert form is not None
    reply = handle_form(desk.ana, form.submit_action, form.value, {"result": "talked"})

    assert buttons(reply, "Survey: Maria", "Maria") == []
    attempt_id = desk.one("SELECT id FROM call_attempt").id
    refused = handle_action(desk.ana, "pb:card:survey", str(attempt_id))
    assert refused.form is None and "Log outcome" in refused.text


def test_the_answers_come_any_time_but_change_only_within_the_edit_window(desk: Desk) -> None:
    talked_on_the_keypad(desk)
    [(action, value)] = buttons(desk.batch, "Survey: Maria", "Maria")
    form = handle_action(desk.ana, action, value).form
    assert form is not None
    desk.world.clock.advance(timedelta(hours=1))  # the first answers complete the log

    saved = handle_form(desk.ana, form.submit_action, form.value, {"survey:support": "yes"})
    changed = handle_form(desk.ana, form.submit_action, form.value, {"survey:support": "no"})

    assert saved.text == "Survey saved for Maria."
    assert changed.tone is Tone.WARNING and "ask an organizer" in changed.text
    assert "yes" in str(desk.one("SELECT survey FROM call_attempt").survey)
    audits = desk.world.rows("SELECT actor, action, detail FROM audit_log")
    assert [(a.actor, a.action) for a in audits] == [("slack:U1", "outcome.survey")]
    assert "yes" in str(audits[0].detail)
