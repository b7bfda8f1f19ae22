"""The atomic claim of a batch: who this volunteer calls next, with nobody handed out twice.

One transaction. SQLite runs it under `BEGIN IMMEDIATE` (storage/db.py), so claims take turns.
PostgreSQL runs claims side by side: each matching step is `SELECT ... FOR UPDATE SKIP LOCKED`
over a partial index in call order, so a claim locks about the rows it takes, never waits for
another claim's rows, and sees a voter taken by a claim that committed meanwhile as taken (the
row is re-checked against `batch_id IS NULL` when locked). Underneath, unique indexes on open
batch cards (phone) and open batch items (voter) make a double assignment impossible whatever
this code does.

A batch holds `size` cards; a card is one phone with every eligible voter on it (a household),
so a household is never split between volunteers. A claim that finds nothing while eligible
voters remain, locked by other claims in flight, answers BUSY ("try again"), not EMPTY.

A claim may carry the chat request's key (`request_key`), stored on the batch under a unique
index in the claim's own transaction: a retried request gets the batch its first attempt made
(`repeated`), never a second one, and a first attempt that died before committing left nothing,
so the retry claims afresh.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    String,
    bindparam,
    insert,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError

from matching.eligibility import PoolRules, pool_conditions, pool_params, pool_rules
from matching.pool import (
    ZONE_KEYS_CTE,
    campaign_config,
    distinct_zone_keys,
    resolve_zone_keys,
    run_transaction,
)
from matching.ranking import (
    CallerProfile,
    Tier,
    VoterPlace,
    caller_profile,
    match_reason,
    same_zones,
)
from matching.tables import BATCH, CAMPAIGN, CARD, ITEM, VOLUNTEER, VOTER, one_of_param
from matching.zones import callable_keys
from storage.clock import Clock

VoterRow = Any  # a Row of _VOTER_COLUMNS
_VOTER_COLUMNS = (
    VOTER.c.id,
    VOTER.c.phone,
    VOTER.c.first_name,
    VOTER.c.last_name,
    VOTER.c.language,
    VOTER.c.area_code,
    VOTER.c.state,
    VOTER.c.calling_zone_key,
    VOTER.c.priority,
    VOTER.c.attempts,
    VOTER.c.available_at,
)


BUSY_MESSAGE = "others are claiming the voters you could call; try again in a moment"


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"  # a new batch
    HELD = "held"  # the volunteer already holds an open batch in this campaign: that one
    BUSY = "busy"  # eligible voters remain but other claims hold them this instant: try again
    EMPTY = "empty"  # nobody this volunteer may call right now


@dataclass(frozen=True, slots=True)
class CardVoter:
    voter_id: int
    first_name: str
    last_name: str
    language: str


@dataclass(frozen=True, slots=True)
class Card:
    """One phone to call and everyone on it this volunteer may talk to."""

    card_id: int
    phone: str
    reason: str
    voters: tuple[CardVoter, ...]


@dataclass(frozen=True, slots=True)
class ClaimResult:
    status: ClaimStatus
    batch_id: int | None = None
    cards: tuple[Card, ...] = ()
    message: str = ""
    repeated: bool = False  # a retried request: the batch its first attempt claimed


def claim_batch(
    engine: Engine,
    volunteer_id: int,
    campaign_id: int,
    size: int | None = None,
    *,
    clock: Clock,
    request_key: str | None = None,
) -> ClaimResult:
    """Claim up to `size` cards (default: the campaign's batch size) for the volunteer."""
    try:
        return _claim_with_resolving(engine, volunteer_id, campaign_id, size, clock, request_key)
    except IntegrityError:
        # A retry of the same request committed its batch while this one ran (PostgreSQL: the
        # unique index made this one wait, then fail); answer with that batch.
        earlier = _earlier_claim(engine, request_key) if request_key else None
        if earlier is None:
            raise
        return earlier


def _claim_with_resolving(
    engine: Engine,
    volunteer_id: int,
    campaign_id: int,
    size: int | None,
    clock: Clock,
    request_key: str | None,
) -> ClaimResult:
    for _ in range(_RESOLVE_ROUNDS):
        try:
            return run_transaction(
                engine,
                lambda conn: _claim(
                    conn, volunteer_id, campaign_id, size, clock.now(), request_key=request_key
                ),
            )
        except _LostEveryPhone:
            return ClaimResult(ClaimStatus.BUSY, message=BUSY_MESSAGE)
        except _ZoneKeysMissing:
            if not resolve_zone_keys(engine, campaign_id):
                # Another claim is resolving them. Wait for it to commit: claiming among the
                # keys resolved so far (none, at first) would answer "nothing left".
                resolve_zone_keys(engine, campaign_id, wait=True)
    # Still voters without a key after a few rounds (a huge fresh import): claim among the rest.
    return run_transaction(
        engine,
        lambda conn: _claim(
            conn,
            volunteer_id,
            campaign_id,
            size,
            clock.now(),
            resolved=False,
            request_key=request_key,
        ),
    )


def _earlier_claim(engine: Engine, request_key: str) -> ClaimResult | None:
    with engine.begin() as conn:
        return _repeated_claim(conn, request_key)


def _repeated_claim(conn: Connection, request_key: str) -> ClaimResult | None:
    """The batch a first attempt of this request claimed, with its cards still open."""
    batch_id = conn.execute(
        select(BATCH.c.id).where(BATCH.c.request_key == request_key)
    ).scalar_one_or_none()
    if batch_id is None:
        return None
    cards = load_cards(conn, batch_id)
    return ClaimResult(ClaimStatus.CLAIMED, batch_id, cards, f"{len(cards)} calls", repeated=True)


_RESOLVE_ROUNDS = 4


class _LostEveryPhone(Exception):
    """Every phone picked went to a claim that committed meanwhile: roll the batch back."""


class _ZoneKeysMissing(Exception):
    """Some voters have no zone key yet: resolve them outside the claim, then claim again."""


def _claim(
    conn: Connection,
    volunteer_id: int,
    campaign_id: int,
    size: int | None,
    now: datetime,
    *,
    resolved: bool = True,
    request_key: str | None = None,
) -> ClaimResult:
    if conn.dialect.name == "postgresql":
        context = _pg_context(conn, volunteer_id, campaign_id, request_key)
        if context.earlier is not None:
            cards = load_cards(conn, context.earlier)
            return ClaimResult(
                ClaimStatus.CLAIMED, context.earlier, cards, f"{len(cards)} calls", repeated=True
            )
        zone_keys = list(context.zone_keys)
    else:
        if request_key is not None and (earlier := _repeated_claim(conn, request_key)):
            return earlier
        context = _context(conn, volunteer_id, campaign_id)
    if resolved and context.unresolved is not None:
        raise _ZoneKeysMissing
    config = campaign_config(context.config)
    profile = _caller_profile(
        tuple(context.languages or ()), context.area_code, context.phone, config.default_language
    )
    held = context.held
    if held is not None:
        return ClaimResult(ClaimStatus.HELD, held, load_cards(conn, held), "your open batch")
    if conn.dialect.name != "postgresql":
        zone_keys = distinct_zone_keys(conn, campaign_id)
    keys = callable_keys(zone_keys, now, config.calling_hours)
    if not keys:
        return ClaimResult(ClaimStatus.EMPTY, message="nobody is inside calling hours right now")
    rules = pool_rules(campaign_id, config, now, keys)
    if conn.dialect.name == "postgresql":
        households = _pg_pick_households(conn, rules, profile, size or config.batch_size)
    else:
        picked = _pick(conn, rules, profile, size or config.batch_size)
        households = _households(conn, rules, profile, list(picked))
    if not households:
        return _nothing_claimed(conn, rules, profile)
    batch = _NewBatch(
        volunteer_id, campaign_id, now, now + timedelta(minutes=config.batch_lease_minutes)
    )
    batch_id, cards = _insert_cards(conn, batch, request_key, profile, households)
    if not cards:
        raise _LostEveryPhone
    return ClaimResult(ClaimStatus.CLAIMED, batch_id, cards, f"{len(cards)} calls")


@lru_cache(maxsize=1024)
def _caller_profile(
    languages: tuple[str, ...], area_code: str | None, phone: str | None, default_language: str
) -> CallerProfile:
    """`caller_profile`, memoized: parsing the volunteer's number took about 2 ms a claim."""
    return caller_profile(languages, area_code, phone, default_language)


def _context(conn: Connection, volunteer_id: int, campaign_id: int) -> Any:
    """Campaign config, volunteer, their open batch, and whether keys are missing: one query."""
    held = (
        select(BATCH.c.id)
        .where(
            BATCH.c.volunteer_id == volunteer_id,
            BATCH.c.campaign_id == campaign_id,
            BATCH.c.closed_at.is_(None),
        )
        .limit(1)
        .scalar_subquery()
    )
    unresolved = (  # ix_voter_zone_unresolved
        select(VOTER.c.id)
        .where(VOTER.c.campaign_id == campaign_id, VOTER.c.calling_zone_key.is_(None))
        .limit(1)
        .scalar_subquery()
    )
    row = conn.execute(
        select(
            CAMPAIGN.c.config,
            VOLUNTEER.c.languages,
            VOLUNTEER.c.area_code,
            VOLUNTEER.c.phone,
            held.label("held"),
            unresolved.label("unresolved"),
        )
        .select_from(CAMPAIGN.join(VOLUNTEER, true()))  # one row of each: no real product
        .where(CAMPAIGN.c.id == campaign_id, VOLUNTEER.c.id == volunteer_id)
    ).one_or_none()
    if row is None:
        raise LookupError(f"no campaign {campaign_id} or no volunteer {volunteer_id}")
    return row


# PostgreSQL: the claim's settings, the repeated request, the context and the campaign's zone
# keys (a loose index scan, as in matching/pool.py) in one round trip.
# Sorts off: the planner underestimates how many voters pass the per-row DNC and card checks (it
# guesses a handful), and then prefers reading a whole zone and sorting it (seconds, on a million
# voters) to walking the step's index in order and stopping after `n` (a millisecond). No claim
# statement needs a real sort. JIT off: the estimates look large, and compiling costs ~200 ms for
# sub-ms queries. Synchronous commit off: a claim lost in a crash is harmless (its voters simply
# stay in the pool), so it need not wait for the WAL flush; outcomes stay durable.
# set_config(..., true) is SET LOCAL: it lasts until the claim's transaction ends.
_PG_CONTEXT = text(
    f"""
    WITH RECURSIVE {ZONE_KEYS_CTE}, settings AS (
        SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true),
               set_config('synchronous_commit', 'off', true)
    )
    SELECT CAST(c.config AS text) AS config, v.languages, v.area_code, v.phone,
           (SELECT b.id FROM batch b
             WHERE b.volunteer_id = :volunteer_id AND b.campaign_id = :campaign_id
               AND b.closed_at IS NULL LIMIT 1) AS held,
           (SELECT u.id FROM voter u
             WHERE u.campaign_id = :campaign_id AND u.calling_zone_key IS NULL
             LIMIT 1) AS unresolved,
           ARRAY(SELECT k FROM keys WHERE k IS NOT NULL) AS zone_keys,
           (SELECT r.id FROM batch r WHERE r.request_key = :request_key) AS earlier
      FROM settings, campaign c, volunteer v
     WHERE c.id = :campaign_id AND v.id = :volunteer_id
    """
)


def _pg_context(
    conn: Connection, volunteer_id: int, campaign_id: int, request_key: str | None
) -> Any:
    """`_context` plus the zone keys and the batch of a first attempt, in one query."""
    params = {"volunteer_id": volunteer_id, "campaign_id": campaign_id, "request_key": request_key}
    row = conn.execute(_PG_CONTEXT, params).one_or_none()
    if row is None:
        if request_key is not None and (earlier := _repeated_claim(conn, request_key)):
            return _Earlier(earlier.batch_id)
        raise LookupError(f"no campaign {campaign_id} or no volunteer {volunteer_id}")
    return row


@dataclass(frozen=True, slots=True)
class _Earlier:
    earlier: int | None


def _steps(profile: CallerProfile, keys: Sequence[str]) -> Iterator[tuple[str, str | None, Any]]:
    """(language, tier column, its value) in the order of matching/ranking.py."""
    for tier in Tier:
        for language in profile.languages:
            if tier is Tier.AREA_CODE and profile.area_code:
                yield language, "area_code", profile.area_code  # ix_voter_pool_area
            elif tier is Tier.STATE and profile.state:
                yield language, "state", profile.state  # ix_voter_pool_state
            elif tier is Tier.TIME_ZONE:
                for key in keys:
                    if same_zones(key, profile):
                        yield language, "calling_zone_key", key  # ix_voter_pool_zone
            elif tier is Tier.ANY:
                yield language, None, None  # ix_voter_pool_any


@lru_cache(maxsize=32)
def _step_query(dialect: str, tier_column: str | None, with_taken: bool) -> Any:
    """One matching step: equality on campaign, language and the tier column, then the index's
    own order, so PostgreSQL stops after `n` unlocked rows. Built once per shape."""
    query = select(*_VOTER_COLUMNS).where(
        *pool_conditions(dialect), VOTER.c.language == bindparam("language")
    )
    if tier_column is not None:
        query = query.where(VOTER.c[tier_column] == bindparam("tier_value"))
    if with_taken:
        query = query.where(~one_of_param(VOTER.c.id, "taken", dialect))
    return (
        query.order_by(VOTER.c.priority, VOTER.c.attempts, VOTER.c.available_at)
        .limit(bindparam("n"))
        .with_for_update(skip_locked=True, of=VOTER)
    )


def _pick(
    conn: Connection, rules: PoolRules, profile: CallerProfile, size: int
) -> dict[str, VoterRow]:
    """Lock up to `size` phones' first voters, walking the matching steps in order (SQLite;
    PostgreSQL runs the same steps server-side, `_pg_pick_households`)."""
    picked: dict[str, VoterRow] = {}
    taken: list[int] = []
    dialect = conn.dialect.name
    for language, tier_column, tier_value in _steps(profile, rules.callable_keys):
        exhausted = False
        while not exhausted and len(picked) < size:
            wanted = size - len(picked)
            params = pool_params(rules) | {"language": language, "n": wanted}
            if tier_column is not None:
                params["tier_value"] = tier_value
            if taken:
                params["taken"] = taken
            rows = conn.execute(_step_query(dialect, tier_column, bool(taken)), params).all()
            for row in rows:
                taken.append(row.id)
                picked.setdefault(row.phone, row)
            # Fewer rows than asked: this step has no more. As many (a household's two voters
            # make one phone): the step may hold more, so ask it again before a worse tier.
            exhausted = len(rows) < wanted
    return picked


def _household_conditions(dialect: str) -> tuple[Any, ...]:
    return (
        *pool_conditions(dialect),
        one_of_param(VOTER.c.phone, "phones", dialect),
        one_of_param(VOTER.c.language, "languages", dialect),
    )


@lru_cache(maxsize=8)
def _household_query(dialect: str, locking: bool) -> Any:
    """Eligible voters on the given phones (ix_voter_campaign_phone) in the caller's languages."""
    query = select(*_VOTER_COLUMNS).where(*_household_conditions(dialect))
    if locking:  # SKIP LOCKED never waits, so the lock order does not matter here
        return query.with_for_update(skip_locked=True, of=VOTER)
    return query


def _households(
    conn: Connection, rules: PoolRules, profile: CallerProfile, phones: list[str]
) -> dict[str, list[VoterRow]]:
    """Every eligible voter on each phone, locked (SQLite: claims take turns, so no other
    claim holds any of them)."""
    if not phones:
        return {}
    params = pool_params(rules) | {"phones": phones, "languages": list(profile.languages)}
    members: dict[str, list[VoterRow]] = {phone: [] for phone in phones}
    for row in conn.execute(_household_query(conn.dialect.name, True), params):
        members[row.phone].append(row)
    return {phone: rows for phone, rows in members.items() if rows}


def _pg_pick_households(
    conn: Connection, rules: PoolRules, profile: CallerProfile, size: int
) -> dict[str, list[VoterRow]]:
    """`_pick` and `_households` in one round trip (storage/claim_function.py): phone -> its
    eligible voters this claim locked, in matching order. A phone some of whose eligible voters
    another claim in flight holds is dropped, so a household is never split."""
    steps = list(_steps(profile, rules.callable_keys))
    params = {
        "campaign": rules.campaign_id,
        "keys": list(rules.callable_keys),
        "max_attempts": rules.max_attempts,
        "now": rules.now,
        "size": size,
        "languages": list(profile.languages),
        "step_languages": [language for language, _, _ in steps],
        "step_columns": [column for _, column, _ in steps],
        "step_values": [value for _, _, value in steps],
    }
    picked: list[str] = []
    members: dict[str, list[VoterRow]] = {}
    held_elsewhere: set[str] = set()
    for row in conn.execute(_PG_PICK, params):
        if row.part == "pick":
            picked.append(row.phone)
        elif row.part == "member":
            members.setdefault(row.phone, []).append(row)
        else:  # eligible, and locked by a claim in flight
            held_elsewhere.add(row.phone)
    return {
        phone: members[phone]
        for phone in picked
        if phone in members and phone not in held_elsewhere
    }


_PG_PICK = text(
    """
    SELECT * FROM phonebank_claim_pick(
        :campaign, CAST(:keys AS varchar[]), :max_attempts, :now, :size,
        CAST(:languages AS varchar[]), CAST(:step_languages AS varchar[]),
        CAST(:step_columns AS varchar[]), CAST(:step_values AS varchar[]))
    """
).columns(*(column.label(column.name) for column in _VOTER_COLUMNS), part=String)


@lru_cache(maxsize=4)
def _anyone_query(dialect: str) -> Any:
    return (
        select(VOTER.c.id)
        .where(*pool_conditions(dialect), one_of_param(VOTER.c.language, "languages", dialect))
        .limit(1)
    )


def _nothing_claimed(conn: Connection, rules: PoolRules, profile: CallerProfile) -> ClaimResult:
    params = pool_params(rules) | {"languages": list(profile.languages)}
    if conn.execute(_anyone_query(conn.dialect.name), params).first() is not None:
        return ClaimResult(ClaimStatus.BUSY, message=BUSY_MESSAGE)
    return ClaimResult(ClaimStatus.EMPTY, message="nobody left to call right now")


@dataclass(frozen=True, slots=True)
class _NewBatch:
    """The batch row a claim inserts."""

    volunteer_id: int
    campaign_id: int
    claimed_at: datetime
    expires_at: datetime


def _insert_batch(conn: Connection, batch: _NewBatch, request_key: str | None) -> int:
    """Insert the batch row (SQLite; PostgreSQL inserts it with the cards, `_PG_CARDS`)."""
    return int(
        conn.execute(
            insert(BATCH)
            .values(
                campaign_id=batch.campaign_id,
                volunteer_id=batch.volunteer_id,
                claimed_at=batch.claimed_at,
                last_activity_at=batch.claimed_at,
                expires_at=batch.expires_at,
                request_key=request_key,
            )
            .returning(BATCH.c.id)
        ).scalar_one()
    )


def _insert_cards(
    conn: Connection,
    batch: _NewBatch,
    request_key: str | None,
    profile: CallerProfile,
    households: dict[str, list[VoterRow]],
) -> tuple[int, tuple[Card, ...]]:
    """The batch, its cards and items, and the voters' batch_id; (batch id, cards inserted). A
    phone whose open card another claim committed meanwhile is skipped (ON CONFLICT on
    uq_batch_card_open_phone), never doubled."""
    phones = list(households)  # in matching order
    reasons = {phone: match_reason(profile, _place(households[phone][0])) for phone in phones}
    if conn.dialect.name == "postgresql":
        batch_id, card_ids = _pg_add_batch_cards_and_items(
            conn, batch, request_key, households, reasons
        )
        return batch_id, _cards(households, reasons, card_ids)
    batch_id = _insert_batch(conn, batch, request_key)
    now, campaign_id = batch.claimed_at, batch.campaign_id
    # Inserted in phone order, so two claims that meet on the unique index wait in one order.
    rows = [
        {
            "batch_id": batch_id,
            "campaign_id": campaign_id,
            "phone": phone,
            "position": phones.index(phone),
            "match_reason": reasons[phone][:200],
            "assigned_at": now,
        }
        for phone in sorted(phones)
    ]
    card_ids = _add_cards(conn, batch_id, campaign_id, rows, now)
    voters = [row for phone in phones if phone in card_ids for row in households[phone]]
    if not voters:
        return batch_id, ()
    _add_items(conn, batch_id, campaign_id, [(card_ids[v.phone], v.id) for v in voters], now)
    conn.execute(
        _hold_voters(conn.dialect.name), {"ids": [row.id for row in voters], "held_by": batch_id}
    )
    return batch_id, _cards(households, reasons, card_ids)


def _cards(
    households: dict[str, list[VoterRow]], reasons: dict[str, str], card_ids: dict[str, int]
) -> tuple[Card, ...]:
    """The cards inserted, in matching order."""
    return tuple(
        Card(card_ids[phone], phone, reasons[phone], tuple(_card_voter(r) for r in rows))
        for phone, rows in households.items()
        if phone in card_ids
    )


# PostgreSQL, one round trip: the batch, the cards (a phone with an open card elsewhere is
# skipped, ON CONFLICT on uq_batch_card_open_phone, inserted in phone order so two claims that
# meet on the index wait in one order), the items of the cards inserted, and those voters held.
# Foreign keys are checked at the end of the statement, when every row is in. One statement
# with array parameters, whatever the batch size: psycopg re-parses any statement of more than
# 50 parameters on every execution. A second attempt of the same request waits on
# uq_batch_request_key here, then fails (claim_batch answers with the first one's batch).
_PG_CARDS = text(
    """
    WITH b AS (
        INSERT INTO batch (campaign_id, volunteer_id, claimed_at, last_activity_at,
                           expires_at, request_key)
        VALUES (:campaign_id, :volunteer_id, :now, :now, :expires, :request_key)
        RETURNING id
    ), c AS (
        INSERT INTO batch_card (batch_id, campaign_id, phone, position, match_reason,
                                assigned_at)
        SELECT b.id, :campaign_id, x.phone, x.position, x.reason, :now
          FROM b, unnest(CAST(:phones AS varchar[]), CAST(:positions AS integer[]),
                         CAST(:reasons AS varchar[])) AS x(phone, position, reason)
         ORDER BY x.phone
        ON CONFLICT (campaign_id, phone) WHERE released_at IS NULL DO NOTHING
        RETURNING id, phone, batch_id
    ), i AS (
        INSERT INTO batch_item (batch_id, card_id, voter_id, campaign_id, assigned_at)
        SELECT c.batch_id, c.id, v.voter_id, :campaign_id, :now
          FROM c JOIN unnest(CAST(:voter_phones AS varchar[]), CAST(:voter_ids AS integer[]))
                      AS v(phone, voter_id) ON v.phone = c.phone
        RETURNING voter_id, batch_id
    ), h AS (
        UPDATE voter SET batch_id = i.batch_id FROM i WHERE voter.id = i.voter_id
    )
    SELECT b.id AS batch_id, c.id, c.phone FROM b LEFT JOIN c ON true
    """
)


def _pg_add_batch_cards_and_items(
    conn: Connection,
    batch: _NewBatch,
    request_key: str | None,
    households: dict[str, list[VoterRow]],
    reasons: dict[str, str],
) -> tuple[int, dict[str, int]]:
    """The batch, cards, items and the voters' batch_id in one statement; (batch id, phone ->
    card id)."""
    phones = list(households)  # in matching order
    voters = [row for phone in phones for row in households[phone]]
    params = {
        "campaign_id": batch.campaign_id,
        "volunteer_id": batch.volunteer_id,
        "now": batch.claimed_at,
        "expires": batch.expires_at,
        "request_key": request_key,
        "phones": phones,
        "positions": list(range(len(phones))),
        "reasons": [reasons[phone][:200] for phone in phones],
        "voter_phones": [row.phone for row in voters],
        "voter_ids": [row.id for row in voters],
    }
    rows = conn.execute(_PG_CARDS, params).all()
    return rows[0].batch_id, {row.phone: row.id for row in rows if row.id is not None}


def _add_cards(
    conn: Connection, batch_id: int, campaign_id: int, rows: list[dict[str, Any]], now: datetime
) -> dict[str, int]:
    """Insert the cards (SQLite), skipping phones with an open card elsewhere; phone -> id."""
    statement = (
        sqlite.insert(CARD)
        .on_conflict_do_nothing(
            index_elements=[CARD.c.campaign_id, CARD.c.phone],
            index_where=CARD.c.released_at.is_(None),
        )
        .returning(CARD.c.id, CARD.c.phone)
    )
    return {row.phone: row.id for row in conn.execute(statement, rows)}


def _add_items(
    conn: Connection, batch_id: int, campaign_id: int, pairs: list[tuple[int, int]], now: datetime
) -> None:
    """Insert (card id, voter id) items of the batch (SQLite)."""
    rows = [
        {
            "batch_id": batch_id,
            "card_id": card,
            "voter_id": voter,
            "campaign_id": campaign_id,
            "assigned_at": now,
        }
        for card, voter in pairs
    ]
    conn.execute(insert(ITEM), rows)


@lru_cache(maxsize=4)
def _hold_voters(dialect: str) -> Any:
    return (
        update(VOTER)
        .where(one_of_param(VOTER.c.id, "ids", dialect))
        .values(batch_id=bindparam("held_by"))
    )


def _place(row: VoterRow) -> VoterPlace:
    return VoterPlace(
        language=row.language,
        area_code=row.area_code,
        state=row.state,
        calling_zone_key=row.calling_zone_key,
        priority=row.priority,
        attempts=row.attempts,
        available_at=row.available_at,
    )


def _card_voter(row: VoterRow) -> CardVoter:
    return CardVoter(row.id, row.first_name, row.last_name, row.language)


def load_cards(conn: Connection, batch_id: int) -> tuple[Card, ...]:
    """The open cards of a batch with their open voters, in batch order."""
    rows = conn.execute(
        select(
            CARD.c.id.label("card_id"),
            CARD.c.phone,
            CARD.c.match_reason,
            VOTER.c.id,
            VOTER.c.first_name,
            VOTER.c.last_name,
            VOTER.c.language,
        )
        .join(ITEM, ITEM.c.card_id == CARD.c.id)
        .join(VOTER, VOTER.c.id == ITEM.c.voter_id)
        .where(CARD.c.batch_id == batch_id, CARD.c.released_at.is_(None))
        .where(ITEM.c.released_at.is_(None))
        .order_by(CARD.c.position, VOTER.c.id)
    ).all()
    cards: dict[int, Card] = {}
    for row in rows:
        card = cards.get(row.card_id) or Card(row.card_id, row.phone, row.match_reason, ())
        cards[row.card_id] = Card(
            card.card_id, card.phone, card.reason, (*card.voters, _card_voter(row))
        )
    return tuple(cards.values())
