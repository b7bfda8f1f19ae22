"""A voter counted as dialed is a voter who was rung (both databases): an attempt that never
reached Twilio (its `<Dial>` answer lost, and the session ended before the leg said anything) is
not counted in the stats, its card is not skipped (its voter goes back to the pool), and it is
not exported as an empty result."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from handlers import voice
from handlers.router import handle_command
from handlers.voice import Dial, DialResult, LegEvent
from storage.campaign_store import campaign_config as stored_config
from storage.clock import FrozenClock
from storage.db import read_session
from storage.export import write_results
from storage.models import Campaign
from tests.scenarios.world import World, voter
from tests.voice_support import Desk


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> World:
    return World(engine, clock)


@pytest.fixture
def desk(world: World) -> Desk:
    world.campaign([voter("Maria", 1), voter("Dave", 2), voter("Eve", 3)])
    return Desk.open(world)


def lost_dial_to_dave(desk: Desk) -> tuple[int, int]:
    """Maria rung and logged; '#' chose Dave, but its answer never reached Twilio, which gave up
    on the call: the volunteer's leg ends with Dave's leg silent."""
    desk.press("Call", "Maria")
    session_id, maria = desk.last_ring()
    voice.volunteer_answered(desk.services, session_id, maria, "CAvolunteer")
    voice.voter_leg_ended(desk.services, session_id, maria, DialResult("completed", "CAv1", 40))
    voice.key_pressed(desk.services, session_id, maria, "1")
    plan = voice.key_pressed(desk.services, session_id, maria, "#")  # the answer that is lost
    assert isinstance(plan[-1], Dial)
    voice.volunteer_leg_status(desk.services, session_id, LegEvent("end", "CAvol", "failed"))
    [dave] = [r.id for r in desk.world.rows("SELECT id FROM call_attempt WHERE id <> :m", m=maria)]
    return maria, dave


def test_an_attempt_that_never_reached_twilio_is_not_counted_skipped_or_exported(
    desk: Desk,
) -> None:
    maria, dave = lost_dial_to_dave(desk)

    attempt = desk.one("SELECT call_status, call_sid FROM call_attempt WHERE id = :d", d=dave)
    assert (attempt.call_status, attempt.call_sid) == ("not-placed", None)
    pool = desk.world.rows("SELECT first_name FROM voter WHERE batch_id IS NULL ORDER BY id")
    assert [row.first_name for row in pool] == ["Maria", "Dave", "Eve"]  # Maria: logged, done
    released = desk.world.rows(
        "SELECT v.first_name FROM batch_item i JOIN voter v ON v.id = i.voter_id "
        "WHERE i.release_reason = 'released' ORDER BY v.id"
    )
    assert [row.first_name for row in released] == ["Dave", "Eve"]  # not skipped: returned

    stats = handle_command(desk.ana, "stats")
    dials = [fact.value for s in stats.sections for fact in s.facts if fact.label == "Dials"]
    assert dials and all(value.startswith("1 today") for value in dials)

    with read_session(desk.world.engine) as session:
        campaign = session.exec(select(Campaign)).one()
        out = io.StringIO()
        exported = write_results(session, campaign, stored_config(campaign), out)
    assert exported == 1  # Maria's call only
    assert "Dave" not in out.getvalue()


def test_its_voter_is_dialed_when_the_batch_is_called_again(desk: Desk) -> None:
    lost_dial_to_dave(desk)

    batch = handle_command(desk.ana, "batch")  # a new batch: Dave is claimable, not skipped

    assert "Dave" in "\n".join(section.text for section in batch.sections)
