"""Every conversation scenario on Slack: signed requests into the real Bolt app, its Web API
client at the local fake, on both databases. The same list runs on the console
(tests/test_console.py), so the surfaces cannot drift apart."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from storage.clock import FrozenClock
from tests.fakes.slack_api import FakeSlackAPI
from tests.scenarios.conversations import SCENARIOS, Scenario
from tests.scenarios.slack_driver import SlackSurface
from tests.scenarios.world import World, phones_in


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_scenario_on_slack(
    scenario: Scenario, engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    world = World(engine, clock)
    surface = SlackSurface(world, fake_slack)
    try:
        scenario(world, surface)

        assert phones_in(surface.everything_shown(), world.voter_phones()) == []
    finally:
        surface.close()
