"""Leases: expiry by the sweep, release by the volunteer, and what returns to the pool."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from matching.claims import ClaimResult, ClaimStatus, claim_batch
from matching.leases import release_batch, release_cards, sweep_expired_batches
from matching.outcomes import Outcome, record_outcome
from storage.clock import FrozenClock
from tests.matching_support import rows, seed, voter


def ids(result: ClaimResult) -> list[int]:
    return [v.voter_id for card in result.cards for v in card.voters]


def test_a_batch_expires_after_its_lease_and_its_voters_return(
    engine: Engine, clock: FrozenClock
) -> None:
    world = seed(engine, [{}, {}], [{}, {}])
    batch = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    clock.advance(timedelta(minutes=30) - timedelta(seconds=1))
    assert sweep_expired_batches(engine, clock=clock) == 0
    assert claim_batch(engine, world.volunteer_ids[1], world.campaign_id, clock=clock).status is (
        ClaimStatus.EMPTY
    )
    clock.advance(timedelta(seconds=1))
    assert sweep_expired_batches(engine, clock=clock) == 1
    closed = rows(engine, "SELECT close_reason FROM batch WHERE id = :b", b=batch.batch_id)
    assert closed[0].close_reason == "expired"
    for voter_id in world.voter_ids:
        row = voter(engine, voter_id)
        assert (row.batch_id, row.attempts, row.status) == (None, 0, "ready")  # as they were
    reasons = rows(engine, "SELECT DISTINCT release_reason FROM batch_item")
    assert [r.release_reason for r in reasons] == ["expired"]
    again = claim_batch(engine, world.volunteer_ids[1], world.campaign_id, clock=clock)
    assert sorted(ids(again)) == sorted(world.voter_ids)


def test_a_sweep_leaves_open_leases_and_closed_batches_alone(
    engine: Engine, clock: FrozenClock
) -> None:
    world = seed(engine, [{}, {}, {}], [{}, {}, {}])
    first = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, 1, clock=clock)
    release_batch(engine, first.batch_id or 0, clock=clock)
    clock.advance(timedelta(minutes=10))
    second = claim_batch(engine, world.volunteer_ids[1], world.campaign_id, 1, clock=clock)
    clock.advance(timedelta(minutes=25))
    assert sweep_expired_batches(engine, clock=clock) == 0
    assert voter(engine, ids(second)[0]).batch_id == second.batch_id
    reasons = rows(engine, "SELECT close_reason FROM batch ORDER BY id")
    assert [r.close_reason for r in reasons] == ["released", None]


def test_a_volunteer_can_release_a_batch(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}, {}, {}])
    volunteer, campaign = world.volunteer_ids[0], world.campaign_id
    batch = claim_batch(engine, volunteer, campaign, clock=clock)
    record_outcome(engine, Outcome(world.voter_ids[0], "not_home", batch.batch_id), clock=clock)
    assert release_batch(engine, batch.batch_id or 0, clock=clock) == 2  # the untouched two
    assert release_batch(engine, batch.batch_id or 0, clock=clock) == 0  # already closed
    assert rows(engine, "SELECT id FROM batch_card WHERE released_at IS NULL") == []
    after = claim_batch(engine, volunteer, campaign, clock=clock)
    assert after.status is ClaimStatus.CLAIMED and after.batch_id != batch.batch_id
    assert sorted(ids(after)) == sorted(world.voter_ids[1:])


def test_the_sweep_closes_at_most_its_limit(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{} for _ in range(3)], [{}, {}, {}])
    for volunteer in world.volunteer_ids:
        claim_batch(engine, volunteer, world.campaign_id, 1, clock=clock)
    clock.advance(timedelta(hours=1))
    assert sweep_expired_batches(engine, clock=clock, limit=2) == 2
    assert sweep_expired_batches(engine, clock=clock, limit=2) == 1
    assert rows(engine, "SELECT id FROM voter WHERE batch_id IS NOT NULL") == []


def test_several_cards_are_released_together_and_other_batches_are_left_alone(
    engine: Engine, clock: FrozenClock
) -> None:
    world = seed(engine, [{} for _ in range(6)], [{}, {}])
    mine = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, 4, clock=clock)
    theirs = claim_batch(engine, world.volunteer_ids[1], world.campaign_id, 2, clock=clock)
    first, second, third, fourth = (card.card_id for card in mine.cards)
    foreign = theirs.cards[0].card_id

    returned = release_cards(
        engine, mine.batch_id or 0, [second, third, foreign], clock=clock, reason="released"
    )

    assert returned == 2  # the two voters of my two cards; their card is not mine to release
    open_cards = rows(engine, "SELECT id FROM batch_card WHERE released_at IS NULL ORDER BY id")
    assert [row.id for row in open_cards] == sorted([first, fourth, *ids_of(theirs)])
    released = {v.voter_id for card in mine.cards[1:3] for v in card.voters}
    for voter_id in released:
        assert voter(engine, voter_id).batch_id is None
    reasons = rows(
        engine, "SELECT DISTINCT release_reason FROM batch_item WHERE released_at IS NOT NULL"
    )
    assert [r.release_reason for r in reasons] == ["released"]
    assert release_cards(engine, mine.batch_id or 0, [], clock=clock, reason="released") == 0

    assert (
        release_cards(engine, mine.batch_id or 0, [first, fourth], clock=clock, reason="released")
        == 2
    )
    closed = rows(engine, "SELECT close_reason FROM batch WHERE id = :b", b=mine.batch_id)
    assert closed[0].close_reason == "done"  # no open card left: the batch is closed


def ids_of(result: ClaimResult) -> list[int]:
    return [card.card_id for card in result.cards]
