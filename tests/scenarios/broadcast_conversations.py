"""Broadcast conversations, on every surface: an organizer publishes new talking points and
script; open batches change at once; volunteers press Got it (counted once); texts reach only
those who said yes; the two-person rule; history, diff and revert; bad input changes nothing.
The world's clock is Tuesday 2026-11-03 15:00 UTC (10:00 in the campaign's New York)."""

from __future__ import annotations

from collections.abc import Callable

from tests.scenarios.driver import Driver, Surface
from tests.scenarios.world import World, voter

ANA_PHONE = "(512) 555-0142"
BOB_PHONE = "(512) 555-0143"
MOVED = {
    "title": "Polling place moved",
    "talking_points": "Schools are closed Tuesday: everyone votes at City Hall.",
    "script:en": "Hi {{ first_name }}, this is {{ volunteer.name }}: vote at City Hall now.",
}


def _signed_up(world: World, surface: Surface, name: str, phone: str, *, texts: bool) -> Driver:
    """A volunteer who signed up (saying yes to texts or not) and verified their phone."""
    user = surface.user(name)
    assert user.command("signup").form is not None
    done = user.fill(
        {"name": name.title(), "phone": phone, "languages": ["English"], "sms_consent": texts}
    )
    assert not done.errors, done.errors
    assert user.command(f"verify {world.texted_code()}").has("phone is verified")
    return user


def _texts_to(world: World, phone: str, fragment: str) -> list[str]:
    return [body for to, body in world.texts if to == phone and fragment in body]


def a_broadcast_reaches_every_caller_and_open_cards_change(world: World, surface: Surface) -> None:
    """Published from the form: Ana's open batch shows the new script with the update note at
    once; both volunteers get a DM with Got it, counted once; only Ana, who said yes to texts,
    is texted; the organizer sees the count."""
    world.campaign([voter("Maria", 1), voter("Dave", 2)])
    ana = _signed_up(world, surface, "ana", ANA_PHONE, texts=True)
    bob = _signed_up(world, surface, "bob", BOB_PHONE, texts=False)
    assert ana.command("batch").has("Hi Maria, I'm Ana.")
    assert ana.command("broadcast").has("Only organizers")

    olga = surface.user("olga", organizer=True)
    form = olga.command("broadcast").form
    assert form is not None and {"title", "talking_points", "script:en", "script:es"} <= set(
        form.inputs
    )
    done = olga.fill(MOVED | {"sms": True})
    assert done.has("Published as script version 2", "sent to 2 volunteers", "1 open batch")
    assert not done.refused, done.text

    seen = ana.inbox()
    assert seen.has("Updated 10:00: Polling place moved", "everyone votes at City Hall")
    assert seen.has("Hi Maria, this is Ana: vote at City Hall now.")
    assert seen.has("Hi Dave, this is Ana: vote at City Hall now.")
    assert "Got it" in seen.buttons
    assert ana.press("Got it").has("counted")
    assert bob.inbox().has("Polling place moved")
    twice = ana.press("Got it", seen_by=bob)  # the same button, pressed again
    assert twice.has("Already counted") and not twice.refused
    assert bob.press("Got it").has("counted")
    assert len(world.rows("SELECT id FROM broadcast_ack")) == 2
    assert olga.command("broadcasts").has("Polling place moved", "2 of 2 have seen it")

    assert _texts_to(world, "+15125550142", "Polling place moved")
    assert not _texts_to(world, "+15125550143", "Polling place moved")
    versions = world.rows("SELECT DISTINCT version FROM script ORDER BY version")
    assert [row.version for row in versions] == [1, 2]
    audits = world.rows("SELECT action FROM audit_log WHERE action LIKE 'broadcast.%' ORDER BY id")
    assert [row.action for row in audits] == ["broadcast.create", "broadcast.publish"]


def a_broadcast_waits_for_a_second_organizer(world: World, surface: Surface) -> None:
    """Under the campaign's two-person rule nothing is sent until another organizer approves;
    the author and a volunteer cannot approve; a second Approve changes nothing."""
    world.campaign([voter("Maria", 1)], broadcasts={"two_person_rule": True})
    ana = _signed_up(world, surface, "ana", ANA_PHONE, texts=True)
    ana.command("batch")
    olga = surface.user("olga", organizer=True)
    olga.command("broadcast")
    waiting = olga.fill(MOVED)
    assert waiting.has("waits for a second organizer") and not waiting.refused, waiting.text
    assert world.rows("SELECT id FROM script") == []
    assert not ana.inbox().has("vote at City Hall now")  # her card is unchanged

    listed = olga.command("broadcasts")
    assert listed.has("Polling place moved", "waiting") and "Approve" in listed.buttons
    own = olga.press("Approve")
    assert own.refused and own.has("You wrote this broadcast"), own.text
    volunteer = ana.press("Approve", seen_by=olga)
    assert volunteer.refused and volunteer.has("Only organizers")
    assert world.rows("SELECT id FROM script") == []

    pat = surface.user("pat", organizer=True)
    pat.command("broadcasts")
    approved = pat.press("Approve")
    assert approved.has("Approved", "Published as script version 2") and not approved.refused
    assert ana.inbox().has("Polling place moved", "vote at City Hall now")
    again = pat.press("Approve", seen_by=olga)
    assert again.refused and again.has("already approved")
    audits = world.rows(
        "SELECT action, actor FROM audit_log WHERE action LIKE 'broadcast.%' ORDER BY id"
    )
    assert [row.action for row in audits] == [
        "broadcast.create",
        "broadcast.approve",
        "broadcast.publish",
    ]
    assert audits[1].actor.partition(":")[2] in surface.mention("pat")


def script_history_diff_and_revert(world: World, surface: Surface) -> None:
    """Versions listed with who and when; a line diff; a revert publishes an old version again as
    a new one and redraws the open batch; a version that does not exist changes nothing."""
    world.campaign([voter("Maria", 1)])
    ana = _signed_up(world, surface, "ana", ANA_PHONE, texts=False)
    ana.command("batch")
    olga = surface.user("olga", organizer=True)
    olga.command("broadcast")
    olga.fill(MOVED)
    olga.command("broadcast")
    olga.fill(
        {
            "title": "Bring ID",
            "talking_points": "Remind voters to bring a photo ID.",
            "script:en": "Hi {{ first_name }}, vote at City Hall and bring a photo ID.",
        }
    )
    history = olga.command("script history")
    assert history.has("v3: Bring ID", "v2: Polling place moved", "v1", "campaign file")
    changed = olga.command("script diff 2 3")
    assert changed.has("-Hi {{ first_name }}, this is", "+Hi {{ first_name }}, vote at City Hall")
    assert olga.command("script diff 2 9").has("There is no version 9")

    missing = olga.command("script revert 9")
    assert missing.refused and missing.has("There is no version 9", "1 to 3")
    assert len(world.rows("SELECT DISTINCT version FROM script")) == 3
    ana.inbox()
    reverted = olga.command("script revert 2")
    assert reverted.has("Version 2 is on the cards again, as version 4") and not reverted.refused
    assert ana.inbox().has("Back to version 2", "this is Ana: vote at City Hall now")
    assert olga.command("script history").has("v4: Back to version 2")
    assert world.rows("SELECT id FROM audit_log WHERE action = 'script.revert'")


def bad_broadcasts_are_refused_and_send_nothing(world: World, surface: Surface) -> None:
    """Talking points over the limit (the limit named), a time in the past, an audience that
    matches nobody: the form says so, and nothing is stored or sent."""
    world.campaign([voter("Maria", 1)])
    _signed_up(world, surface, "ana", ANA_PHONE, texts=True)
    olga = surface.user("olga", organizer=True)
    olga.command("broadcast")
    wrong = olga.fill(
        MOVED
        | {
            "talking_points": "x" * 601,
            "when": "08:00",
            "audience": "Area codes (list them below)",
            "audience_values": "999",
        }
    )
    assert "At most 600 characters" in wrong.errors.get("talking_points", ""), wrong.errors
    assert "has passed" in wrong.errors.get("when", ""), wrong.errors
    nobody = olga.fill({"talking_points": MOVED["talking_points"], "when": "18:00"})
    assert "Nobody matches" in nobody.errors.get("audience", ""), nobody.errors
    assert world.rows("SELECT id FROM broadcast") == []
    assert world.rows("SELECT id FROM script") == []
    assert not [body for _, body in world.texts if "Polling place" in body]


BROADCAST_SCENARIOS: list[Callable[[World, Surface], None]] = [
    a_broadcast_reaches_every_caller_and_open_cards_change,
    a_broadcast_waits_for_a_second_organizer,
    script_history_diff_and_revert,
    bad_broadcasts_are_refused_and_send_nothing,
]


ORGANIZERS = {
    "organizers_channels": {"slack": "C0ORGS", "discord": "9001", "console": "organizers"}
}


def a_question_is_answered_and_resolved(world: World, surface: Surface) -> None:
    """Need help on a card: the question reaches the organizers with the card's context (the
    phone masked); an organizer's reply reaches the volunteer, whose follow-up goes back to the
    question; Resolved closes it, and a reply after that is refused."""
    world.campaign([voter("Maria", 1)], questions=ORGANIZERS)
    ana = _signed_up(world, surface, "ana", ANA_PHONE, texts=False)
    ana.command("batch")
    assert ana.press("Need help", near="Maria").form is not None
    empty = ana.fill({"question": ""})
    assert "question" in empty.errors and empty.refused  # required (the core says so too)
    sent = ana.fill({"question": "She says she already voted by mail. What do I log?"})
    assert sent.has("with the organizers") and not sent.refused, sent.text

    olga = surface.user("olga", organizer=True)
    open_questions = olga.command("questions")
    assert open_questions.has("already voted by mail", "Maria", "(512) •••-••01", "version 1")
    assert olga.press("Reply", near="already voted").form is not None
    assert olga.fill({"reply": "Log it as Already voted, then move on."}).has(
        "Sent to the volunteer"
    )

    answer = ana.inbox()
    assert answer.has("Log it as Already voted") and "Reply" in answer.buttons
    assert ana.press("Reply").form is not None
    assert ana.fill({"reply": "Thanks, done."}).has("Sent to the organizers")
    assert olga.command("questions").has("Thanks, done.", "answered")

    olga.command("questions")
    assert olga.press("Resolved", near="already voted").has("resolved")
    late = olga.press("Reply", near="already voted")  # on the list shown before it closed
    assert late.refused and late.has("resolved", "nothing was sent"), late.text
    assert ana.inbox().has("marked resolved")
    assert olga.command("questions").has("No open questions")
    [question] = world.rows("SELECT id, status FROM question")
    assert question.status == "resolved"
    replies = world.rows("SELECT from_organizer FROM question_reply ORDER BY id")
    assert [bool(row.from_organizer) for row in replies] == [True, False]


def a_question_without_an_organizers_channel_is_refused(world: World, surface: Surface) -> None:
    """No channel configured: the volunteer is told and nothing is stored; a question over the
    limit is refused with the limit named."""
    world.campaign([voter("Maria", 1)])
    ana = _signed_up(world, surface, "ana", ANA_PHONE, texts=False)
    refused = ana.command("ask Where do I find the script?")
    assert refused.refused and refused.has("No organizers channel"), refused.text
    assert ana.command("ask").has("Write your question")
    assert world.rows("SELECT id FROM question") == []
    alerts = world.rows("SELECT id FROM audit_log WHERE action = 'questions.no_channel'")
    ana.command("ask Still nobody?")
    again = world.rows("SELECT id FROM audit_log WHERE action = 'questions.no_channel'")
    assert len(alerts) == len(again) == 1  # organizers are alerted once


BROADCAST_SCENARIOS += [
    a_question_is_answered_and_resolved,
    a_question_without_an_organizers_channel_is_refused,
]
