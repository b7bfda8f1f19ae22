"""Who may be called now: the rules once in SQL (for the claim) and once in Python (to explain).

A voter is eligible when: in the pool (status ready, held by no open batch); callable now in
every zone of its key; its phone not on the do-not-call list (opt-outs land there too) and not
on any open batch's card; attempts below the maximum; the last attempt at least the minimum gap
ago. That last rule is `available_at <= now`: recording an outcome sets `available_at` to the
attempt's time plus the campaign's gap (matching/outcomes.py), or to now after a language
barrier, which is re-routed at once; one indexed column instead of arithmetic per row. tests/test_eligibility.py checks that both forms agree on random voters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, bindparam, literal_column, select

from matching.hours import ALLOWED, Verdict
from matching.tables import CARD, DNC, VOTER, one_of_param
from matching.zones import calling_zone_key, key_verdict
from storage.campaign_config import CampaignConfig
from storage.models import Voter, VoterStatus


@dataclass(frozen=True, slots=True)
class PoolRules:
    """The campaign's eligibility rules at one instant."""

    campaign_id: int
    now: datetime
    callable_keys: tuple[str, ...]
    max_attempts: int


def pool_rules(
    campaign_id: int,
    config: CampaignConfig,
    now: datetime,
    callable_keys: list[str],
) -> PoolRules:
    """The rules for `campaign_id` from its configuration."""
    return PoolRules(
        campaign_id=campaign_id,
        now=now,
        callable_keys=tuple(callable_keys),
        max_attempts=config.attempts.max_attempts,
    )


def in_pool() -> list[ColumnElement[bool]]:
    """The claim indexes' partial condition, as literals so PostgreSQL can match the index."""
    return [VOTER.c.status == literal_column(f"'{VoterStatus.READY}'"), VOTER.c.batch_id.is_(None)]


def pool_params(rules: PoolRules) -> dict[str, Any]:
    """The parameters `pool_conditions` is executed with."""
    return {
        "pool_campaign": rules.campaign_id,
        "pool_keys": list(rules.callable_keys),
        "pool_max_attempts": rules.max_attempts,
        "pool_now": rules.now,
    }


@lru_cache(maxsize=4)
def pool_conditions(dialect: str) -> tuple[ColumnElement[bool], ...]:
    """The WHERE clauses that select eligible voters; execute with `pool_params(rules)`.

    Built once per dialect: the claim runs them thousands of times a second, and building
    SQLAlchemy expressions costs more Python time than running the query.
    """
    voter = VOTER
    return (
        voter.c.campaign_id == bindparam("pool_campaign"),
        *in_pool(),
        one_of_param(voter.c.calling_zone_key, "pool_keys", dialect),
        voter.c.attempts < bindparam("pool_max_attempts"),
        voter.c.available_at <= bindparam("pool_now", type_=voter.c.available_at.type),
        # Scalar subqueries with LIMIT, not NOT EXISTS: PostgreSQL runs them as one index probe
        # per candidate row (uq_batch_card_open_phone; dnc_entry's unique phone) instead of
        # planning an anti-join that reads every open card whenever its statistics are stale.
        _first(
            CARD.c.id,
            CARD.c.campaign_id == voter.c.campaign_id,
            CARD.c.phone == voter.c.phone,
            CARD.c.released_at.is_(None),
        ).is_(None),
        _first(DNC.c.id, DNC.c.phone == voter.c.phone).is_(None),
    )


def _first(column: Any, *conditions: ColumnElement[bool]) -> Any:
    """`(SELECT column ... LIMIT 1)`, correlated to the voter row."""
    return select(column).where(*conditions).limit(1).scalar_subquery()


def why_not_callable(
    voter: Voter,
    config: CampaignConfig,
    now: datetime,
    *,
    on_dnc: bool = False,
    phone_on_open_card: bool = False,
) -> Verdict:
    """The first rule `voter` fails at `now`, in words; `ALLOWED` when eligible."""
    if voter.status != VoterStatus.READY:
        return Verdict(False, f"status is {voter.status}")
    if voter.batch_id is not None or phone_on_open_card:
        return Verdict(False, "already on an open batch")
    if on_dnc:
        return Verdict(False, "phone is on the do-not-call list")
    if voter.attempts >= config.attempts.max_attempts:
        return Verdict(False, f"reached the maximum of {config.attempts.max_attempts} attempts")
    if voter.available_at > now:
        return Verdict(
            False, f"called too recently: back at {voter.available_at:%Y-%m-%d %H:%M} UTC"
        )
    key = voter.calling_zone_key
    if key is None:
        key = calling_zone_key(voter.phone, voter.state, voter.time_zones, voter.zip)
    verdict = key_verdict(key, now, config.calling_hours)
    return verdict if not verdict.ok else ALLOWED
