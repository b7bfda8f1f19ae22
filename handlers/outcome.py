"""Logging what happened on a call: a result code, the survey, notes; the card updates in place.

The form comes from the campaign file: its result codes, its survey questions (asked with the
results marked `survey: true`), the language heard for a language barrier, and notes. Answers
that do not fit together are refused with the reason on the input concerned. The outcome is
recorded by matching (matching/outcomes.py) with the request's key, so a retried submit logs
nothing twice.

A result that needs a call (matching.outcomes.needs_a_call: it ends, re-routes or lists the
voter, or carries survey answers) on a card nobody called through Phonebank is refused, and
nothing changes. In a campaign with manual dialing the volunteer may have dialed by hand: their
result then waits for an organizer (matching/reviews.py, handlers/review.py), and an
organizer's own is recorded at once on their word, in the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from handlers.alerts import alert_organizers
from handlers.batch import batch_view, own_card
from handlers.cards import join_names, render_batch
from handlers.context import Context
from handlers.refusal import Refusal, int_value, signed_up
from handlers.replies import Form, Input, InputKind, Option, Reply, Tone
from matching.outcomes import (
    AlreadyLogged,
    NoCallPlaced,
    Outcome,
    OutcomeError,
    OutcomeResult,
    needs_a_call,
    record_outcome,
)
from matching.pool import campaign_config
from matching.ranking import LANGUAGE_NAMES
from matching.reviews import hold_for_review
from storage.campaign_config import CampaignConfig, ResultAction, ResultCode, ResultKind
from storage.db import read_session, session_scope
from storage.models import (
    AuditLog,
    BatchCard,
    BatchItem,
    CallAttempt,
    Campaign,
    OutcomeReview,
    Role,
    Voter,
)

SUBMIT = "pb:outcome:submit"
SURVEY_PREFIX = "survey:"
NOTES_LIMIT = 2000
REVIEW_ALERT_QUIET = timedelta(minutes=15)  # one "outcomes wait for review" alert at a time

Answers = Mapping[str, str | list[str]]


@dataclass(frozen=True)
class CardVoter:
    voter_id: int
    first_name: str
    result_code: str | None  # already logged from this card


@dataclass(frozen=True)
class LoggedOutcome:
    """A validated form."""

    voter_id: int
    code: ResultCode
    language_heard: str | None
    survey: dict[str, Any] = field(default_factory=dict)
    notes: str = ""


def open_outcome(ctx: Context, value: str) -> Reply:
    """The Log outcome button: the form for this card."""
    card_id = int_value(value)
    with read_session(ctx.services.engine) as session:
        card, batch = own_card(session, ctx, card_id)
        config = _config(session, batch.campaign_id)
        voters = [voter for voter in _card_voters(session, card) if voter.result_code is None]
        status = _open_call_status(session, int(batch.id or 0), voters)
    if not voters:
        raise Refusal("Everyone on that card is logged already.")
    names = join_names([voter.first_name for voter in voters])
    form = outcome_form(config, voters, card_id, prefilled_result(config, status))
    return Reply(text=f"What happened on the call to {names}?", form=form)


def prefilled_result(config: CampaignConfig, call_status: str | None) -> str | None:
    """The result a busy or unanswered call suggests: the campaign's code of that name, else
    its first plain retry code (busy falls back to no answer); None for other calls."""
    if call_status not in ("busy", "no-answer"):
        return None
    names = ["busy", "no_answer"] if call_status == "busy" else ["no_answer"]
    for name in names:
        if config.result_code(name) is not None:
            return name
    retry = [c for c in config.result_codes if c.kind is ResultKind.RETRY and c.action is None]
    return retry[0].code if retry else None


def outcome_form(
    config: CampaignConfig, voters: list[CardVoter], card_id: int, prefill: str | None = None
) -> Form:
    """Who answered (for a household), the result (pre-filled after a busy or unanswered call),
    the language heard, the survey, notes."""
    inputs: list[Input] = []
    if len(voters) > 1:
        inputs.append(
            Input(
                "voter",
                "Who did you talk to (or try to)?",
                kind=InputKind.CHOICE,
                options=tuple(Option(v.first_name or "(no name)", str(v.voter_id)) for v in voters),
            )
        )
    inputs.append(
        Input(
            "result",
            "What happened?",
            kind=InputKind.CHOICE,
            options=tuple(Option(code.label, code.code) for code in config.result_codes),
            initial=prefill,
        )
    )
    if any(code.action is ResultAction.LANGUAGE_BARRIER for code in config.result_codes):
        inputs.append(
            Input(
                "language_heard",
                "Language heard",
                kind=InputKind.CHOICE,
                options=tuple(Option(name, code) for code, name in LANGUAGE_NAMES.items()),
                required=False,
                hint="Only for a language barrier: someone who speaks it will call back.",
            )
        )
    inputs.extend(survey_inputs(config))
    inputs.append(Input("notes", "Notes", kind=InputKind.LONG_TEXT, required=False))
    return Form(
        title="Log the call", submit_action=SUBMIT, inputs=tuple(inputs), value=str(card_id)
    )


def survey_inputs(config: CampaignConfig, *, required: bool = False) -> list[Input]:
    """The campaign's survey questions as form inputs (`required`: the required questions are,
    as when the result is known to be one that asks them)."""
    with_survey = _labels([code for code in config.result_codes if code.survey])
    return [
        Input(
            SURVEY_PREFIX + question.id,
            question.question,
            kind=InputKind.CHOICE,
            options=tuple(Option(choice, choice) for choice in question.choices),
            required=required and question.required,
            hint=f"Only with {with_survey}." if with_survey and not required else None,
        )
        for question in config.survey
    ]


def submit_outcome(ctx: Context, value: str, answers: Answers) -> Reply:
    """Validate the form, record the outcome once, and show the updated card."""
    volunteer_id = signed_up(ctx)
    card_id = int_value(value)
    with read_session(ctx.services.engine) as session:
        card, batch = own_card(session, ctx, card_id)
        batch_id = int(batch.id or 0)
        if _already_recorded(session, ctx):
            return render_batch(batch_view(ctx, batch_id), "Logged.", Tone.SUCCESS)
        if _already_held(session, ctx):
            return render_batch(batch_view(ctx, batch_id), SENT_FOR_REVIEW, Tone.SUCCESS)
        config = _config(session, batch.campaign_id)
        voters = _card_voters(session, card)
    logged, errors = validate_outcome(config, answers, voters)
    if logged is None:
        return Reply(text="Please fix the marked answers.", tone=Tone.WARNING, errors=errors)
    voter = next(v for v in voters if v.voter_id == logged.voter_id)
    if voter.result_code is not None:
        label = _label(config, voter.result_code)
        raise Refusal(f"{voter.first_name or 'That voter'} is logged already: {label}.")
    outcome = Outcome(
        voter_id=logged.voter_id,
        result_code=logged.code.code,
        batch_id=batch_id,
        volunteer_id=volunteer_id,
        language_heard=logged.language_heard,
        call_attempt_id=_call_to_complete(ctx, batch_id, voters, logged.voter_id),
        survey=logged.survey,
        notes=logged.notes,
        request_key=ctx.request_key,
    )
    name = voter.first_name or "the voter"
    try:
        result = _record(ctx, outcome, voter)
    except NoCallPlaced:
        if not config.manual_dialing:
            raise Refusal(_needs_a_call(logged)) from None
        if not ctx.has_role(Role.ORGANIZER):
            return _send_for_review(ctx, outcome, logged, name)
        result = _record(ctx, replace(outcome, vouched_by=ctx.identity), voter)
        _audit_unplaced(ctx, outcome)
    text = f"Logged for {name}: {logged.code.label}."
    if result.dnc_added:
        text += " The number is now on the do-not-call list."
    return render_batch(batch_view(ctx, batch_id), text, Tone.SUCCESS)


SENT_FOR_REVIEW = "Sent to the organizers for review."
HELD = "review"  # the release reason of a voter whose outcome waits for review


def _record(ctx: Context, outcome: Outcome, voter: CardVoter) -> OutcomeResult:
    """Record the outcome; matching's refusals as chat refusals (NoCallPlaced passes)."""
    try:
        return record_outcome(ctx.services.engine, outcome, clock=ctx.services.clock)
    except NoCallPlaced:
        raise
    except AlreadyLogged:  # the keypad logged this call while the form was open
        raise Refusal(f"{voter.first_name or 'That voter'} is logged already.") from None
    except OutcomeError as exc:
        raise Refusal(f"That outcome cannot be logged: {exc}.") from None


def _needs_a_call(logged: LoggedOutcome) -> str:
    what = logged.code.label if needs_a_call(logged.code) else "Survey answers"
    return (
        f"Nobody was called on this card yet, so {what} cannot be logged: press Call first, "
        "then log what happened. Nothing was changed."
    )


def _send_for_review(ctx: Context, outcome: Outcome, logged: LoggedOutcome, name: str) -> Reply:
    """A manual dial's result that needs a call: held for an organizer, who is told."""
    services = ctx.services
    try:
        hold_for_review(services.engine, outcome, actor=ctx.identity, clock=services.clock)
    except AlreadyLogged:
        raise Refusal(f"{name} is logged already.") from None
    except OutcomeError as exc:
        raise Refusal(f"That outcome cannot be sent for review: {exc}.") from None
    alert_organizers(
        services,
        "outcome.waiting_review",
        "Outcomes logged without a call through Phonebank wait for your review: "
        "`/phonebank review`.",
        quiet_for=REVIEW_ALERT_QUIET,
    )
    text = (
        f"{SENT_FOR_REVIEW} {logged.code.label} for {name} was not logged yet: no call to them "
        "went through Phonebank, so an organizer checks it first. They are off your card."
    )
    return render_batch(batch_view(ctx, int(outcome.batch_id or 0)), text, Tone.SUCCESS)


def _audit_unplaced(ctx: Context, outcome: Outcome) -> None:
    """An organizer logged a manual dial's result on their own word: on the record."""
    with session_scope(ctx.services.engine) as session:
        session.add(
            AuditLog(
                at=ctx.services.clock.now(),
                actor=ctx.identity,
                action="outcome.unplaced",
                target=f"voter:{outcome.voter_id}",
                detail={"result_code": outcome.result_code, "batch_id": outcome.batch_id},
            )
        )


def validate_outcome(
    config: CampaignConfig, answers: Answers, voters: list[CardVoter]
) -> tuple[LoggedOutcome | None, dict[str, str]]:
    """The outcome, or the problems by input id (invalid combinations say why)."""
    errors: dict[str, str] = {}
    voter_id = _voter(answers, voters, errors)
    code = config.result_code(answer_of(answers, "result"))
    if code is None:
        errors["result"] = "Pick what happened on the call."
    heard = _language_heard(answers, code, errors)
    survey = survey_answers(config, answers, code, errors)
    notes = answer_of(answers, "notes").strip()
    if len(notes) > NOTES_LIMIT:
        errors["notes"] = f"Notes hold at most {NOTES_LIMIT} characters."
    if errors or code is None or voter_id is None:
        return None, errors
    return LoggedOutcome(voter_id, code, heard, survey, notes), {}


def _voter(answers: Answers, voters: list[CardVoter], errors: dict[str, str]) -> int | None:
    waiting = [voter for voter in voters if voter.result_code is None] or voters
    if len(waiting) == 1 and not answer_of(answers, "voter"):
        return waiting[0].voter_id
    chosen = answer_of(answers, "voter")
    match = next((v.voter_id for v in voters if str(v.voter_id) == chosen), None)
    if match is None:
        errors["voter"] = "Pick who you talked to, from this card."
    return match


def _language_heard(
    answers: Answers, code: ResultCode | None, errors: dict[str, str]
) -> str | None:
    heard = answer_of(answers, "language_heard").strip().lower() or None
    barrier = code is not None and code.action is ResultAction.LANGUAGE_BARRIER
    if barrier and heard is None:
        errors["language_heard"] = "Which language did you hear? Someone who speaks it will call."
    elif heard is not None and code is not None and not barrier:
        errors["language_heard"] = (
            f"The language heard goes with a language barrier, not with {code.label}."
        )
    elif heard is not None and heard not in LANGUAGE_NAMES:
        errors["language_heard"] = "Pick a language from the list."
    return heard


def survey_answers(
    config: CampaignConfig, answers: Answers, code: ResultCode | None, errors: dict[str, str]
) -> dict[str, Any]:
    survey: dict[str, Any] = {}
    with_survey = _labels([c for c in config.result_codes if c.survey]) or "a conversation"
    for question in config.survey:
        key = SURVEY_PREFIX + question.id
        answer = answer_of(answers, key).strip()
        if not answer:
            if code is not None and code.survey and question.required:
                errors[key] = f"Required with {code.label}."
            continue
        if answer not in question.choices:
            errors[key] = f"Pick one of: {', '.join(question.choices)}."
        elif code is not None and not code.survey:
            errors[key] = f"Survey answers go with {with_survey}, not with {code.label}."
        else:
            survey[question.id] = answer
    return survey


def _call_to_complete(
    ctx: Context, batch_id: int, voters: list[CardVoter], voter_id: int
) -> int | None:
    """This card's call waiting for an outcome, now about `voter_id` (whoever answered)."""
    on_card = [voter.voter_id for voter in voters]
    with session_scope(ctx.services.engine) as session:
        attempt = session.exec(
            select(CallAttempt)
            .where(
                col(CallAttempt.batch_id) == batch_id,
                col(CallAttempt.voter_id).in_(on_card),
                col(CallAttempt.result_code).is_(None),
                col(CallAttempt.outcome_key).is_(None),
            )
            .order_by(col(CallAttempt.id).desc())
        ).first()
        if attempt is None:
            return None
        attempt.voter_id = voter_id
        session.add(attempt)
        return attempt.id


def _open_call_status(session: Session, batch_id: int, voters: list[CardVoter]) -> str | None:
    """The status of the latest call to these voters on the batch that has no outcome yet."""
    if not voters:
        return None
    return session.exec(
        select(CallAttempt.call_status)
        .where(
            col(CallAttempt.batch_id) == batch_id,
            col(CallAttempt.voter_id).in_([voter.voter_id for voter in voters]),
            col(CallAttempt.result_code).is_(None),
        )
        .order_by(col(CallAttempt.id).desc())
    ).first()


def _already_recorded(session: Session, ctx: Context) -> bool:
    if ctx.request_key is None:
        return False
    found = session.exec(
        select(CallAttempt.id).where(col(CallAttempt.outcome_key) == ctx.request_key)
    ).first()
    return found is not None


def _already_held(session: Session, ctx: Context) -> bool:
    if ctx.request_key is None:
        return False
    found = session.exec(
        select(OutcomeReview.id).where(col(OutcomeReview.request_key) == ctx.request_key)
    ).first()
    return found is not None


def _card_voters(session: Session, card: BatchCard) -> list[CardVoter]:
    rows = session.exec(
        select(BatchItem, Voter)
        .join(Voter, col(Voter.id) == col(BatchItem.voter_id))
        .where(col(BatchItem.card_id) == card.id)
        .order_by(col(Voter.id))
    ).all()
    rows = [(item, voter) for item, voter in rows if item.release_reason != HELD]
    return [
        CardVoter(int(voter.id or 0), voter.first_name, item.result_code) for item, voter in rows
    ]


def _config(session: Session, campaign_id: int) -> CampaignConfig:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise Refusal("That batch's campaign no longer exists.")
    return campaign_config(campaign.config)


def _label(config: CampaignConfig, code: str) -> str:
    known = config.result_code(code)
    return known.label if known else code


def _labels(codes: list[ResultCode]) -> str:
    return " or ".join(code.label for code in codes)


def answer_of(answers: Answers, key: str) -> str:
    value = answers.get(key)
    if isinstance(value, list):
        return value[0] if value else ""
    return value or ""
