"""A retried chat request never claims twice or logs an outcome twice: the request key lives on the
side-effect row under a unique index, in the same transaction, so it holds across processes and
after a first attempt that crashed before committing (both databases)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine

import matching.claims
import matching.outcomes
from matching.claims import ClaimResult, ClaimStatus, claim_batch
from matching.leases import release_batch
from matching.outcomes import Outcome, record_outcome
from storage.clock import FrozenClock
from tests.matching_support import called, rows, seed, voter


def test_a_retried_claim_gets_the_first_batch(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}, {}, {}])
    volunteer, campaign = world.volunteer_ids[0], world.campaign_id

    first = claim_batch(engine, volunteer, campaign, 2, clock=clock, request_key="slack:1")
    again = claim_batch(engine, volunteer, campaign, 2, clock=clock, request_key="slack:1")

    assert first.status is ClaimStatus.CLAIMED and not first.repeated
    assert again.repeated and again.batch_id == first.batch_id
    assert again.cards == first.cards
    assert len(rows(engine, "SELECT id FROM batch")) == 1


def test_a_retry_after_release_does_not_claim_again(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}, {}])
    volunteer, campaign = world.volunteer_ids[0], world.campaign_id
    first = claim_batch(engine, volunteer, campaign, clock=clock, request_key="k")
    release_batch(engine, first.batch_id or 0, clock=clock)

    again = claim_batch(engine, volunteer, campaign, clock=clock, request_key="k")

    assert again.repeated and again.cards == ()
    assert len(rows(engine, "SELECT id FROM batch")) == 1
    assert claim_batch(engine, volunteer, campaign, clock=clock, request_key="k2").cards


def test_a_claim_that_crashed_before_commit_is_completed_by_the_retry(
    engine: Engine, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = seed(engine, [{}, {}])
    real_insert_cards = matching.claims._insert_cards

    def crash(*args: Any) -> Any:
        raise ConnectionError("the process died mid-claim")

    monkeypatch.setattr(matching.claims, "_insert_cards", crash)
    with pytest.raises(ConnectionError):
        claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock, request_key="k")
    assert rows(engine, "SELECT id FROM batch") == []

    monkeypatch.setattr(matching.claims, "_insert_cards", real_insert_cards)
    retry = claim_batch(
        engine, world.volunteer_ids[0], world.campaign_id, clock=clock, request_key="k"
    )
    assert retry.status is ClaimStatus.CLAIMED and not retry.repeated
    assert len(retry.cards) == 2


def test_two_attempts_of_one_request_at_once_make_one_batch(
    engine: Engine, clock: FrozenClock, db_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = seed(engine, [{} for _ in range(6)])
    if db_kind == "postgresql":
        # Both attempts pass the "already claimed?" check before either inserts its batch, so
        # the unique index, not the check, has to stop the second one. (SQLite claims take turns
        # under BEGIN IMMEDIATE: the second sees the first's batch.) On PostgreSQL the batch row
        # goes in with the cards, in `_insert_cards`.
        both_checked = threading.Barrier(2, timeout=30)
        real_insert_cards = matching.claims._insert_cards

        def insert_together(*args: Any) -> Any:
            both_checked.wait()
            return real_insert_cards(*args)

        monkeypatch.setattr(matching.claims, "_insert_cards", insert_together)
    results: list[ClaimResult] = []

    def attempt() -> None:
        results.append(
            claim_batch(
                engine, world.volunteer_ids[0], world.campaign_id, 3, clock=clock, request_key="k"
            )
        )

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 2
    assert {result.batch_id for result in results} == {results[0].batch_id}
    assert sorted(result.repeated for result in results) == [False, True]
    assert len(rows(engine, "SELECT id FROM batch")) == 1
    assert len(rows(engine, "SELECT id FROM voter WHERE batch_id IS NOT NULL")) == 3


def test_a_retried_outcome_is_recorded_once(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}])
    batch = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    outcome = Outcome(world.voter_ids[0], "not_home", batch.batch_id, request_key="submit-1")

    first = record_outcome(engine, outcome, clock=clock)
    again = record_outcome(engine, outcome, clock=clock)

    assert not first.repeated and again.repeated
    assert (again.voter_id, again.kind, again.voter_done) == (world.voter_ids[0], "retry", False)
    assert voter(engine, world.voter_ids[0]).attempts == 1
    assert len(rows(engine, "SELECT id FROM call_attempt")) == 1


def test_an_outcome_that_crashed_before_commit_is_recorded_by_the_retry(
    engine: Engine, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = seed(engine, [{}])
    batch = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    called(engine, batch.batch_id, world.voter_ids[0])
    outcome = Outcome(world.voter_ids[0], "talked", batch.batch_id, request_key="submit-1")
    real_settle = matching.outcomes._settle

    def crash(*args: Any) -> None:
        raise ConnectionError("the process died mid-outcome")

    monkeypatch.setattr(matching.outcomes, "_settle", crash)
    with pytest.raises(ConnectionError):
        record_outcome(engine, outcome, clock=clock)
    assert rows(engine, "SELECT id FROM call_attempt WHERE result_code IS NOT NULL") == []

    monkeypatch.setattr(matching.outcomes, "_settle", real_settle)
    retry = record_outcome(engine, outcome, clock=clock)
    assert not retry.repeated and retry.voter_done
    assert voter(engine, world.voter_ids[0]).attempts == 1
