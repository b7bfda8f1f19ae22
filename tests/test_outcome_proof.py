"""An outcome needs a call: results that end or re-route a voter, list a phone or carry survey
answers are recorded only after a call on the card reached telephony; a manual dial's result
waits for an organizer's review. Refusals change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from matching.claims import ClaimResult, claim_batch
from matching.outcomes import NoCallPlaced, Outcome, record_outcome, record_outcomes
from matching.reviews import approve_review, hold_for_review, reject_review
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import Voter
from tests.factories import make_attempt
from tests.matching_support import called, rows, seed, voter

HOUSEHOLD = "+15125550450"


def claimed(
    engine: Engine, clock: FrozenClock, voters: list[dict[str, Any]]
) -> tuple[Any, ClaimResult]:
    world = seed(engine, voters)
    return world, claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)


def snapshot(engine: Engine) -> list[list[Any]]:
    """Everything an outcome may change."""
    return [
        rows(engine, "SELECT * FROM voter ORDER BY id"),
        rows(engine, "SELECT * FROM batch_item ORDER BY id"),
        rows(engine, "SELECT * FROM batch_card ORDER BY id"),
        rows(engine, "SELECT * FROM batch ORDER BY id"),
        rows(engine, "SELECT * FROM call_attempt ORDER BY id"),
        rows(engine, "SELECT * FROM dnc_entry ORDER BY id"),
    ]


@pytest.mark.parametrize(
    ("code", "extra"),
    [
        ("dnc", {}),
        ("wrong_number", {}),
        ("refused", {}),
        ("talked", {}),
        ("language", {"language_heard": "vi"}),
        ("not_home", {"survey": {"support": "yes"}}),  # answers need a call whatever the code
    ],
)
def test_a_result_that_needs_a_call_is_refused_on_an_uncalled_card_and_changes_nothing(
    engine: Engine, clock: FrozenClock, code: str, extra: dict[str, Any]
) -> None:
    world, batch = claimed(engine, clock, [{"phone": HOUSEHOLD}, {"phone": HOUSEHOLD}, {}])
    before = snapshot(engine)

    with pytest.raises(NoCallPlaced) as refused:
        record_outcome(
            engine, Outcome(world.voter_ids[0], code, batch.batch_id, **extra), clock=clock
        )

    assert refused.value.voter_id == world.voter_ids[0]
    assert snapshot(engine) == before


def test_plain_retries_need_no_call(engine: Engine, clock: FrozenClock) -> None:
    world, batch = claimed(engine, clock, [{}, {}])
    results = record_outcomes(
        engine,
        [
            Outcome(world.voter_ids[0], "not_home", batch.batch_id),
            Outcome(world.voter_ids[1], "busy", batch.batch_id),
        ],
        clock=clock,
    )
    assert [result.voter_done for result in results] == [False, False]


def test_a_call_to_another_card_proves_nothing(engine: Engine, clock: FrozenClock) -> None:
    world, batch = claimed(engine, clock, [{}, {}])
    called(engine, batch.batch_id, world.voter_ids[1])
    with pytest.raises(NoCallPlaced):
        record_outcome(engine, Outcome(world.voter_ids[0], "dnc", batch.batch_id), clock=clock)
    assert rows(engine, "SELECT id FROM dnc_entry") == []


def test_a_call_that_never_reached_telephony_proves_nothing(
    engine: Engine, clock: FrozenClock
) -> None:
    """A press Twilio refused (failed, no call sid), or a dial a session cancelled."""
    world, batch = claimed(engine, clock, [{}])
    with session_scope(engine) as session:
        row = session.get(Voter, world.voter_ids[0])
        assert row is not None
        for status in ("failed", "canceled", "placing"):
            make_attempt(
                session,
                row,
                batch_id=batch.batch_id,
                result_code=None,
                call_sid=None,
                call_status=status,
            )
    with pytest.raises(NoCallPlaced):
        record_outcome(engine, Outcome(world.voter_ids[0], "dnc", batch.batch_id), clock=clock)


def test_a_status_telephony_reported_proves_the_call_without_a_call_sid(
    engine: Engine, clock: FrozenClock
) -> None:
    """The voter's leg reported busy through <Dial action>, which may carry no call sid."""
    world, batch = claimed(engine, clock, [{}])
    with session_scope(engine) as session:
        row = session.get(Voter, world.voter_ids[0])
        assert row is not None
        make_attempt(
            session,
            row,
            batch_id=batch.batch_id,
            result_code=None,
            call_sid=None,
            call_status="busy",
        )
    record_outcome(engine, Outcome(world.voter_ids[0], "wrong_number", batch.batch_id), clock=clock)
    assert voter(engine, world.voter_ids[0]).status == "done"


def test_a_call_to_a_household_member_proves_the_card(engine: Engine, clock: FrozenClock) -> None:
    world, batch = claimed(engine, clock, [{"phone": HOUSEHOLD}, {"phone": HOUSEHOLD}])
    called(engine, batch.batch_id, world.voter_ids[0])
    result = record_outcome(engine, Outcome(world.voter_ids[1], "dnc", batch.batch_id), clock=clock)
    assert result.dnc_added


def test_one_uncalled_outcome_refuses_the_whole_set(engine: Engine, clock: FrozenClock) -> None:
    world, batch = claimed(engine, clock, [{}, {}])
    called(engine, batch.batch_id, world.voter_ids[0])
    before = snapshot(engine)
    with pytest.raises(NoCallPlaced):
        record_outcomes(
            engine,
            [
                Outcome(world.voter_ids[0], "talked", batch.batch_id),
                Outcome(world.voter_ids[1], "dnc", batch.batch_id),
            ],
            clock=clock,
        )
    assert snapshot(engine) == before


# --- the review of a manual dial ----------------------------------------------------------------


def held(engine: Engine, clock: FrozenClock, code: str = "dnc") -> tuple[Any, ClaimResult, int]:
    world, batch = claimed(engine, clock, [{"phone": HOUSEHOLD}, {"phone": HOUSEHOLD}, {}])
    outcome = Outcome(
        world.voter_ids[0],
        code,
        batch.batch_id,
        volunteer_id=world.volunteer_ids[0],
        notes="asked to be removed",
        request_key="slack:submit-1",
    )
    review_id = hold_for_review(engine, outcome, actor="slack:U0ANA", clock=clock)
    assert hold_for_review(engine, outcome, actor="slack:U0ANA", clock=clock) == review_id
    return world, batch, review_id


def test_a_held_outcome_takes_the_voter_off_the_card_and_out_of_the_pool(
    engine: Engine, clock: FrozenClock
) -> None:
    world, batch, review_id = held(engine, clock)

    first = voter(engine, world.voter_ids[0])
    assert (first.status, first.batch_id, first.attempts) == ("review", None, 0)
    assert voter(engine, world.voter_ids[1]).batch_id == batch.batch_id  # the household stays
    assert rows(engine, "SELECT id FROM dnc_entry") == []
    assert rows(engine, "SELECT id FROM call_attempt") == []
    [review] = rows(engine, "SELECT * FROM outcome_review")
    assert (review.id, review.result_code, review.decision) == (review_id, "dnc", None)
    other = claim_batch(engine, world.volunteer_ids[0], world.campaign_id, clock=clock)
    assert world.voter_ids[0] not in [v.voter_id for card in other.cards for v in card.voters]


def test_an_approved_review_records_the_outcome_once_and_is_audited(
    engine: Engine, clock: FrozenClock
) -> None:
    world, batch, review_id = held(engine, clock)

    decision = approve_review(engine, review_id, actor="slack:U0OLGA", clock=clock)
    again = reject_review(engine, review_id, actor="slack:U0OTHER", clock=clock)

    assert decision.outcome is not None and decision.outcome.dnc_added
    assert (again.repeated, again.decision, again.decided_by) == (True, "approved", "slack:U0OLGA")
    assert [r.phone for r in rows(engine, "SELECT phone FROM dnc_entry")] == [HOUSEHOLD]
    assert [voter(engine, v).status for v in world.voter_ids[:2]] == ["done", "done"]
    [attempt] = rows(engine, "SELECT * FROM call_attempt")
    assert (attempt.result_code, attempt.notes) == ("dnc", "asked to be removed")
    [audit] = rows(engine, "SELECT * FROM audit_log")
    assert (audit.actor, audit.action, audit.target) == (
        "slack:U0OLGA",
        "outcome.review.approve",
        f"outcome_review:{review_id}",
    )


def test_a_rejected_review_returns_the_voter_and_lists_nothing(
    engine: Engine, clock: FrozenClock
) -> None:
    world, batch, review_id = held(engine, clock)

    decision = reject_review(engine, review_id, actor="slack:U0OLGA", clock=clock)

    assert decision.decision == "rejected" and decision.outcome is None
    row = voter(engine, world.voter_ids[0])
    assert (row.status, row.batch_id, row.attempts) == ("ready", None, 0)
    assert rows(engine, "SELECT id FROM dnc_entry") == []
    assert rows(engine, "SELECT id FROM call_attempt") == []
    [audit] = rows(engine, "SELECT action FROM audit_log")
    assert audit.action == "outcome.review.reject"
