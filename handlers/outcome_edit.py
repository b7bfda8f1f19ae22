"""Changing a logged outcome's survey answers and notes, and who may.

`/phonebank outcomes` lists your latest logged outcomes, each with **Edit**; an organizer's
`/phonebank outcomes @someone` lists theirs. An outcome is its logger's to change for the
campaign's `outcome_edit_minutes` (10 by default) after it was logged; after that, and for
anyone else's, only an organizer may. The result itself never changes here: it has acted on the
voter, the household and the do-not-call list already. Every change is written to the audit
log with what it was before and after; a refusal says why and changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from handlers.context import Context
from handlers.identity import find_identity, parse_mention
from handlers.masking import scrub_phone
from handlers.outcome import (
    NOTES_LIMIT,
    SURVEY_PREFIX,
    Answers,
    answer_of,
    survey_answers,
    survey_inputs,
)
from handlers.refusal import Refusal, int_value, signed_up
from handlers.replies import Button, Form, Input, InputKind, Reply, Section, Tone
from matching.pool import campaign_config
from storage.campaign_config import CampaignConfig
from storage.db import read_session, session_scope
from storage.models import AuditLog, CallAttempt, Campaign, Role, Voter
from storage.rollup import refresh_attempt

EDIT = "pb:outcome:edit"
SUBMIT = "pb:outcome:save"
LISTED = 10
NOTHING_CHANGED = "Nothing changed."
_NOTES = 200


def list_outcomes(ctx: Context, args: list[str]) -> Reply:
    """Your latest logged outcomes, to change their survey answers or notes (organizers:
    `outcomes @someone`)."""
    volunteer_id, whose = _whose(ctx, args)
    with read_session(ctx.services.engine) as session:
        rows = session.exec(
            select(CallAttempt, Voter)
            .join(Voter, col(Voter.id) == col(CallAttempt.voter_id))
            .where(
                col(CallAttempt.volunteer_id) == volunteer_id,
                col(CallAttempt.logged_at).is_not(None),
            )
            .order_by(col(CallAttempt.logged_at).desc(), col(CallAttempt.id).desc())
            .limit(LISTED)
        ).all()
        configs = _configs(session, {attempt.campaign_id for attempt, _ in rows})
    if not rows:
        return Reply(text=f"No outcomes logged by {whose} yet.")
    sections = tuple(
        _section(attempt, voter, configs[attempt.campaign_id]) for attempt, voter in rows
    )
    return Reply(text=f"The latest outcomes logged by {whose}:", sections=sections)


def open_edit(ctx: Context, value: str) -> Reply:
    """The Edit button: the outcome's survey answers and notes, as they are now."""
    with read_session(ctx.services.engine) as session:
        attempt, config, name = _editable(session, ctx, int_value(value))
    code = config.result_code(attempt.result_code or "")
    inputs: list[Input] = []
    if code is not None and code.survey:
        for item in survey_inputs(config, required=True):
            saved = attempt.survey.get(item.id.removeprefix(SURVEY_PREFIX))
            inputs.append(replace(item, initial=str(saved) if saved is not None else None))
    inputs.append(
        Input("notes", "Notes", kind=InputKind.LONG_TEXT, required=False, initial=attempt.notes)
    )
    label = code.label if code else attempt.result_code
    form = Form(title="Edit the outcome", submit_action=SUBMIT, inputs=tuple(inputs), value=value)
    return Reply(text=f"{label} for {name}: change the answers or notes.", form=form)


def submit_edit(ctx: Context, value: str, answers: Answers) -> Reply:
    """Store the changed answers and notes, on the record."""
    attempt_id = int_value(value)
    with read_session(ctx.services.engine) as session:
        attempt, config, name = _editable(session, ctx, attempt_id)
    errors: dict[str, str] = {}
    survey = survey_answers(config, answers, config.result_code(attempt.result_code or ""), errors)
    notes = answer_of(answers, "notes").strip()
    if len(notes) > NOTES_LIMIT:
        errors["notes"] = f"Notes hold at most {NOTES_LIMIT} characters."
    if errors:
        return Reply(text="Please fix the marked answers.", tone=Tone.WARNING, errors=errors)
    changed = change_outcome(ctx, attempt_id, survey, notes, action="outcome.edit")
    text = f"Saved the changes to the outcome for {name}." if changed else NOTHING_CHANGED
    return Reply(text=text, tone=Tone.SUCCESS)


def edit_refusal(ctx: Context, attempt: CallAttempt, config: CampaignConfig) -> str | None:
    """Why the asker may not change this logged outcome now, or None."""
    if ctx.has_role(Role.ORGANIZER):
        return None
    if ctx.volunteer_id is None or ctx.volunteer_id != attempt.volunteer_id:
        return "That outcome was logged by another volunteer; only an organizer can change it."
    window = timedelta(minutes=config.outcome_edit_minutes)
    logged_at = attempt.logged_at
    if logged_at is None or ctx.services.clock.now() - logged_at > window:
        return (
            f"You can change an outcome for {config.outcome_edit_minutes} minutes after logging "
            "it; this one is older, so ask an organizer. Nothing was changed."
        )
    return None


def change_outcome(
    ctx: Context, attempt_id: int, survey: dict[str, Any], notes: str, *, action: str
) -> bool:
    """Write the answers and notes and audit the change, under the attempt's lock, checking
    the asker's right again there; whether anything changed."""
    with session_scope(ctx.services.engine) as session:
        attempt = session.exec(
            select(CallAttempt).where(col(CallAttempt.id) == attempt_id).with_for_update()
        ).one()
        before = {"survey": dict(attempt.survey or {}), "notes": attempt.notes}
        after = {"survey": survey, "notes": notes}
        if before == after:
            return False
        if before["survey"] or before["notes"]:  # changing what was logged: within the rules
            reason = edit_refusal(ctx, attempt, _config(session, attempt.campaign_id))
            if reason is not None:
                raise Refusal(reason)
        attempt.survey, attempt.notes = survey, notes
        session.add(attempt)
        session.flush()
        refresh_attempt(session.connection(), _config(session, attempt.campaign_id), attempt_id)
        session.add(
            AuditLog(
                at=ctx.services.clock.now(),
                actor=ctx.identity,
                action=action,
                target=f"call_attempt:{attempt_id}",
                detail={"before": before, "after": after, "logged_by": attempt.volunteer_id},
            )
        )
        return True


def _editable(
    session: Session, ctx: Context, attempt_id: int
) -> tuple[CallAttempt, CampaignConfig, str]:
    if not ctx.has_role(Role.ORGANIZER):
        signed_up(ctx)
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None or attempt.result_code is None:
        raise Refusal("That outcome does not exist; list them again with `outcomes`.")
    config = _config(session, attempt.campaign_id)
    reason = edit_refusal(ctx, attempt, config)
    if reason is not None:
        raise Refusal(reason)
    voter = session.get(Voter, attempt.voter_id)
    return attempt, config, (voter.first_name if voter and voter.first_name else "the voter")


def _whose(ctx: Context, args: list[str]) -> tuple[int, str]:
    """The volunteer whose outcomes to list, and how to name them."""
    if not args:
        return signed_up(ctx), "you"
    if not ctx.has_role(Role.ORGANIZER):
        raise Refusal("Only organizers can see someone else's outcomes.")
    user_id = parse_mention(args[0])
    known = find_identity(ctx.services.engine, ctx.platform, ctx.workspace, user_id or "")
    if user_id is None or known is None or known.volunteer_id is None:
        raise Refusal(f"{args[0]} is not a volunteer I know; mention them: `outcomes @someone`.")
    return known.volunteer_id, args[0]


def _section(attempt: CallAttempt, voter: Voter, config: CampaignConfig) -> Section:
    code = config.result_code(attempt.result_code or "")
    label = code.label if code else attempt.result_code
    when = _when(attempt.logged_at)
    lines = [f"*{label}* for {voter.first_name or '(no name)'} · logged {when}"]
    if attempt.survey:
        lines.append("Survey: " + ", ".join(f"{k}: {v}" for k, v in attempt.survey.items()))
    if attempt.notes:
        notes = scrub_phone(attempt.notes, voter.phone).replace("\n", " ")
        lines.append("> " + notes[:_NOTES])
    return Section("\n".join(lines), buttons=(Button("Edit", EDIT, str(attempt.id)),))


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "earlier"


def _config(session: Session, campaign_id: int) -> CampaignConfig:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise Refusal("That outcome's campaign no longer exists.")
    return campaign_config(campaign.config)


def _configs(session: Session, campaign_ids: set[int]) -> dict[int, CampaignConfig]:
    return {campaign_id: _config(session, campaign_id) for campaign_id in campaign_ids}
