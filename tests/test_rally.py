"""Rallies: posted when a region's callable voters outnumber its callers by the configured
ratio, not again within the interval, not outside calling hours, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from handlers.rally import rally_where_needed
from handlers.send_ledger import Ledger
from matching.claims import claim_batch
from matching.pool import resolve_all_zone_keys
from storage.clock import FrozenClock
from storage.db import session_scope
from tests.factories import campaign_config, make_campaign, make_volunteer, make_voter
from tests.scenarios.world import RecordingNotifier, make_services

RALLY = {
    "channels": {"TX": {"platform": "slack", "channel": "C0TEXAS", "name": "Texas"}},
    "min_voters": 3,
    "voters_per_caller": 2,
    "interval_minutes": 60,
}


def _campaign(engine: Engine, clock: FrozenClock, voters: int, **rally: object) -> int:
    with session_scope(engine) as session:
        config = campaign_config(rally=RALLY | rally, batch_size=1)
        campaign = make_campaign(session, config, clock=clock)
        for _ in range(voters):
            make_voter(session, campaign, clock=clock)
        campaign_id = int(campaign.id or 0)
    resolve_all_zone_keys(engine, campaign_id)
    return campaign_id


def _posts(services) -> list[str]:  # type: ignore[no-untyped-def]
    notifier: RecordingNotifier = services.notifier
    return [f"{channel}: {reply.text}" for _, channel, reply in notifier.to_channels]


def test_a_rally_when_voters_outnumber_callers_then_not_again_within_the_interval(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock)
    _campaign(engine, clock, voters=5)
    ledger = Ledger(engine, clock)

    assert rally_where_needed(services, ledger) == 1
    [post] = _posts(services)
    assert post == "C0TEXAS: Texas: 5 voters callable now, 0 callers on. Join now!"
    [(_, _, reply)] = services.notifier.to_channels  # type: ignore[attr-defined]
    assert [button.label for button in reply.buttons] == ["Get a batch"]

    clock.advance(timedelta(minutes=59))
    assert rally_where_needed(services, ledger) == 0
    assert rally_where_needed(services, Ledger(engine, clock)) == 0  # another leader, too
    clock.advance(timedelta(minutes=2))
    assert rally_where_needed(services, ledger) == 1


def test_no_rally_while_callers_keep_up(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    campaign_id = _campaign(engine, clock, voters=5)
    with session_scope(engine) as session:
        callers = [int(make_volunteer(session, clock=clock).id or 0) for _ in range(2)]
    for volunteer_id in callers:  # 2 callers hold 1 voter each: 3 left, 3 <= 2 × 2
        assert claim_batch(engine, volunteer_id, campaign_id, clock=clock).batch_id
    assert rally_where_needed(services, Ledger(engine, clock)) == 0


def test_no_rally_for_a_pool_below_the_minimum(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    _campaign(engine, clock, voters=5, min_voters=6)
    assert rally_where_needed(services, Ledger(engine, clock)) == 0


def test_no_rally_outside_calling_hours(engine: Engine) -> None:
    night = FrozenClock(datetime(2026, 11, 4, 5, 0, tzinfo=UTC))  # 23:00 in Austin
    services = make_services(engine, night)
    _campaign(engine, night, voters=5)
    assert rally_where_needed(services, Ledger(engine, night)) == 0
    assert _posts(services) == []
