"""Who may log and change what, through the router: an organizer's word on a manual dial, a
retried submit that went to review, the volunteer told of the decision, and edits of someone
else's outcome (both databases)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from handlers.context import Context, Platform, Services
from handlers.identity import context_for, grant_role
from handlers.replies import Reply, Tone
from handlers.router import handle_action, handle_command, handle_form
from storage.clock import FrozenClock
from storage.models import Role
from tests.scenarios.world import RecordingNotifier, World, make_services, signed_up_context, voter

MARIA_PHONE = "+15125550201"


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> World:
    return World(engine, clock)


@pytest.fixture
def services(world: World) -> Services:
    return make_services(world.engine, world.clock)


def organizer(services: Services, user_id: str = "UOLGA", *, signed_up: bool = False) -> Context:
    grant_role(
        services.engine,
        services.clock,
        "slack",
        user_id,
        Role.ORGANIZER,
        actor="test",
        workspace="T1",
    )
    if signed_up:
        return signed_up_context(services, user_id, phone="(512) 555-0177")
    return context_for(services, Platform.SLACK, "T1", user_id)


def button(reply: Reply, label: str, near: str = "") -> tuple[str, str]:
    for section in reply.sections:
        for found in section.buttons:
            if found.label == label and near in section.text:
                return found.action_id, found.value
    raise AssertionError(f"no {label!r} near {near!r} in {reply.text!r}")


def log(ctx: Context, batch: Reply, near: str, **answers: str) -> Reply:
    form = handle_action(ctx, *button(batch, "Log outcome", near)).form
    assert form is not None
    return handle_form(ctx, form.submit_action, form.value, answers)


def test_without_manual_dialing_an_organizer_cannot_log_an_uncalled_card_either(
    world: World, services: Services
) -> None:
    world.campaign([voter("Maria", 1)])
    olga = organizer(services, signed_up=True)

    refused = log(olga, handle_command(olga, "batch"), "Maria", result="do_not_call")

    assert refused.tone is Tone.WARNING and "Nobody was called" in refused.text
    assert world.rows("SELECT id FROM dnc_entry") == []
    assert world.rows("SELECT id FROM outcome_review") == []


def test_an_organizers_own_manual_dial_is_logged_on_their_word_and_audited(
    world: World, services: Services
) -> None:
    world.campaign([voter("Maria", 1)], manual_dialing=True)
    olga = organizer(services, signed_up=True)

    logged = log(olga, handle_command(olga, "batch"), "Maria", result="do_not_call")

    assert logged.tone is Tone.SUCCESS and "do-not-call list" in logged.text
    assert [row.phone for row in world.rows("SELECT phone FROM dnc_entry")] == [MARIA_PHONE]
    [audit] = world.rows("SELECT actor, target FROM audit_log WHERE action = 'outcome.unplaced'")
    assert audit.actor == "slack:UOLGA" and audit.target.startswith("voter:")


def test_a_retried_submit_sent_for_review_holds_one_review(
    world: World, services: Services
) -> None:
    world.campaign([voter("Maria", 1)], manual_dialing=True)
    ana = signed_up_context(services)
    form = handle_action(ana, *button(handle_command(ana, "batch"), "Log outcome", "Maria")).form
    assert form is not None
    retry = dataclasses.replace(ana, request_key="slack-view-7")

    first = handle_form(retry, form.submit_action, form.value, {"result": "refused"})
    again = handle_form(retry, form.submit_action, form.value, {"result": "refused"})

    assert "Sent to the organizers for review" in first.text
    assert "Sent to the organizers for review" in again.text and again.tone is Tone.SUCCESS
    assert len(world.rows("SELECT id FROM outcome_review")) == 1
    alerts = world.rows("SELECT action FROM audit_log WHERE action = 'outcome.waiting_review'")
    assert len(alerts) == 1


def test_the_volunteer_hears_the_decision_and_a_second_press_changes_nothing(
    world: World, services: Services
) -> None:
    world.campaign([voter("Maria", 1)], manual_dialing=True)
    ana = signed_up_context(services)
    log(
        ana,
        handle_command(ana, "batch"),
        "Maria",
        result="do_not_call",
        notes="call 512-555-0201 never",
    )
    olga = organizer(services)
    queue = handle_command(olga, "review")
    assert "555-0201" not in queue.sections[0].text  # the number in the notes is masked

    approved = handle_action(olga, *button(queue, "Approve", "Maria"))
    twice = handle_action(olga, *button(queue, "Reject", "Maria"))

    assert approved.text.startswith("Approved")
    assert twice.text.startswith("slack:UOLGA already approved")
    notifier = services.notifier
    assert isinstance(notifier, RecordingNotifier)
    told = [
        reply.text
        for volunteer_id, reply in notifier.to_volunteers
        if volunteer_id == ana.volunteer_id
    ]
    assert told == ["An organizer approved Asked not to be called for Maria: it is logged."]
    assert len(world.rows("SELECT id FROM dnc_entry")) == 1


def test_a_volunteer_cannot_review_or_edit_someone_elses_outcome(
    world: World, services: Services
) -> None:
    world.campaign([voter("Maria", 1)])
    ana = signed_up_context(services)
    batch = handle_command(ana, "batch")
    handle_action(ana, *button(batch, "Call", "Maria"))
    log(ana, batch, "Maria", result="talked", **{"survey:support": "yes"})
    [attempt] = world.rows("SELECT id FROM call_attempt")
    bob = signed_up_context(services, "U2", phone="(512) 555-0199")

    assert "Only organizers" in handle_command(bob, "review").text
    assert "Only organizers" in handle_command(bob, "outcomes <@U1>").text
    opened = handle_action(bob, "pb:outcome:edit", str(attempt.id))
    sent = handle_form(bob, "pb:outcome:save", str(attempt.id), {"survey:support": "no"})

    assert opened.form is None and "another volunteer" in opened.text
    assert sent.tone is Tone.WARNING and "another volunteer" in sent.text
    assert "yes" in str(world.rows("SELECT survey FROM call_attempt")[0].survey)
    assert world.rows("SELECT id FROM audit_log WHERE action = 'outcome.edit'") == []


def test_an_edit_is_audited_with_before_and_after_and_a_repeat_is_no_change(
    world: World, services: Services
) -> None:
    world.campaign([voter("Maria", 1)])
    ana = signed_up_context(services)
    batch = handle_command(ana, "batch")
    handle_action(ana, *button(batch, "Call", "Maria"))
    log(ana, batch, "Maria", result="talked", **{"survey:support": "yes"})
    [attempt] = world.rows("SELECT id FROM call_attempt")
    world.clock.advance(timedelta(minutes=10))  # the last minute of the window

    answers = {"survey:support": "no", "notes": "changed her mind"}
    saved = handle_form(ana, "pb:outcome:save", str(attempt.id), answers)
    same = handle_form(ana, "pb:outcome:save", str(attempt.id), answers)

    assert saved.text.startswith("Saved") and same.text == "Nothing changed."
    [audit] = world.rows("SELECT actor, detail FROM audit_log WHERE action = 'outcome.edit'")
    detail = str(audit.detail)
    assert audit.actor == "slack:U1" and "yes" in detail and "changed her mind" in detail
