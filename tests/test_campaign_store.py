"""Storing campaigns: create or update by slug, read back validated, audit-logged."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from storage.campaign_config import CampaignConfig, CampaignConfigError
from storage.campaign_store import campaign_config, get_campaign, list_campaigns, save_campaign
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import AuditLog, Campaign
from tests.factories import campaign_config as make_config


def source_of(config: CampaignConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def test_a_new_campaign_is_stored_and_reads_back_the_same(
    engine: Engine, clock: FrozenClock
) -> None:
    config = make_config(slug="gotv")
    with session_scope(engine) as session:
        save_campaign(session, config, source_of(config), clock)
    with session_scope(engine) as session:
        stored = get_campaign(session, "gotv")
    assert stored is not None
    assert campaign_config(stored) == config
    assert stored.name == config.name
    assert stored.config_source == source_of(config)
    assert stored.created_at == stored.updated_at == clock.now()


def test_saving_the_same_slug_updates_the_row(engine: Engine, clock: FrozenClock) -> None:
    first = make_config(slug="gotv")
    second = first.model_copy(update={"name": "GOTV, renamed", "batch_size": 10})
    with session_scope(engine) as session:
        save_campaign(session, first, source_of(first), clock)
    clock.advance(timedelta(hours=2))
    with session_scope(engine) as session:
        save_campaign(session, second, source_of(second), clock)
    with session_scope(engine) as session:
        rows = list(session.exec(select(Campaign)))
        logs = list(session.exec(select(AuditLog).order_by(AuditLog.id)))  # type: ignore[arg-type]
    assert len(rows) == 1
    assert rows[0].name == "GOTV, renamed"
    assert campaign_config(rows[0]).batch_size == 10
    assert rows[0].updated_at - rows[0].created_at == timedelta(hours=2)
    assert [(log.actor, log.action, log.target) for log in logs] == [
        ("cli", "campaign.create", "gotv"),
        ("cli", "campaign.update", "gotv"),
    ]
    assert logs[1].detail == {"changed": ["batch_size", "name"]}
    assert logs[1].at == clock.now()


def test_an_unknown_slug_is_none(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert get_campaign(session, "nope") is None


def test_campaigns_are_listed_by_slug(engine: Engine, clock: FrozenClock) -> None:
    with session_scope(engine) as session:
        for slug in ("zeta", "alpha", "mid"):
            config = make_config(slug=slug)
            save_campaign(session, config, source_of(config), clock, actor="slack:U1")
    with session_scope(engine) as session:
        assert [c.slug for c in list_campaigns(session)] == ["alpha", "mid", "zeta"]
        actors = session.exec(select(AuditLog.actor, func.count()).group_by(AuditLog.actor)).all()
    assert [tuple(row) for row in actors] == [("slack:U1", 3)]


def test_a_damaged_stored_config_is_refused_with_every_problem(
    engine: Engine, clock: FrozenClock
) -> None:
    config = make_config(slug="gotv")
    with session_scope(engine) as session:
        campaign = save_campaign(session, config, source_of(config), clock)
        campaign.config = {**campaign.config, "batch_size": 0, "caller_id": "nope"}
    with session_scope(engine) as session:
        stored = get_campaign(session, "gotv")
    assert stored is not None
    with pytest.raises(CampaignConfigError) as raised:
        campaign_config(stored)
    assert sorted(p.field for p in raised.value.problems) == ["batch_size", "caller_id"]
    assert raised.value.lines()[0].startswith("campaign 'gotv': ")
