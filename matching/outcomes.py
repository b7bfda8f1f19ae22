"""Recording what happened on a call, and what it means for the voter and the batch.

Retry results (no answer, busy) return the voter after the campaign's minimum gap. "Language
barrier" returns the voter at once, switched to the language heard, so that only a volunteer who
speaks it gets them. Contact and terminal results (wrong number, refused, do not call, completed)
end the voter; "do not call" also lists the phone, and it and "wrong number" end everyone on that
phone. An outcome that arrives after its lease expired is still recorded in full, and a terminal
one takes the voter out of whatever batch holds it by then.

An outcome needs a call (`needs_a_call`): a result that ends the voter, re-routes them or lists
their phone, or that carries survey answers, is recorded only when a call on the voter's card
reached telephony (`NoCallPlaced` otherwise, and nothing changes), unless an organizer vouches
for it (`Outcome.vouched_by`: a reviewed manual dial). Plain retries (no answer, busy) need none.
Chat and keypad outcomes both pass here, so the rule holds for both.

An outcome may carry the chat request's key (`request_key`), stored on its call attempt under a
unique index in the same transaction: a retried request finds it and records nothing twice
(`repeated`). The voter rows are locked first, so a retry running alongside its first attempt
waits for it and then sees its row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from matching.leases import renew_lease
from matching.pool import campaign_config, load_config, run_transaction
from matching.ranking import normalize_language
from matching.tables import ATTEMPT, BATCH, CARD, DNC, ITEM, VOTER, one_of
from storage.attempts import REACHED
from storage.campaign_config import CampaignConfig, ResultAction, ResultCode, ResultKind
from storage.clock import Clock
from storage.models import VoterStatus
from storage.rollup import refresh_voters

_PHONE_ACTIONS = (ResultAction.DNC, ResultAction.WRONG_NUMBER)
# Statuses only telephony reports for a voter's leg: proof that the call reached it even when
# no call sid came back. ("failed" is not: it is also written when Twilio refused the volunteer's
# leg; Twilio refusing the voter's number is vouched for by the webhook that says so.)
TELEPHONY_STATUSES = REACHED


class OutcomeError(ValueError):
    """The outcome cannot be recorded as given (unknown code, missing language, no voter)."""


class NoCallPlaced(OutcomeError):
    """The result needs a call, and none on the voter's card reached telephony."""

    def __init__(self, voter_id: int, code: ResultCode) -> None:
        super().__init__(f"{code.label} needs a call placed on the card first")
        self.voter_id = voter_id
        self.code = code


class AlreadyLogged(OutcomeError):
    """The voter's item on that batch has an outcome already: a second log of the same call
    (the keypad and chat at once, say) would count the attempt twice."""


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
    request_key: str | None = None  # the chat request that logs it: a retry records nothing
    # The organizer whose review stands in for a placed call (a manual dial): no call needed.
    vouched_by: str | None = None


def needs_a_call(code: ResultCode, survey: dict[str, Any] | None = None) -> bool:
    """Whether the result needs a placed call: anything but a plain retry, or survey answers."""
    return code.kind is not ResultKind.RETRY or code.action is not None or bool(survey)


@dataclass(frozen=True, slots=True)
class OutcomeResult:
    voter_id: int
    kind: ResultKind
    late: bool  # the voter was no longer on an open item of that batch (lease expired, released)
    voter_done: bool
    dnc_added: bool = False
    repeated: bool = False  # a retried request: recorded by its first attempt, not again


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
    try:
        return run_transaction(engine, lambda conn: _record_all(conn, outcomes, now))
    except IntegrityError:
        if not any(outcome.request_key for outcome in outcomes):
            raise
        # A retry of the same request committed meanwhile (the unique key is the backstop to
        # the voter lock): run again, and find its rows.
        return run_transaction(engine, lambda conn: _record_all(conn, outcomes, now))


def record_in(conn: Connection, outcomes: list[Outcome], now: datetime) -> list[OutcomeResult]:
    """`record_outcomes` inside a transaction the caller holds (a review's approval)."""
    return _record_all(conn, outcomes, now)


def _record_all(conn: Connection, outcomes: list[Outcome], now: datetime) -> list[OutcomeResult]:
    """Set-based: a handful of statements for a whole batch of outcomes, not a dozen each."""
    ids = [outcome.voter_id for outcome in outcomes]
    if len(set(ids)) != len(ids):
        raise OutcomeError("one outcome per voter at a time")
    voters, document = _lock_voters(conn, ids)
    campaign_ids = {voter.campaign_id for voter in voters.values()}
    if len(campaign_ids) != 1:
        raise OutcomeError("outcomes of one campaign at a time")
    campaign_id = campaign_ids.pop()
    config = campaign_config(document) if document else load_config(conn, campaign_id)
    repeats = _repeats(conn, config, outcomes)
    fresh = [outcome for outcome in outcomes if outcome.request_key not in repeats]
    recorded = iter(_record_fresh(conn, config, voters, fresh, now) if fresh else [])
    return [
        repeats[outcome.request_key] if outcome.request_key in repeats else next(recorded)
        for outcome in outcomes
    ]


def _repeats(
    conn: Connection, config: CampaignConfig, outcomes: list[Outcome]
) -> dict[str | None, OutcomeResult]:
    """Outcomes whose request was already recorded, by request key (uq_call_attempt_outcome_key)."""
    keys = [outcome.request_key for outcome in outcomes if outcome.request_key]
    if not keys:
        return {}
    rows = conn.execute(
        select(ATTEMPT.c.outcome_key, ATTEMPT.c.voter_id, ATTEMPT.c.result_code).where(
            one_of(ATTEMPT.c.outcome_key, keys, conn.dialect.name)
        )
    ).all()
    repeats: dict[str | None, OutcomeResult] = {}
    for row in rows:
        code = config.result_code(row.result_code)
        kind = code.kind if code else ResultKind.RETRY
        done = kind is not ResultKind.RETRY
        repeats[row.outcome_key] = OutcomeResult(row.voter_id, kind, False, done, repeated=True)
    return repeats


def _record_fresh(
    conn: Connection,
    config: CampaignConfig,
    voters: dict[int, Any],
    outcomes: list[Outcome],
    now: datetime,
) -> list[OutcomeResult]:
    codes = [_code(config, outcome) for outcome in outcomes]
    needs = [
        outcome.vouched_by is None and needs_a_call(code, outcome.survey)
        for outcome, code in zip(outcomes, codes, strict=True)
    ]
    touched = _Touched()
    open_items, called = _close_items(conn, outcomes, codes, needs, now, touched)
    for outcome, code, need in zip(outcomes, codes, needs, strict=True):
        if need and outcome.voter_id not in called:
            raise NoCallPlaced(outcome.voter_id, code)  # rolls everything back
    attempts = _new_attempts(conn, voters, outcomes, codes, now)
    changes = _voter_changes(config, voters, outcomes, codes, open_items, now)
    _write_attempts_and_voters(conn, attempts, changes, now)
    refresh_voters(conn, config, [outcome.voter_id for outcome in outcomes])
    results = []
    for outcome, code in zip(outcomes, codes, strict=True):
        voter = voters[outcome.voter_id]
        done = code.kind is not ResultKind.RETRY
        still_held = voter.batch_id is not None and outcome.voter_id not in open_items
        if done and still_held:
            # Terminal: out of whatever batch holds the voter now (another one, after expiry).
            _release_voter_items(conn, [voter.id], now, "terminal", touched)
        dnc_added = False
        if code.action in _PHONE_ACTIONS:
            _end_household(conn, voter.campaign_id, voter.phone, voter.id, code, now, touched)
            dnc_added = code.action is ResultAction.DNC and _add_dnc(conn, voter.phone, code, now)
        late = outcome.voter_id not in open_items
        results.append(OutcomeResult(voter.id, code.kind, late, done, dnc_added))
    _settle(conn, touched, now, timedelta(minutes=config.batch_lease_minutes))
    return results


def _code(config: CampaignConfig, outcome: Outcome) -> ResultCode:
    code = config.result_code(outcome.result_code)
    if code is None:
        raise OutcomeError(f"unknown result code {outcome.result_code!r}")
    if code.action is ResultAction.LANGUAGE_BARRIER and not outcome.language_heard:
        raise OutcomeError("a language barrier needs the language heard")
    return code


def _lock_voters(conn: Connection, ids: list[int]) -> tuple[dict[int, Any], str | None]:
    """The voters, locked in id order (the lock order of matching/leases.py); on PostgreSQL also
    the campaign's configuration (JSON text), in the same round trip."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_PG_LOCK_VOTERS, {"ids": ids, "first": min(ids)}).all()
    else:
        rows = conn.execute(
            select(*_LOCKED_COLUMNS)
            .where(one_of(VOTER.c.id, ids, conn.dialect.name))
            .order_by(VOTER.c.id)
            .with_for_update()
        ).all()
    voters = {row.id: row for row in rows}
    missing = set(ids) - set(voters)
    if missing:
        raise OutcomeError(f"no voter {min(missing)}")
    return voters, rows[0].config if conn.dialect.name == "postgresql" else None


_LOCKED_COLUMNS = (
    VOTER.c.id,
    VOTER.c.phone,
    VOTER.c.campaign_id,
    VOTER.c.batch_id,
    VOTER.c.status,
    VOTER.c.available_at,
    VOTER.c.language,
    VOTER.c.language_heard,
)
# PostgreSQL: the voters locked, their campaign's configuration (on the first row only), and
# the plan settings of the transaction. Bitmap and sequential scans off (SET LOCAL, until the transaction ends): the
# batch tables grow by thousands of rows a minute and have no statistics yet, so the planner
# guessed sequential scans of batch_item, and bitmap scans of its partial index on open items,
# which never skip that index's dead entries (a plain index scan marks them and skips them
# after), so both cost more with every batch ever claimed. Every statement here looks up rows
# by key. JIT off, as in the claim.
_PG_LOCK_VOTERS = text(
    """
    SELECT v.id, v.phone, v.campaign_id, v.batch_id, v.status, v.available_at, v.language,
           v.language_heard,
           CASE WHEN v.id = :first THEN CAST(c.config AS text) END AS config
      FROM (SELECT set_config('enable_bitmapscan', 'off', true),
                   set_config('enable_seqscan', 'off', true),
                   set_config('jit', 'off', true)) AS settings,
           voter v JOIN campaign c ON c.id = v.campaign_id
     WHERE v.id = ANY(CAST(:ids AS integer[]))
     ORDER BY v.id
       FOR UPDATE OF v
    """
)


def _close_items(
    conn: Connection,
    outcomes: list[Outcome],
    codes: list[ResultCode],
    needs: list[bool],
    now: datetime,
    touched: _Touched,
) -> tuple[set[int], set[int]]:
    """Mark each voter's item with its outcome; the voters whose item was still open, and
    those of `needs` whose card had a placed call."""
    if conn.dialect.name == "postgresql":
        return _pg_close_items(conn, outcomes, codes, needs, now, touched)
    rows = conn.execute(
        select(
            ITEM.c.id,
            ITEM.c.voter_id,
            ITEM.c.batch_id,
            ITEM.c.card_id,
            ITEM.c.released_at,
            ITEM.c.result_code,
        )
        .where(one_of(ITEM.c.voter_id, [o.voter_id for o in outcomes], conn.dialect.name))
        .order_by(ITEM.c.id)
    ).all()
    by_voter: dict[int, list[Any]] = {}
    for row in rows:
        by_voter.setdefault(row.voter_id, []).append(row)
    latest: dict[int, Any] = {}
    for outcome in outcomes:
        for row in by_voter.get(outcome.voter_id, []):  # in id order: the last match wins
            if _is_item_of(row, outcome):
                latest[outcome.voter_id] = row
    _refuse_logged_twice(item.voter_id for item in latest.values() if item.result_code)
    updates = []
    for outcome, code in zip(outcomes, codes, strict=True):
        item: Any = latest.get(outcome.voter_id)
        if item is None:
            continue
        was_open = item.released_at is None
        updates.append(
            {
                "item_id": item.id,
                "code": code.code,
                "released": now if was_open else item.released_at,
                "reason": "outcome" if was_open else None,
            }
        )
        touched.cards.add(item.card_id)
        touched.batches.add(item.batch_id)
    if updates:
        conn.execute(
            update(ITEM)
            .where(ITEM.c.id == bindparam("item_id"))
            .values(
                outcome_at=now,
                result_code=bindparam("code"),
                released_at=bindparam("released"),
                release_reason=func.coalesce(bindparam("reason"), ITEM.c.release_reason),
            ),
            updates,
        )
    cards = {
        latest[outcome.voter_id].card_id
        for outcome, need in zip(outcomes, needs, strict=True)
        if need and outcome.voter_id in latest
    }
    called_cards = _called_cards(conn, cards) if cards else set()
    called = {voter_id for voter_id, item in latest.items() if item.card_id in called_cards}
    return {voter_id for voter_id, item in latest.items() if item.released_at is None}, called


def _called_cards(conn: Connection, card_ids: set[int]) -> set[int]:
    """The cards among these with a call on any of their voters that reached telephony."""
    rows = conn.execute(
        select(ITEM.c.card_id)
        .distinct()
        .join(
            ATTEMPT,
            (ATTEMPT.c.voter_id == ITEM.c.voter_id) & (ATTEMPT.c.batch_id == ITEM.c.batch_id),
        )
        .where(
            one_of(ITEM.c.card_id, sorted(card_ids), conn.dialect.name),
            or_(ATTEMPT.c.call_sid.is_not(None), ATTEMPT.c.call_status.in_(TELEPHONY_STATUSES)),
        )
    ).scalars()
    return set(rows)


def _pg_close_items(
    conn: Connection,
    outcomes: list[Outcome],
    codes: list[ResultCode],
    needs: list[bool],
    now: datetime,
    touched: _Touched,
) -> tuple[set[int], set[int]]:
    """`_close_items` in one round trip: `_is_item_of` in SQL, the items marked, what they
    were before, and whether their card was called (where asked)."""
    params = {
        "voter_id": [outcome.voter_id for outcome in outcomes],
        "batch_id": [outcome.batch_id for outcome in outcomes],
        "code": [code.code for code in codes],
        "needs": needs,
        "reported": list(TELEPHONY_STATUSES),
        "now": now,
    }
    rows = conn.execute(_PG_CLOSE_ITEMS, params).all()
    _refuse_logged_twice(row.voter_id for row in rows if row.logged)  # rolls the marks back
    touched.cards.update(row.card_id for row in rows)
    touched.batches.update(row.batch_id for row in rows)
    called = {row.voter_id for row in rows if row.called}
    return {row.voter_id for row in rows if row.was_open}, called


# PostgreSQL: each per-row statement as one statement over arrays. Executing it once per row
# costs Python a parameter conversion and a pipeline round per row, which made logging a batch
# of outcomes cost more than claiming it.
# The item of each outcome (`_is_item_of`): the voter's latest item in the batch named, else
# the voter's open item. The CTE `m` reads the items as they were before the update; `called`
# is `_called_cards` for the item's card, asked only where the outcome needs a call.
_PG_CLOSE_ITEMS = text(
    """
    WITH m AS (
        SELECT DISTINCT ON (u.voter_id) i.id, i.voter_id, i.batch_id, i.card_id,
               i.released_at IS NULL AS was_open, i.result_code IS NOT NULL AS logged, u.code,
               u.needs AND EXISTS (
                   SELECT 1 FROM batch_item j
                     JOIN call_attempt a ON a.voter_id = j.voter_id AND a.batch_id = j.batch_id
                    WHERE j.card_id = i.card_id
                      AND (a.call_sid IS NOT NULL
                           OR a.call_status = ANY(CAST(:reported AS varchar[])))
               ) AS called
          FROM unnest(CAST(:voter_id AS integer[]), CAST(:batch_id AS integer[]),
                      CAST(:code AS varchar[]), CAST(:needs AS boolean[]))
               AS u(voter_id, batch_id, code, needs)
          JOIN batch_item i ON i.voter_id = u.voter_id
           AND CASE WHEN u.batch_id IS NULL THEN i.released_at IS NULL
                    ELSE i.batch_id = u.batch_id END
         ORDER BY u.voter_id, i.id DESC
    ), marked AS (
        UPDATE batch_item AS i
           SET outcome_at = :now, result_code = m.code,
               released_at = coalesce(i.released_at, :now),
               release_reason = CASE WHEN m.was_open THEN 'outcome' ELSE i.release_reason END
          FROM m
         WHERE i.id = m.id
    )
    SELECT voter_id, batch_id, card_id, was_open, logged, called FROM m
    """
)
_PG_VOTERS_SQL = """
    UPDATE voter AS v
       SET attempts = v.attempts + 1, last_attempt_at = :now, last_result = u.code,
           status = u.status, available_at = u.available, language = u.language,
           language_heard = u.heard, batch_id = u.batch
      FROM unnest(CAST(:v_voter_id AS integer[]), CAST(:v_code AS varchar[]),
                  CAST(:v_status AS varchar[]), CAST(:v_available AS timestamptz[]),
                  CAST(:v_language AS varchar[]), CAST(:v_heard AS varchar[]),
                  CAST(:v_batch AS integer[]))
           AS u(id, code, status, available, language, heard, batch)
     WHERE v.id = u.id
"""
_PG_VOTERS = text(_PG_VOTERS_SQL)
# The new call attempts and the voters' update in one round trip (different tables: the two
# parts cannot see or conflict with each other's rows).
_PG_ATTEMPTS_AND_VOTERS = text(
    """
    WITH attempts AS (
    INSERT INTO call_attempt (campaign_id, voter_id, volunteer_id, batch_id, started_at,
                              ended_at, notes, result_code, survey, outcome_key, logged_at)
    SELECT a.campaign_id, a.voter_id, a.volunteer_id, a.batch_id, :now, :now, a.notes, a.code,
           CAST(a.survey AS jsonb), a.outcome_key, :now
      FROM unnest(CAST(:campaign_id AS integer[]), CAST(:voter_id AS integer[]),
                  CAST(:volunteer_id AS integer[]), CAST(:batch_id AS integer[]),
                  CAST(:notes AS text[]), CAST(:result_code AS varchar[]),
                  CAST(:survey AS text[]), CAST(:outcome_key AS varchar[]))
           AS a(campaign_id, voter_id, volunteer_id, batch_id, notes, code, survey, outcome_key)
    )"""
    + _PG_VOTERS_SQL
)


def _as_arrays(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows of one shape as one list per column, for the statements above."""
    return {name: [row[name] for row in rows] for name in rows[0]}


def _refuse_logged_twice(voter_ids: Iterable[int]) -> None:
    """AlreadyLogged for the first of these voters, if there is one."""
    first = next(iter(voter_ids), None)
    if first is not None:
        raise AlreadyLogged(f"voter {first} has an outcome on that batch already")


def _is_item_of(item: Any, outcome: Outcome) -> bool:
    """The item the outcome is about: in the batch named, else the voter's open one."""
    if item.voter_id != outcome.voter_id:
        return False
    if outcome.batch_id is not None:
        return bool(item.batch_id == outcome.batch_id)
    return item.released_at is None


def _new_attempts(
    conn: Connection,
    voters: dict[int, Any],
    outcomes: list[Outcome],
    codes: list[ResultCode],
    now: datetime,
) -> list[dict[str, Any]]:
    """Complete the telephony rows that exist; the call attempts to insert for the others."""
    new = []
    for outcome, code in zip(outcomes, codes, strict=True):
        values: dict[str, Any] = {
            "result_code": code.code,
            "survey": outcome.survey,
            "logged_at": now,
        }
        if outcome.request_key:
            values["outcome_key"] = outcome.request_key
        if outcome.notes:
            values["notes"] = outcome.notes
        if outcome.call_attempt_id is not None:
            conn.execute(
                update(ATTEMPT).where(ATTEMPT.c.id == outcome.call_attempt_id).values(values)
            )
            continue
        new.append(
            {
                "campaign_id": voters[outcome.voter_id].campaign_id,
                "voter_id": outcome.voter_id,
                "volunteer_id": outcome.volunteer_id,
                "batch_id": outcome.batch_id,
                "started_at": now,
                "ended_at": now,
                "notes": outcome.notes,
                "result_code": code.code,
                "survey": outcome.survey,
                "outcome_key": outcome.request_key,
                "logged_at": now,
            }
        )
    return new


def _voter_changes(
    config: CampaignConfig,
    voters: dict[int, Any],
    outcomes: list[Outcome],
    codes: list[ResultCode],
    open_items: set[int],
    now: datetime,
) -> list[dict[str, Any]]:
    """Per voter: attempts, last result, and what the result means for the pool."""
    gap = timedelta(hours=config.attempts.min_gap_hours)
    rows = []
    for outcome, code in zip(outcomes, codes, strict=True):
        voter = voters[outcome.voter_id]
        row = {
            "voter_id": voter.id,
            "code": code.code,
            "status": voter.status,
            "available": voter.available_at,
            "language": voter.language,
            "heard": voter.language_heard,
            "batch": None if voter.id in open_items else voter.batch_id,
        }
        if code.action is ResultAction.LANGUAGE_BARRIER:
            heard = normalize_language(outcome.language_heard, config.default_language)
            row |= {"language": heard, "heard": heard, "available": now}
        elif code.kind is ResultKind.RETRY:
            row["available"] = now + gap
        else:
            row["status"] = str(VoterStatus.DONE)
        rows.append(row)
    return rows


def _write_attempts_and_voters(
    conn: Connection, attempts: list[dict[str, Any]], changes: list[dict[str, Any]], now: datetime
) -> None:
    """Insert the new call attempts and update the voters (PostgreSQL: in one statement)."""
    if conn.dialect.name == "postgresql":
        params = {f"v_{name}": values for name, values in _as_arrays(changes).items()}
        if not attempts:
            conn.execute(_PG_VOTERS, params | {"now": now})
            return
        for row in attempts:
            row["survey"] = json.dumps(row["survey"])
        conn.execute(_PG_ATTEMPTS_AND_VOTERS, params | _as_arrays(attempts) | {"now": now})
        return
    if attempts:
        conn.execute(insert(ATTEMPT), attempts)
    conn.execute(
        update(VOTER)
        .where(VOTER.c.id == bindparam("voter_id"))
        .values(
            attempts=VOTER.c.attempts + 1,
            last_attempt_at=now,
            last_result=bindparam("code"),
            status=bindparam("status"),
            available_at=bindparam("available"),
            language=bindparam("language"),
            language_heard=bindparam("heard"),
            batch_id=bindparam("batch"),
        ),
        changes,
    )


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
        .where(one_of(VOTER.c.id, others, conn.dialect.name))
        .values(status=VoterStatus.DONE, last_result=code.code)
    )
    _release_voter_items(conn, others, now, "phone " + code.code, touched)


def _release_voter_items(
    conn: Connection, voter_ids: list[int], now: datetime, reason: str, touched: _Touched
) -> None:
    """Take voters (already locked) off their open items, wherever they are."""
    open_items = conn.execute(
        select(ITEM.c.id, ITEM.c.card_id, ITEM.c.batch_id).where(
            one_of(ITEM.c.voter_id, voter_ids, conn.dialect.name), ITEM.c.released_at.is_(None)
        )
    ).all()
    if not open_items:
        return
    conn.execute(
        update(ITEM)
        .where(one_of(ITEM.c.id, [item.id for item in open_items], conn.dialect.name))
        .values(released_at=now, release_reason=reason[:32])
    )
    conn.execute(
        update(VOTER).where(one_of(VOTER.c.id, voter_ids, conn.dialect.name)).values(batch_id=None)
    )
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


def _no_open_item(correlation: Any) -> Any:
    """No open item matches: a correlated probe of batch_item's card or batch index per row, not
    an anti-join the planner may run over every item ever made."""
    probe = select(ITEM.c.id).where(correlation, ITEM.c.released_at.is_(None)).limit(1)
    return probe.scalar_subquery().is_(None)


def settle(
    conn: Connection, cards: set[int], batches: set[int], now: datetime, lease: timedelta
) -> None:
    """Release these cards when no voter is left on them; close these batches when done, else
    renew their leases."""
    _settle(conn, _Touched(set(cards), set(batches)), now, lease)


def _settle(conn: Connection, touched: _Touched, now: datetime, lease: timedelta) -> None:
    """Release cards with no open voter left; close finished batches, renew the others' leases."""
    if conn.dialect.name == "postgresql":
        if touched.batches:
            params = {
                "cards": sorted(touched.cards),
                "batches": sorted(touched.batches),
                "now": now,
                "expires": now + lease,
            }
            conn.execute(_PG_SETTLE, params)
        return
    if touched.cards:
        conn.execute(
            update(CARD)
            .where(
                one_of(CARD.c.id, sorted(touched.cards), conn.dialect.name),
                CARD.c.released_at.is_(None),
            )
            .where(_no_open_item(ITEM.c.card_id == CARD.c.id))
            .values(released_at=now)
        )
    if touched.batches:
        batches = sorted(touched.batches)
        conn.execute(
            update(BATCH)
            .where(one_of(BATCH.c.id, batches, conn.dialect.name), BATCH.c.closed_at.is_(None))
            .where(_no_open_item(ITEM.c.batch_id == BATCH.c.id))
            .values(closed_at=now, close_reason="done", last_activity_at=now)
        )
        for batch_id in batches:
            renew_lease(conn, batch_id, now, lease)


# PostgreSQL, `_settle` in one round trip. Whether a card or batch still has open items is
# aggregated over its items (ix_batch_item_card_id, ix_batch_item_batch_id), and no condition
# here says `released_at IS NULL` or `closed_at IS NULL` outright: without statistics on the
# batch tables, the planner then preferred walking the partial indexes on open items, cards and
# batches whole, which grows with every batch in flight. A card or batch that was already
# released or closed is written back unchanged. The cards go first (the InitPlan that reads
# `cards` runs before any batch row is touched), the lock order of matching/leases.py.
_PG_SETTLE = text(
    """
    WITH open_cards AS (
        SELECT card_id, bool_or(released_at IS NULL) AS still_open
          FROM batch_item WHERE card_id = ANY(CAST(:cards AS integer[])) GROUP BY card_id
    ), cards AS (
        UPDATE batch_card AS c SET released_at = coalesce(c.released_at, :now)
          FROM open_cards o WHERE c.id = o.card_id AND NOT o.still_open
        RETURNING c.id
    ), open_batches AS (
        SELECT batch_id, bool_or(released_at IS NULL) AS still_open
          FROM batch_item WHERE batch_id = ANY(CAST(:batches AS integer[])) GROUP BY batch_id
    )
    UPDATE batch AS b
       SET last_activity_at = CASE WHEN b.closed_at IS NULL THEN :now ELSE b.last_activity_at END,
           expires_at = CASE WHEN b.closed_at IS NULL AND o.still_open THEN :expires
                             ELSE b.expires_at END,
           closed_at = CASE WHEN b.closed_at IS NULL AND NOT o.still_open THEN :now
                            ELSE b.closed_at END,
           close_reason = CASE WHEN b.closed_at IS NULL AND NOT o.still_open THEN 'done'
                               ELSE b.close_reason END
      FROM open_batches o
     WHERE b.id = ANY(CAST(:batches AS integer[])) AND b.id = o.batch_id
       AND (SELECT count(*) FROM cards) >= 0
    """
)
