"""Training in chat: a campaign's modules page by page (Next/Back), then a multiple-choice quiz.

A module's markdown (storage/campaign_config.py) is split into pages at its `---` lines and
shown in the volunteer's first language that has it, else in English. The quiz asks one
question at a time; a wrong answer is explained at once. A try that ends under the pass mark
starts over after `training_retry_minutes`. Passing every module certifies the volunteer for the
campaign; when the campaign requires training (`requires_training`), `batch` asks for that
first (`require_certified`).

Where a volunteer is lives in `TrainingProgress` (page, answers so far, failed tries). Each
answer button names its question, so a repeated or old press is told so and changes nothing.
`record_answer` is the quiz's whole rule, pure, for the property test.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.campaigns import ActiveCampaign, active_campaign
from handlers.context import Context
from handlers.markdown import RichText, steps
from handlers.refusal import Refusal, signed_up
from handlers.replies import Button, ButtonStyle, Reply, Section, Tone
from storage.campaign_config import TrainingModule
from storage.db import read_session, session_scope
from storage.models import TrainingProgress, Volunteer, VolunteerStatus

START = "pb:train:start"
PAGE = "pb:train:page"
QUIZ = "pb:train:quiz"
ANSWER = "pb:train:answer"
FINISH = "pb:train:finish"
GET_BATCH = "pb:batch:claim"
PRACTICE = "pb:practice:start"  # handlers/practice.py


class Verdict(StrEnum):
    RIGHT = "right"
    WRONG = "wrong"
    PASSED = "passed"  # the last answer, and the try reached the pass mark
    FAILED = "failed"  # the last answer, under the pass mark: a new try after the cool-down
    NOT_AN_OPTION = "not_an_option"
    STALE = "stale"  # that question was answered already, or is not the one asked now
    ALREADY_PASSED = "already_passed"
    COOLING = "cooling"  # a failed try is too recent to start another


@dataclass(frozen=True)
class QuizState:
    answers: str = ""  # this try's choices so far, one digit each
    passed: bool = False
    score: int | None = None
    failures: int = 0
    failed_at: datetime | None = None


def retry_at(state: QuizState, cool_down: timedelta) -> datetime | None:
    """When a new try may start, if a failed try holds it back."""
    if state.passed or state.answers or state.failed_at is None:
        return None
    return state.failed_at + cool_down


def record_answer(
    module: TrainingModule,
    state: QuizState,
    question: int,
    choice: int,
    now: datetime,
    cool_down: timedelta,
) -> tuple[QuizState, Verdict]:
    """The quiz after answering `question` with `choice` (both 0-based), and what that was."""
    if state.passed:
        return state, Verdict.ALREADY_PASSED
    ready = retry_at(state, cool_down)
    if ready is not None and now < ready:
        return state, Verdict.COOLING
    if question != len(state.answers) or question >= len(module.quiz):
        return state, Verdict.STALE
    if not 0 <= choice < len(module.quiz[question].choices):
        return state, Verdict.NOT_AN_OPTION
    answers = state.answers + str(choice)
    right = module.quiz[question].answer == choice
    if len(answers) < len(module.quiz):
        return replace(state, answers=answers), Verdict.RIGHT if right else Verdict.WRONG
    score = sum(int(a) == q.answer for a, q in zip(answers, module.quiz, strict=True))
    if score >= module.needed_right():
        return replace(state, answers="", passed=True, score=score), Verdict.PASSED
    failed = replace(state, answers="", score=score, failures=state.failures + 1, failed_at=now)
    return failed, Verdict.FAILED


# --- commands and buttons -----------------------------------------------------------------------


def train(ctx: Context, args: list[str]) -> Reply:
    """Your training: what is done, what is next, and a button to go on."""
    volunteer_id = signed_up(ctx)
    campaign = active_campaign(ctx)
    return progress_reply(ctx, volunteer_id, campaign)


def start(ctx: Context, value: str) -> Reply:
    """Start training (or go on where you left off)."""
    volunteer_id = signed_up(ctx)
    campaign = active_campaign(ctx)
    _not_suspended(ctx, volunteer_id)
    module = _next_module(ctx, volunteer_id, campaign)
    if module is None:
        return progress_reply(ctx, volunteer_id, campaign)
    progress = _progress(ctx, volunteer_id, campaign.id, module.id)
    pages = _pages(module, _language(ctx, volunteer_id))
    if progress.answers or progress.step >= len(pages):
        return _question_reply(ctx, campaign, module, _state(progress))
    return _page_reply(module, pages, progress.step)


def page(ctx: Context, value: str) -> Reply:
    """Next or Back: show a page of a module and remember it."""
    volunteer_id = signed_up(ctx)
    campaign = active_campaign(ctx)
    _not_suspended(ctx, volunteer_id)
    module_id, number = _split(value, 2)
    module = _module(campaign, module_id)
    pages = _pages(module, _language(ctx, volunteer_id))
    step = min(max(int(number), 0), len(pages) - 1)
    with session_scope(ctx.services.engine) as session:
        _progress_row(session, volunteer_id, campaign.id, module.id).step = step
    return _page_reply(module, pages, step)


def quiz(ctx: Context, value: str) -> Reply:
    """Take the quiz of a module: its next question, unless a failed try is too recent."""
    volunteer_id = signed_up(ctx)
    campaign = active_campaign(ctx)
    _not_suspended(ctx, volunteer_id)
    module = _module(campaign, value)
    if not module.quiz:
        raise Refusal(f"{module.title} has no quiz: press Finish on its last page.")
    pages = _pages(module, _language(ctx, volunteer_id))
    with session_scope(ctx.services.engine) as session:
        row = _progress_row(session, volunteer_id, campaign.id, module.id)
        row.step = max(row.step, len(pages))
        if len(row.answers) >= len(module.quiz):  # the organizer shortened the quiz meanwhile
            row.answers = ""
        state = _state(row)
    return _question_reply(ctx, campaign, module, state)


def finish(ctx: Context, value: str) -> Reply:
    """Done reading a module that has no quiz: it counts as passed."""
    volunteer_id = signed_up(ctx)
    campaign = active_campaign(ctx)
    _not_suspended(ctx, volunteer_id)
    module = _module(campaign, value)
    if module.quiz:
        raise Refusal(f"{module.title} ends with a quiz: take it to pass the module.")
    with session_scope(ctx.services.engine) as session:
        row = _progress_row(session, volunteer_id, campaign.id, module.id)
        if not row.passed:
            row.passed, row.completed_at = True, ctx.services.clock.now()
            _certify_if_done(session, volunteer_id, campaign)
    return progress_reply(ctx, volunteer_id, campaign, f"Done: {module.title}.")


def answer(ctx: Context, value: str) -> Reply:
    """A quiz answer button: `module:question:choice`."""
    volunteer_id = signed_up(ctx)
    campaign = active_campaign(ctx)
    _not_suspended(ctx, volunteer_id)
    module_id, question_text, choice_text = _split(value, 3)
    module = _module(campaign, module_id)
    question, choice = int(question_text), int(choice_text)
    now = ctx.services.clock.now()
    with session_scope(ctx.services.engine) as session:
        row = _progress_row(session, volunteer_id, campaign.id, module.id)
        state, verdict = record_answer(module, _state(row), question, choice, now, _cool(campaign))
        if verdict in (Verdict.RIGHT, Verdict.WRONG, Verdict.PASSED, Verdict.FAILED):
            _store(row, state, now if verdict is Verdict.PASSED else None)
        certified = verdict is Verdict.PASSED and _certify_if_done(session, volunteer_id, campaign)
    return _answer_reply(ctx, campaign, module, state, verdict, question, choice, certified)


# --- the gate -----------------------------------------------------------------------------------


def missing_modules(
    session: Session, volunteer_id: int, campaign: ActiveCampaign
) -> list[TrainingModule]:
    """The campaign's modules the volunteer has not passed, in order."""
    passed = set(
        session.exec(
            select(TrainingProgress.module).where(
                TrainingProgress.volunteer_id == volunteer_id,
                TrainingProgress.campaign_id == campaign.id,
                col(TrainingProgress.passed).is_(True),
            )
        ).all()
    )
    return [module for module in campaign.config.training if module.id not in passed]


def require_certified(ctx: Context, volunteer_id: int, campaign: ActiveCampaign) -> None:
    """A refusal unless the volunteer may call for the campaign: not suspended, and certified
    when the campaign requires training (says what is missing and offers Start training)."""
    _not_suspended(ctx, volunteer_id)
    if not campaign.config.requires_training:
        return
    with read_session(ctx.services.engine) as session:
        missing = missing_modules(session, volunteer_id, campaign)
    if not missing:
        return
    titles = ", ".join(module.title for module in missing)
    raise Refusal(
        Reply(
            text=f"Before your first batch, pass the training for {campaign.name}."
            f" Still to do: {titles}.",
            tone=Tone.WARNING,
            buttons=(Button("Start training", START, style=ButtonStyle.PRIMARY),),
        )
    )


def _not_suspended(ctx: Context, volunteer_id: int) -> None:
    with read_session(ctx.services.engine) as session:
        refuse_if_suspended(session.get(Volunteer, volunteer_id))


def refuse_if_suspended(volunteer: Volunteer | None) -> None:
    """A refusal when an organizer suspended the volunteer: their buttons do nothing."""
    if volunteer is not None and volunteer.status == VolunteerStatus.SUSPENDED:
        raise Refusal(
            "An organizer has paused your calling for now, so this does nothing."
            " Ask an organizer if you think this is a mistake."
        )


def _certify_if_done(session: Session, volunteer_id: int, campaign: ActiveCampaign) -> bool:
    """Mark the volunteer certified once no module is missing; whether that happened now."""
    session.flush()
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None or missing_modules(session, volunteer_id, campaign):
        return False
    if volunteer.status in (VolunteerStatus.CERTIFIED, VolunteerStatus.SUSPENDED):
        return volunteer.status == VolunteerStatus.CERTIFIED
    volunteer.status = VolunteerStatus.CERTIFIED
    session.add(volunteer)
    return True


# --- what is shown ------------------------------------------------------------------------------


def progress_reply(
    ctx: Context, volunteer_id: int, campaign: ActiveCampaign, intro: str = ""
) -> Reply:
    """Each module with its state, and the button that goes on from here."""
    modules = campaign.config.training
    if not modules:
        return Reply(text=f"{campaign.name} has no training: you can take a batch right away.")
    with read_session(ctx.services.engine) as session:
        rows = {
            row.module: row
            for row in session.exec(
                select(TrainingProgress).where(
                    TrainingProgress.volunteer_id == volunteer_id,
                    TrainingProgress.campaign_id == campaign.id,
                )
            )
        }
    lines = [_module_line(module, rows.get(module.id)) for module in modules]
    passed = sum(1 for m in modules if (row := rows.get(m.id)) is not None and row.passed)
    done = passed == len(modules)
    practice = Button("Practice round", PRACTICE)
    if done:
        text = "You are certified to call. Thank you for training!"
        button = Button("Get a batch", GET_BATCH, style=ButtonStyle.PRIMARY)
    else:
        started = any(row.step or row.answers or row.passed for row in rows.values())
        text = f"Training for {campaign.name}: {passed} of {len(modules)} modules passed."
        label = "Continue training" if started else "Start training"
        button = Button(label, START, style=ButtonStyle.PRIMARY)
    text = f"{intro} {text}".strip()
    tone = Tone.SUCCESS if done else Tone.INFO
    section = Section("\n".join(lines))
    return Reply(text=text, tone=tone, sections=(section,), buttons=(button, practice))


def _module_line(module: TrainingModule, row: TrainingProgress | None) -> str:
    if row is not None and row.passed:
        score = f" ({row.score} of {len(module.quiz)} right)" if row.score is not None else ""
        return f"✓ {module.title}: passed{score}"
    if row is not None and row.failures:
        return f"• {module.title}: quiz not passed yet ({row.failures} tries)"
    if row is not None and (row.step or row.answers):
        return f"• {module.title}: in progress"
    return f"• {module.title}: not started"


def _page_reply(module: TrainingModule, pages: list[RichText], step: int) -> Reply:
    buttons: list[Button] = []
    if step > 0:
        buttons.append(Button("Back", PAGE, f"{module.id}:{step - 1}"))
    if step < len(pages) - 1:
        buttons.append(Button("Next", PAGE, f"{module.id}:{step + 1}", ButtonStyle.PRIMARY))
    elif module.quiz:
        buttons.append(Button("Take the quiz", QUIZ, module.id, ButtonStyle.PRIMARY))
    else:
        buttons.append(Button("Finish", FINISH, module.id, ButtonStyle.PRIMARY))
    rich = pages[step]
    return Reply(
        text=f"{module.title} · page {step + 1} of {len(pages)}",
        sections=(Section(rich.plain(), rich=rich),),
        buttons=tuple(buttons),
    )


def _question_reply(
    ctx: Context,
    campaign: ActiveCampaign,
    module: TrainingModule,
    state: QuizState,
    intro: str = "",
) -> Reply:
    ready = retry_at(state, _cool(campaign))
    now = ctx.services.clock.now()
    if state.passed:
        return Reply(text=f"{intro} You passed {module.title} already.".strip(), tone=Tone.SUCCESS)
    if ready is not None and now < ready:
        minutes = max(1, int((ready - now).total_seconds() + 59) // 60)
        return Reply(
            text=f"{intro} You can try the {module.title} quiz again in {minutes} minutes;"
            " meanwhile, read the module again.".strip(),
            tone=Tone.WARNING if not intro else Tone.INFO,
            buttons=(Button("Read again", PAGE, f"{module.id}:0"),),
        )
    number = len(state.answers)
    if number >= len(module.quiz):  # a reading-only module, or a quiz shortened meanwhile
        onward = Button("Take the quiz", QUIZ, module.id) if module.quiz else None
        onward = onward or Button("Finish", FINISH, module.id)
        return Reply(text=f"{intro} {module.title}".strip(), buttons=(onward,))
    question = module.quiz[number]
    buttons = tuple(
        Button(choice, ANSWER, f"{module.id}:{number}:{index}")
        for index, choice in enumerate(question.choices)
    )
    heading = f"{module.title} quiz · question {number + 1} of {len(module.quiz)}"
    return Reply(
        text=f"{intro} {heading}".strip(),
        sections=(Section(question.question, buttons=buttons),),
    )


def _answer_reply(
    ctx: Context,
    campaign: ActiveCampaign,
    module: TrainingModule,
    state: QuizState,
    verdict: Verdict,
    question: int,
    choice: int,
    certified: bool,
) -> Reply:
    if verdict is Verdict.NOT_AN_OPTION:
        raise Refusal("That answer is not one of the options; pick one of the buttons.")
    if verdict is Verdict.STALE:
        return _question_reply(ctx, campaign, module, state, "That question is answered already.")
    if verdict is Verdict.ALREADY_PASSED:
        return _question_reply(ctx, campaign, module, state)
    if verdict is Verdict.COOLING:
        return _question_reply(ctx, campaign, module, state)
    asked = module.quiz[question]
    feedback = "Right!"
    if choice != asked.answer:
        feedback = f"Not quite: the answer is “{asked.choices[asked.answer]}”."
        if asked.explanation:
            feedback += f" {asked.explanation}"
    if verdict is Verdict.PASSED:
        volunteer_id = signed_up(ctx)
        passed = f"{feedback} You passed {module.title} ({state.score} of {len(module.quiz)})."
        if certified:
            passed += " You are certified to call!"
        return progress_reply(ctx, volunteer_id, campaign, passed)
    if verdict is Verdict.FAILED:
        needed = module.needed_right()
        text = (
            f"{feedback} That try got {state.score} of {len(module.quiz)} right;"
            f" passing needs {needed}."
        )
        return _question_reply(ctx, campaign, module, state, text)
    return _question_reply(ctx, campaign, module, state, feedback)


# --- storage ------------------------------------------------------------------------------------


def _pages(module: TrainingModule, language: str) -> list[RichText]:
    return steps(module.content_in(language))


def _language(ctx: Context, volunteer_id: int) -> str:
    with read_session(ctx.services.engine) as session:
        volunteer = session.get(Volunteer, volunteer_id)
        languages = list(volunteer.languages) if volunteer else []
    return languages[0] if languages else "en"


def _module(campaign: ActiveCampaign, module_id: str) -> TrainingModule:
    module = campaign.config.training_module(module_id)
    if module is None:
        raise Refusal(
            "That training module is no longer part of the campaign; try /phonebank train."
        )
    return module


def _next_module(
    ctx: Context, volunteer_id: int, campaign: ActiveCampaign
) -> TrainingModule | None:
    with read_session(ctx.services.engine) as session:
        missing = missing_modules(session, volunteer_id, campaign)
    return missing[0] if missing else None


def _split(value: str, parts: int) -> list[str]:
    pieces = value.split(":")
    if len(pieces) != parts or not all(p.isdigit() for p in pieces[1:]):
        raise Refusal("That button is out of date; try /phonebank train.")
    return pieces


def _cool(campaign: ActiveCampaign) -> timedelta:
    return timedelta(minutes=campaign.config.training_retry_minutes)


def _state(row: TrainingProgress) -> QuizState:
    return QuizState(row.answers, row.passed, row.score, row.failures, row.failed_at)


def _store(row: TrainingProgress, state: QuizState, completed_at: datetime | None) -> None:
    row.answers, row.passed, row.score = state.answers, state.passed, state.score
    row.failures, row.failed_at = state.failures, state.failed_at
    if completed_at is not None:
        row.completed_at = completed_at


def _progress(
    ctx: Context, volunteer_id: int, campaign_id: int, module_id: str
) -> TrainingProgress:
    with session_scope(ctx.services.engine) as session:
        return _progress_row(session, volunteer_id, campaign_id, module_id)


def _progress_row(
    session: Session, volunteer_id: int, campaign_id: int, module_id: str
) -> TrainingProgress:
    """The volunteer's row for the module, locked for this transaction (made if missing)."""
    query = (
        select(TrainingProgress)
        .where(
            TrainingProgress.volunteer_id == volunteer_id,
            TrainingProgress.campaign_id == campaign_id,
            TrainingProgress.module == module_id,
        )
        .with_for_update()
    )
    row = session.exec(query).first()
    if row is not None:
        return row
    row = TrainingProgress(volunteer_id=volunteer_id, campaign_id=campaign_id, module=module_id)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # made by a concurrent press of the same button
        row = session.exec(query).one()
    return row
