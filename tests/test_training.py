"""Training: the quiz's rule (a property test), its refusals, the markdown and the config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from bot.slack.markdown import to_mrkdwn
from bot.slack.render import reply_blocks
from handlers.markdown import BlockKind, parse, steps
from handlers.replies import Reply, Section
from handlers.router import handle_action, handle_command
from handlers.training import QuizState, Verdict, record_answer
from storage.campaign_config import CampaignConfigError, TrainingModule, load_campaign_config
from storage.clock import FrozenClock
from storage.db import session_scope
from tests.factories import campaign_config, make_campaign
from tests.scenarios.training import BASICS
from tests.scenarios.world import make_services, reply_text, signed_up_context

T0 = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
COOL = timedelta(minutes=10)


def module(pass_score: float, questions: int = 3, choices: int = 3) -> TrainingModule:
    quiz = [
        {"question": f"Q{i}", "choices": [f"c{j}" for j in range(choices)], "answer": i % choices}
        for i in range(questions)
    ]
    return TrainingModule.model_validate(
        {"id": "m", "title": "M", "content": "x", "quiz": quiz, "pass_score": pass_score}
    )


# --- the quiz's rule ----------------------------------------------------------------------------


@given(
    pass_score=st.sampled_from([0.0, 0.34, 0.5, 0.67, 1.0]),
    presses=st.lists(st.tuples(st.integers(-1, 4), st.integers(-1, 3), st.booleans()), max_size=40),
)
def test_certification_happens_exactly_when_a_try_reaches_the_pass_mark(
    pass_score: float, presses: list[tuple[int, int, bool]]
) -> None:
    """Whatever buttons are pressed (right, wrong, stale, not an option, too early), the module
    is passed exactly when a whole try has at least the needed right answers, and then stays."""
    quiz_module = module(pass_score)
    needed = quiz_module.needed_right()
    state, now = QuizState(), T0
    expected_passed = False
    try_answers: list[int] = []
    for question, choice, wait in presses:
        if wait:
            now += COOL
        before = state
        state, verdict = record_answer(quiz_module, state, question, choice, now, COOL)
        accepted = verdict in (Verdict.RIGHT, Verdict.WRONG, Verdict.PASSED, Verdict.FAILED)
        if not accepted:
            assert state == before  # a refused press changes nothing
            continue
        assert not expected_passed and question == len(try_answers)
        try_answers.append(choice)
        if len(try_answers) == len(quiz_module.quiz):
            right = sum(a == q.answer for a, q in zip(try_answers, quiz_module.quiz, strict=True))
            expected_passed = right >= needed
            assert verdict is (Verdict.PASSED if expected_passed else Verdict.FAILED)
            assert state.score == right
            try_answers = []
        assert state.passed is expected_passed
    assert state.passed is expected_passed


def test_a_failed_try_waits_for_the_cool_down() -> None:
    quiz_module = module(1.0, questions=1)
    failed, verdict = record_answer(quiz_module, QuizState(), 0, 2, T0, COOL)
    assert verdict is Verdict.FAILED and failed.failures == 1
    assert record_answer(quiz_module, failed, 0, 0, T0 + COOL / 2, COOL) == (
        failed,
        Verdict.COOLING,
    )
    passed, verdict = record_answer(quiz_module, failed, 0, 0, T0 + COOL, COOL)
    assert verdict is Verdict.PASSED and passed.passed


def test_pass_marks_round_up() -> None:
    assert module(0.5, questions=3).needed_right() == 2
    assert module(0.0).needed_right() == 0
    assert module(1.0, questions=2).needed_right() == 2


# --- refusals through the router ----------------------------------------------------------------


@pytest.fixture
def trainee(engine: Engine, clock: FrozenClock) -> Any:
    with session_scope(engine) as session:
        make_campaign(session, campaign_config(training=[BASICS]), clock=clock)
    services = make_services(engine, clock)
    return signed_up_context(services)


def _progress(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT answers, passed, failures FROM training_progress")))


def test_an_answer_that_is_not_an_option_changes_nothing(engine: Engine, trainee: Any) -> None:
    handle_action(trainee, "pb:train:quiz", "basics")
    reply = handle_action(trainee, "pb:train:answer", "basics:0:7")
    assert reply.tone == "warning" and "not one of the options" in reply.text
    assert [tuple(r) for r in _progress(engine)] == [("", False, 0)]


@pytest.mark.parametrize("value", ["basics:x:1", "basics:0", "nosuch:0:1", "", "basics:0:-1"])
def test_a_forged_answer_button_is_refused(engine: Engine, trainee: Any, value: str) -> None:
    reply = handle_action(trainee, "pb:train:answer", value)
    assert reply.tone == "warning"
    assert all(row.answers == "" and not row.passed for row in _progress(engine))


def test_an_old_answer_button_is_told_and_changes_nothing(engine: Engine, trainee: Any) -> None:
    handle_action(trainee, "pb:train:quiz", "basics")
    handle_action(trainee, "pb:train:answer", "basics:0:1")
    again = handle_action(trainee, "pb:train:answer", "basics:0:0")
    assert "answered already" in again.text and "question 2 of 2" in reply_text(again)
    assert [tuple(r) for r in _progress(engine)] == [("1", False, 0)]


def test_passing_twice_certifies_once(engine: Engine, trainee: Any) -> None:
    handle_action(trainee, "pb:train:quiz", "basics")
    handle_action(trainee, "pb:train:answer", "basics:0:1")
    passed = handle_action(trainee, "pb:train:answer", "basics:1:0")
    assert "certified" in passed.text
    again = handle_action(trainee, "pb:train:answer", "basics:1:0")
    assert "passed Calling basics already" in again.text
    assert "certified to call" in handle_command(trainee, "train").text


def test_the_spanish_page_is_shown_to_a_spanish_speaker(engine: Engine, clock: FrozenClock) -> None:
    with session_scope(engine) as session:
        make_campaign(session, campaign_config(training=[BASICS]), clock=clock)
    ctx = signed_up_context(make_services(engine, clock), languages=("es",))
    assert "Escuche" in reply_text(handle_action(ctx, "pb:train:start", ""))


# --- markdown -----------------------------------------------------------------------------------


def test_steps_split_at_thematic_breaks_and_keep_the_structure() -> None:
    pages = steps("# Hi\n\n**Listen** _well_.\n\n---\n\n1. one\n2. `two`\n\n- dot\n\n---\n")
    assert len(pages) == 2
    assert [b.kind for b in pages[0].blocks] == [BlockKind.HEADING, BlockKind.PARAGRAPH]
    assert pages[0].blocks[1].spans[0].bold and pages[0].blocks[1].spans[2].italic
    assert pages[1].plain() == "1. one\n2. two\n• dot"


def test_slack_gets_mrkdwn_with_data_escaped() -> None:
    rich = parse("**Bold** and _it_ [site](https://vote.org) <!channel> call 512-555-0142")
    shown = to_mrkdwn(rich)
    assert shown.startswith("*Bold* and _it_ <https://vote.org|site>")
    assert "&lt;!channel&gt;" in shown and "555-0142" not in shown
    blocks = reply_blocks(Reply(text="t", sections=(Section(rich.plain(), rich=rich),)))
    assert any(b.get("text", {}).get("text", "").startswith("*Bold*") for b in blocks)


def test_a_javascript_link_is_shown_as_text() -> None:
    assert "<" not in to_mrkdwn(parse("[x](javascript:alert(1))"))


# --- the campaign file --------------------------------------------------------------------------


def _yaml(**overrides: Any) -> str:
    import yaml

    data = campaign_config().model_dump(mode="json") | overrides
    return yaml.safe_dump(data, sort_keys=False)


def test_per_language_content_needs_english_and_says_where() -> None:
    broken = dict(BASICS, content={"es": "hola"})
    with pytest.raises(CampaignConfigError) as raised:
        load_campaign_config(_yaml(training=[broken]), "campaign.yml")
    [problem] = raised.value.problems
    assert problem.field == "training.0.content" and "English" in problem.message
    assert problem.line is not None


def test_training_is_required_when_there_are_modules_unless_turned_off() -> None:
    assert not campaign_config().requires_training
    assert campaign_config(training=[BASICS]).requires_training
    assert not campaign_config(training=[BASICS], training_required=False).requires_training


# --- practice -----------------------------------------------------------------------------------


class NeverDial:
    """A telephony that fails the test if anything asks it to call or text."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"practice reached the telephony: {name}")


def test_practice_never_asks_the_telephony_and_old_buttons_do_nothing(
    engine: Engine, clock: FrozenClock
) -> None:
    from dataclasses import replace

    with session_scope(engine) as session:
        make_campaign(session, campaign_config(), clock=clock)
    services = make_services(engine, clock)
    ctx = signed_up_context(services)
    ctx = replace(ctx, services=replace(services, telephony=NeverDial()))  # type: ignore[arg-type]

    started = handle_command(ctx, "practice")
    assert started.tone != "warning", started.text
    values = [b.value for s in started.sections for b in s.buttons]
    for value in values:
        handle_action(ctx, "pb:practice:call", value)
        logged = handle_action(ctx, "pb:practice:log", f"{value}:not_home")
        assert "Logged for" in logged.text
    assert "Practice done: 3 of 3" in logged.text
    late = handle_action(ctx, "pb:practice:call", values[0])
    assert late.tone == "warning" and "practice round is over" in late.text
    relog = handle_action(ctx, "pb:practice:log", f"{values[0]}:talked")
    assert relog.tone == "warning"
    with engine.connect() as conn:
        codes = [r[0] for r in conn.execute(text("SELECT result_code FROM practice_call"))]
        assert codes == ["not_home"] * 3
        assert list(conn.execute(text("SELECT id FROM call_attempt"))) == []


@pytest.mark.parametrize(
    ("action", "value"),
    [
        ("pb:practice:call", "1:9"),
        ("pb:practice:call", "x"),
        ("pb:practice:log", "1:0:nosuchcode"),
        ("pb:practice:log", "1:0"),
        ("pb:practice:end", "999"),
    ],
)
def test_forged_practice_buttons_are_refused(
    engine: Engine, clock: FrozenClock, action: str, value: str
) -> None:
    with session_scope(engine) as session:
        make_campaign(session, campaign_config(), clock=clock)
    ctx = signed_up_context(make_services(engine, clock))
    handle_command(ctx, "practice")
    assert handle_action(ctx, action, value).tone == "warning"
    with engine.connect() as conn:
        assert list(conn.execute(text("SELECT id FROM practice_call"))) == []


def test_certified_only_when_every_module_is_passed(engine: Engine, clock: FrozenClock) -> None:
    reading = {"id": "reading", "title": "Reading only", "content": "Just read.\n\n---\n\nDone."}
    with session_scope(engine) as session:
        make_campaign(session, campaign_config(training=[reading, BASICS]), clock=clock)
    ctx = signed_up_context(make_services(engine, clock))

    assert "Reading only" in handle_command(ctx, "batch").text
    first = handle_action(ctx, "pb:train:start", "")
    assert "Reading only · page 1 of 2" in first.text
    assert "page 2 of 2" in handle_action(ctx, "pb:train:page", "reading:1").text
    assert "Take the quiz" not in reply_text(handle_action(ctx, "pb:train:page", "reading:1"))
    done = handle_action(ctx, "pb:train:finish", "reading")
    assert "1 of 2 modules passed" in done.text and "certified" not in done.text
    assert handle_action(ctx, "pb:train:finish", "basics").tone == "warning"  # it has a quiz
    refused = handle_command(ctx, "batch")
    assert "Calling basics" in refused.text and "Reading only" not in refused.text

    handle_action(ctx, "pb:train:quiz", "basics")
    handle_action(ctx, "pb:train:answer", "basics:0:1")
    assert "certified to call" in handle_action(ctx, "pb:train:answer", "basics:1:0").text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM volunteer")).scalar() == "certified"


def test_a_training_page_and_question_are_valid_block_kit(engine: Engine, trainee: Any) -> None:
    from tests.slack_blockkit import block_kit_problems

    for reply in (
        handle_action(trainee, "pb:train:start", ""),
        handle_action(trainee, "pb:train:quiz", "basics"),
        handle_command(trainee, "practice"),
    ):
        assert block_kit_problems({"blocks": reply_blocks(reply)}) == []


def test_a_reading_only_module_has_no_quiz_to_take(engine: Engine, clock: FrozenClock) -> None:
    reading = {"id": "reading", "title": "Reading only", "content": "Just read."}
    with session_scope(engine) as session:
        make_campaign(session, campaign_config(training=[reading]), clock=clock)
    ctx = signed_up_context(make_services(engine, clock))
    refused = handle_action(ctx, "pb:train:quiz", "reading")
    assert refused.tone == "warning" and "no quiz" in refused.text
    assert "Finish" in reply_text(handle_action(ctx, "pb:train:start", ""))
