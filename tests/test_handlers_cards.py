"""Batches, calls and outcomes through the router: privacy, retried requests, calling hours and
the do-not-call list at the moment of the call, telephony progress, and refusals (both databases)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

import handlers.batch
from bot.telephony.simulated import SimulatedTelephony
from handlers.context import CallHandle, CallRequest, Context, Services
from handlers.outcome import CardVoter, validate_outcome
from handlers.replies import Reply, Tone
from handlers.router import handle_action, handle_command, handle_form
from matching.claims import ClaimResult, ClaimStatus
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import DncEntry
from tests.scenarios.world import (
    RecordingNotifier,
    World,
    make_services,
    phones_in,
    reply_text,
    scenario_config,
    signed_up_context,
    voter,
)


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> World:
    return World(engine, clock)


@pytest.fixture
def services(world: World) -> Services:
    return make_services(world.engine, world.clock)


def keyed(ctx: Context, key: str) -> Context:
    """The same user's next request, with the platform's id for it."""
    return dataclasses.replace(ctx, request_key=key)


def button(reply: Reply, label: str, near: str = "") -> tuple[str, str]:
    """(action id, value) of the button labelled `label` in the card mentioning `near`."""
    for section in reply.sections:
        for found in section.buttons:
            if found.label == label and near in section.text:
                return found.action_id, found.value
    raise AssertionError(f"no {label!r} near {near!r}")


def press(ctx: Context, reply: Reply, label: str, near: str = "") -> Reply:
    return handle_action(ctx, *button(reply, label, near))


def log_outcome(ctx: Context, batch: Reply, near: str, **answers: Any) -> Reply:
    form = press(ctx, batch, "Log outcome", near).form
    assert form is not None
    return handle_form(ctx, form.submit_action, form.value, answers)


def test_telephony_gets_the_number_and_no_reply_shows_it(world: World, services: Services) -> None:
    world.campaign([voter("Maria", 1), voter("Dave", 2)])
    ana = signed_up_context(services)
    batch = handle_command(ana, "batch")
    called = press(ana, batch, "Call", "Maria")
    outcome_form = press(ana, called, "Log outcome", "Maria")

    telephony = services.telephony
    assert isinstance(telephony, SimulatedTelephony)
    [call] = telephony.calls.values()
    assert call.request.voter_phone == "+15125550201"
    assert call.request.volunteer_phone == "+15125550142"
    assert call.request.caller_id == "+15125550100"
    assert call.request.whisper == "Connecting you to Maria."
    for reply in (batch, called, outcome_form):
        assert phones_in(reply_text(reply), world.voter_phones()) == []
        assert "(512) •••-••01" in reply_text(batch)


def test_a_retried_batch_request_gets_the_same_batch(world: World, services: Services) -> None:
    world.campaign([voter("Maria", 1), voter("Dave", 2)])
    ana = signed_up_context(services)

    first = handle_command(keyed(ana, "cmd-1"), "batch")
    retry = handle_command(keyed(ana, "cmd-1"), "batch")

    assert retry.update_key == first.update_key and retry.sections == first.sections
    assert len(world.rows("SELECT id FROM batch")) == 1


def test_a_second_batch_request_shows_the_open_one(world: World, services: Services) -> None:
    world.campaign([voter("Maria", 1), voter("Dave", 2), voter("Eve", 3), voter("Fay", 4)])
    ana = signed_up_context(services)
    first = handle_command(ana, "batch")
    second = handle_command(ana, "batch")
    assert second.update_key == first.update_key and "You have a batch open" in second.text


def test_a_retried_call_press_rings_once(world: World, services: Services) -> None:
    world.campaign([voter("Maria", 1)])
    ana = signed_up_context(services)
    batch = handle_command(ana, "batch")

    press(keyed(ana, "click-1"), batch, "Call", "Maria")
    retry = press(keyed(ana, "click-1"), batch, "Call", "Maria")

    assert "Calling" in retry.text
    assert isinstance(services.telephony, SimulatedTelephony)
    assert len(services.telephony.calls) == 1
    assert len(world.rows("SELECT id FROM call_attempt")) == 1


def test_a_retried_outcome_is_logged_once_and_completes_the_call(
    world: World, services: Services
) -> None:
    world.campaign([voter("Maria", 1), voter("Dave", 2)])
    ana = signed_up_context(services)
    batch = press(ana, handle_command(ana, "batch"), "Call", "Maria")
    form = press(ana, batch, "Log outcome", "Maria").form
    assert form is not None
    answers = {"result": "talked", "survey:support": "undecided"}

    first = handle_form(keyed(ana, "view-1"), form.submit_action, form.value, answers)
    retry = handle_form(keyed(ana, "view-1"), form.submit_action, form.value, answers)

    assert first.tone is Tone.SUCCESS and retry.tone is Tone.SUCCESS
    assert retry.update_key == first.update_key
    [attempt] = world.rows("SELECT * FROM call_attempt")
    assert attempt.call_sid and attempt.result_code == "talked"
    assert world.rows("SELECT attempts FROM voter WHERE first_name = 'Maria'")[0].attempts == 1
    again = handle_form(keyed(ana, "view-2"), form.submit_action, form.value, answers)
    assert again.tone is Tone.WARNING and "logged already" in again.text


def test_a_logged_card_offers_no_second_outcome(world: World, services: Services) -> None:
    world.campaign([voter("Maria", 1), voter("Dave", 2)])
    ana = signed_up_context(services)
    batch = handle_command(ana, "batch")
    maria_outcome = button(batch, "Log outcome", "Maria")
    press(ana, batch, "Call", "Maria")
    log_outcome(ana, batch, "Maria", result="refused")

    stale = handle_action(ana, *maria_outcome)
    assert stale.tone is Tone.WARNING and "logged already" in stale.text


def test_no_call_outside_calling_hours(world: World, services: Services) -> None:
    world.campaign([voter("Maria", 1)])
    ana = signed_up_context(services)
    batch = handle_command(ana, "batch")
    world.clock.advance(timedelta(hours=12))  # 21:00 in Austin

    refused = press(ana, batch, "Call", "Maria")

    assert refused.tone is Tone.WARNING and refused.text.startswith("Not now")
    assert world.rows("SELECT id FROM call_attempt") == []


def test_no_call_to_a_number_put_on_the_do_not_call_list(world: World, services: Services) -> None:
    world.campaign([voter("Maria", 1)])
    ana = signed_up_context(services)
    batch = handle_command(ana, "batch")
    with session_scope(world.engine) as session:
        session.add(DncEntry(phone="+15125550201", created_at=world.clock.now()))

    refused = press(ana, batch, "Call", "Maria")

    assert refused.tone is Tone.WARNING and "do-not-call" in refused.text
    assert world.rows("SELECT id FROM call_attempt") == []


def test_call_progress_updates_the_attempt_and_the_card(world: World, engine: Engine) -> None:
    from bot.app import build_services
    from bot.settings import load_settings

    world.campaign([voter("Maria", 1)])
    notifier = RecordingNotifier()
    telephony = SimulatedTelephony(world.clock, ring_seconds=3)
    settings = load_settings(database_url=engine.url.render_as_string(hide_password=False))
    services = build_services(
        settings, engine=engine, clock=world.clock, telephony=telephony, notifier=notifier
    )
    ana = signed_up_context(services)
    press(ana, handle_command(ana, "batch"), "Call", "Maria")
    assert telephony.advance() == []  # still ringing

    world.clock.advance(timedelta(seconds=3))
    [connected] = telephony.advance()
    assert connected.status == "in-progress"
    volunteer_id, update = notifier.to_volunteers[-1]
    assert volunteer_id == ana.volunteer_id and "Connected" in reply_text(update)
    assert update.update_key is not None and update.update_key.startswith("batch:")

    world.clock.advance(timedelta(seconds=90))
    telephony.hang_up(connected.call_sid)
    [attempt] = world.rows("SELECT call_status, duration_s, ended_at FROM call_attempt")
    assert (attempt.call_status, attempt.duration_s) == ("completed", 93)
    assert "Call ended" in reply_text(notifier.to_volunteers[-1][1])


class BrokenTelephony:
    def place_call(self, request: CallRequest) -> CallHandle:
        raise ConnectionError(f"cannot reach {request.voter_phone}")

    def send_sms(self, to: str, body: str) -> str:
        raise ConnectionError("down")


def test_a_call_that_cannot_be_placed_says_try_again(world: World) -> None:
    world.campaign([voter("Maria", 1)])
    services = make_services(world.engine, world.clock)
    ana = signed_up_context(services)  # the code arrives; then the phone network goes down
    broken = dataclasses.replace(services, telephony=BrokenTelephony())
    ana = dataclasses.replace(ana, services=broken)

    failed = press(ana, handle_command(ana, "batch"), "Call", "Maria")

    assert failed.tone is Tone.WARNING and "try again" in failed.text
    assert "555" not in reply_text(failed)
    [attempt] = world.rows("SELECT call_status, call_sid FROM call_attempt")
    assert (attempt.call_status, attempt.call_sid) == ("failed", None)


def test_busy_claims_say_try_again(
    world: World, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.campaign([voter("Maria", 1)])
    ana = signed_up_context(services)
    busy = ClaimResult(ClaimStatus.BUSY, message="others are claiming")
    monkeypatch.setattr(handlers.batch, "claim_batch", lambda *a, **k: busy)

    reply = handle_command(ana, "batch")

    assert reply.tone is Tone.WARNING and "try again" in reply.text
    assert [b.action_id for b in reply.buttons] == ["pb:batch:claim"]


def test_nothing_to_call_says_why(world: World, services: Services) -> None:
    world.campaign([voter("Maria", 1, status="done")])
    reply = handle_command(signed_up_context(services), "batch")
    assert reply.text.startswith("Nothing to call: nobody left to call")


def test_someone_elses_card_is_refused_through_the_form_too(
    world: World, services: Services
) -> None:
    world.campaign([voter("Maria", 1)])
    ana = signed_up_context(services)
    bob = signed_up_context(services, "U2", "(512) 555-0143")
    batch = handle_command(ana, "batch")
    _, card = button(batch, "Log outcome", "Maria")

    refused = handle_form(bob, "pb:outcome:submit", card, {"result": "talked"})
    released = handle_action(bob, "pb:batch:release", batch.buttons[0].value)

    assert refused.tone is Tone.WARNING and "another volunteer" in refused.text
    assert released.tone is Tone.WARNING and "another volunteer" in released.text
    assert world.rows("SELECT id FROM call_attempt") == []
    assert world.rows("SELECT closed_at FROM batch")[0].closed_at is None


@pytest.mark.parametrize(
    ("action", "value", "message"),
    [
        ("pb:card:call", "abc", "out of date"),
        ("pb:card:call", "9999", "no longer exists"),
        ("pb:card:outcome", "", "out of date"),
        ("pb:batch:release", "9999", "no longer exists"),
        ("pb:card:everything", "1", "older version"),
    ],
)
def test_stale_or_forged_buttons_are_refused(
    world: World, services: Services, action: str, value: str, message: str
) -> None:
    reply = handle_action(signed_up_context(services), action, value)
    assert reply.tone is Tone.WARNING and message in reply.text


def test_a_do_not_call_outcome_says_the_number_is_listed(world: World, services: Services) -> None:
    world.campaign([voter("Maria", 1)])
    ana = signed_up_context(services)
    batch = handle_command(ana, "batch")
    press(ana, batch, "Call", "Maria")
    logged = log_outcome(ana, batch, "Maria", result="do_not_call")
    assert "do-not-call list" in logged.text
    assert [r.phone for r in world.rows("SELECT phone FROM dnc_entry")] == ["+15125550201"]


# --- validating the outcome form --------------------------------------------------------------

HOUSEHOLD = [CardVoter(1, "Maria", None), CardVoter(2, "José", None)]
ONE = [CardVoter(1, "Maria", None)]


@pytest.mark.parametrize(
    ("answers", "voters", "field", "message"),
    [
        ({}, ONE, "result", "Pick what happened"),
        ({"result": "moved"}, ONE, "result", "Pick what happened"),
        ({"result": "talked"}, HOUSEHOLD, "voter", "Pick who"),
        ({"result": "talked", "voter": "7"}, HOUSEHOLD, "voter", "Pick who"),
        ({"result": "talked", "survey:support": "maybe"}, ONE, "survey:support", "Pick one of"),
        (
            {"result": "not_home", "survey:support": "yes"},
            ONE,
            "survey:support",
            "not with Not home",
        ),
        ({"result": "language"}, ONE, "language_heard", "Which language"),
        ({"result": "talked", "language_heard": "es"}, ONE, "language_heard", "not with Talked"),
        ({"result": "language", "language_heard": "xx"}, ONE, "language_heard", "from the list"),
        ({"result": "talked", "notes": "x" * 2001}, ONE, "notes", "at most 2000"),
    ],
)
def test_invalid_answers_are_refused_with_a_reason(
    answers: dict[str, Any], voters: list[CardVoter], field: str, message: str
) -> None:
    logged, errors = validate_outcome(scenario_config(), answers, voters)
    assert logged is None
    assert message in errors[field]


def test_a_required_survey_question_is_required_only_with_a_survey_result() -> None:
    survey = [{"id": "support", "question": "Support?", "choices": ["yes", "no"], "required": True}]
    config = scenario_config(survey=survey)
    assert (
        "Required with Talked to voter"
        in validate_outcome(config, {"result": "talked"}, ONE)[1]["survey:support"]
    )
    logged, errors = validate_outcome(config, {"result": "not_home"}, ONE)
    assert errors == {} and logged is not None and logged.survey == {}


def test_valid_answers_become_the_outcome() -> None:
    answers = {"result": "talked", "voter": "2", "survey:support": "yes", "notes": "  Warm. "}
    logged, errors = validate_outcome(scenario_config(), answers, HOUSEHOLD)
    assert errors == {} and logged is not None
    assert (logged.voter_id, logged.code.code, logged.survey, logged.notes) == (
        2,
        "talked",
        {"support": "yes"},
        "Warm.",
    )
