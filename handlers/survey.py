"""Survey answers for a conversation logged from the keypad.

In a calling session the volunteer logs "talked" with a key, but the keypad cannot take survey
answers. Such a call keeps a **Survey** button on its card (even once the card is closed) until
the answers are in: the form asks the campaign's questions and notes, and stores them on the
call's attempt, where the results export reads them. Sending the same answers twice (a retried
submit) changes nothing; different answers once some are saved are an edit, with its rules
(handlers/outcome_edit.py: the logger's for a while, then an organizer's). Both are audited.
"""

from __future__ import annotations

from sqlmodel import Session

from handlers.batch import batch_view, own_batch
from handlers.cards import KEYPAD_PREFIX, render_batch
from handlers.context import Context
from handlers.outcome import NOTES_LIMIT, Answers, answer_of, survey_answers, survey_inputs
from handlers.outcome_edit import change_outcome
from handlers.refusal import Refusal, int_value, signed_up
from handlers.replies import Form, Input, InputKind, Reply, Tone
from matching.pool import campaign_config
from storage.campaign_config import CampaignConfig
from storage.db import read_session
from storage.models import CallAttempt, Campaign, Voter

SUBMIT = "pb:survey:submit"


def open_survey(ctx: Context, value: str) -> Reply:
    """The Survey button: the campaign's questions for a call logged from the keypad."""
    with read_session(ctx.services.engine) as session:
        attempt, config, name = _waiting(session, ctx, int_value(value))
    code = config.result_code(attempt.result_code or "")
    inputs = [*survey_inputs(config, required=bool(code and code.survey))]
    inputs.append(Input("notes", "Notes", kind=InputKind.LONG_TEXT, required=False))
    form = Form(
        title="Survey answers", submit_action=SUBMIT, inputs=tuple(inputs), value=str(attempt.id)
    )
    return Reply(text=f"What did {name} answer?", form=form)


def submit_survey(ctx: Context, value: str, answers: Answers) -> Reply:
    """Store the answers on the call they belong to, and show the updated card."""
    with read_session(ctx.services.engine) as session:
        attempt, config, name = _waiting(session, ctx, int_value(value), editing=True)
    code = config.result_code(attempt.result_code or "")
    errors: dict[str, str] = {}
    survey = survey_answers(config, answers, code, errors)
    notes = answer_of(answers, "notes").strip()
    if len(notes) > NOTES_LIMIT:
        errors["notes"] = f"Notes hold at most {NOTES_LIMIT} characters."
    if errors:
        return Reply(text="Please fix the marked answers.", tone=Tone.WARNING, errors=errors)
    change_outcome(ctx, int(attempt.id or 0), survey, notes, action="outcome.survey")
    batch_id = int(attempt.batch_id or 0)
    return render_batch(batch_view(ctx, batch_id), f"Survey saved for {name}.", Tone.SUCCESS)


def _waiting(
    session: Session, ctx: Context, attempt_id: int, *, editing: bool = False
) -> tuple[CallAttempt, CampaignConfig, str]:
    """The volunteer's own keypad-logged call that takes survey answers (`editing`: answers
    already saved may be sent again, as a retried submit does)."""
    signed_up(ctx)
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None or attempt.batch_id is None:
        raise Refusal("That call is not on any of your batches.")
    own_batch(session, ctx, attempt.batch_id)
    campaign = session.get(Campaign, attempt.campaign_id)
    if campaign is None:
        raise Refusal("That batch's campaign no longer exists.")
    config = campaign_config(campaign.config)
    if attempt.result_code is None or not (attempt.outcome_key or "").startswith(KEYPAD_PREFIX):
        raise Refusal("Log that call with Log outcome: its form has the survey.")
    if attempt.survey and not editing:
        raise Refusal("The survey for that call is saved already.")
    voter = session.get(Voter, attempt.voter_id)
    return attempt, config, (voter.first_name if voter and voter.first_name else "the voter")
