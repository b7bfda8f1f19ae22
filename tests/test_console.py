"""The console surface: every conversation scenario, typed into the console on both databases,
and a scripted session of `phonebank console` through standard input."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from storage.clock import FrozenClock
from tests.scenarios.console_driver import ConsoleSurface
from tests.scenarios.conversations import SCENARIOS, Scenario
from tests.scenarios.world import World, phones_in


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_scenario_on_the_console(scenario: Scenario, engine: Engine, clock: FrozenClock) -> None:
    world = World(engine, clock)
    surface = ConsoleSurface(world)

    scenario(world, surface)

    assert phones_in(surface.everything_shown(), world.voter_phones()) == []
