"""Broadcasts below the chat surfaces: bad input, scheduling, the texting gate, forwarded and
retried presses, publishing once, and a reload of the campaign file (the conversations
themselves are in tests/scenarios/broadcast_conversations.py)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import col, select

from handlers.broadcast_publish import publish
from handlers.broadcasts import SUBMIT, send_due_broadcasts
from handlers.context import Context, Platform, Services
from handlers.identity import context_for
from handlers.replies import Reply, Tone
from handlers.router import handle_action, handle_command, handle_form
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import Broadcast, Role, Volunteer
from tests.scenarios.world import (
    RecordingNotifier,
    World,
    make_services,
    signed_up_context,
    voter,
)
from tests.test_cli_campaign import example_file, run

GOOD = {
    "title": "Polling place moved",
    "talking_points": "Everyone votes at City Hall.",
    "script:en": "Hi {{ first_name }}, vote at City Hall.",
    "audience": "everyone",
}


@pytest.fixture
def services(engine: Engine, clock: FrozenClock) -> Services:
    World(engine, clock).campaign([voter("Maria", 1), voter("Dave", 2)])
    return make_services(engine, clock)


def organizer(services: Services, user_id: str = "U0OLGA", key: str | None = None) -> Context:
    ctx = context_for(services, Platform.SLACK, "T1", user_id, request_key=key)
    return dataclasses.replace(ctx, roles=frozenset({Role.ORGANIZER}))


def submit(ctx: Context, **answers: Any) -> Reply:
    return handle_form(ctx, SUBMIT, "", GOOD | answers)


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_empty_title_talking_points_and_script_are_refused(services: Services) -> None:
    signed_up_context(services)
    reply = submit(organizer(services), title="  ", talking_points="", **{"script:en": ""})
    assert set(reply.errors) == {"title", "talking_points", "script:en"}
    assert "cannot be empty" in reply.errors["title"]
    assert "English script is required" in reply.errors["script:en"]
    assert count(services.engine, "broadcast") == 0


def test_over_the_limits_names_the_limit(services: Services) -> None:
    signed_up_context(services)
    reply = submit(organizer(services), title="t" * 101, **{"script:en": "s" * 2001})
    assert "At most 100 characters" in reply.errors["title"]
    assert "At most 2,000 characters" in reply.errors["script:en"]
    assert "this has 2,001" in reply.errors["script:en"]
    assert count(services.engine, "broadcast") == 0


def test_an_audience_that_matches_nobody_is_refused(services: Services) -> None:
    signed_up_context(services)  # speaks English, area code 512
    reply = submit(organizer(services), audience="languages", audience_values="vi")
    assert "Nobody matches" in reply.errors["audience"]
    reply = submit(organizer(services), audience="area_codes", audience_values="51")
    assert "three digits" in reply.errors["audience_values"]
    assert count(services.engine, "broadcast") == 0


def test_a_scheduled_broadcast_is_sent_by_the_due_sweep_once(
    services: Services, clock: FrozenClock
) -> None:
    signed_up_context(services)
    reply = submit(organizer(services), when="10:30")  # 10:00 in New York now
    assert reply.tone is Tone.SUCCESS and "scheduled for 2026-11-03 10:30" in reply.text
    assert send_due_broadcasts(services) == 0
    assert count(services.engine, "script") == 0
    clock.advance(timedelta(minutes=31))
    assert send_due_broadcasts(services) == 1
    assert send_due_broadcasts(services) == 0
    assert count(services.engine, "broadcast_ack") == 0
    with session_scope(services.engine) as session:
        [sent] = session.exec(select(Broadcast)).all()
    assert (sent.status, sent.version, sent.recipients) == ("sent", 2, 1)


def test_texts_go_only_through_the_gate(services: Services) -> None:
    ana = signed_up_context(services, "U1", "(512) 555-0142")
    signed_up_context(services, "U2", "(512) 555-0143")
    with session_scope(services.engine) as session:
        for volunteer in session.exec(select(Volunteer)).all():
            volunteer.sms_consent = True
            if volunteer.id == ana.volunteer_id:
                volunteer.sms_opted_out = True  # texted STOP since
            session.add(volunteer)
    texts_before = len(services.telephony.messages)  # type: ignore[attr-defined]
    assert submit(organizer(services), sms="yes").tone is Tone.SUCCESS
    sent = services.telephony.messages[texts_before:]  # type: ignore[attr-defined]
    assert [message.to for message in sent] == ["+15125550143"]
    assert sent[0].body.startswith("Phonebank update: Polling place moved.")


def test_got_it_from_someone_it_was_not_sent_to_is_refused(services: Services) -> None:
    ana = signed_up_context(services, "U1", "(512) 555-0142")
    assert submit(organizer(services), audience="area_codes", audience_values="512").ok
    bob = signed_up_context(services, "U2", "(737) 555-0143")  # signed up afterwards
    with session_scope(services.engine) as session:
        broadcast_id = session.exec(select(Broadcast.id)).one()
    refused = handle_action(bob, "pb:broadcast:ack", str(broadcast_id))
    assert refused.tone is Tone.WARNING and "not sent to you" in refused.text
    assert "counted" in handle_action(ana, "pb:broadcast:ack", str(broadcast_id)).text
    assert "Already counted" in handle_action(ana, "pb:broadcast:ack", str(broadcast_id)).text
    assert count(services.engine, "broadcast_ack") == 1
    notifier = services.notifier
    assert isinstance(notifier, RecordingNotifier)
    copies = [
        reply.text for _, channel, reply in notifier.to_channels if channel == "U0OLGA"
    ]  # the author's own copy, edited in place (one update key)
    assert copies == ["“Polling place moved”: 1 of 1 have seen it."]


def test_a_retried_submission_and_a_second_publish_send_once(services: Services) -> None:
    signed_up_context(services)
    notifier = services.notifier
    assert isinstance(notifier, RecordingNotifier)
    first = submit(organizer(services, key="slack:view:1"))
    again = submit(organizer(services, key="slack:view:1"))
    assert "Published as script version 2" in first.text and "already submitted" in again.text
    with session_scope(services.engine) as session:
        broadcast_id = int(session.exec(select(Broadcast.id)).one() or 0)
    assert publish(services, broadcast_id, "test").repeated
    dms = [r for _, r in notifier.to_volunteers if r.update_key == f"broadcast:{broadcast_id}"]
    assert len(dms) == 1
    assert count(services.engine, "broadcast") == 1


def test_a_volunteer_cannot_open_or_submit_the_form(services: Services) -> None:
    volunteer = signed_up_context(services)
    assert "Only organizers" in handle_command(volunteer, "broadcast").text
    assert "Only organizers" in handle_form(volunteer, SUBMIT, "", GOOD).text
    assert count(services.engine, "broadcast") == 0


def test_diff_and_revert_need_versions_that_exist(services: Services) -> None:
    olga = organizer(services)
    assert "same script" in handle_command(olga, "script diff 1 1").text
    assert "no version 2" in handle_command(olga, "script diff 1 2").text
    assert "Say which version" in handle_command(olga, "script revert x").text
    assert "no version 5" in handle_command(olga, "script revert 5").text
    assert count(services.engine, "broadcast") == 0


def test_reloading_the_file_keeps_a_newer_broadcast_version(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    """The file's changed script is stored as the file's, but the cards keep the version
    published from chat, and the load says so."""
    path = example_file(tmp_path)
    assert run(db_url, monkeypatch, "campaign", "load", str(path)).exit_code == 0
    services = make_services(engine, clock)
    signed_up_context(services)
    assert "version 2" in submit(organizer(services)).text

    changed = path.read_text(encoding="utf-8").replace("Riverside Votes", "Riverside Forward")
    path.write_text(changed, encoding="utf-8")
    result = run(db_url, monkeypatch, "campaign", "load", str(path))
    assert result.exit_code == 0, result.output
    assert "keep script version 2" in result.stdout and "Polling place moved" in result.stdout
    with session_scope(engine) as session:
        versions = session.exec(select(col(Broadcast.version))).all()
    assert versions == [2]
    with engine.connect() as conn:
        newest = conn.execute(text("SELECT max(version) FROM script")).scalar_one()
    assert newest == 2
