"""Shared set-up for the matching tests: a campaign open all legal hours, and row readers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from storage.campaign_config import CampaignConfig
from storage.clock import Clock
from storage.db import session_scope
from storage.models import Voter
from tests.factories import (
    DEFAULT_RESULT_CODES,
    campaign_config,
    make_attempt,
    make_campaign,
    make_volunteer,
    make_voter,
)

RESULT_CODES: list[dict[str, Any]] = [
    *DEFAULT_RESULT_CODES,
    {"code": "busy", "label": "Busy", "kind": "retry"},
    {"code": "dnc", "label": "Do not call", "kind": "terminal", "action": "dnc"},
    {
        "code": "language",
        "label": "Language barrier",
        "kind": "retry",
        "action": "language_barrier",
    },
]


def matching_config(**overrides: Any) -> CampaignConfig:
    """A campaign open every day as long as the law allows, batches of 5, 4-hour retry gap."""
    fields: dict[str, Any] = {
        "result_codes": RESULT_CODES,
        "calling_hours": {
            day: "06:00-23:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        },
        "batch_size": 5,
        "attempts": {"max_attempts": 3, "min_gap_hours": 4},
    }
    fields.update(overrides)
    return campaign_config(**fields)


@dataclass
class World:
    """Ids of what a test seeded."""

    campaign_id: int
    volunteer_ids: list[int]
    voter_ids: list[int]


def seed(
    engine: Engine,
    voters: list[dict[str, Any]],
    volunteers: list[dict[str, Any]] | None = None,
    config: CampaignConfig | None = None,
    clock: Clock | None = None,
) -> World:
    """A campaign with these voters and volunteers (each dict: factory overrides)."""
    with session_scope(engine) as session:
        campaign = make_campaign(session, config or matching_config(), clock=clock)
        volunteer_rows = [
            make_volunteer(session, clock=clock, **fields) for fields in (volunteers or [{}])
        ]
        voter_rows = [make_voter(session, campaign, clock=clock, **fields) for fields in voters]
        return World(
            campaign_id=int(campaign.id or 0),
            volunteer_ids=[int(v.id or 0) for v in volunteer_rows],
            voter_ids=[int(v.id or 0) for v in voter_rows],
        )


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    """Rows of a raw query, for assertions straight from the tables."""
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def voter(engine: Engine, voter_id: int) -> Any:
    """One voter row."""
    return rows(engine, "SELECT * FROM voter WHERE id = :id", id=voter_id)[0]


def open_batches_per_voter(engine: Engine) -> list[Any]:
    """(voter_id, open batch count) for voters on more than one open item: should be none."""
    return rows(
        engine,
        "SELECT voter_id, count(*) FROM batch_item WHERE released_at IS NULL"
        " GROUP BY voter_id HAVING count(*) > 1",
    )


def open_batches_per_phone(engine: Engine) -> list[Any]:
    """(phone, open batch count) for phones in more than one open batch: should be none."""
    return rows(
        engine,
        "SELECT v.phone, count(DISTINCT i.batch_id) FROM batch_item i"
        " JOIN voter v ON v.id = i.voter_id WHERE i.released_at IS NULL"
        " GROUP BY v.phone HAVING count(DISTINCT i.batch_id) > 1",
    )


def called(engine: Engine, batch_id: int | None, *voter_ids: int) -> None:
    """A call that reached telephony to each voter, from that batch, not logged yet: what an
    outcome that needs a call asks for on the voter's card."""
    with session_scope(engine) as session:
        for voter_id in voter_ids:
            row = session.get(Voter, voter_id)
            assert row is not None
            make_attempt(session, row, batch_id=batch_id, result_code=None)
