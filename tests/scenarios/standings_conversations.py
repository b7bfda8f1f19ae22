"""Leaderboards and goals, on every chat surface (appended to conversations.SCENARIOS)."""

from __future__ import annotations

from datetime import timedelta

from tests.scenarios.conversations import ANA_PHONE, BOB_PHONE, Scenario, sign_up
from tests.scenarios.driver import Driver, Surface
from tests.scenarios.world import World, voter


def call_and_log(user: Driver, name: str, result: str = "Talked to voter") -> None:
    """Call the voter called `name` on the user's batch and log the result."""
    assert user.press("Call", near=name).has("Calling", name)
    assert user.press("Log outcome", near=name).form is not None
    answers = {"result": result} | (
        {"survey:support": "yes"} if result.startswith("Talked") else {}
    )
    logged = user.fill(answers)
    assert logged.has(f"Logged for {name}") and not logged.refused, logged.text


def the_leaderboard_today_and_this_week(world: World, surface: Surface) -> None:
    """Nobody on the board before a call; ties share a rank and are listed by name; tomorrow's
    board is empty but the week's still counts; an unknown measure is refused."""
    world.campaign(
        [voter(name, n) for n, name in enumerate(["Maria", "Dave", "Lee", "Kim"], 1)], batch_size=2
    )
    ana, bob = surface.user("ana"), surface.user("bob")
    sign_up(world, ana, ANA_PHONE)
    sign_up(world, bob, BOB_PHONE)
    assert ana.command("leaderboard today").has("Nobody has any yet")

    ana_batch, bob_batch = ana.command("batch"), bob.command("batch")
    ana_names = [n for n in ("Maria", "Dave", "Lee", "Kim") if ana_batch.has(n)]
    bob_names = [n for n in ("Maria", "Dave", "Lee", "Kim") if bob_batch.has(n)]
    call_and_log(bob, bob_names[0])
    call_and_log(ana, ana_names[0])
    board = ana.command("leaderboard today")
    assert board.has("1= Ana: 1", "1= Bob: 1", "You: #1 (tied) with 1")
    assert board.text.index("Ana: 1") < board.text.index("Bob: 1")  # ties in name order

    call_and_log(bob, bob_names[1], "Not home")
    assert ana.command("leaderboard today by dials").has("1. Bob: 2", "2. Ana: 1", "You: #2")
    assert bob.command("leaderboard today").has("1= Ana: 1", "1= Bob: 1")  # contacts

    world.clock.advance(timedelta(days=1))
    assert ana.command("leaderboard today").has("Nobody has any yet")
    assert ana.command("leaderboard week by dials").has("1. Bob: 2", "2. Ana: 1")
    assert ana.command("leaderboard by streak").has("days in a row", "Ana: 1", "Bob: 1")

    refused = ana.command("leaderboard by charisma")
    assert refused.refused and refused.has("I don't count 'charisma'")
    assert ana.command("leaderboard yesterday").refused


def hiding_from_the_leaderboard(world: World, surface: Surface) -> None:
    """A hidden volunteer leaves the ranking but still counts for their area code's team."""
    world.campaign([voter(name, n) for n, name in enumerate(["Maria", "Dave"], 1)])
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    batch = ana.command("batch")
    call_and_log(ana, "Maria" if batch.has("Maria") else "Dave")

    assert ana.command("leaderboard hide").has("off the public leaderboard")
    hidden = ana.command("leaderboard today")
    assert hidden.has("Nobody has any yet") and not hidden.has("Ana: 1")
    assert ana.command("leaderboard today areas").has("1. 512: 1")
    [row] = world.rows("SELECT leaderboard_hidden FROM volunteer")
    assert row.leaderboard_hidden

    assert ana.command("leaderboard show").has("back on the leaderboard")
    assert ana.command("leaderboard today").has("1. Ana: 1", "You: #1 with 1")


def a_coordinator_sets_a_goal_and_everyone_sees_it(world: World, surface: Surface) -> None:
    """A goal on an area code with a deadline; its progress counts only that area's voters;
    bad goals are refused with the reason; volunteers cannot set goals."""
    world.campaign(
        [
            voter("Maria", 1, area_code="512"),
            voter("Dave", 2, area_code="737", phone="+17375550202"),
        ],
        pledge={"question": "support", "answers": ["yes"]},
    )
    root, ana = surface.user("root"), surface.user("ana")
    assert ana.command("goals").has("No goals yet")
    assert root.command("goal set contacts 10 --area 512 --by 2026-11-09").has(
        "Set the goal: 10 contacts for area code 512 by 2026-11-09"
    )
    assert root.command("goal set pledges 4").has("Set the goal: 4 pledges for the campaign")
    assert root.command("goal set contacts 8 --area 512 --by 2026-11-09").has("Updated the goal")

    for bad, reason in [
        ("goal set contacts -5", "more than zero"),
        ("goal set contacts lots", "whole number"),
        ("goal set charisma 5", "can't count 'charisma'"),
        ("goal set contacts 5 --by 2026-11-01", "2026-11-01 has passed"),
        ("goal set contacts 5 --area 12", "not a valid area"),
        ("goal set contacts 5 --team Nobody", "no team 'Nobody'"),
        ("goal set contacts 5 --planet mars", "don't know '--planet'"),
    ]:
        refused = root.command(bad)
        assert refused.refused and refused.has(reason), (bad, refused.text)
    assert ana.command("goal set contacts 5").has("Only coordinators")

    sign_up(world, ana, ANA_PHONE)
    ana.command("batch")
    call_and_log(ana, "Maria")
    call_and_log(ana, "Dave")
    shown = ana.command("goals")
    assert shown.has("last 7 days", "Contacts for area code 512", "1 of 8 (12%)", "█░░░░░░░░░ 12%")
    assert shown.has("Pace needed: 1 a day", "Current pace: 0.1 a day"), shown.text
    assert shown.has("Projection: 2 by the deadline: behind pace"), shown.text
    assert shown.has("Pledges for the campaign", "2 of 4 (50%)")
    assert len(world.rows("SELECT id FROM goal")) == 2


STANDINGS_SCENARIOS: list[Scenario] = [
    a_coordinator_sets_a_goal_and_everyone_sees_it,
    the_leaderboard_today_and_this_week,
    hiding_from_the_leaderboard,
]
