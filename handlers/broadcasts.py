"""Rapid-response broadcasts: new talking points and script, from an organizer to every caller.

`/phonebank broadcast` opens the form: a title, the talking points, the script per language of
the campaign (the default language's required, each starting from the current text), the
audience (everyone, volunteers on shift now, languages, area codes), whether to text it too,
and when (now, or a time in the campaign's time zone that the scheduler picks up through
`send_due_broadcasts`). Publishing (handlers/broadcast_publish.py) makes the next script
version: every open card of every open batch is redrawn with an "Updated 18:05: <title>" note,
every volunteer in the audience gets a DM with **Got it**, and those who said yes to texts a
text through the texting gate.

With the campaign file's `broadcasts.two_person_rule`, a broadcast waits until a second
organizer presses **Approve** (`/phonebank broadcasts` lists what waits); its author cannot.
Every broadcast, approval and publication is in the audit log. Nothing here sends inside the
request: deliveries are rows of the durable outbox.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.alerts import organizer_addresses
from handlers.broadcast_publish import (
    AREA_CODES,
    EVERYONE,
    LANGUAGES,
    ON_SHIFT,
    acks,
    audience_ids,
    broadcast_message,
    describe_audience,
    publish,
    was_sent_to,
)
from handlers.campaigns import ActiveCampaign, active_campaign
from handlers.context import Context, Platform, Services
from handlers.outbox import Task, outbox_handler, owe, owed
from handlers.refusal import Refusal, int_value, signed_up
from handlers.replies import (
    Button,
    ButtonStyle,
    Fact,
    Form,
    Input,
    InputKind,
    Option,
    Reply,
    Section,
    Tone,
)
from handlers.scripts import latest_script
from matching.ranking import language_name
from storage.db import read_session, session_scope
from storage.models import AuditLog, Broadcast, BroadcastAck

Answers = Mapping[str, str | list[str]]

SUBMIT = "pb:broadcast:submit"
APPROVE = "pb:broadcast:approve"
APPROVAL = "broadcast.approval"  # outbox kind: ask the other organizers
YES = "yes"

# Limits, so every copy fits every platform whole: the card's section (Slack: 3,000 characters)
# holds the names, the note with the talking points and the script; a Discord message holds
# 2,000; a form's text input 3,000 on Slack.
TITLE_LIMIT = 100
TALKING_POINTS_LIMIT = 600
SCRIPT_LIMIT = 2000
AUDIENCE_VALUES_LIMIT = 200
LISTED = 5  # sent broadcasts shown by `broadcasts`

_AUDIENCES = (
    Option("Everyone", EVERYONE),
    Option("Volunteers on shift now", ON_SHIFT),
    Option("Languages (list them below)", LANGUAGES),
    Option("Area codes (list them below)", AREA_CODES),
)


# --- the form -------------------------------------------------------------------------------------


def open_broadcast(ctx: Context, args: list[str]) -> Reply:
    """Send new talking points and script to callers now or later."""
    campaign = active_campaign(ctx)
    current = _current_scripts(ctx, campaign)
    config = campaign.config
    scripts = tuple(
        Input(
            f"script:{language}",
            f"Script in {language_name(language)}",
            kind=InputKind.LONG_TEXT,
            required=language == config.default_language,
            initial=current.get(language, ""),
            hint=f"At most {SCRIPT_LIMIT:,} characters; Jinja2 fields like {{{{ first_name }}}}.",
        )
        for language in config.scripts
    )
    form = Form(
        title="Broadcast",
        submit_action=SUBMIT,
        submit_label="Publish",
        inputs=(
            Input("title", "Title", hint=f"At most {TITLE_LIMIT} characters: shown on every card."),
            Input(
                "talking_points",
                "Talking points",
                kind=InputKind.LONG_TEXT,
                hint=f"At most {TALKING_POINTS_LIMIT} characters.",
            ),
            *scripts,
            Input(
                "audience",
                "Who gets it",
                kind=InputKind.CHOICE,
                options=_AUDIENCES,
                initial=EVERYONE,
            ),
            Input(
                "audience_values",
                "Languages or area codes",
                required=False,
                hint="For example: es, vi  or  512, 737",
            ),
            Input(
                "sms",
                "Text it too (only to volunteers who said yes to texts)",
                kind=InputKind.CHECKBOX,
                required=False,
            ),
            Input(
                "when",
                "When",
                required=False,
                hint=f"Empty for now, or 18:30 or 2026-12-02 09:00 ({config.time_zone})",
            ),
        ),
    )
    return Reply(text="New talking points for every caller.", form=form)


def submit_broadcast(ctx: Context, value: str, answers: Answers) -> Reply:
    """Validate the form; publish now, schedule, or wait for a second organizer."""
    campaign = active_campaign(ctx)
    services, now = ctx.services, ctx.services.clock.now()
    errors: dict[str, str] = {}
    title = _text(answers, "title")
    points = _text(answers, "talking_points")
    scripts = {
        language: _text(answers, f"script:{language}") for language in campaign.config.scripts
    }
    _check_length(errors, "title", title, TITLE_LIMIT, "a title shows on every call card")
    _check_length(
        errors, "talking_points", points, TALKING_POINTS_LIMIT, "they head every batch and DM"
    )
    for language, body in scripts.items():
        _check_length(errors, f"script:{language}", body, SCRIPT_LIMIT, "a call card holds 3,000")
    default = campaign.config.default_language
    if not scripts.get(default, "").strip() and f"script:{default}" not in errors:
        errors[f"script:{default}"] = f"The {language_name(default)} script is required."
    audience = _audience(errors, answers)
    send_at = _when(errors, _text(answers, "when"), now, campaign.config.time_zone)
    if not errors:
        with read_session(services.engine) as session:
            if not audience_ids(session, campaign.id, audience, now):
                errors["audience"] = (
                    f"Nobody matches that audience ({describe_audience(audience)}): nothing was sent."
                )
    if errors:
        return Reply(text="Please fix the broadcast.", tone=Tone.WARNING, errors=errors)
    current = _current_scripts(ctx, campaign)
    changes = {lang: body for lang, body in scripts.items() if body and body != current.get(lang)}
    waits = campaign.config.broadcasts.two_person_rule
    broadcast = _store(ctx, campaign, title, points, changes, audience, answers, send_at, waits)
    if broadcast is None:  # a retried submission: answer as the first one did
        return Reply(text="That broadcast was already submitted.", tone=Tone.INFO)
    if waits:
        return Reply(
            text=f"“{title}” waits for a second organizer to approve it (the campaign's"
            " two-person rule); they see it in `/phonebank broadcasts`.",
            tone=Tone.SUCCESS,
        )
    if send_at is not None:
        return Reply(
            text=f"“{title}” is scheduled for {_local(send_at, campaign)}.", tone=Tone.SUCCESS
        )
    return _published_reply(services, int(broadcast.id or 0), ctx.identity)


def _store(
    ctx: Context,
    campaign: ActiveCampaign,
    title: str,
    points: str,
    changes: dict[str, str],
    audience: dict[str, Any],
    answers: Answers,
    send_at: datetime | None,
    waits: bool,
) -> Broadcast | None:
    """The broadcast row (and, under the two-person rule, the asks to other organizers), in
    one transaction; None for a request already stored."""
    now = ctx.services.clock.now()
    # "ready": published right after this transaction (or by the next due sweep after a crash)
    status = "waiting" if waits else ("scheduled" if send_at else "ready")
    broadcast = Broadcast(
        campaign_id=campaign.id,
        title=title,
        talking_points=points,
        scripts=changes,
        audience=audience,
        sms=_text(answers, "sms") == YES,
        status=status,
        send_at=send_at,
        author=ctx.identity,
        request_key=ctx.request_key,
        created_at=now,
    )
    try:
        with session_scope(ctx.services.engine) as session:
            session.add(broadcast)
            session.flush()
            _audit(session, ctx.identity, "broadcast.create", broadcast, now)
            if waits:
                _owe_approval_asks(ctx, session, broadcast, now)
    except IntegrityError:
        return None
    owed(ctx.services)
    return broadcast


def _owe_approval_asks(ctx: Context, session: Session, broadcast: Broadcast, now: datetime) -> None:
    conn = session.connection()
    for platform, user_id in organizer_addresses(ctx.services):
        if f"{platform}:{user_id}" == ctx.identity:
            continue
        owe(
            conn,
            APPROVAL,
            {"broadcast_id": broadcast.id, "platform": str(platform), "user_id": user_id},
            key=f"broadcast:{broadcast.id}:approval:{platform}:{user_id}",
            now=now,
        )


@outbox_handler(APPROVAL)
def ask_for_approval(services: Services, task: Task) -> None:
    """A DM to an organizer: a broadcast waits for their Approve."""
    with read_session(services.engine) as session:
        broadcast = session.get(Broadcast, int(task.payload["broadcast_id"]))
        if broadcast is None or broadcast.status != "waiting":
            return
        reply = _waiting_reply(broadcast)
    services.notifier.to_channel(Platform(task.payload["platform"]), task.payload["user_id"], reply)


# --- approval, acknowledgement, the list ------------------------------------------------------------


def approve(ctx: Context, value: str) -> Reply:
    """Approve a broadcast another organizer wrote: it is published (or scheduled)."""
    broadcast_id = int_value(value)
    services, now = ctx.services, ctx.services.clock.now()
    with session_scope(services.engine) as session:
        broadcast = session.exec(
            select(Broadcast).where(col(Broadcast.id) == broadcast_id).with_for_update()
        ).first()
        if broadcast is None:
            raise Refusal("That broadcast no longer exists.")
        if broadcast.approved_by is not None:
            raise Refusal(f"“{broadcast.title}” was already approved by {broadcast.approved_by}.")
        if broadcast.status != "waiting":
            raise Refusal(f"“{broadcast.title}” does not wait for an approval.")
        if broadcast.author == ctx.identity:
            raise Refusal(
                "You wrote this broadcast: under the two-person rule a second organizer must"
                " approve it."
            )
        broadcast.approved_by, broadcast.approved_at = ctx.identity, now
        if broadcast.send_at is not None and broadcast.send_at > now:
            broadcast.status = "scheduled"
        session.add(broadcast)
        _audit(session, ctx.identity, "broadcast.approve", broadcast, now)
        scheduled, title = broadcast.status == "scheduled", broadcast.title
        send_at = broadcast.send_at
    if scheduled and send_at is not None:
        return Reply(
            text=f"Approved “{title}”: it goes out at {send_at:%Y-%m-%d %H:%M} UTC.",
            tone=Tone.SUCCESS,
        )
    return _published_reply(services, broadcast_id, ctx.identity, lead="Approved. ")


def acknowledge(ctx: Context, value: str) -> Reply:
    """Got it: counted once per volunteer; the organizer's copy shows the count."""
    volunteer_id = signed_up(ctx)
    broadcast_id = int_value(value)
    services, now = ctx.services, ctx.services.clock.now()
    with read_session(services.engine) as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.script_id is None:
            raise Refusal("That update is out of date.")
        if not was_sent_to(session, broadcast_id, volunteer_id):
            raise Refusal("That update was not sent to you.")
    try:
        with session_scope(services.engine) as session:
            session.add(
                BroadcastAck(script_id=broadcast.script_id, volunteer_id=volunteer_id, acked_at=now)
            )
    except IntegrityError:  # pressed before: counted once
        return Reply(text=f"Already counted: thanks. (“{broadcast.title}”)")
    services.after_request(
        f"broadcast:{broadcast_id}:acks", lambda: _tell_author(services, broadcast_id)
    )
    reply = broadcast_message(broadcast, seen=True)
    return Reply(
        text=f"Thanks: counted. {reply.text}",
        tone=Tone.SUCCESS,
        sections=reply.sections,
        update_key=reply.update_key,
        ephemeral=False,
    )


def list_broadcasts(ctx: Context, args: list[str]) -> Reply:
    """Broadcasts waiting for approval or scheduled, and the latest sent with who has seen them."""
    campaign = active_campaign(ctx)
    with read_session(ctx.services.engine) as session:
        pending = session.exec(
            select(Broadcast)
            .where(col(Broadcast.campaign_id) == campaign.id, col(Broadcast.status) != "sent")
            .order_by(col(Broadcast.id))
        ).all()
        sent = session.exec(
            select(Broadcast)
            .where(col(Broadcast.campaign_id) == campaign.id, col(Broadcast.status) == "sent")
            .order_by(col(Broadcast.id).desc())
            .limit(LISTED)
        ).all()
        seen = {int(b.id or 0): acks(session, b) for b in sent}
    sections = [_waiting_section(b) for b in pending]
    sections += [
        Section(
            f"*{b.title}* (version {b.version})",
            facts=(
                Fact("Sent", f"{b.sent_at:%Y-%m-%d %H:%M} UTC" if b.sent_at else ""),
                Fact("Seen", f"{seen[int(b.id or 0)]} of {b.recipients} have seen it"),
            ),
        )
        for b in sent
    ]
    text = "Broadcasts." if sections else "No broadcasts yet: `/phonebank broadcast` sends one."
    return Reply(text=text, sections=tuple(sections), update_key="broadcasts")


def send_due_broadcasts(services: Services) -> int:
    """Publish scheduled broadcasts whose time has come (the scheduler's job calls this);
    how many. Publishing twice is a no-op, so two schedulers at once send once."""
    now = services.clock.now()
    with read_session(services.engine) as session:
        due = session.exec(
            select(Broadcast.id).where(
                (col(Broadcast.status) == "ready")
                | ((col(Broadcast.status) == "scheduled") & (col(Broadcast.send_at) <= now))
            )
        ).all()
    published = [publish(services, int(found or 0), "scheduler") for found in due]
    return sum(1 for result in published if not result.repeated)


# --- helpers ---------------------------------------------------------------------------------------


def _published_reply(services: Services, broadcast_id: int, actor: str, lead: str = "") -> Reply:
    result = publish(services, broadcast_id, actor)
    if result.repeated:
        return Reply(
            text=f"{lead}That broadcast was already published as version {result.version}."
        )
    people = "volunteer" if result.recipients == 1 else "volunteers"
    batches = "open batch" if result.open_batches == 1 else "open batches"
    return Reply(
        text=f"{lead}Published as script version {result.version}: sent to {result.recipients}"
        f" {people}; {result.open_batches} {batches} redrawn with it. 0 of {result.recipients}"
        " have seen it so far (`/phonebank broadcasts`).",
        tone=Tone.SUCCESS,
    )


def _tell_author(services: Services, broadcast_id: int) -> None:
    """The author's copy, edited in place: how many have seen it."""
    with read_session(services.engine) as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None:
            return
        seen = acks(session, broadcast)
    platform, _, user_id = broadcast.author.partition(":")
    if platform not in Platform.__members__.values() or platform == Platform.CONSOLE:
        return  # the console is one shared screen: `/phonebank broadcasts` shows the count
    reply = Reply(
        text=f"“{broadcast.title}”: {seen} of {broadcast.recipients} have seen it.",
        ephemeral=False,
        update_key=f"broadcast:{broadcast_id}:author",
    )
    services.notifier.to_channel(Platform(platform), user_id, reply)


def _waiting_reply(broadcast: Broadcast) -> Reply:
    return Reply(
        text="A broadcast waits for a second organizer's approval.",
        sections=(_waiting_section(broadcast),),
        ephemeral=False,
    )


def _waiting_section(broadcast: Broadcast) -> Section:
    when = f"{broadcast.send_at:%Y-%m-%d %H:%M} UTC" if broadcast.send_at else "when approved"
    buttons: tuple[Button, ...] = ()
    if broadcast.status == "waiting":
        buttons = (Button("Approve", APPROVE, str(broadcast.id), ButtonStyle.PRIMARY),)
    return Section(
        f"*{broadcast.title}* ({broadcast.status})\n{broadcast.talking_points}",
        facts=(
            Fact("By", broadcast.author),
            Fact("To", describe_audience(broadcast.audience)),
            Fact("Sends", when),
            Fact("Texts", "yes" if broadcast.sms else "no"),
        ),
        buttons=buttons,
    )


def _current_scripts(ctx: Context, campaign: ActiveCampaign) -> dict[str, str]:
    with read_session(ctx.services.engine) as session:
        published = latest_script(session.connection(), campaign.id)
    return published.scripts if published else dict(campaign.config.scripts)


def _text(answers: Answers, key: str) -> str:
    value = answers.get(key)
    return value.strip() if isinstance(value, str) else ""


def _check_length(errors: dict[str, str], key: str, value: str, limit: int, why: str) -> None:
    if key in ("title", "talking_points") and not value:
        errors[key] = "This cannot be empty."
    elif len(value) > limit:
        errors[key] = f"At most {limit:,} characters ({why}); this has {len(value):,}."


def _audience(errors: dict[str, str], answers: Answers) -> dict[str, Any]:
    kind = _text(answers, "audience") or EVERYONE
    raw = _text(answers, "audience_values")
    if len(raw) > AUDIENCE_VALUES_LIMIT:
        errors["audience_values"] = f"At most {AUDIENCE_VALUES_LIMIT} characters."
        return {"kind": kind}
    values = [word for word in re.split(r"[\s,;]+", raw.lower()) if word]
    if kind not in (EVERYONE, ON_SHIFT, LANGUAGES, AREA_CODES):
        errors["audience"] = "Pick one of the choices."
    elif kind in (LANGUAGES, AREA_CODES) and not values:
        errors["audience_values"] = "List the languages or area codes (for example: es, vi)."
    elif kind == AREA_CODES and not all(re.fullmatch(r"\d{3}", value) for value in values):
        errors["audience_values"] = "Area codes are three digits, like 512."
    return {"kind": kind, "values": values} if kind in (LANGUAGES, AREA_CODES) else {"kind": kind}


def _when(errors: dict[str, str], raw: str, now: datetime, zone: str) -> datetime | None:
    """None for now; else the time (today's when only a clock time is given)."""
    if not raw or raw.lower() == "now":
        return None
    tz = ZoneInfo(zone)
    local_now = now.astimezone(tz)
    try:
        if re.fullmatch(r"\d{1,2}:\d{2}", raw):
            hour, minute = (int(part) for part in raw.split(":"))
            at = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        else:
            at = datetime.strptime(raw, "%Y-%m-%d %H:%M").replace(tzinfo=tz)
    except ValueError:
        errors["when"] = "Write a time like 18:30 or 2026-12-02 09:00, or leave it empty for now."
        return None
    if at <= now:
        errors["when"] = f"{raw} has passed ({local_now:%H:%M} now in {zone}): pick a later time."
        return None
    if at - now > timedelta(days=60):
        errors["when"] = "At most 60 days ahead."
        return None
    return at.astimezone(UTC)


def _local(at: datetime, campaign: ActiveCampaign) -> str:
    zone = campaign.config.time_zone
    return f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})"


def _audit(session: Session, actor: str, action: str, broadcast: Broadcast, now: datetime) -> None:
    session.add(
        AuditLog(
            at=now,
            actor=actor,
            action=action,
            target=f"broadcast:{broadcast.id}",
            detail={
                "title": broadcast.title,
                "audience": broadcast.audience,
                "status": broadcast.status,
            },
        )
    )
