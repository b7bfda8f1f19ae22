"""A replayed Slack request (the same signed body, inside Bolt's five minutes) changes nothing and
uses up nothing: through the real Bolt app, against the fake Web API (both databases)."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bot.slack.replay import KEEP, SOURCE, RequestLedger, request_key
from bot.telephony.simulated import SimulatedTelephony
from storage.clock import FrozenClock
from storage.db import read_session
from storage.models import ProcessedEvent, Volunteer
from tests.fakes.slack_api import FakeSlackAPI
from tests.scenarios.world import make_services
from tests.slack_support import FORM, SlackWorkspace, open_workspace, signed_headers

pytestmark = pytest.mark.anyio
PHONE = "(737) 555-0178"


async def sign_up_with_texts(sam: SlackWorkspace) -> str:
    """Sam signs up, agreeing to texts; the code texted to him."""
    await sam.command("signup")
    await sam.submit(
        {"name": "Sam Rivera", "phone": PHONE, "languages": ["en"], "sms_consent": True}
    )
    assert sam.errors == {}
    telephony = sam.adapter.services.telephony
    assert isinstance(telephony, SimulatedTelephony)
    return re.findall(r"\b\d{6}\b", telephony.messages[-1].body)[0]


def verified(engine: Engine) -> bool:
    with read_session(engine) as session:
        volunteer = session.exec(select(Volunteer)).one()
        return volunteer.phone_verified_at is not None


async def test_a_replayed_wrong_code_uses_up_no_tries(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    async with open_workspace(engine, clock, fake_slack) as sam:
        code = await sign_up_with_texts(sam)
        wrong = "000000" if code != "000000" else "111111"
        body = sam.command_body(f"verify {wrong}")
        headers = {"Content-Type": FORM, **signed_headers(body)}
        first = await sam.http.post("/slack/events", content=body, headers=headers)
        await sam.adapter.drain()
        sam.read_calls()
        assert first.status_code == 200 and "4 tries left" in sam.latest().text
        answers = len(sam.messages)

        replays = [
            await sam.http.post("/slack/events", content=body, headers=headers) for _ in range(6)
        ]
        await sam.adapter.drain()
        sam.read_calls()

        assert [(r.status_code, r.content) for r in replays] == [(200, b"")] * 6
        assert len(sam.messages) == answers  # nothing was said to the replays
        await sam.command(f"verify {code}")  # before the fix: "Too many wrong tries"
        assert verified(engine), sam.latest().text


async def test_a_replayed_command_runs_once(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    async with open_workspace(engine, clock, fake_slack) as sam:
        await sam.command("help")
        body = sam.command_body("signup")
        headers = {"Content-Type": FORM, **signed_headers(body)}
        for _ in range(3):
            await sam.http.post("/slack/events", content=body, headers=headers)
        await sam.adapter.drain()

        assert len(fake_slack.calls("views.open")) == 1  # one modal opened, not three


async def test_the_same_body_signed_anew_is_not_a_replay(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    """A request Slack itself repeats is signed again, with its own timestamp: it still reaches
    the listeners (which answer a retry as its first attempt was)."""
    async with open_workspace(engine, clock, fake_slack) as sam:
        body = sam.command_body("help")
        now = int(time.time())
        for timestamp in (now - 1, now):
            headers = {"Content-Type": FORM, **signed_headers(body, timestamp=timestamp)}
            assert (await sam.http.post("/slack/events", content=body, headers=headers)).text == ""
        await sam.adapter.drain()

        assert len(fake_slack.calls("response_url")) == 2


def test_old_requests_are_forgotten_now_and_then(engine: Engine, clock: FrozenClock) -> None:
    ledger = RequestLedger(make_services(engine, clock))
    assert ledger.first_time("slack:1:a") and not ledger.first_time("slack:1:a")
    clock.advance(KEEP + timedelta(seconds=1))

    assert ledger.first_time("slack:2:b")  # purges the first
    with read_session(engine) as session:
        keys = session.exec(select(ProcessedEvent.key).where(ProcessedEvent.source == SOURCE)).all()
    assert keys == ["slack:2:b"]


def test_a_request_without_a_signature_has_no_key() -> None:
    assert request_key({}) is None
    assert request_key({"x-slack-request-timestamp": ["1"]}) is None
    assert request_key({"x-slack-signature": ["v0=ab"]}) is None
