"""The batch claim: order and reasons, households, the language rule, eligibility, busy versus
empty, and nobody in two open batches under many concurrent claimers (both databases)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from matching.claims import ClaimResult, ClaimStatus, claim_batch
from matching.leases import release_batch
from matching.outcomes import Outcome, record_outcomes
from matching.pool import resolve_all_zone_keys, resolve_zone_keys
from matching.ranking import VoterPlace, caller_profile, may_call, rank_key
from storage import migrate
from storage.clock import FrozenClock
from storage.db import make_engine, session_scope
from storage.models import DncEntry
from tests.matching_support import (
    matching_config,
    open_batches_per_phone,
    open_batches_per_voter,
    rows,
    seed,
    voter,
)

SPANISH_SPEAKER = {"languages": ["en", "es"]}


def austin(n: int, **fields: Any) -> dict[str, Any]:
    """A voter in the volunteer's own area code, 737."""
    return {"phone": f"+1737200{n:04d}", "area_code": "737"} | fields


def new_york(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "phone": f"+1212200{n:04d}",
        "area_code": "212",
        "state": "NY",
        "zip": "10001",
        "time_zones": "America/New_York",
    } | fields


def voter_ids(result: ClaimResult) -> list[int]:
    return [v.voter_id for card in result.cards for v in card.voters]


def test_a_claim_fills_the_batch_in_matching_order_with_reasons(
    engine: Engine, clock: FrozenClock
) -> None:
    world = seed(
        engine,
        [
            new_york(1),
            {"language": "es"},  # same state (TX), Spanish
            {},  # same state (TX)
            austin(1),
            austin(2, language="es"),
        ],
        [SPANISH_SPEAKER],
    )
    result = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, 4, clock=clock)
    assert result.status is ClaimStatus.CLAIMED
    ny, tx_es, tx_en, area_en, area_es = world.voter_ids
    assert voter_ids(result) == [area_es, area_en, tx_es, tx_en]
    assert [card.reason for card in result.cards] == [
        "same area code 737; speaks Spanish",
        "same area code 737",
        "same state TX; speaks Spanish",
        "same state TX",
    ]
    assert voter(engine, ny).batch_id is None
    assert {voter(engine, v).batch_id for v in voter_ids(result)} == {result.batch_id}


def test_a_claim_on_a_migrated_database(empty_db_url: URL, clock: FrozenClock) -> None:
    # PostgreSQL claims call phonebank_claim_pick, which migration 0004 creates (the other
    # tests build their schema from the models, which create it with the tables).
    migrate.upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    try:
        world = seed(engine, [austin(1), {}, new_york(1)])
        result = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, 2, clock=clock)
        assert voter_ids(result) == world.voter_ids[:2]
    finally:
        engine.dispose()


def test_the_default_size_is_the_campaigns_batch_size(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{} for _ in range(7)], config=matching_config(batch_size=3))
    result = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    assert len(result.cards) == 3


def test_a_household_comes_on_one_card(engine: Engine, clock: FrozenClock) -> None:
    shared = "+15125550777"
    world = seed(engine, [{"phone": shared, "priority": 1}, {"phone": shared}, {"priority": 2}])
    result = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, 1, clock=clock)
    assert len(result.cards) == 1
    assert result.cards[0].phone == shared
    assert sorted(voter_ids(result)) == sorted(world.voter_ids[:2])


def test_language_is_a_hard_rule(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{"language": "es"}], [{}, SPANISH_SPEAKER])
    english_only, bilingual = world.volunteer_ids
    assert claim_batch(engine, english_only, world.campaign_id, clock=clock).status is (
        ClaimStatus.EMPTY
    )
    result = claim_batch(engine, bilingual, world.campaign_id, clock=clock)
    assert voter_ids(result) == world.voter_ids
    assert "speaks Spanish" in result.cards[0].reason


def test_the_default_language_is_configurable(engine: Engine, clock: FrozenClock) -> None:
    world = seed(
        engine,
        [{"language": "es"}, {"language": "en"}],
        [{"languages": ["es"]}],
        config=matching_config(default_language="es", scripts={"es": "Hola"}),
    )
    result = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    assert voter_ids(result) == [world.voter_ids[0]]


def test_a_volunteer_holding_a_batch_gets_it_back(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{} for _ in range(4)])
    first = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, 2, clock=clock)
    again = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, 2, clock=clock)
    assert again.status is ClaimStatus.HELD
    assert again.batch_id == first.batch_id
    assert voter_ids(again) == voter_ids(first)


def test_ineligible_voters_are_never_claimed(engine: Engine, clock: FrozenClock) -> None:
    now = clock.now()
    world = seed(
        engine,
        [
            {"phone": "+15125550901"},  # on the do-not-call list, below
            {"phone": "+18005550100", "state": None, "zip": None},  # toll-free
            {"attempts": 3, "last_attempt_at": now - timedelta(days=1)},  # used up
            {  # called an hour ago: back in three
                "attempts": 1,
                "last_attempt_at": now - timedelta(hours=1),
                "available_at": now + timedelta(hours=3),
            },
            {"attempts": 1, "available_at": now + timedelta(minutes=5)},  # not back yet
            {"status": "done"},
            {"status": "removed"},
            {"attempts": 2, "last_attempt_at": now - timedelta(hours=5)},  # eligible
        ],
    )
    with session_scope(engine) as session:
        session.add(DncEntry(phone="+15125550901", created_at=now))
    result = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, 10, clock=clock)
    assert voter_ids(result) == [world.voter_ids[-1]]


def test_a_phone_on_an_open_card_is_not_claimed_again(engine: Engine, clock: FrozenClock) -> None:
    shared = "+15125550888"
    world = seed(
        engine, [{"phone": shared}, {"phone": shared, "language": "es"}], [{}, SPANISH_SPEAKER]
    )
    english_only, bilingual = world.volunteer_ids
    first = claim_batch(engine, english_only, world.campaign_id, clock=clock)
    assert voter_ids(first) == [world.voter_ids[0]]  # the Spanish speaker is not theirs
    second = claim_batch(engine, bilingual, world.campaign_id, clock=clock)
    assert second.status is ClaimStatus.EMPTY
    release_batch(engine, first.batch_id or 0, clock=clock)
    third = claim_batch(engine, bilingual, world.campaign_id, clock=clock)
    assert sorted(voter_ids(third)) == sorted(world.voter_ids)


def test_nobody_is_claimed_outside_calling_hours(engine: Engine) -> None:
    world = seed(engine, [{}, new_york(1)])
    night = FrozenClock(datetime(2026, 11, 4, 3, 30, tzinfo=UTC))  # 22:30 NY, 21:30 Austin
    result = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=night)
    assert result.status is ClaimStatus.EMPTY
    assert "calling hours" in result.message
    early = FrozenClock(datetime(2026, 11, 3, 13, 30, tzinfo=UTC))  # 08:30 NY, 07:30 Austin
    result = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=early)
    assert voter_ids(result) == [world.voter_ids[1]]


def test_empty_means_nothing_left(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}, {}], [{}, {}])
    claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    result = claim_batch(engine, world.volunteer_ids[1], world.campaign_id, clock=clock)
    assert result.status is ClaimStatus.EMPTY
    assert result.batch_id is None
    assert (
        rows(engine, "SELECT id FROM batch WHERE volunteer_id = :v", v=world.volunteer_ids[1]) == []
    )


def test_busy_while_another_claim_holds_the_voters(
    engine: Engine, clock: FrozenClock, db_kind: str
) -> None:
    world = seed(engine, [{}, {}])
    resolve_zone_keys(engine, world.campaign_id)
    volunteer, campaign = world.volunteer_ids[0], world.campaign_id
    with engine.connect() as holder:
        holder.begin()
        if db_kind == "postgresql":
            # Rows locked by a claim in flight: eligible, but not ours to take this instant.
            holder.execute(
                text("SELECT id FROM voter WHERE campaign_id = :c FOR UPDATE"), {"c": campaign}
            )
            busy = claim_batch(engine, volunteer, campaign, clock=clock)
            holder.rollback()
            assert busy.status is ClaimStatus.BUSY
            assert "try again" in busy.message
        else:
            # SQLite claims take turns under BEGIN IMMEDIATE: nothing is ever held mid-claim.
            holder.rollback()
    result = claim_batch(engine, volunteer, campaign, clock=clock)
    assert sorted(voter_ids(result)) == sorted(world.voter_ids)


def test_zone_keys_are_resolved_by_the_claim(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}, new_york(1), {"phone": "+18885550100", "state": None}])
    claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    keys = [voter(engine, v).calling_zone_key for v in world.voter_ids]
    assert keys == ["America/Chicago", "America/New_York", ""]


def test_zone_keys_can_be_resolved_ahead_of_claims(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [new_york(n) for n in range(7)])
    assert resolve_all_zone_keys(engine, world.campaign_id) == 7
    assert resolve_all_zone_keys(engine, world.campaign_id) == 0
    assert {voter(engine, v).calling_zone_key for v in world.voter_ids} == {"America/New_York"}


def test_unknown_volunteer_or_campaign(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}])
    for volunteer_id, campaign_id in ((999, world.campaign_id), (world.volunteer_ids[0], 999)):
        try:
            claim_batch(engine, volunteer_id, campaign_id, clock=clock)
        except LookupError:
            continue
        raise AssertionError("claim for a missing volunteer or campaign did not fail")


# ---- ordering, as a property ---------------------------------------------------------------

voter_fields = st.fixed_dictionaries(
    {
        "place": st.sampled_from(["austin", "tx", "ny", "el_paso"]),
        "language": st.sampled_from(["en", "en", "es", "vi"]),
        "priority": st.integers(0, 3),
        "attempts": st.integers(0, 2),
    }
)
PLACES = {
    "austin": {"area_code": "737"},
    "tx": {},
    "ny": {"area_code": "212", "state": "NY", "zip": "10001", "time_zones": "America/New_York"},
    "el_paso": {"area_code": "915", "zip": "79901", "time_zones": "America/Denver"},
}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pool=st.lists(voter_fields, min_size=1, max_size=12),
    languages=st.sampled_from([["en"], ["en", "es"], ["es"], ["en", "vi", "es"]]),
    size=st.integers(1, 6),
)
def test_a_claim_takes_the_best_ranked_voters(
    engine: Engine,
    clock: FrozenClock,
    pool: list[dict[str, Any]],
    languages: list[str],
    size: int,
) -> None:
    old = clock.now() - timedelta(days=2)
    voters = [
        PLACES[fields["place"]]
        | {
            "phone": f"+1{PLACES[fields['place']].get('area_code', '512')}300{i:04d}",
            "language": fields["language"],
            "priority": fields["priority"],
            "attempts": fields["attempts"],
            "last_attempt_at": old if fields["attempts"] else None,
            "available_at": old,
        }
        for i, fields in enumerate(pool)
    ]
    world = seed(engine, voters, [{"languages": languages}])
    result = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, size, clock=clock)
    profile = caller_profile(languages, "737", "+17375550100")
    places = {row.id: _place(row) for row in _voters(engine, world.campaign_id)}
    eligible = sorted(
        rank_key(profile, p) for p in places.values() if may_call(profile, p.language)
    )
    claimed = sorted(rank_key(profile, places[v]) for v in voter_ids(result))
    assert claimed == eligible[:size]
    if eligible:
        assert result.status is ClaimStatus.CLAIMED
    else:
        assert result.status is ClaimStatus.EMPTY


def _voters(engine: Engine, campaign_id: int) -> list[Any]:
    return rows(engine, "SELECT * FROM voter WHERE campaign_id = :c", c=campaign_id)


def _place(row: Any) -> VoterPlace:
    available = row.available_at
    if isinstance(available, str) or available.tzinfo is None:  # SQLite through raw SQL
        available = datetime.fromisoformat(str(available)).replace(tzinfo=UTC)
    return VoterPlace(
        row.language, row.area_code, row.state, row.calling_zone_key, row.priority,
        row.attempts, available,
    )  # fmt: skip


# ---- concurrency -----------------------------------------------------------------------------


def _claimers(engine: Engine, world: Any, clock: FrozenClock, work: Any) -> list[BaseException]:
    """Run `work(volunteer_id)` on one thread per volunteer, all released at once."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(world.volunteer_ids))

    def run(volunteer_id: int) -> None:
        try:
            start.wait()
            work(volunteer_id)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(v,)) for v in world.volunteer_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _households(count: int) -> list[dict[str, Any]]:
    """`count` voters; every third phone rings for two of them."""
    voters = []
    for i in range(count):
        phone = f"+1512400{(i // 2 if i % 3 == 0 else i + 1000):04d}"
        voters.append({"phone": phone, "language": "es" if i % 7 == 0 else "en"})
    return voters


def test_concurrent_claims_never_hand_anyone_out_twice(engine: Engine, clock: FrozenClock) -> None:
    volunteers = [{"languages": ["en", "es"] if i % 2 else ["en"]} for i in range(8)]
    world = seed(engine, _households(60), volunteers)
    results: list[ClaimResult] = []

    def claim_until_empty(volunteer_id: int) -> None:
        while True:
            result = claim_batch(engine, volunteer_id, world.campaign_id, 3, clock=clock)
            if result.status is ClaimStatus.EMPTY:
                return
            if result.status is ClaimStatus.CLAIMED:
                results.append(result)
                outcomes = [Outcome(v, "not_home", result.batch_id) for v in voter_ids(result)]
                record_outcomes(engine, outcomes, clock=clock)

    assert _claimers(engine, world, clock, claim_until_empty) == []
    claimed = [v for result in results for v in voter_ids(result)]
    assert sorted(claimed) == sorted(world.voter_ids)  # everyone once, nobody twice
    # And from the rows, independently of what the claims returned:
    assert (
        rows(engine, "SELECT voter_id FROM batch_item GROUP BY voter_id HAVING count(*) > 1") == []
    )
    assert (
        rows(
            engine,
            "SELECT v.phone FROM batch_item i JOIN voter v ON v.id = i.voter_id"
            " GROUP BY v.phone HAVING count(DISTINCT i.batch_id) > 1",
        )
        == []
    )


def test_claims_racing_releases_keep_every_open_batch_disjoint(
    engine: Engine, clock: FrozenClock
) -> None:
    world = seed(engine, _households(30), [{"languages": ["en", "es"]} for _ in range(8)])

    def claim_and_release(volunteer_id: int) -> None:
        for _ in range(12):
            result = claim_batch(engine, volunteer_id, world.campaign_id, 4, clock=clock)
            assert open_batches_per_voter(engine) == []
            assert open_batches_per_phone(engine) == []
            if result.batch_id is not None:
                release_batch(engine, result.batch_id, clock=clock)

    assert _claimers(engine, world, clock, claim_and_release) == []
    assert rows(engine, "SELECT id FROM batch WHERE closed_at IS NULL") == []
    assert rows(engine, "SELECT id FROM voter WHERE batch_id IS NOT NULL") == []
