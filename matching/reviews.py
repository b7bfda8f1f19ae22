"""Outcomes that wait for an organizer: a manual dial's result that would change shared data.

In a campaign with manual dialing a volunteer sees the voter's number and may call it by hand,
so a card can hold a real conversation that no call through Phonebank proves. A result that
needs a call (matching/outcomes.py `needs_a_call`) logged there by a volunteer is held
(`hold_for_review`): the review row keeps the whole outcome, the voter leaves the card and waits
out of the pool (`VoterStatus.REVIEW`), and nothing shared changes. An organizer then approves
it (`approve_review`: recorded as logged, vouched by them, so a do-not-call reaches the list)
or rejects it (`reject_review`: the voter goes back to the pool). Each decision is taken once,
under the review row's lock, and written to the audit log in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from matching.outcomes import (
    AlreadyLogged,
    Outcome,
    OutcomeError,
    OutcomeResult,
    record_in,
    settle,
)
from matching.pool import load_config, run_transaction
from matching.tables import ITEM, REVIEW, VOTER
from storage.clock import Clock
from storage.models import AuditLog, VoterStatus

AUDIT = AuditLog.__table__  # type: ignore[attr-defined]
APPROVED = "approved"
REJECTED = "rejected"


@dataclass(frozen=True)
class Decision:
    """What became of a review: decided now, or found decided already (`repeated`)."""

    review_id: int
    decision: str
    decided_by: str
    voter_id: int
    volunteer_id: int | None
    result_code: str
    repeated: bool = False
    outcome: OutcomeResult | None = None  # an approval decided now: what recording did


def hold_for_review(engine: Engine, outcome: Outcome, *, actor: str, clock: Clock) -> int:
    """Hold the outcome for an organizer: the voter leaves the card, nothing shared changes.
    The review's id (a retried request finds the one its first attempt made)."""
    now = clock.now()
    try:
        return run_transaction(engine, lambda conn: _hold(conn, outcome, actor, now))
    except IntegrityError:
        if outcome.request_key is None:
            raise
        return run_transaction(engine, lambda conn: _hold(conn, outcome, actor, now))


def approve_review(engine: Engine, review_id: int, *, actor: str, clock: Clock) -> Decision:
    """Record the held outcome as its volunteer logged it, vouched for by `actor`."""
    now = clock.now()
    return run_transaction(engine, lambda conn: _decide(conn, review_id, actor, now, APPROVED))


def reject_review(engine: Engine, review_id: int, *, actor: str, clock: Clock) -> Decision:
    """Drop the held outcome: the voter goes back to the pool, as if never logged."""
    now = clock.now()
    return run_transaction(engine, lambda conn: _decide(conn, review_id, actor, now, REJECTED))


def _hold(conn: Connection, outcome: Outcome, actor: str, now: datetime) -> int:
    if outcome.request_key is not None:
        earlier = conn.execute(
            select(REVIEW.c.id).where(REVIEW.c.request_key == outcome.request_key)
        ).scalar()
        if earlier is not None:
            return int(earlier)
    voter = conn.execute(
        select(VOTER.c.id, VOTER.c.campaign_id)
        .where(VOTER.c.id == outcome.voter_id)
        .with_for_update()
    ).first()
    if voter is None or outcome.batch_id is None:
        raise OutcomeError(f"no voter {outcome.voter_id} on a batch")
    item = conn.execute(
        select(ITEM.c.id, ITEM.c.card_id, ITEM.c.released_at, ITEM.c.result_code)
        .where(ITEM.c.voter_id == outcome.voter_id, ITEM.c.batch_id == outcome.batch_id)
        .order_by(ITEM.c.id.desc())
    ).first()
    if item is not None and item.result_code is not None:
        raise AlreadyLogged(f"voter {outcome.voter_id} has an outcome on that batch already")
    if item is None or item.released_at is not None:
        raise OutcomeError("that voter is no longer on the card")
    review_id = conn.execute(
        insert(REVIEW)
        .values(
            campaign_id=voter.campaign_id,
            batch_id=outcome.batch_id,
            voter_id=outcome.voter_id,
            volunteer_id=outcome.volunteer_id,
            submitted_by=actor[:100],
            result_code=outcome.result_code,
            language_heard=outcome.language_heard,
            survey=outcome.survey,
            notes=outcome.notes,
            request_key=outcome.request_key,
            submitted_at=now,
        )
        .returning(REVIEW.c.id)
    ).scalar_one()
    conn.execute(
        update(ITEM).where(ITEM.c.id == item.id).values(released_at=now, release_reason="review")
    )
    conn.execute(
        update(VOTER)
        .where(VOTER.c.id == outcome.voter_id)
        .values(status=VoterStatus.REVIEW, batch_id=None)
    )
    lease = timedelta(minutes=load_config(conn, voter.campaign_id).batch_lease_minutes)
    settle(conn, {item.card_id}, {outcome.batch_id}, now, lease)
    return int(review_id)


def _decide(conn: Connection, review_id: int, actor: str, now: datetime, decision: str) -> Decision:
    review = conn.execute(select(REVIEW).where(REVIEW.c.id == review_id).with_for_update()).first()
    if review is None:
        raise OutcomeError(f"no review {review_id}")
    if review.decision is not None:
        return _decision(review, review.decision, review.decided_by or "", repeated=True)
    conn.execute(  # out of review: an approval records the outcome on a voter in the pool
        update(VOTER)
        .where(VOTER.c.id == review.voter_id, VOTER.c.status == VoterStatus.REVIEW)
        .values(status=VoterStatus.READY)
    )
    result = None
    if decision == APPROVED:
        [result] = record_in(conn, [_held_outcome(review, actor)], now)
    conn.execute(
        update(REVIEW)
        .where(REVIEW.c.id == review_id)
        .values(decision=decision, decided_by=actor[:100], decided_at=now)
    )
    detail: dict[str, Any] = {
        "voter_id": review.voter_id,
        "result_code": review.result_code,
        "submitted_by": review.submitted_by,
    }
    if result is not None:
        detail["dnc_added"] = result.dnc_added
    conn.execute(
        insert(AUDIT).values(
            at=now,
            actor=actor[:100],
            action=f"outcome.review.{'approve' if decision == APPROVED else 'reject'}",
            target=f"outcome_review:{review_id}",
            detail=detail,
        )
    )
    return _decision(review, decision, actor, outcome=result)


def _held_outcome(review: Any, actor: str) -> Outcome:
    return Outcome(
        voter_id=review.voter_id,
        result_code=review.result_code,
        batch_id=review.batch_id,
        volunteer_id=review.volunteer_id,
        language_heard=review.language_heard,
        survey=dict(review.survey or {}),
        notes=review.notes,
        request_key=f"review:{review.id}",
        vouched_by=actor,
    )


def _decision(
    review: Any,
    decision: str,
    decided_by: str,
    *,
    repeated: bool = False,
    outcome: OutcomeResult | None = None,
) -> Decision:
    return Decision(
        review_id=int(review.id),
        decision=decision,
        decided_by=decided_by,
        voter_id=int(review.voter_id),
        volunteer_id=review.volunteer_id,
        result_code=review.result_code,
        repeated=repeated,
        outcome=outcome,
    )
