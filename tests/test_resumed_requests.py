"""Chat requests owed before their ack (handlers/requests.py), both databases: answered as usual,
the owed row is finished; lost with the process that acked them, they are answered after the
restart, their side effects once: a Call click places its call once, or the volunteer is told
it did not go through."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from handlers.outbox import run_due
from handlers.requests import RESUME_AFTER, RESUMED, ChatRequest, owe_request
from handlers.router import handle_action
from handlers.signup import SUBMIT as SIGNUP
from storage.clock import FrozenClock
from storage.outbox import OUTBOX
from tests.fakes.slack_api import FakeSlackAPI
from tests.scenarios.world import World, voter
from tests.slack_support import SlackWorkspace, open_workspace
from tests.test_slack_app import seed_campaign, sign_up
from tests.voice_support import Desk, buttons


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> World:
    return World(engine, clock)


@pytest.fixture
def desk(world: World) -> Desk:
    world.campaign([voter("Maria", 1), voter("Dave", 2)])
    return Desk.open(world)


def call_click(desk: Desk, key: str, near: str = "Maria") -> ChatRequest:
    """The Call button on `near`'s card, pressed on Slack, as the outbox keeps it."""
    [(action_id, value)] = buttons(desk.batch, "Call", near)
    return ChatRequest(
        platform=str(desk.ana.platform),
        workspace=desk.ana.workspace,
        user_id=desk.ana.user_id,
        request_key=key,
        kind="action",
        name=action_id,
        value=value,
    )


def unfinished(engine: Engine) -> int:
    with engine.connect() as conn:
        rows = conn.execute(OUTBOX.select().where(OUTBOX.c.finished_at.is_(None))).all()
    return len(rows)


def test_a_click_lost_right_after_its_ack_places_its_call_once_after_the_restart(
    desk: Desk, clock: FrozenClock
) -> None:
    owe_request(desk.services, call_click(desk, "slack:T1:click-1"))  # acked; then the kill
    assert run_due(desk.services) == 0  # not before the acking process had its chance

    clock.advance(RESUME_AFTER)
    assert run_due(desk.services) == 1
    assert run_due(desk.services) == 0

    assert len(desk.telephony.placed) == 1  # the call, placed once
    told = desk.notifier.to_volunteers[-1][1]
    assert told.text.startswith(RESUMED) and "your phone rings first" in told.text
    assert unfinished(desk.world.engine) == 0


def test_a_click_whose_first_run_stored_the_call_but_never_placed_it_is_told(
    desk: Desk, clock: FrozenClock
) -> None:
    click = call_click(desk, "slack:T1:click-2")
    owe_request(desk.services, click)
    # The first run stored the attempt, then died before telephony rang the volunteer.
    dead = dataclasses.replace(desk.ana, request_key=click.request_key)
    desk.telephony.fail_with = SystemExit  # type: ignore[assignment]
    with pytest.raises(SystemExit):
        handle_action(dead, click.name, click.value)
    assert desk.one("SELECT call_status FROM call_attempt").call_status == "placing"

    clock.advance(RESUME_AFTER)
    assert run_due(desk.services) == 1

    told = desk.notifier.to_volunteers[-1][1]
    assert "did not go through" in told.text  # told, not "calling" with nothing ringing
    attempt = desk.one("SELECT call_status FROM call_attempt")
    assert attempt.call_status == "not-placed"
    assert desk.one("SELECT end_reason FROM call_session").end_reason == "not_placed"
    assert desk.press("Call", "Maria").text.startswith("Calling: your phone rings first")
    assert len(desk.telephony.placed) == 1  # the new press: one ring


@pytest.fixture
async def slack(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> AsyncIterator[SlackWorkspace]:
    async with open_workspace(engine, clock, fake_slack) as workspace:
        yield workspace


@pytest.mark.anyio
async def test_answered_slack_requests_leave_nothing_owed(
    slack: SlackWorkspace, engine: Engine, clock: FrozenClock
) -> None:
    seed_campaign(engine)
    await sign_up(slack)
    await slack.command("batch")
    await slack.press("Call")
    await slack.adapter.drain()

    with engine.connect() as conn:
        kinds = conn.execute(OUTBOX.select().with_only_columns(OUTBOX.c.kind)).scalars().all()
    assert set(kinds) == {"chat.request"} and len(kinds) >= 4  # each owed before its ack
    assert unfinished(engine) == 0  # and each finished once answered
    clock.advance(RESUME_AFTER + timedelta(minutes=1))
    assert run_due(slack.adapter.services) == 0  # nothing is answered twice


def test_a_resumed_request_keeps_the_roles_its_platform_vouched_for(
    desk: Desk, clock: FrozenClock
) -> None:
    """Discord's DISCORD_ROLE_MAP roles are not stored grants: they travel in the row."""
    asked = {
        "platform": str(desk.ana.platform),
        "workspace": desk.ana.workspace,
        "user_id": desk.ana.user_id,
        "kind": "command",
        "name": "review",
    }
    owe_request(desk.services, ChatRequest(request_key="plain", **asked))
    owe_request(desk.services, ChatRequest(request_key="mapped", roles=["organizer"], **asked))
    clock.advance(RESUME_AFTER)

    assert run_due(desk.services) == 2

    plain, mapped = (told.text for _, told in desk.notifier.to_volunteers[-2:])
    assert "Only organizers can use" in plain
    assert "Only organizers" not in mapped and mapped.startswith(RESUMED)


def test_a_resumed_signup_answers_the_volunteer_it_signed_up(
    desk: Desk, clock: FrozenClock
) -> None:
    """Nobody was signed up when the request came in; the answer goes to who it linked."""
    answers = {"name": "Nia", "phone": "(512) 555-0143", "languages": ["en"]}
    signup = ChatRequest(
        platform=str(desk.ana.platform),
        workspace=desk.ana.workspace,
        user_id="newcomer",
        request_key="signup-1",
        kind="form",
        name=SIGNUP,
        answers=answers | {"sms_consent": "yes"},
    )
    owe_request(desk.services, signup)
    clock.advance(RESUME_AFTER)

    assert run_due(desk.services) == 1

    volunteer_id, told = desk.notifier.to_volunteers[-1]
    assert told.text.startswith(RESUMED) and "signed up" in told.text
    assert desk.one("SELECT name FROM volunteer WHERE id = :id", id=volunteer_id).name == "Nia"
