"""Signup: validation of each answer, editing, and phones another record holds: the reply says
nothing of it, and only the code typed back makes the phone (and a recruit's record) the
asker's (both databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from handlers.context import Platform
from handlers.identity import context_for
from handlers.replies import Tone
from handlers.router import handle_action, handle_command, handle_form
from handlers.signup import validate
from storage.clock import FrozenClock
from storage.db import session_scope
from tests.factories import make_volunteer
from tests.scenarios.world import (
    World,
    last_code,
    make_services,
    reply_text,
    signed_up_context,
)

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


def test_a_recruit_from_the_volunteer_list_is_theirs_only_with_the_code(
    engine: Engine, clock: FrozenClock
) -> None:
    with session_scope(engine) as session:
        recruit = make_volunteer(
            session, name="Ana L.", phone="+15125550142", sms_consent=False, phone_verified_at=None
        )
        recruit_id = recruit.id
    services = make_services(engine, clock)
    ana = context_for(services, Platform.SLACK, "T1", "U1")

    welcome = handle_form(ana, "pb:signup:submit", "", GOOD)

    assert welcome.tone is Tone.SUCCESS and welcome.text == "You're signed up, Ana!"
    assert "volunteer list" not in reply_text(welcome)
    ana = context_for(services, Platform.SLACK, "T1", "U1")
    assert ana.volunteer_id != recruit_id  # nothing of the recruit's record yet
    handle_command(ana, f"verify {last_code(services.telephony)}")
    assert context_for(services, Platform.SLACK, "T1", "U1").volunteer_id == recruit_id
    [row] = World(engine, clock).rows("SELECT name, phone_verified_at FROM volunteer")
    assert row.name == "Ana Lopez" and row.phone_verified_at is not None


def test_a_listed_phone_reads_like_any_other_and_stays_where_it_is(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock)
    ana = signed_up_context(services)
    with session_scope(engine) as session:
        make_volunteer(session, phone="+15125550199")
    clock.advance(timedelta(minutes=2))

    listed = handle_form(ana, "pb:signup:submit", "", GOOD | {"phone": "(512) 555-0199"})
    clock.advance(timedelta(minutes=2))
    free = handle_form(ana, "pb:signup:submit", "", GOOD | {"phone": "(512) 555-0177"})

    assert listed.errors == {} and listed.tone is Tone.SUCCESS
    assert reply_text(listed).replace("0199", "0177") == reply_text(free)
    phones = World(engine, clock).rows("SELECT phone FROM volunteer ORDER BY id")
    assert [r.phone for r in phones] == ["+15125550177", "+15125550199"]


def test_a_code_typed_back_moves_a_phone_from_someone_who_never_proved_it(
    engine: Engine, clock: FrozenClock
) -> None:
    """Bob typed Ana's phone first (unproven); Ana proves it: it is hers, Bob's record loses it."""
    services = make_services(engine, clock)
    bob = signed_up_context(services, user_id="U2", phone="(512) 555-0150")
    handle_form(bob, "pb:signup:submit", "", GOOD | {"name": "Bob", "phone": "512 555 0142"})
    clock.advance(timedelta(minutes=2))
    ana = context_for(services, Platform.SLACK, "T1", "U1")
    handle_form(ana, "pb:signup:submit", "", GOOD)
    ana = context_for(services, Platform.SLACK, "T1", "U1")

    assert "verified" in handle_command(ana, f"verify {last_code(services.telephony)}").text

    rows = World(engine, clock).rows(
        "SELECT name, phone, phone_verified_at FROM volunteer ORDER BY id"
    )
    assert [(r.name, r.phone) for r in rows] == [("Bob", None), ("Ana Lopez", "+15125550142")]
    assert rows[1].phone_verified_at is not None
