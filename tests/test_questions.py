"""Questions below the chat surfaces: re-raised once, limits, who may reply (the conversations
are in tests/scenarios/broadcast_conversations.py)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from handlers.context import Context, Platform, Services
from handlers.identity import context_for
from handlers.questions import ANSWER, REPLY, reraise_questions
from handlers.replies import Tone
from handlers.router import handle_action, handle_command, handle_form
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import Question, Role
from tests.scenarios.world import RecordingNotifier, World, make_services, signed_up_context, voter

CHANNELS = {"organizers_channels": {"slack": "C0ORGS"}, "reraise_minutes": 10}


@pytest.fixture
def services(engine: Engine, clock: FrozenClock) -> Services:
    World(engine, clock).campaign([voter("Maria", 1)], questions=CHANNELS)
    return make_services(engine, clock)


def organizer(services: Services) -> Context:
    ctx = context_for(services, Platform.SLACK, "T1", "U0OLGA")
    return dataclasses.replace(ctx, roles=frozenset({Role.ORGANIZER}))


def posted(services: Services, fragment: str) -> list[str]:
    notifier = services.notifier
    assert isinstance(notifier, RecordingNotifier)
    return [
        reply.text
        for platform, channel, reply in notifier.to_channels
        if channel == "C0ORGS" and fragment in reply.text
    ]


def question_id(services: Services) -> int:
    with session_scope(services.engine) as session:
        return int(session.exec(select(Question.id)).one() or 0)


def test_an_unanswered_question_is_raised_once_more(services: Services, clock: FrozenClock) -> None:
    ana = signed_up_context(services)
    assert handle_command(ana, "ask Where is the script for Spanish?").tone is Tone.SUCCESS
    assert posted(services, "A volunteer asks")
    clock.advance(timedelta(minutes=9))
    assert reraise_questions(services) == 0
    clock.advance(timedelta(minutes=2))
    assert reraise_questions(services) == 1
    clock.advance(timedelta(minutes=30))
    assert reraise_questions(services) == 0
    assert len(posted(services, "Still waiting")) == 1


def test_an_answered_question_is_not_raised_again(services: Services, clock: FrozenClock) -> None:
    ana = signed_up_context(services)
    handle_command(ana, "ask Where is the script?")
    answered = handle_form(
        organizer(services), ANSWER, str(question_id(services)), {"reply": "Top."}
    )
    assert answered.tone is Tone.SUCCESS
    notifier = services.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert any("Top." in str(reply.sections) for _, reply in notifier.to_volunteers)
    clock.advance(timedelta(minutes=20))
    assert reraise_questions(services) == 0


def test_a_question_over_the_limit_names_it(services: Services) -> None:
    ana = signed_up_context(services)
    refused = handle_command(ana, "ask " + "word " * 300)
    assert refused.tone is Tone.WARNING and "At most 1,000 characters" in refused.text
    with session_scope(services.engine) as session:
        assert session.exec(select(Question)).all() == []


def test_only_organizers_and_the_asker_reply(services: Services) -> None:
    ana = signed_up_context(services, "U1", "(512) 555-0142")
    bob = signed_up_context(services, "U2", "(512) 555-0143")
    handle_command(ana, "ask Is there parking?")
    refused = handle_action(bob, REPLY, str(question_id(services)))
    assert refused.tone is Tone.WARNING and "Only organizers and the volunteer" in refused.text
    assert handle_action(ana, REPLY, str(question_id(services))).form is not None
    assert "Only organizers" in handle_command(bob, "questions").text


def test_need_help_on_another_volunteers_card_is_refused(services: Services) -> None:
    ana = signed_up_context(services, "U1", "(512) 555-0142")
    bob = signed_up_context(services, "U2", "(512) 555-0143")
    batch = handle_command(ana, "batch")
    [card_id] = [
        button.value
        for section in batch.sections
        for button in section.buttons
        if button.label == "Need help"
    ]
    refused = handle_action(bob, "pb:question:help", card_id)
    assert refused.tone is Tone.WARNING and "another volunteer" in refused.text
