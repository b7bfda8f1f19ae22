"""Leases: a batch lives while its volunteer is active; untouched voters go back to the pool.

A batch's lease runs `batch_lease_minutes` from its last activity (a claim, an outcome). The
sweep closes batches whose lease ran out and returns their untouched voters; a volunteer's "I'm
done" does the same at once. Voters come back exactly as they were: no attempt is counted.

Lock order, everywhere in matching/: voter rows (by id), then batch items and cards, then the
batch row. Keeping one order keeps PostgreSQL claims, outcomes and sweeps free of deadlocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, and_, select, update

from matching.pool import run_transaction
from matching.tables import BATCH, CARD, ITEM, VOTER, one_of
from storage.clock import Clock

SWEEP_LIMIT = 200


def release_batch(engine: Engine, batch_id: int, *, clock: Clock, reason: str = "released") -> int:
    """Close an open batch now and return its untouched voters to the pool; how many."""
    now = clock.now()
    returned = run_transaction(
        engine, lambda conn: close_batch(conn, batch_id, now, reason, expired_only=False)
    )
    return returned or 0


def sweep_expired_batches(engine: Engine, *, clock: Clock, limit: int = SWEEP_LIMIT) -> int:
    """Close up to `limit` batches whose lease ran out; how many were closed."""
    now = clock.now()
    with engine.connect() as conn:
        # Served by ix_batch_open_expires (partial on open batches).
        due = conn.execute(
            select(BATCH.c.id)
            .where(BATCH.c.closed_at.is_(None), BATCH.c.expires_at <= now)
            .order_by(BATCH.c.expires_at)
            .limit(limit)
        ).scalars()
        due_ids = list(due)
        conn.rollback()
    return sum(_close_if_expired(engine, batch_id, now) for batch_id in due_ids)


def _close_if_expired(engine: Engine, batch_id: int, now: datetime) -> bool:
    returned = run_transaction(
        engine, lambda conn: close_batch(conn, batch_id, now, "expired", expired_only=True)
    )
    return returned is not None


def close_batch(
    conn: Connection, batch_id: int, now: datetime, reason: str, *, expired_only: bool
) -> int | None:
    """Release the batch's open items and close it; the number of voters returned.

    None when the batch was already closed, or (with `expired_only`) when activity renewed its
    lease since the sweep looked.
    """
    voter_ids = _lock_open_voters(conn, batch_id)
    closing = update(BATCH).where(BATCH.c.id == batch_id, BATCH.c.closed_at.is_(None))
    if expired_only:
        closing = closing.where(BATCH.c.expires_at <= now)
    closed = conn.execute(
        closing.values(closed_at=now, close_reason=reason).returning(BATCH.c.id)
    ).first()
    if closed is None:
        return None
    _release_open(
        conn,
        ITEM.c.batch_id == batch_id,
        CARD.c.batch_id == batch_id,
        batch_id,
        voter_ids,
        now,
        reason,
    )
    return len(voter_ids)


def _release_open(
    conn: Connection,
    items: ColumnElement[bool],
    cards: ColumnElement[bool],
    batch_id: int,
    voter_ids: list[int],
    now: datetime,
    reason: str,
) -> None:
    """Release the still-open items and cards matching `items`/`cards`; free their voters."""
    conn.execute(
        update(ITEM)
        .where(items, ITEM.c.released_at.is_(None))
        .values(released_at=now, release_reason=reason)
    )
    conn.execute(update(CARD).where(cards, CARD.c.released_at.is_(None)).values(released_at=now))
    if voter_ids:
        conn.execute(
            update(VOTER)
            .where(one_of(VOTER.c.id, voter_ids, conn.dialect.name), VOTER.c.batch_id == batch_id)
            .values(batch_id=None)
        )


def _lock_open_voters(conn: Connection, batch_id: int) -> list[int]:
    """Lock, in id order, the voters the batch holds open (ix_voter_batch)."""
    return list(
        conn.execute(
            select(VOTER.c.id)
            .where(VOTER.c.batch_id == batch_id)
            .order_by(VOTER.c.id)
            .with_for_update()
        ).scalars()
    )


def renew_lease(conn: Connection, batch_id: int, now: datetime, lease: timedelta) -> None:
    """Activity on an open batch: its lease now runs from `now`."""
    conn.execute(
        update(BATCH)
        .where(BATCH.c.id == batch_id, BATCH.c.closed_at.is_(None))
        .values(last_activity_at=now, expires_at=now + lease)
    )


def release_card(engine: Engine, card_id: int, *, clock: Clock, reason: str = "skipped") -> int:
    """Take one card off its batch now (a volunteer's Skip); its untouched voters go back to the
    pool, no attempt counted; how many. A batch left without open cards is closed."""
    now = clock.now()
    return run_transaction(
        engine, lambda conn: release_cards_in(conn, None, [card_id], now, reason)
    )


def release_cards(
    engine: Engine, batch_id: int, card_ids: Sequence[int], *, clock: Clock, reason: str
) -> int:
    """`release_card` for several cards of one batch, in one transaction (the cards nobody
    called when a calling session ends); cards of other batches are left alone."""
    if not card_ids:
        return 0
    now = clock.now()
    return run_transaction(
        engine, lambda conn: release_cards_in(conn, batch_id, list(card_ids), now, reason)
    )


def release_cards_in(
    conn: Connection, batch_id: int | None, card_ids: list[int], now: datetime, reason: str
) -> int:
    """Release `card_ids` of `batch_id` (None: the batch of the one card given) in `conn`'s
    transaction; how many voters went back. A batch left without open items is closed."""
    dialect = conn.dialect.name
    if batch_id is None:
        batch_id = conn.execute(
            select(CARD.c.batch_id).where(CARD.c.id == card_ids[0])
        ).scalar_one_or_none()
        if batch_id is None:
            return 0
    items = and_(one_of(ITEM.c.card_id, card_ids, dialect), ITEM.c.batch_id == batch_id)
    voter_ids = list(
        conn.execute(
            select(VOTER.c.id)
            .join(ITEM, ITEM.c.voter_id == VOTER.c.id)
            .where(items, ITEM.c.released_at.is_(None))
            .order_by(VOTER.c.id)
            .with_for_update(of=VOTER)
        ).scalars()
    )
    cards = and_(one_of(CARD.c.id, card_ids, dialect), CARD.c.batch_id == batch_id)
    _release_open(conn, items, cards, batch_id, voter_ids, now, reason)
    still_open = conn.execute(
        select(ITEM.c.id).where(ITEM.c.batch_id == batch_id, ITEM.c.released_at.is_(None)).limit(1)
    ).first()
    if still_open is None:
        conn.execute(
            update(BATCH)
            .where(BATCH.c.id == batch_id, BATCH.c.closed_at.is_(None))
            .values(closed_at=now, close_reason="done", last_activity_at=now)
        )
    return len(voter_ids)
