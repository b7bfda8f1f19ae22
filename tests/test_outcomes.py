"""Outcomes: retry gaps, terminal results, DNC and wrong numbers for the household, the
language-barrier route, and outcomes that arrive after their lease expired."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from matching.claims import ClaimResult, ClaimStatus, claim_batch
from matching.leases import sweep_expired_batches
from matching.outcomes import (
    AlreadyLogged,
    Outcome,
    OutcomeError,
    record_outcome,
    record_outcomes,
)
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import Voter
from tests.factories import make_attempt
from tests.matching_support import called, rows, seed, voter


def ids(result: ClaimResult) -> list[int]:
    return [v.voter_id for card in result.cards for v in card.voters]


def test_a_retry_comes_back_after_the_minimum_gap(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}])
    volunteer, campaign = world.volunteer_ids[0], world.campaign_id
    batch = claim_batch(engine, volunteer, campaign, clock=clock)
    result = record_outcome(
        engine, Outcome(world.voter_ids[0], "not_home", batch.batch_id), clock=clock
    )
    assert not result.late and not result.voter_done
    row = voter(engine, world.voter_ids[0])
    assert (row.attempts, row.last_result, row.batch_id) == (1, "not_home", None)
    clock.advance(timedelta(hours=4) - timedelta(seconds=1))
    assert claim_batch(engine, volunteer, campaign, clock=clock).status is ClaimStatus.EMPTY
    clock.advance(timedelta(seconds=1))
    assert ids(claim_batch(engine, volunteer, campaign, clock=clock)) == world.voter_ids


def test_the_last_outcome_closes_the_batch_and_frees_its_cards(
    engine: Engine, clock: FrozenClock
) -> None:
    world = seed(engine, [{}, {}])
    batch = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    called(engine, batch.batch_id, world.voter_ids[0])
    record_outcome(engine, Outcome(world.voter_ids[0], "talked", batch.batch_id), clock=clock)
    assert rows(engine, "SELECT closed_at FROM batch")[0].closed_at is None
    record_outcome(engine, Outcome(world.voter_ids[1], "busy", batch.batch_id), clock=clock)
    closed = rows(engine, "SELECT close_reason FROM batch")
    assert [row.close_reason for row in closed] == ["done"]
    assert rows(engine, "SELECT id FROM batch_card WHERE released_at IS NULL") == []
    items = rows(engine, "SELECT result_code, release_reason FROM batch_item ORDER BY voter_id")
    assert [(i.result_code, i.release_reason) for i in items] == [
        ("talked", "outcome"),
        ("busy", "outcome"),
    ]


@pytest.mark.parametrize("code", ["talked", "refused"])
def test_contact_and_terminal_results_end_the_voter(
    engine: Engine, clock: FrozenClock, code: str
) -> None:
    world = seed(engine, [{}])
    batch = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    called(engine, batch.batch_id, world.voter_ids[0])
    result = record_outcome(engine, Outcome(world.voter_ids[0], code, batch.batch_id), clock=clock)
    assert result.voter_done
    assert voter(engine, world.voter_ids[0]).status == "done"
    clock.advance(timedelta(days=2))
    assert claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock).status is (
        ClaimStatus.EMPTY
    )


def test_do_not_call_lists_the_phone_and_ends_the_household(
    engine: Engine, clock: FrozenClock
) -> None:
    shared = "+15125550444"
    world = seed(engine, [{"phone": shared}, {"phone": shared}, {}])
    batch = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    called(engine, batch.batch_id, world.voter_ids[0])
    result = record_outcome(engine, Outcome(world.voter_ids[0], "dnc", batch.batch_id), clock=clock)
    assert result.dnc_added
    assert [r.phone for r in rows(engine, "SELECT phone FROM dnc_entry")] == [shared]
    other = voter(engine, world.voter_ids[1])
    assert (other.status, other.last_result, other.batch_id) == ("done", "dnc", None)
    assert voter(engine, world.voter_ids[2]).batch_id == batch.batch_id  # the rest stay
    again = record_outcome(engine, Outcome(world.voter_ids[1], "dnc", batch.batch_id), clock=clock)
    assert not again.dnc_added  # already listed; recorded all the same


def test_phone_ending_outcomes_logged_together_act_as_one_by_one(
    engine: Engine, clock: FrozenClock
) -> None:
    shared, other_phone = "+15125550446", "+15125550447"
    world = seed(
        engine,
        [{"phone": shared}] * 4 + [{"phone": other_phone}, {}],
    )
    batch = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    first, second, third, unnamed, elsewhere, untouched = world.voter_ids
    called(engine, batch.batch_id, first, elsewhere)
    results = record_outcomes(
        engine,
        [
            Outcome(second, "wrong_number", batch.batch_id),
            Outcome(first, "dnc", batch.batch_id),
            Outcome(elsewhere, "dnc", batch.batch_id),
            Outcome(third, "dnc", batch.batch_id),
        ],
        clock=clock,
    )
    # Only the first do-not-call on each phone lists it; the household member no outcome named
    # is ended by the first phone-ending outcome on its phone.
    assert [r.dnc_added for r in results] == [False, True, True, False]
    phones = {r.phone for r in rows(engine, "SELECT phone FROM dnc_entry")}
    assert phones == {shared, other_phone}
    assert [voter(engine, v).status for v in (first, second, third, elsewhere)] == ["done"] * 4
    ended = voter(engine, unnamed)
    assert (ended.status, ended.last_result, ended.batch_id) == ("done", "wrong_number", None)
    assert voter(engine, untouched).batch_id == batch.batch_id
    assert voter(engine, untouched).status == "ready"


def test_a_wrong_number_ends_everyone_on_it_without_listing_it(
    engine: Engine, clock: FrozenClock
) -> None:
    shared = "+15125550445"
    world = seed(engine, [{"phone": shared}, {"phone": shared}])
    batch = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    called(engine, batch.batch_id, world.voter_ids[0])
    record_outcome(engine, Outcome(world.voter_ids[0], "wrong_number", batch.batch_id), clock=clock)
    assert [voter(engine, v).status for v in world.voter_ids] == ["done", "done"]
    assert rows(engine, "SELECT id FROM dnc_entry") == []
    assert [r.close_reason for r in rows(engine, "SELECT close_reason FROM batch")] == ["done"]


def test_a_language_barrier_reroutes_to_a_speaker(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}], [{}, {"languages": ["en", "vi"]}])
    english_only, vietnamese = world.volunteer_ids
    batch = claim_batch(engine, english_only, world.campaign_id, clock=clock)
    called(engine, batch.batch_id, world.voter_ids[0])
    outcome = Outcome(world.voter_ids[0], "language", batch.batch_id, language_heard="VI")
    record_outcome(engine, outcome, clock=clock)
    row = voter(engine, world.voter_ids[0])
    assert (row.language, row.language_heard, row.attempts) == ("vi", "vi", 1)
    assert claim_batch(engine, english_only, world.campaign_id, clock=clock).status is (
        ClaimStatus.EMPTY
    )
    rerouted = claim_batch(engine, vietnamese, world.campaign_id, clock=clock)
    assert ids(rerouted) == world.voter_ids
    assert rerouted.cards[0].reason.endswith("speaks Vietnamese")


def test_bad_outcomes_are_refused_whole(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}, {}])
    batch = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    first, second = world.voter_ids
    with pytest.raises(OutcomeError, match="unknown result code"):
        record_outcomes(
            engine,
            [Outcome(first, "talked", batch.batch_id), Outcome(second, "nope", batch.batch_id)],
            clock=clock,
        )
    with pytest.raises(OutcomeError, match="language heard"):
        record_outcome(engine, Outcome(first, "language", batch.batch_id), clock=clock)
    with pytest.raises(OutcomeError, match="no voter"):
        record_outcome(engine, Outcome(999_999, "talked"), clock=clock)
    with pytest.raises(OutcomeError, match="one outcome per voter"):
        record_outcomes(engine, [Outcome(first, "talked"), Outcome(first, "busy")], clock=clock)
    assert voter(engine, first).attempts == 0  # nothing half-recorded
    assert rows(engine, "SELECT id FROM call_attempt") == []


def test_an_outcome_renews_the_lease(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}, {}])
    batch = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    clock.advance(timedelta(minutes=20))
    record_outcome(engine, Outcome(world.voter_ids[0], "busy", batch.batch_id), clock=clock)
    clock.advance(timedelta(minutes=29))
    assert sweep_expired_batches(engine, clock=clock) == 0
    clock.advance(timedelta(minutes=1))
    assert sweep_expired_batches(engine, clock=clock) == 1
    assert voter(engine, world.voter_ids[1]).batch_id is None


def test_a_telephony_row_is_completed_not_duplicated(engine: Engine, clock: FrozenClock) -> None:
    world = seed(engine, [{}])
    batch = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    with session_scope(engine) as session:
        voter_row = session.get(Voter, world.voter_ids[0])
        assert voter_row is not None
        attempt = make_attempt(session, voter_row, batch_id=batch.batch_id, result_code=None)
        attempt_id = attempt.id
    record_outcome(
        engine,
        Outcome(
            world.voter_ids[0],
            "talked",
            batch.batch_id,
            call_attempt_id=attempt_id,
            survey={"support": "yes"},
        ),
        clock=clock,
    )
    attempts = rows(engine, "SELECT id, result_code FROM call_attempt")
    assert [(a.id, a.result_code) for a in attempts] == [(attempt_id, "talked")]


def _expire_and_reclaim(engine: Engine, clock: FrozenClock) -> tuple[int, int, ClaimResult]:
    """A claims the voter, the lease runs out, B claims the voter: (voter, A's batch, B's)."""
    world = seed(engine, [{}], [{}, {}])
    first = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    clock.advance(timedelta(minutes=31))
    assert sweep_expired_batches(engine, clock=clock) == 1
    second = claim_batch(engine, world.volunteer_ids[1], world.campaign_id, clock=clock)
    assert ids(second) == world.voter_ids
    return world.voter_ids[0], first.batch_id or 0, second


def test_a_late_terminal_outcome_takes_the_voter_from_the_batch_holding_it(
    engine: Engine, clock: FrozenClock
) -> None:
    voter_id, expired_batch, second = _expire_and_reclaim(engine, clock)
    called(engine, expired_batch, voter_id)
    result = record_outcome(engine, Outcome(voter_id, "refused", expired_batch), clock=clock)
    assert result.late and result.voter_done
    row = voter(engine, voter_id)
    assert (row.status, row.attempts, row.batch_id) == ("done", 1, None)
    items = rows(engine, "SELECT batch_id, release_reason, result_code FROM batch_item ORDER BY id")
    assert [(i.batch_id, i.release_reason, i.result_code) for i in items] == [
        (expired_batch, "expired", "refused"),  # the outcome is kept where it was called
        (second.batch_id, "terminal", None),
    ]
    batches = rows(engine, "SELECT id, close_reason FROM batch ORDER BY id")
    assert [b.close_reason for b in batches] == ["expired", "done"]
    logged = rows(engine, "SELECT batch_id FROM call_attempt WHERE result_code IS NOT NULL")
    assert [a.batch_id for a in logged] == [expired_batch]


def test_a_late_retry_outcome_is_counted_and_leaves_the_new_batch_alone(
    engine: Engine, clock: FrozenClock
) -> None:
    voter_id, expired_batch, second = _expire_and_reclaim(engine, clock)
    result = record_outcome(engine, Outcome(voter_id, "not_home", expired_batch), clock=clock)
    assert result.late and not result.voter_done
    row = voter(engine, voter_id)
    assert (row.attempts, row.batch_id) == (1, second.batch_id)


@pytest.mark.parametrize("on_batch", [True, False], ids=["batch named", "open item"])
def test_a_second_log_of_the_same_voter_on_a_batch_is_refused_and_counts_nothing(
    engine: Engine, clock: FrozenClock, on_batch: bool
) -> None:
    world = seed(engine, [{}, {}])
    batch = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    first = Outcome(world.voter_ids[0], "not_home", batch.batch_id, request_key="twilio:keypad:1")
    record_outcome(engine, first, clock=clock)
    again = Outcome(
        world.voter_ids[0],
        "busy",
        batch.batch_id if on_batch else None,
        request_key="slack:chat-form",
    )

    if on_batch:  # the keypad and the chat form, both about one call
        with pytest.raises(AlreadyLogged):
            record_outcome(engine, again, clock=clock)
    else:  # no batch named: the voter has no open item left, so it is a late outcome
        assert record_outcome(engine, again, clock=clock).late

    logged = 1 if on_batch else 2
    row = voter(engine, world.voter_ids[0])
    assert (row.attempts, row.last_result) == (logged, "not_home" if on_batch else "busy")
    assert len(rows(engine, "SELECT id FROM call_attempt")) == logged
    items = rows(engine, "SELECT result_code FROM batch_item ORDER BY voter_id")
    assert [item.result_code for item in items] == ["not_home", None]
