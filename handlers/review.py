"""Organizers review outcomes that no call through Phonebank proves (manual dialing).

`/phonebank review` lists what waits, oldest first: who logged which result for whom, the notes
and survey answers, each with **Approve** (recorded as logged, on the organizer's word: a
do-not-call then reaches the shared list) and **Reject** (the voter goes back to the list).
A decision is taken once (matching/reviews.py), audited, and the volunteer is told. Voters'
numbers show masked, in notes too.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from handlers.context import Context
from handlers.masking import mask_phone, scrub_phone
from handlers.refusal import Refusal, int_value
from handlers.replies import Button, ButtonStyle, Reply, Section, Tone
from matching.outcomes import OutcomeError
from matching.pool import campaign_config
from matching.reviews import APPROVED, Decision, approve_review, reject_review
from storage.db import read_session
from storage.models import Campaign, OutcomeReview, Volunteer, Voter

APPROVE = "pb:review:approve"
REJECT = "pb:review:reject"
PAGE = 20  # reviews shown at once: each is a section, and a Slack message holds 50 blocks
UPDATE_KEY = "outcome-review"
_NOTES = 500


def review_outcomes(ctx: Context, args: list[str]) -> Reply:
    """Outcomes logged without a call through Phonebank, waiting for an organizer."""
    return _queue(ctx, "")


def approve(ctx: Context, value: str) -> Reply:
    """Approve: the outcome is recorded as the volunteer logged it."""
    return _decide(ctx, value, approving=True)


def reject(ctx: Context, value: str) -> Reply:
    """Reject: nothing is recorded; the voter goes back to the list."""
    return _decide(ctx, value, approving=False)


def _decide(ctx: Context, value: str, *, approving: bool) -> Reply:
    review_id = int_value(value)
    decide = approve_review if approving else reject_review
    services = ctx.services
    try:
        decision = decide(services.engine, review_id, actor=ctx.identity, clock=services.clock)
    except OutcomeError as exc:
        raise Refusal(f"That review cannot be decided: {exc}.") from None
    if decision.repeated:
        return _queue(ctx, f"{decision.decided_by} already {decision.decision} that one.")
    lead = _tell_volunteer(ctx, decision)
    return _queue(ctx, lead)


def _tell_volunteer(ctx: Context, decision: Decision) -> str:
    """Say what was decided to the organizer (the lead) and to the volunteer who logged it."""
    with read_session(ctx.services.engine) as session:
        voter = session.get(Voter, decision.voter_id)
        name = (voter.first_name if voter else "") or "the voter"
        label = _label(session, voter, decision.result_code)
    if decision.decision == APPROVED:
        listed = decision.outcome is not None and decision.outcome.dnc_added
        lead = f"Approved: {label} for {name} is logged."
        told = f"An organizer approved {label} for {name}: it is logged."
        if listed:
            lead += " The number is now on the do-not-call list."
    else:
        lead = f"Rejected: nothing was logged for {name}, who goes back to the list."
        told = f"An organizer did not approve {label} for {name}: nothing was logged."
    if decision.volunteer_id is not None:
        ctx.services.notifier.to_volunteer(decision.volunteer_id, Reply(text=told))
    return lead


def _queue(ctx: Context, lead: str) -> Reply:
    with read_session(ctx.services.engine) as session:
        waiting = session.exec(
            select(OutcomeReview, Voter)
            .join(Voter, col(Voter.id) == col(OutcomeReview.voter_id))
            .where(col(OutcomeReview.decided_at).is_(None))
            .order_by(col(OutcomeReview.submitted_at), col(OutcomeReview.id))
            .limit(PAGE + 1)
        ).all()
        if not waiting:
            text = f"{lead} No outcomes are waiting for review.".strip()
            return Reply(text=text, tone=Tone.SUCCESS, update_key=UPDATE_KEY)
        names = _volunteer_names(session, {r.volunteer_id for r, _ in waiting if r.volunteer_id})
        sections = tuple(
            _section(session, review, voter, names) for review, voter in waiting[:PAGE]
        )
    more = f" (the oldest {PAGE} shown)" if len(waiting) > PAGE else ""
    text = f"{lead} Outcomes logged without a call through Phonebank{more}:".strip()
    return Reply(text=text, sections=sections, update_key=UPDATE_KEY)


def _section(
    session: Session, review: OutcomeReview, voter: Voter, names: dict[int, str]
) -> Section:
    who = names.get(review.volunteer_id or 0, review.submitted_by)
    when = review.submitted_at.strftime("%Y-%m-%d %H:%M UTC")
    label = _label(session, voter, review.result_code)
    lines = [
        f"*{who}* logged *{label}* for {voter.first_name or '(no name)'} "
        f"{mask_phone(voter.phone)} · {when}"
    ]
    if review.survey:
        answers = ", ".join(f"{key}: {value}" for key, value in review.survey.items())
        lines.append(f"Survey: {answers}")
    if review.notes:
        lines.append("> " + scrub_phone(review.notes, voter.phone)[:_NOTES].replace("\n", " "))
    buttons = (
        Button("Approve", APPROVE, str(review.id), ButtonStyle.PRIMARY),
        Button("Reject", REJECT, str(review.id), ButtonStyle.DANGER),
    )
    return Section("\n".join(lines), buttons=buttons)


def _label(session: Session, voter: Voter | None, code: str) -> str:
    campaign = session.get(Campaign, voter.campaign_id) if voter else None
    known = campaign_config(campaign.config).result_code(code) if campaign else None
    return known.label if known else code


def _volunteer_names(session: Session, ids: set[Any]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.exec(select(Volunteer.id, Volunteer.name).where(col(Volunteer.id).in_(ids)))
    return {int(volunteer_id or 0): name for volunteer_id, name in rows.all()}
