"""Recording what happened on a call, and what it means for the voter and the batch.

Retry results (no answer, busy) return the voter after the campaign's minimum gap. "Language
barrier" returns the voter at once, switched to the language heard, so that only a volunteer who
speaks it gets them. Contact and terminal results (wrong number, refused, do not call, completed)
end the voter; "do not call" also lists the phone, and it and "wrong number" end everyone on that
phone. An outcome that arrives after its lease expired is still recorded in full, and a terminal
one takes the voter out of whatever batch holds it by then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from matching.leases import renew_lease
from matching.pool import load_config, run_transaction
from matching.ranking import normalize_language
from matching.tables import ATTEMPT, BATCH, CARD, DNC, ITEM, VOTER
from storage.campaign_config import CampaignConfig, ResultAction, ResultCode, ResultKind
from storage.clock import Clock
from storage.models import VoterStatus

_PHONE_ACTIONS = (ResultAction.DNC, ResultAction.WRONG_NUMBER)


class OutcomeError(ValueError):
    """The outcome cannot be recorded as given (unknown code, missing language, no voter)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One call's result as a volunteer logs it."""

    voter_id: int
    result_code: str
    batch_id: int | None = None  # the batch it was called from, if any
    volunteer_id: int | None = None
    language_heard: str | None = None  # required for a language-barrier result
    call_attempt_id: int | None = None  # the telephony row to complete, if one exists
    survey: dict[str, Any] = field(default_factory=dict)
    notes: str = ""


@dataclass(frozen=True, slots=True)
class OutcomeResult:
    voter_id: int
    kind: ResultKind
    late: bool  # the voter was no longer on an open item of that batch (lease expired, released)
    voter_done: bool
    dnc_added: bool = False


@dataclass
class _Touched:
    cards: set[int] = field(default_factory=set)
    batches: set[int] = field(default_factory=set)


def record_outcome(engine: Engine, outcome: Outcome, *, clock: Clock) -> OutcomeResult:
    """Record one outcome in its own transaction."""
    return record_outcomes(engine, [outcome], clock=clock)[0]


def record_outcomes(
    engine: Engine, outcomes: list[Outcome], *, clock: Clock
) -> list[OutcomeResult]:
    """Record several outcomes (of one campaign) in one transaction."""
    if not outcomes:
        return []
    now = clock.now()
    return run_transaction(engine, lambda conn: _record_all(conn, outcomes, now))


def _record_all(conn: Connection, outcomes: list[Outcome], now: datetime) -> list[OutcomeResult]:
    campaign_id = _campaign_of(conn, outcomes[0].voter_id)
    config = load_config(conn, campaign_id)
    touched = _Touched()
    results = [_record(conn, config, outcome, now, touched) for outcome in outcomes]
    _settle(conn, touched, now, timedelta(minutes=config.batch_lease_minutes))
    return results


def _campaign_of(conn: Connection, voter_id: int) -> int:
    campaign_id = conn.execute(
        select(VOTER.c.campaign_id).where(VOTER.c.id == voter_id)
    ).scalar_one_or_none()
    if campaign_id is None:
        raise OutcomeError(f"no voter {voter_id}")
    return int(campaign_id)


def _record(
    conn: Connection, config: CampaignConfig, outcome: Outcome, now: datetime, touched: _Touched
) -> OutcomeResult:
    code = config.result_code(outcome.result_code)
    if code is None:
        raise OutcomeError(f"unknown result code {outcome.result_code!r}")
    if code.action is ResultAction.LANGUAGE_BARRIER and not outcome.language_heard:
        raise OutcomeError("a language barrier needs the language heard")
    voter = conn.execute(
        select(VOTER.c.id, VOTER.c.phone, VOTER.c.campaign_id, VOTER.c.batch_id)
        .where(VOTER.c.id == outcome.voter_id)
        .with_for_update()
    ).one_or_none()
    if voter is None:
        raise OutcomeError(f"no voter {outcome.voter_id}")
    late = not _close_item(conn, outcome, code, now, touched)
    _log_attempt(conn, voter.campaign_id, outcome, code, now)
    done = code.kind is not ResultKind.RETRY
    _update_voter(conn, config, outcome, code, now)
    if done and voter.batch_id is not None:
        # Terminal: out of whatever batch holds the voter now (even another one after expiry).
        _release_voter_items(conn, [voter.id], now, "terminal", touched)
    dnc_added = False
    if code.action in _PHONE_ACTIONS:
        _end_household(conn, voter.campaign_id, voter.phone, voter.id, code, now, touched)
        dnc_added = code.action is ResultAction.DNC and _add_dnc(conn, voter.phone, code, now)
    return OutcomeResult(voter.id, code.kind, late, done, dnc_added)


def _close_item(
    conn: Connection, outcome: Outcome, code: ResultCode, now: datetime, touched: _Touched
) -> bool:
    """Mark the voter's item in the batch with the outcome; False when it was no longer open."""
    query = select(ITEM.c.id, ITEM.c.batch_id, ITEM.c.card_id, ITEM.c.released_at).where(
        ITEM.c.voter_id == outcome.voter_id
    )
    if outcome.batch_id is not None:
        query = query.where(ITEM.c.batch_id == outcome.batch_id)
    else:
        query = query.where(ITEM.c.released_at.is_(None))
    item = conn.execute(query.order_by(ITEM.c.id.desc()).limit(1)).first()
    if item is None:
        return False
    values: dict[str, Any] = {"outcome_at": now, "result_code": code.code}
    if item.released_at is None:
        values |= {"released_at": now, "release_reason": "outcome"}
        conn.execute(update(VOTER).where(VOTER.c.id == outcome.voter_id).values(batch_id=None))
    conn.execute(update(ITEM).where(ITEM.c.id == item.id).values(**values))
    touched.cards.add(item.card_id)
    touched.batches.add(item.batch_id)
    return item.released_at is None


def _log_attempt(
    conn: Connection, campaign_id: int, outcome: Outcome, code: ResultCode, now: datetime
) -> None:
    values: dict[str, Any] = {"result_code": code.code, "survey": outcome.survey}
    if outcome.notes:
        values["notes"] = outcome.notes
    if outcome.call_attempt_id is not None:
        conn.execute(update(ATTEMPT).where(ATTEMPT.c.id == outcome.call_attempt_id).values(values))
        return
    conn.execute(
        insert(ATTEMPT).values(
            campaign_id=campaign_id,
            voter_id=outcome.voter_id,
            volunteer_id=outcome.volunteer_id,
            batch_id=outcome.batch_id,
            started_at=now,
            ended_at=now,
            notes=outcome.notes,
            **{k: v for k, v in values.items() if k != "notes"},
        )
    )


def _update_voter(
    conn: Connection, config: CampaignConfig, outcome: Outcome, code: ResultCode, now: datetime
) -> None:
    values: dict[str, Any] = {
        "attempts": VOTER.c.attempts + 1,
        "last_attempt_at": now,
        "last_result": code.code,
    }
    if code.action is ResultAction.LANGUAGE_BARRIER:
        heard = normalize_language(outcome.language_heard, config.default_language)
        values |= {"language": heard, "language_heard": heard, "available_at": now}
    elif code.kind is ResultKind.RETRY:
        values["available_at"] = now + timedelta(hours=config.attempts.min_gap_hours)
    else:
        values["status"] = VoterStatus.DONE
    conn.execute(update(VOTER).where(VOTER.c.id == outcome.voter_id).values(values))


def _end_household(
    conn: Connection,
    campaign_id: int,
    phone: str,
    voter_id: int,
    code: ResultCode,
    now: datetime,
    touched: _Touched,
) -> None:
    """Wrong number or do-not-call: the phone is over for everyone on it in the campaign."""
    others = list(
        conn.execute(
            select(VOTER.c.id)
            .where(
                VOTER.c.campaign_id == campaign_id,
                VOTER.c.phone == phone,
                VOTER.c.id != voter_id,
                VOTER.c.status == VoterStatus.READY,
            )
            .order_by(VOTER.c.id)
            .with_for_update()
        ).scalars()
    )
    if not others:
        return
    conn.execute(
        update(VOTER)
        .where(VOTER.c.id.in_(others))
        .values(status=VoterStatus.DONE, last_result=code.code)
    )
    _release_voter_items(conn, others, now, "phone " + code.code, touched)


def _release_voter_items(
    conn: Connection, voter_ids: list[int], now: datetime, reason: str, touched: _Touched
) -> None:
    """Take voters (already locked) off their open items, wherever they are."""
    open_items = conn.execute(
        select(ITEM.c.id, ITEM.c.card_id, ITEM.c.batch_id).where(
            ITEM.c.voter_id.in_(voter_ids), ITEM.c.released_at.is_(None)
        )
    ).all()
    if not open_items:
        return
    conn.execute(
        update(ITEM)
        .where(ITEM.c.id.in_([item.id for item in open_items]))
        .values(released_at=now, release_reason=reason[:32])
    )
    conn.execute(update(VOTER).where(VOTER.c.id.in_(voter_ids)).values(batch_id=None))
    touched.cards.update(item.card_id for item in open_items)
    touched.batches.update(item.batch_id for item in open_items)


def _add_dnc(conn: Connection, phone: str, code: ResultCode, now: datetime) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    added = conn.execute(
        dialect.insert(DNC)
        .values(phone=phone, source="call result", reason=code.label[:200], created_at=now)
        .on_conflict_do_nothing(index_elements=[DNC.c.phone])
        .returning(DNC.c.id)
    ).first()
    return added is not None


def _settle(conn: Connection, touched: _Touched, now: datetime, lease: timedelta) -> None:
    """Release cards with no open voter left; close finished batches, renew the others' leases."""
    for card_id in sorted(touched.cards):
        if not _has_open_items(conn, ITEM.c.card_id == card_id):
            conn.execute(
                update(CARD)
                .where(CARD.c.id == card_id, CARD.c.released_at.is_(None))
                .values(released_at=now)
            )
    for batch_id in sorted(touched.batches):
        if _has_open_items(conn, ITEM.c.batch_id == batch_id):
            renew_lease(conn, batch_id, now, lease)
        else:
            conn.execute(
                update(BATCH)
                .where(BATCH.c.id == batch_id, BATCH.c.closed_at.is_(None))
                .values(closed_at=now, close_reason="done", last_activity_at=now)
            )


def _has_open_items(conn: Connection, condition: Any) -> bool:
    return (
        conn.execute(
            select(ITEM.c.id).where(condition, ITEM.c.released_at.is_(None)).limit(1)
        ).first()
        is not None
    )
