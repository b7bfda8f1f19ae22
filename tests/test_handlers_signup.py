"""Signup: validation of each answer, editing, and a recruit from the imported volunteer list
who signs up in chat keeps their record (both databases)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from handlers.context import Platform
from handlers.identity import context_for
from handlers.replies import Tone
from handlers.router import handle_action, handle_form
from handlers.signup import validate
from storage.clock import FrozenClock
from storage.db import session_scope
from tests.factories import make_volunteer
from tests.scenarios.world import World, make_services, signed_up_context

GOOD = {"name": "Ana Lopez", "phone": "512 555 0142", "languages": ["en", "es"]}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "   "}, "name", "Tell us your name"),
        ({"name": "x" * 201}, "name", "longer than 200"),
        ({"phone": ""}, "phone", "We need your phone"),
        ({"phone": "555-01"}, "phone", "not a phone number"),
        ({"phone": "call me maybe"}, "phone", "not a phone number"),
        ({"area_code": "51"}, "area_code", "three digits"),
        ({"languages": []}, "languages", "at least one"),
        ({"languages": ["en", "klingon"]}, "languages", "Unknown language: klingon"),
    ],
)
def test_each_bad_answer_is_named(changes: dict[str, object], field: str, message: str) -> None:
    profile, errors = validate(GOOD | changes, "US")  # type: ignore[arg-type]
    assert profile is None and message in errors[field]


def test_a_good_signup_is_normalized() -> None:
    profile, errors = validate(GOOD | {"name": " Ana   Lopez ", "sms_consent": "yes"}, "US")
    assert errors == {} and profile is not None
    assert (profile.name, profile.phone, profile.area_code) == ("Ana Lopez", "+15125550142", "512")
    assert (profile.languages, profile.sms_consent) == (["en", "es"], True)
    typed_area, _ = validate(GOOD | {"area_code": "737", "sms_consent": "no"}, "US")
    assert typed_area is not None and typed_area.area_code == "737" and not typed_area.sms_consent


def test_the_form_starts_from_the_saved_profile(engine: Engine, clock: FrozenClock) -> None:
    ana = signed_up_context(make_services(engine, clock), languages=("en", "vi"))
    form = handle_action(ana, "pb:signup:open", "").form
    assert form is not None
    initial = {item.id: item.initial for item in form.inputs}
    assert initial["phone"] == "+15125550142" and initial["languages"] == ("en", "vi")


def test_a_recruit_from_the_volunteer_list_keeps_their_record(
    engine: Engine, clock: FrozenClock
) -> None:
    with session_scope(engine) as session:
        recruit = make_volunteer(session, name="Ana L.", phone="+15125550142", sms_consent=False)
        recruit_id = recruit.id
    services = make_services(engine, clock)
    ana = context_for(services, Platform.SLACK, "T1", "U1")

    welcome = handle_form(ana, "pb:signup:submit", "", GOOD)

    assert welcome.tone is Tone.SUCCESS and "found you on the volunteer list" in welcome.text
    assert context_for(services, Platform.SLACK, "T1", "U1").volunteer_id == recruit_id
    [row] = World(engine, clock).rows("SELECT name FROM volunteer")
    assert row.name == "Ana Lopez"


def test_a_signed_up_volunteer_cannot_take_a_listed_phone(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock)
    ana = signed_up_context(services)
    with session_scope(engine) as session:
        make_volunteer(session, phone="+15125550199")

    refused = handle_form(ana, "pb:signup:submit", "", GOOD | {"phone": "(512) 555-0199"})

    assert "already linked" in refused.errors["phone"]
    phones = World(engine, clock).rows("SELECT phone FROM volunteer ORDER BY id")
    assert [r.phone for r in phones] == ["+15125550142", "+15125550199"]
