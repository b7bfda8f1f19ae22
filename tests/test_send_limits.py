"""The send limits: per asker, per destination and per workspace, over a minute, an hour and a
day, counted in the database; each refusal names its limit and when to try again (both
databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from handlers.send_limits import Asker, Refused, Scope, release, reserve, wait_text
from storage.clock import FrozenClock
from storage.db import session_scope

WORKSPACE = "slack:T1"


def asker(user: str, workspace: str = WORKSPACE) -> Asker:
    return Asker(f"{workspace}:{user}", workspace)


def ask(engine: Engine, clock: FrozenClock, who: Asker, to: str) -> int | Refused:
    with session_scope(engine) as session:
        return reserve(session, who, to, "verification", clock.now())


def phone(n: int) -> str:
    return f"+1737555{n:04d}"


def test_one_asker_gets_one_text_a_minute_whatever_the_phone(
    engine: Engine, clock: FrozenClock
) -> None:
    assert isinstance(ask(engine, clock, asker("U1"), phone(1)), int)
    clock.advance(timedelta(seconds=15))

    refused = ask(engine, clock, asker("U1"), phone(2))

    assert isinstance(refused, Refused) and refused.limit.scope is Scope.ASKER
    assert refused.wait_seconds == 45 and "try again in 45 s" in refused.text()
    assert isinstance(ask(engine, clock, asker("U2"), phone(2)), int)  # someone else may


def test_one_phone_gets_three_texts_an_hour_whoever_asks(
    engine: Engine, clock: FrozenClock
) -> None:
    for n in range(3):
        assert isinstance(ask(engine, clock, asker(f"U{n}", f"slack:T{n}"), phone(1)), int)
        clock.advance(timedelta(minutes=10))

    refused = ask(engine, clock, asker("U9", "discord:42"), phone(1))

    assert isinstance(refused, Refused) and refused.limit.scope is Scope.DESTINATION
    assert refused.text() == (
        "That phone has been sent 3 texts in the last hour, the most we send: try again in"
        " 30 minutes (at 16:00 UTC)."
    )


def test_one_workspace_gets_sixty_texts_an_hour(engine: Engine, clock: FrozenClock) -> None:
    for n in range(60):
        assert isinstance(ask(engine, clock, asker(f"U{n}"), phone(n)), int)

    refused = ask(engine, clock, asker("U99"), phone(99))
    elsewhere = ask(engine, clock, asker("U99", "slack:T2"), phone(99))

    assert isinstance(refused, Refused) and refused.limit.scope is Scope.WORKSPACE
    assert "This workspace has asked for 60 texts in the last hour" in refused.text()
    assert isinstance(elsewhere, int)


def test_a_day_holds_ten_texts_for_one_asker(engine: Engine, clock: FrozenClock) -> None:
    for n in range(10):  # three an hour: under the hourly limit
        assert isinstance(ask(engine, clock, asker("U1"), phone(n)), int)
        clock.advance(timedelta(minutes=20))

    refused = ask(engine, clock, asker("U1"), phone(50))

    assert isinstance(refused, Refused) and refused.limit.most == 10
    assert "in the last day" in refused.text() and "hours (at 15:00 UTC)" in refused.text()
    clock.advance(timedelta(hours=21))
    assert isinstance(ask(engine, clock, asker("U1"), phone(50)), int)


def test_a_released_text_does_not_count(engine: Engine, clock: FrozenClock) -> None:
    reserved = ask(engine, clock, asker("U1"), phone(1))
    assert isinstance(reserved, int)

    release(engine, reserved)

    assert isinstance(ask(engine, clock, asker("U1"), phone(1)), int)


@pytest.mark.parametrize(
    ("wait", "said"),
    [
        (timedelta(seconds=0.2), "in 1 s"),
        (timedelta(seconds=119), "in 119 s"),
        (timedelta(minutes=38, seconds=1), "in 39 minutes (at 10:00 UTC)"),
        (timedelta(hours=5, minutes=1), "in 6 hours (at 10:00 UTC)"),
    ],
)
def test_the_wait_is_said_plainly(wait: timedelta, said: str) -> None:
    assert wait_text(wait, datetime(2026, 11, 3, 10, 0, tzinfo=UTC)) == said
