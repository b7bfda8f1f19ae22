"""Every conversation scenario on Discord: interactions dispatched into the real discord.py
client as the gateway delivers them, its REST calls at the local fake, on both databases. The
same list runs on the console and on Slack, so the surfaces cannot drift apart."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from storage.clock import FrozenClock
from tests.fakes.discord_api import FakeDiscordAPI
from tests.scenarios.conversations import SCENARIOS, Scenario
from tests.scenarios.discord_driver import DiscordSurface
from tests.scenarios.world import World, phones_in


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_scenario_on_discord(
    scenario: Scenario, engine: Engine, clock: FrozenClock, fake_discord: FakeDiscordAPI
) -> None:
    world = World(engine, clock)
    surface = DiscordSurface(world, fake_discord)
    try:
        scenario(world, surface)

        assert phones_in(surface.everything_shown(), world.voter_phones()) == []
    finally:
        surface.close()
