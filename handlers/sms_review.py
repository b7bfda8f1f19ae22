"""Organizers review texts that read like an opt-out in words ("please stop texting me").

`/phonebank sms review` lists the texts waiting (who sent it, what it says, when), oldest first,
each with a **Reviewed** button and, for a known volunteer, **Opt them out**. Either records who
reviewed it. Numbers are never shown: a sender is a volunteer's name or "Unknown sender".
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from handlers.context import Context
from handlers.replies import Button, ButtonStyle, Reply, Section, Tone, problem
from handlers.sms_digest import excerpt, volunteer_names
from handlers.texting import set_opted_out
from storage.db import read_session, session_scope
from storage.models import AuditLog, SmsInbound, Volunteer

REVIEWED = "pb:sms:reviewed"
OPT_OUT = "pb:sms:optout"
PAGE = 20  # texts shown at once: each is a section, and a Slack message holds 50 blocks
UPDATE_KEY = "sms-review"
_QUOTE = 500


def review_texts(ctx: Context, args: list[str]) -> Reply:
    """Texts from volunteers that may be opt-outs, waiting for an organizer."""
    return _review_list(ctx, "")


def mark_reviewed(ctx: Context, value: str) -> Reply:
    """The Reviewed button: the text leaves the list; who reviewed it is recorded."""
    return _review(ctx, value, opt_out=False)


def opt_out_sender(ctx: Context, value: str) -> Reply:
    """The Opt them out button: no more texts to this volunteer, and the text is reviewed."""
    return _review(ctx, value, opt_out=True)


def _review(ctx: Context, value: str, *, opt_out: bool) -> Reply:
    if not value.isdigit():
        return problem("That button does not name a text; run `/phonebank sms review` again.")
    with session_scope(ctx.services.engine) as session:
        row = session.get(SmsInbound, int(value))
        if row is None or not row.needs_review:
            return problem("That text is not waiting for review.")
        if row.reviewed_by is not None:
            return _review_list_in(session, ctx, f"{row.reviewed_by} already reviewed that text.")
        volunteer = session.get(Volunteer, row.volunteer_id) if row.volunteer_id else None
        if opt_out and volunteer is not None:
            set_opted_out(session, ctx.services, volunteer, True)
        row.reviewed_by = ctx.identity
        session.add(row)
        session.add(
            AuditLog(
                at=ctx.services.clock.now(),
                actor=ctx.identity,
                action="sms.reviewed",
                target=f"sms_inbound:{row.id}",
                detail={"opted_out": bool(opt_out and volunteer is not None)},
            )
        )
        done = "Opted them out; marked reviewed." if opt_out else "Marked reviewed."
        return _review_list_in(session, ctx, done)


def _review_list(ctx: Context, lead: str) -> Reply:
    with read_session(ctx.services.engine) as session:
        return _review_list_in(session, ctx, lead)


def _review_list_in(session: Session, ctx: Context, lead: str) -> Reply:
    waiting = session.exec(
        select(SmsInbound)
        .where(col(SmsInbound.needs_review), col(SmsInbound.reviewed_by).is_(None))
        .order_by(col(SmsInbound.received_at), col(SmsInbound.id))
        .limit(PAGE + 1)
    ).all()
    names = volunteer_names(session, {row.volunteer_id for row in waiting if row.volunteer_id})
    if not waiting:
        text = f"{lead} No texts are waiting for review.".strip()
        return Reply(text=text, tone=Tone.SUCCESS, update_key=UPDATE_KEY)
    more = " (the oldest 20 shown)" if len(waiting) > PAGE else ""
    sections = tuple(_section(row, names) for row in waiting[:PAGE])
    text = f"{lead} Texts that may be opt-outs{more}:".strip()
    return Reply(text=text, sections=sections, update_key=UPDATE_KEY)


def _section(row: SmsInbound, names: dict[int, str]) -> Section:
    sender = names.get(row.volunteer_id or 0, "Unknown sender")
    body = excerpt(row.body, _QUOTE)  # no links, mentions or numbers: anyone can text us
    when = row.received_at.strftime("%Y-%m-%d %H:%M UTC")
    buttons = [Button("Reviewed", REVIEWED, str(row.id))]
    if row.volunteer_id is not None:
        buttons.append(Button("Opt them out", OPT_OUT, str(row.id), style=ButtonStyle.DANGER))
    return Section(f"*{sender}* · {when}\n> {body}", buttons=tuple(buttons))
