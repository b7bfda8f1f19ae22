"""Shift conversations, on every surface: an organizer adds shifts, volunteers sign up, wait in
line, drop out and are reminded; the shift starts; a no-show is recorded. Bad input is answered
and changes nothing. The scheduler's jobs run through `surface.tick()` at the world's clock
(Tuesday 2026-11-03 15:00 UTC)."""

from __future__ import annotations

from datetime import timedelta

from tests.scenarios.driver import Surface
from tests.scenarios.world import World, voter

ANA_PHONE = "(512) 555-0142"
BOB_PHONE = "(512) 555-0143"
EVENING = "shift add 2026-11-04 17:00-20:00 --tz America/Chicago"


def _signed_up(world: World, surface: Surface, name: str, phone: str):  # type: ignore[no-untyped-def]
    from tests.scenarios.conversations import sign_up

    user = surface.user(name)
    sign_up(world, user, phone)
    return user


def bad_shifts_are_refused_and_change_nothing(world: World, surface: Surface) -> None:
    """A past shift, an end before its start, capacity 0, an unknown zone, an unknown option,
    a volunteer adding one: each answered plainly, no shift stored."""
    world.campaign([voter("Maria", 1)])
    olga = surface.user("olga", organizer=True)
    ana = surface.user("ana")
    refusals = {
        "shift add 2026-11-02 17:00-20:00": "in the past",
        "shift add 2026-11-04 20:00-17:00": "before it starts",
        "shift add 2026-11-04 17:00-20:00 --capacity 0": "between 1 and 1000",
        "shift add 2026-11-04 17:00-20:00 --tz Mars/Olympus": "don't know the time zone",
        "shift add 2026-11-04 17:00-20:00 --color red": "no option",
        "shift add 2026-11-04": "Say when",
        "shift cancel 99": "no shift #99",
    }
    for command, answer in refusals.items():
        shown = olga.command(command)
        assert shown.refused and shown.has(answer), (command, shown.text)
    assert ana.command(EVENING).has("Only organizers")
    assert world.rows("SELECT id FROM shift") == []


def a_shift_fills_its_waitlist_moves_up_and_reminds(world: World, surface: Surface) -> None:
    """Capacity 1: Ana gets the place, Bob the waitlist; Ana drops out and Bob is promoted and
    told; signing up twice, overlapping shifts and cancelling another's signup are refused."""
    world.campaign([voter("Maria", 1)])
    olga = surface.user("olga", organizer=True)
    ana = _signed_up(world, surface, "ana", ANA_PHONE)
    bob = _signed_up(world, surface, "bob", BOB_PHONE)

    added = olga.command(f"{EVENING} --capacity 1 --channel #phones --title Evening calls")
    assert added.has("Added shift #", "Evening calls", "5:00 PM CST") and not added.refused

    listed = ana.command("shifts")
    assert listed.has("Evening calls", "1 of 1") and "Sign up" in listed.buttons
    joined = ana.press("Sign up", near="Evening calls")
    assert joined.has("You're signed up", "Evening calls", "5:00 PM CST", ".ics")

    full = bob.command("shifts")
    assert full.has("full (waitlist)") and "Join the waitlist" in full.buttons
    # Ana presses the button Bob sees: she holds a place already.
    assert ana.press("Join the waitlist", seen_by=bob).has("already signed up")
    assert bob.press("Join the waitlist").has("on the waitlist")

    # Someone else's signup: a button only ever acts on the presser's own.
    assert bob.command("shifts").has("on the waitlist")
    cy = _signed_up(world, surface, "cy", "(512) 555-0144")
    assert cy.press("Cancel my signup", seen_by=bob).has("not signed up")
    statuses = world.rows("SELECT status FROM shift_signup ORDER BY id")
    assert [row.status for row in statuses] == ["signed_up", "waitlisted"]

    assert ana.command("shifts").has("Evening calls", "you're signed up")
    assert ana.press("Cancel my signup", near="Evening calls").has("you're off")
    assert bob.inbox().has("A place opened up", "Evening calls")
    statuses = world.rows("SELECT status FROM shift_signup ORDER BY id")
    assert [row.status for row in statuses] == ["cancelled", "signed_up"]

    # A second shift that overlaps Bob's is refused for him.
    olga.command("shift add 2026-11-04 18:00-19:00 --tz America/Chicago --title Late calls")
    assert bob.command("shifts").has("Late calls")
    assert bob.press("Sign up", near="Late calls").has("overlaps", "Evening calls")
    assert len(world.rows("SELECT id FROM shift_signup")) == 2

    # A larger capacity promotes the waitlist; a smaller one than those signed up is refused.
    cy.command("shifts")
    assert cy.press("Join the waitlist", near="Evening calls").has("on the waitlist")
    [evening] = world.rows("SELECT id FROM shift WHERE title = 'Evening calls'")
    assert olga.command(f"shift edit {evening.id} --capacity 2").has("2 places")
    assert cy.inbox().has("A place opened up", "Evening calls")
    assert olga.command(f"shift edit {evening.id} --capacity 1").has("can't go below")


def a_reminder_a_yes_the_start_and_a_no_show(world: World, surface: Surface) -> None:
    """The 24 h reminder comes by DM and by SMS; YES by SMS confirms; the start brings a Get a
    batch button; a volunteer who made no call is recorded as a no-show."""
    world.campaign([voter("Maria", 1)])
    olga = surface.user("olga", organizer=True)
    bob = _signed_up(world, surface, "bob", BOB_PHONE)
    olga.command(f"{EVENING} --title Evening calls")
    bob.command("shifts")
    bob.press("Sign up", near="Evening calls")

    surface.tick()
    assert not bob.inbox().has("Reminder")  # 32 h before: nothing due yet

    world.clock.advance(timedelta(hours=9))  # 23 h before
    surface.tick()
    reminder = bob.inbox()
    assert reminder.has("Reminder", "Evening calls", "5:00 PM CST")
    assert "I'll be there" in reminder.buttons
    texts = [body for phone, body in world.texts if phone == "+15125550143"]
    assert texts and "Reply YES to confirm" in texts[-1]
    surface.tick()
    assert not bob.inbox().has("Reminder")  # sent once

    assert (world.text_in("+15125550143", "YES") or "").startswith("Thanks! You're confirmed")
    [signup] = world.rows("SELECT status FROM shift_signup")
    assert signup.status == "confirmed"

    world.clock.advance(timedelta(hours=23, minutes=1))  # the shift has begun
    surface.tick()
    started = bob.inbox()
    assert started.has("has started") and "Get a batch" in started.buttons
    assert not started.has("Reminder")  # the 1 h reminder was not sent after the start

    world.clock.advance(timedelta(hours=3))
    surface.tick()
    [signup] = world.rows("SELECT status FROM shift_signup")
    assert signup.status == "no_show"


def an_organizer_cancels_a_shift_and_volunteers_are_told(world: World, surface: Surface) -> None:
    """Cancelling tells everyone signed up; the shift leaves the list."""
    world.campaign([voter("Maria", 1)])
    olga = surface.user("olga", organizer=True)
    ana = _signed_up(world, surface, "ana", ANA_PHONE)
    added = olga.command(f"{EVENING} --title Evening calls")
    ana.command("shifts")
    ana.press("Sign up", near="Evening calls")
    [shift] = world.rows("SELECT id FROM shift")
    assert added.has(f"#{shift.id}")
    assert olga.command(f"shift edit {shift.id} 18:00-21:00").has("6:00 PM CST")
    assert ana.inbox().has("has moved", "6:00 PM CST")
    assert olga.command(f"shift cancel {shift.id}").has("told 1 person")
    assert ana.inbox().has("was cancelled")
    assert ana.command("shifts").has("No shifts")


SHIFT_SCENARIOS = [
    bad_shifts_are_refused_and_change_nothing,
    a_shift_fills_its_waitlist_moves_up_and_reminds,
    a_reminder_a_yes_the_start_and_a_no_show,
    an_organizer_cancels_a_shift_and_volunteers_are_told,
]
