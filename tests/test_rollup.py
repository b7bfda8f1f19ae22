"""The rollup (storage/rollup.py) equals a plain recount from call_attempt after any sequence of
outcomes, calls without an outcome yet, survey corrections and volunteers in other time zones;
days are the volunteer's own, so a call at 23:59 and one at 00:01 are two days."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import select

from handlers.context import Context, Platform
from handlers.outcome_edit import change_outcome
from matching.outcomes import Outcome, record_outcome
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import CallAttempt, Role, Voter
from storage.rollup import recount, stored
from tests.factories import make_attempt
from tests.matching_support import matching_config, seed
from tests.scenarios.world import make_services

START = datetime(2026, 10, 1, 3, 30, tzinfo=UTC)  # 23:30 in New York, 22:30 in Austin
CODES = ["talked", "not_home", "refused", "busy", "dnc"]
SURVEYS = [{}, {"support": "yes"}, {"support": "no"}, {"support": "yes", "vote_plan": "mail"}]

call = st.tuples(
    st.just("call"),
    st.integers(0, 5),  # voter
    st.integers(0, 2),  # volunteer
    st.sampled_from(CODES),
    st.integers(0, len(SURVEYS) - 1),
    st.booleans(),  # logged (else the call is still without an outcome)
)
correct = st.tuples(st.just("correct"), st.integers(0, 50), st.integers(0, len(SURVEYS) - 1))
wait = st.tuples(st.just("wait"), st.integers(1, 26 * 60))  # minutes
steps = st.lists(st.one_of(call, correct, wait), min_size=1, max_size=25)


_numbers = itertools.count(1000)


def _phone(area: str) -> str:
    """A volunteer phone no other example used (examples share the database)."""
    return f"+1{area}555{next(_numbers):04d}"


def config() -> Any:
    return matching_config(
        pledge={"question": "vote_plan", "answers": ["mail", "early"]},
        supporter={"question": "support", "answers": ["yes"]},
    )


def organizer(engine: Engine, clock: FrozenClock) -> Context:
    services = make_services(engine, clock)
    return Context(
        Platform.SLACK, "T1", "UORG", services, roles=frozenset({Role.ORGANIZER, Role.ADMIN})
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_the_rollup_equals_a_recount(engine: Engine, steps: list[tuple[Any, ...]]) -> None:
    clock = FrozenClock(START)
    campaign_config = config()
    world = seed(
        engine,
        [
            {"area_code": area, "phone": f"+1{area}555{n:04d}"}
            for n, area in enumerate(["512", "512", "737", "212", "718", "512"])
        ],
        volunteers=[{"phone": None}, {"phone": _phone("212")}, {"phone": _phone("310")}],
        config=campaign_config,
        clock=clock,
    )
    ctx = organizer(engine, clock)
    logged: list[int] = []
    for step in steps:
        if step[0] == "wait":
            clock.advance(timedelta(minutes=step[1]))
        elif step[0] == "call":
            _, voter_n, volunteer_n, code, survey_n, is_logged = step
            attempt_id = _place(
                engine, clock, world.voter_ids[voter_n], world.volunteer_ids[volunteer_n]
            )
            if is_logged:
                survey = SURVEYS[survey_n] if code == "talked" else {}
                record_outcome(
                    engine,
                    Outcome(
                        world.voter_ids[voter_n],
                        code,
                        volunteer_id=world.volunteer_ids[volunteer_n],
                        call_attempt_id=attempt_id,
                        survey=survey,
                        vouched_by="slack:UORG",
                    ),
                    clock=clock,
                )
                logged.append(attempt_id)
        elif logged:
            attempt_id = logged[step[1] % len(logged)]
            change_outcome(ctx, attempt_id, SURVEYS[step[2]], "", action="outcome.edit")
    with engine.connect() as conn:
        assert stored(conn, world.campaign_id) == recount(conn, campaign_config, world.campaign_id)


def _place(engine: Engine, clock: FrozenClock, voter_id: int, volunteer_id: int) -> int:
    with session_scope(engine) as session:
        voter = session.get(Voter, voter_id)
        assert voter is not None
        attempt = make_attempt(
            session, voter, clock=clock, volunteer_id=volunteer_id, result_code=None
        )
        return int(attempt.id or 0)


def test_days_are_the_volunteers_own(engine: Engine) -> None:
    """23:59 and 00:01 in Los Angeles are two days there, though both are 08:xx UTC."""
    clock = FrozenClock(datetime(2026, 10, 2, 6, 59, tzinfo=UTC))  # 23:59 in Los Angeles
    campaign_config = config()
    world = seed(
        engine,
        [{"area_code": "512"}, {"area_code": "512", "phone": "+15125550177"}],
        volunteers=[{"phone": _phone("310")}],
        config=campaign_config,
        clock=clock,
    )
    for voter_id in world.voter_ids:
        attempt_id = _place(engine, clock, voter_id, world.volunteer_ids[0])
        record_outcome(
            engine,
            Outcome(
                voter_id,
                "talked",
                volunteer_id=world.volunteer_ids[0],
                call_attempt_id=attempt_id,
                survey={"support": "yes"},
                vouched_by="slack:UORG",
            ),
            clock=clock,
        )
        clock.advance(timedelta(minutes=2))
    with engine.connect() as conn:
        rows = stored(conn, world.campaign_id)
    assert sorted((row.day.isoformat(), row.counts) for row in rows) == [
        ("2026-10-01", (1, 1, 1, 0, 1)),
        ("2026-10-02", (1, 1, 1, 0, 1)),
    ]


def test_a_call_without_an_outcome_counts_nothing(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}], config=config(), clock=clock)
    _place(engine, clock, world.voter_ids[0], world.volunteer_ids[0])
    with engine.connect() as conn:
        assert stored(conn, world.campaign_id) == set()
    with session_scope(engine) as session:
        assert len(list(session.exec(select(CallAttempt)))) == 1


def test_one_volunteers_outcomes_at_once_all_count(engine: Engine) -> None:
    """Outcomes for one volunteer's day logged from several threads at once (the keypad and
    chat, an organizer's approval): none fails and the rollup still equals a recount."""
    clock = FrozenClock(START + timedelta(hours=14))
    campaign_config = config()
    world = seed(
        engine,
        [{"phone": f"+1512555{n:04d}"} for n in range(24)],
        config=campaign_config,
        clock=clock,
    )
    volunteer = world.volunteer_ids[0]
    placed = [
        (voter_id, _place(engine, clock, voter_id, volunteer)) for voter_id in world.voter_ids
    ]
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def log(share: list[tuple[int, int]]) -> None:
        start.wait()
        for voter_id, attempt_id in share:
            try:
                record_outcome(
                    engine,
                    Outcome(
                        voter_id,
                        "talked",
                        volunteer_id=volunteer,
                        call_attempt_id=attempt_id,
                        survey={"support": "yes"},
                        vouched_by="slack:UORG",
                    ),
                    clock=clock,
                )
            except BaseException as error:  # noqa: BLE001 - collected for the assertion
                errors.append(error)

    threads = [threading.Thread(target=log, args=(placed[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as conn:
        rows = stored(conn, world.campaign_id)
        assert rows == recount(conn, campaign_config, world.campaign_id)
    assert sum(row.counts[0] for row in rows) == 24
