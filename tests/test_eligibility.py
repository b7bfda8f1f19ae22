"""Eligibility: the SQL the claim uses and the Python that explains it agree on every voter."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlmodel import Session

from matching.eligibility import pool_conditions, pool_params, pool_rules, why_not_callable
from matching.pool import distinct_zone_keys, load_config, resolve_zone_keys
from matching.tables import VOTER
from matching.zones import callable_keys
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import EPOCH, BatchCard, Campaign, DncEntry, Volunteer, Voter
from tests.factories import make_batch
from tests.matching_support import matching_config, seed

_phones = itertools.count(1)
PLACES: dict[str, dict[str, Any]] = {
    "austin": {"state": "TX", "zip": "78701", "time_zones": "America/Chicago"},
    "new_york": {"state": "NY", "zip": "10001", "time_zones": "America/New_York"},
    "miami": {"state": "FL", "zip": "33101", "time_zones": "America/New_York"},
    "boise": {"state": None, "zip": None, "time_zones": "America/Boise America/Los_Angeles"},
    "toll_free": {"state": None, "zip": None, "time_zones": "America/New_York"},
}
voters = st.lists(
    st.fixed_dictionaries(
        {
            "place": st.sampled_from(sorted(PLACES)),
            "status": st.sampled_from(["ready", "ready", "ready", "done", "removed"]),
            "attempts": st.integers(0, 4),
            "available_in_hours": st.one_of(st.none(), st.integers(-10, 10)),
            "on_dnc": st.booleans(),
            "phone_on_open_card": st.booleans(),
            "held": st.booleans(),
        }
    ),
    min_size=1,
    max_size=8,
)


def _phone(place: str) -> str:
    n = next(_phones)
    area = "800" if place == "toll_free" else "512"
    return f"+1{area}6{n:06d}"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=voters, hour=st.integers(0, 23))
def test_sql_and_python_agree(engine: Engine, specs: list[dict[str, Any]], hour: int) -> None:
    now = datetime(2026, 11, 3, hour, 30, tzinfo=UTC)
    clock = FrozenClock(now)
    config = matching_config(calling_hours={"tue": "09:00-20:00", "wed": "09:00-20:00"})
    fields = [
        PLACES[spec["place"]]
        | {
            "phone": _phone(spec["place"]),
            "status": spec["status"],
            "attempts": spec["attempts"],
            "available_at": EPOCH
            if spec["available_in_hours"] is None
            else now + timedelta(hours=spec["available_in_hours"]),
        }
        for spec in specs
    ]
    world = seed(engine, fields, config=config, clock=clock)
    _hold(engine, world, specs, fields, clock)
    resolve_zone_keys(engine, world.campaign_id)
    with engine.connect() as conn:
        keys = callable_keys(distinct_zone_keys(conn, world.campaign_id), now, config.calling_hours)
        rules = pool_rules(world.campaign_id, load_config(conn, world.campaign_id), now, keys)
        query = select(VOTER.c.id).where(*pool_conditions(conn.dialect.name))
        in_sql = set(conn.execute(query, pool_params(rules)).scalars())
    with Session(engine) as session:
        in_python = set()
        for spec, voter_id in zip(specs, world.voter_ids, strict=True):
            voter = session.get(Voter, voter_id)
            assert voter is not None
            verdict = why_not_callable(
                voter,
                config,
                now,
                on_dnc=spec["on_dnc"],
                phone_on_open_card=spec["phone_on_open_card"],
            )
            assert verdict.ok or verdict.reason
            if verdict.ok:
                in_python.add(voter_id)
    assert in_sql == in_python


def _hold(
    engine: Engine,
    world: Any,
    specs: list[dict[str, Any]],
    fields: list[dict[str, Any]],
    clock: FrozenClock,
) -> None:
    """Put phones on the DNC list, on open cards, and voters on an open batch, as specified."""
    with session_scope(engine) as session:
        campaign = session.get(Campaign, world.campaign_id)
        volunteer = session.get(Volunteer, world.volunteer_ids[0])
        assert campaign is not None and volunteer is not None
        batch = make_batch(session, campaign, volunteer, clock=clock)
        for spec, row, voter_id in zip(specs, fields, world.voter_ids, strict=True):
            if spec["on_dnc"]:
                session.add(DncEntry(phone=row["phone"], created_at=clock.now()))
            if spec["phone_on_open_card"]:
                session.add(
                    BatchCard(
                        batch_id=batch.id or 0,
                        campaign_id=world.campaign_id,
                        phone=row["phone"],
                        assigned_at=clock.now(),
                    )
                )
            if spec["held"]:
                voter = session.get(Voter, voter_id)
                assert voter is not None
                voter.batch_id = batch.id


def test_the_reasons_read_well(engine: Engine, clock: FrozenClock) -> None:
    now = clock.now()
    world = seed(
        engine,
        [
            {"status": "done"},
            {"attempts": 3},
            {"available_at": now + timedelta(hours=2)},
            {"phone": "+18005550100", "state": None, "zip": None},
            {"state": "NY", "zip": "10001", "time_zones": "America/New_York"},
        ],
    )
    config = matching_config()
    with Session(engine) as session:
        reasons = [
            why_not_callable(session.get(Voter, v), config, now).reason  # type: ignore[arg-type]
            for v in world.voter_ids
        ]
        ny = session.get(Voter, world.voter_ids[-1])
        assert ny is not None
        assert why_not_callable(ny, config, now, on_dnc=True).reason == (
            "phone is on the do-not-call list"
        )
        assert why_not_callable(ny, config, now, phone_on_open_card=True).reason == (
            "already on an open batch"
        )
    assert reasons == [
        "status is done",
        "reached the maximum of 3 attempts",
        "called too recently: back at 2026-11-03 17:00 UTC",
        "no geographic time zone (toll-free or non-geographic number)",
        "",
    ]
