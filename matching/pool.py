"""The voter pool's bookkeeping: zone keys, campaign configuration, and transaction retries."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, bindparam, select, text, update
from sqlalchemy.exc import DBAPIError

from matching.tables import CAMPAIGN, VOTER
from matching.zones import calling_zone_key
from storage.campaign_config import CampaignConfig

T = TypeVar("T")
RESOLVE_CHUNK = 5000
# PostgreSQL deadlock and serialization failures: the transaction is safe to run again.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def run_transaction(engine: Engine, work: Callable[[Connection], T], attempts: int = 5) -> T:
    """Run `work` in one transaction, again from the start after a deadlock (PostgreSQL)."""
    for attempt in range(attempts):
        try:
            with _sqlite_writer(engine), engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if attempt == attempts - 1 or _sqlstate(exc) not in _RETRYABLE_SQLSTATES:
                raise
    raise AssertionError("unreachable")


class _FairLock:
    """A first-come, first-served lock. `threading.Lock` lets the thread that releases it take
    it straight back, so under load one claimer could starve the others for half a second."""

    def __init__(self) -> None:
        self._turns = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> None:
        with self._turns:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._turns.wait_for(lambda: self._serving == ticket)

    def __exit__(self, *exc: object) -> None:
        with self._turns:
            self._serving += 1
            self._turns.notify_all()


_SQLITE_WRITERS: dict[str, _FairLock] = {}
_SQLITE_WRITERS_GUARD = threading.Lock()


def _sqlite_writer(engine: Engine) -> AbstractContextManager[None]:
    """SQLite has one writer at a time. Threads of this process queue on a lock instead of on
    SQLite's busy handler, which polls with sleeps of up to 100 ms and made tail latency seconds
    long under 16 claimers; other processes still wait through the busy timeout."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    key = str(engine.url)
    with _SQLITE_WRITERS_GUARD:
        return _SQLITE_WRITERS.setdefault(key, _FairLock())


def _sqlstate(exc: DBAPIError) -> str | None:
    return cast(str | None, getattr(exc.orig, "sqlstate", None))


def load_config(conn: Connection, campaign_id: int) -> CampaignConfig:
    """The campaign's validated configuration; LookupError if there is no such campaign."""
    document = conn.execute(
        select(CAMPAIGN.c.config).where(CAMPAIGN.c.id == campaign_id)
    ).scalar_one_or_none()
    if document is None:
        raise LookupError(f"no campaign {campaign_id}")
    return campaign_config(document)


def campaign_config(document: str | dict[str, Any]) -> CampaignConfig:
    """The validated configuration of a stored document (its JSON text, or the parsed dict).

    Memoized by the document's text: validating costs about a millisecond, and every claim and
    every outcome needs it. The model is frozen, so sharing one instance is safe.
    """
    key = document if isinstance(document, str) else json.dumps(document, sort_keys=True)
    return _validated(key)


@lru_cache(maxsize=32)
def _validated(document: str) -> CampaignConfig:
    return CampaignConfig.model_validate(json.loads(document))


# A loose index scan over ix_voter_campaign_zone_key: one probe per distinct key, so a campaign
# of a million voters and twenty keys costs twenty index lookups, not a million-row DISTINCT.
ZONE_KEYS_CTE = """
    keys(k) AS (
        SELECT MIN(calling_zone_key) FROM voter
         WHERE campaign_id = :campaign_id AND calling_zone_key IS NOT NULL
        UNION ALL
        SELECT (SELECT MIN(calling_zone_key) FROM voter
                 WHERE campaign_id = :campaign_id AND calling_zone_key > keys.k)
          FROM keys WHERE keys.k IS NOT NULL
    )"""
_DISTINCT_KEYS = text(f"WITH RECURSIVE {ZONE_KEYS_CTE} SELECT k FROM keys WHERE k IS NOT NULL")


def distinct_zone_keys(conn: Connection, campaign_id: int) -> list[str]:
    """Every resolved zone key among the campaign's voters."""
    return list(conn.execute(_DISTINCT_KEYS, {"campaign_id": campaign_id}).scalars())


def resolve_zone_keys(
    engine: Engine, campaign_id: int, limit: int = RESOLVE_CHUNK, *, wait: bool = False
) -> int:
    """Fill `calling_zone_key` for up to `limit` voters that lack it; how many were filled.

    The importer leaves the key empty (None); the claim calls this first, so new voters become
    claimable without a separate step. Rows another transaction is resolving are skipped, or,
    with `wait`, waited for (and then left alone, resolved).
    """
    return run_transaction(engine, lambda conn: _resolve_some(conn, campaign_id, limit, wait))


def resolve_all_zone_keys(engine: Engine, campaign_id: int) -> int:
    """Resolve every missing zone key of the campaign (after an import); how many were filled.

    The claim resolves lazily too, a few chunks per claim; after a large import, calling this
    once (about 17,000 voters a second) keeps the first claims fast.
    """
    total = 0
    while filled := resolve_zone_keys(engine, campaign_id, RESOLVE_CHUNK * 4):
        total += filled
    return total


def _resolve_some(conn: Connection, campaign_id: int, limit: int, wait: bool = False) -> int:
    # Served by ix_voter_zone_unresolved (partial: only unresolved voters are in it).
    rows = conn.execute(
        select(VOTER.c.id, VOTER.c.phone, VOTER.c.state, VOTER.c.time_zones, VOTER.c.zip)
        .where(VOTER.c.campaign_id == campaign_id, VOTER.c.calling_zone_key.is_(None))
        .limit(limit)
        .with_for_update(skip_locked=not wait)
    ).all()
    by_key: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        by_key[calling_zone_key(row.phone, row.state, row.time_zones, row.zip)].append(row.id)
    for key, ids in by_key.items():
        conn.execute(
            update(VOTER)
            .where(VOTER.c.id.in_(bindparam("ids", expanding=True)))
            .values(calling_zone_key=key),
            {"ids": ids},
        )
    return len(rows)
