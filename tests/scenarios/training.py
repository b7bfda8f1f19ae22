"""Training conversations: from a signed-up stranger to a certified caller.

Imported at the end of conversations.py, which adds `TRAINING_SCENARIOS` to the shared list.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.scenarios.driver import Surface
from tests.scenarios.world import World, voter

BASICS: dict[str, Any] = {
    "id": "basics",
    "title": "Calling basics",
    "content": {
        "en": "**Listen** more than you talk.\n\n---\n\n1. Read the script\n2. Log a result",
        "es": "**Escuche** más de lo que habla.\n\n---\n\n1. Lea el guion\n2. Anote el resultado",
    },
    "quiz": [
        {
            "question": "A voter says stop calling me. Which result?",
            "choices": ["Refused", "Do not call"],
            "answer": 1,
            "explanation": "A request to stop is always Do not call.",
        },
        {
            "question": "Nobody answers. Which result?",
            "choices": ["No answer", "Wrong number"],
            "answer": 0,
        },
    ],
    "pass_score": 1.0,
}


def a_recruit_trains_fails_once_passes_and_gets_a_batch(world: World, surface: Surface) -> None:
    """Refused a batch before training (offered Start training), reads the pages with Next and
    Back, fails the quiz once (the wrong answer explained), waits out the cool-down, passes,
    is certified and gets a batch."""
    from tests.scenarios.conversations import ANA_PHONE, sign_up

    world.campaign([voter("Maria", 1)], training=[BASICS], training_retry_minutes=10)
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)

    refused = ana.command("batch")
    assert refused.refused and refused.has("pass the training", "Calling basics")
    assert "Start training" in refused.buttons
    assert world.rows("SELECT id FROM batch") == []

    first = ana.press("Start training")
    assert first.has("page 1 of 2", "more than you talk") and "Next" in first.buttons
    second = ana.press("Next")
    assert second.has("page 2 of 2", "Read the script") and "Back" in second.buttons
    assert ana.press("Back").has("page 1 of 2")
    ana.press("Next")
    question = ana.press("Take the quiz")
    assert question.has("question 1 of 2", "stop calling me")

    wrong = ana.press("Refused")
    assert wrong.has("Not quite", "Do not call", "always Do not call", "question 2 of 2")
    failed = ana.press("No answer")
    assert failed.has("1 of 2 right", "passing needs 2", "again in 10 minutes")
    assert ana.command("batch").refused
    assert ana.command("train").has("Calling basics", "not passed yet")
    [status] = world.rows("SELECT status FROM volunteer")
    assert status.status == "applicant"

    world.clock.advance(timedelta(minutes=11))
    ana.press("Continue training")
    assert ana.press("Do not call").has("Right!", "question 2 of 2")
    passed = ana.press("No answer")
    assert passed.has("You passed Calling basics", "certified") and "Get a batch" in passed.buttons
    [status] = world.rows("SELECT status FROM volunteer")
    assert status.status == "certified"
    assert ana.command("train").has("certified to call", "passed (2 of 2 right)")

    batch = ana.command("batch")
    assert not batch.refused and batch.has("Maria")


def a_campaign_without_training_needs_none(world: World, surface: Surface) -> None:
    """No modules: batch works at once and train says there is nothing to do."""
    from tests.scenarios.conversations import ANA_PHONE, sign_up

    world.campaign([voter("Maria", 1)])
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    assert ana.command("train").has("no training")
    assert ana.command("batch").has("Maria")


def training_can_be_optional(world: World, surface: Surface) -> None:
    """`training_required: false`: the modules are there to take, the batch does not wait."""
    from tests.scenarios.conversations import ANA_PHONE, sign_up

    world.campaign([voter("Maria", 1)], training=[BASICS], training_required=False)
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    assert ana.command("batch").has("Maria")
    assert "Start training" in ana.command("train").buttons


def an_organizer_certifies_suspends_and_reinstates(world: World, surface: Surface) -> None:
    """Certified by hand (a second time changes nothing); suspended mid-batch: the voters go
    back at once, old buttons and new batches are refused; reinstated: calling again. Each
    change is in the audit log."""
    from tests.scenarios.conversations import ANA_PHONE, sign_up

    world.campaign([voter("Maria", 1), voter("Dave", 2)], training=[BASICS])
    ana, olga = surface.user("ana"), surface.user("olga", organizer=True)
    sign_up(world, ana, ANA_PHONE)
    assert ana.command("volunteer certify Ana").refused  # organizers only
    who = surface.mention("ana")

    assert olga.command(f"volunteer certify {who}").has("Ana is certified to call")
    assert olga.command("volunteer certify ana").has("certified already", "nothing changed")
    assert olga.command("volunteer certify Nobody").refused
    batch = ana.command("batch")
    assert batch.has("Maria", "Dave")

    suspended = olga.command(f"volunteer suspend {who}")
    assert suspended.has("Ana is suspended", "2 voters went back")
    assert world.rows("SELECT id FROM batch WHERE closed_at IS NULL") == []
    old = ana.press("Call", near="Maria")
    assert old.refused and old.has("paused your calling")
    assert world.rows("SELECT id FROM call_attempt") == []
    assert ana.command("batch").refused and ana.command("batch").has("paused")
    assert olga.command(f"volunteer suspend {who}").has("suspended already")

    assert olga.command(f"volunteer reinstate {who}").has("reinstated")
    assert olga.command(f"volunteer reinstate {who}").has("not suspended")
    assert ana.command("batch").has("Maria")
    actions = [r.action for r in world.rows("SELECT action FROM audit_log ORDER BY id")]
    assert [a for a in actions if a.startswith("volunteer.")] == [
        "volunteer.certify",
        "volunteer.suspend",
        "volunteer.reinstate",
    ]


def _export(world: World) -> str:
    import io

    from storage.campaign_store import campaign_config
    from storage.db import read_session
    from storage.export import write_results
    from storage.models import Campaign

    out = io.StringIO()
    with read_session(world.engine) as session:
        campaign = session.get(Campaign, world.campaign_ids[-1])
        assert campaign is not None
        write_results(session, campaign, campaign_config(campaign), out)
    return out.getvalue()


def a_practice_round_counts_for_nothing(world: World, surface: Surface) -> None:
    """Fictional voters, pretend calls, results logged apart: stats, exports, batches and
    attempts are the same after (old buttons of an ended round: tests/test_training.py)."""
    from tests.scenarios.conversations import ANA_PHONE, sign_up

    world.campaign([voter("Maria", 1)])
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    stats_before, export_before = ana.command("stats").text, _export(world)

    shown = ana.command("practice")
    assert shown.has("made up", "nobody is dialed", "Pat Example (practice voter)")
    assert shown.has("Practice Elementary School") and not shown.has("Maria")
    assert ana.press("Call", near="Pat").has("(Pretend call)", "Pat answers")
    assert ana.press("Talked to voter", near="Pat").has("Logged for Pat: Talked to voter")
    ana.press("Call", near="Sam")
    ended = ana.press("End practice")
    assert ended.has("Practice done: 1 of 3")
    assert [r.result_code for r in world.rows("SELECT result_code FROM practice_call")] == [
        "talked",
        None,
    ]

    assert world.rows("SELECT id FROM batch") == world.rows("SELECT id FROM call_attempt") == []
    assert world.texts == [t for t in world.texts if "code" in t[1]]  # only the signup code
    assert ana.command("stats").text == stats_before and _export(world) == export_before


TRAINING_SCENARIOS = [
    a_practice_round_counts_for_nothing,
    an_organizer_certifies_suspends_and_reinstates,
    a_recruit_trains_fails_once_passes_and_gets_a_batch,
    a_campaign_without_training_needs_none,
    training_can_be_optional,
]
