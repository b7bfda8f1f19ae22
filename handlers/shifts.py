"""Shifts: organizers add, edit and cancel them; volunteers list them, sign up (or join the
waitlist), drop out, and confirm they will come.

A shift's times are stored in UTC and shown in each reader's own zone (handlers/times.py). A
full shift takes signups on its waitlist, promoted in order when a place frees up; whoever is
moved, promoted or cancelled on is told by DM after the answer. The scheduler does the rest
(handlers/shift_jobs.py): reminders, the start, no-shows.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from handlers.calendar import calendar_link
from handlers.campaigns import active_campaign
from handlers.context import Context
from handlers.refusal import Refusal, int_value, signed_up
from handlers.replies import Button, ButtonStyle, Fact, Reply, Section, Tone
from handlers.shift_input import ADD_USAGE, ShiftInput, combine, read_shift_input
from handlers.shift_jobs import ACTIVE, CONFIRM, LEAVE
from handlers.shift_zones import volunteer_zone
from handlers.times import local_time
from storage.db import read_session, session_scope
from storage.models import AuditLog, Shift, ShiftSignup, SignupStatus, Volunteer

SIGN_UP = "pb:shift:signup"
LISTED = 10
HOLDING = (*ACTIVE, SignupStatus.WAITLISTED.value)  # a place or a place in line


# --- organizers -------------------------------------------------------------------------------


def add_shift(ctx: Context, args: list[str]) -> Reply:
    """Add a shift: DATE START-END [--capacity N] [--channel #c] [--tz Zone] [--language xx]."""
    typed = read_shift_input(args)
    if typed.day is None or typed.span is None:
        raise Refusal(f"Say when: {ADD_USAGE}.")
    campaign = active_campaign(ctx)
    zone = typed.time_zone or campaign.config.time_zone
    starts_at = combine(typed.day, typed.span[0], zone)
    ends_at = combine(typed.day, typed.span[1], zone)
    _not_past(ctx, starts_at)
    shift = Shift(
        campaign_id=campaign.id,
        title=typed.title or f"Phone bank {typed.day:%b} {typed.day.day}",
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=typed.capacity,
        platform=str(ctx.platform) if typed.channel else None,
        channel=typed.channel,
        time_zone=typed.time_zone,
        language=typed.language,
        created_by=ctx.identity,
        created_at=ctx.services.clock.now(),
    )
    with session_scope(ctx.services.engine) as session:
        session.add(shift)
        session.flush()
        _audit(session, ctx, "shift.add", shift)
    return Reply(
        text=f"Added shift #{shift.id}: {_describe(shift, zone)}.",
        tone=Tone.SUCCESS,
        ephemeral=False,
    )


def edit_shift(ctx: Context, args: list[str]) -> Reply:
    """Change a shift's day, times, capacity, channel, zone, language or title; those signed
    up are told of a new time."""
    if not args:
        raise Refusal("Say which shift: `shift edit ID` and what changes.")
    shift_id = int_value(args[0].lstrip("#"), "shift number")
    typed = read_shift_input(args[1:])
    campaign = active_campaign(ctx)
    with session_scope(ctx.services.engine) as session:
        shift = _open_shift(session, ctx, shift_id, campaign.id, locked=True)
        moved, promoted = _apply(ctx, session, shift, typed, campaign.config.time_zone)
        _audit(session, ctx, "shift.edit", shift)
        zone = shift.time_zone or campaign.config.time_zone
        told = _holders(session, shift_id) if moved else []
    for volunteer_id in told:
        _tell(ctx, volunteer_id, f"Your shift *{shift.title}* has moved: {{when}}.", shift, zone)
    for volunteer_id in promoted:
        text = f"A place opened up: you're now signed up for *{shift.title}*, {{when}}."
        _tell(ctx, volunteer_id, text, shift, zone)
    return Reply(text=f"Shift #{shift_id} is now {_describe(shift, zone)}.", tone=Tone.SUCCESS)


def cancel_shift(ctx: Context, args: list[str]) -> Reply:
    """Cancel a shift; everyone signed up is told."""
    if len(args) != 1:
        raise Refusal("Say which shift: `shift cancel ID`.")
    shift_id = int_value(args[0].lstrip("#"), "shift number")
    campaign = active_campaign(ctx)
    with session_scope(ctx.services.engine) as session:
        shift = _open_shift(session, ctx, shift_id, campaign.id, locked=True)
        shift.cancelled_at = ctx.services.clock.now()
        session.add(shift)
        _audit(session, ctx, "shift.cancel", shift)
        told = _holders(session, shift_id)
    zone = shift.time_zone or campaign.config.time_zone
    for volunteer_id in told:
        text = f"Sorry: the shift *{shift.title}* ({{when}}) was cancelled by an organizer."
        _tell(ctx, volunteer_id, text, shift, zone)
    return Reply(text=f"Cancelled shift #{shift_id}; told {_people(len(told))}.", tone=Tone.SUCCESS)


# --- volunteers -------------------------------------------------------------------------------


def list_shifts(ctx: Context, args: list[str]) -> Reply:
    """Upcoming shifts, with places left: sign up or drop out."""
    campaign = active_campaign(ctx)
    now = ctx.services.clock.now()
    with read_session(ctx.services.engine) as session:
        shifts = session.exec(
            select(Shift)
            .where(
                col(Shift.campaign_id) == campaign.id,
                col(Shift.cancelled_at).is_(None),
                col(Shift.starts_at) > now,
            )
            .order_by(col(Shift.starts_at), col(Shift.id))
            .limit(LISTED)
        ).all()
        mine = _my_signups(session, ctx.volunteer_id, [int(s.id or 0) for s in shifts])
        taken = _taken(session, [int(s.id or 0) for s in shifts])
        me = session.get(Volunteer, ctx.volunteer_id) if ctx.volunteer_id else None
    if not shifts:
        return Reply(text="No shifts are planned yet; an organizer adds them.")
    sections = tuple(
        _shift_section(
            shift,
            volunteer_zone(me, shift.time_zone or campaign.config.time_zone),
            mine.get(int(shift.id or 0)),
            taken.get(int(shift.id or 0), 0),
        )
        for shift in shifts
    )
    return Reply(text="Upcoming shifts:", sections=sections)


def sign_up_for_shift(ctx: Context, value: str) -> Reply:
    """The Sign up button: a place, or a place on the waitlist when the shift is full."""
    volunteer_id = signed_up(ctx)
    shift_id = int_value(value)
    with session_scope(ctx.services.engine) as session:
        shift = _upcoming(session, ctx, shift_id, locked=True)
        signup = _existing(session, shift_id, volunteer_id)
        if signup is not None and signup.status in HOLDING:
            raise Refusal(f"You're already {_standing(signup)} for *{shift.title}*.")
        _no_overlap(session, shift, volunteer_id)
        full = shift.capacity is not None and _count(session, shift_id) >= shift.capacity
        status = SignupStatus.WAITLISTED if full else SignupStatus.SIGNED_UP
        signup = _hold(session, ctx, signup, shift_id, volunteer_id, status)
        me = session.get(Volunteer, volunteer_id)
    zone = volunteer_zone(me, shift.time_zone or active_campaign(ctx).config.time_zone)
    when = local_time(shift.starts_at, zone)
    if full:
        return Reply(
            text=f"*{shift.title}* ({when}) is full: you're on the waitlist, and I'll tell you"
            " if a place frees up.",
            buttons=(Button("Leave the waitlist", LEAVE, str(shift_id)),),
        )
    link = calendar_link(ctx.services, shift_id)
    calendar = f" Add it to your calendar: {link}" if link else ""
    return Reply(
        text=f"You're signed up for *{shift.title}*, {when}. I'll remind you before it"
        f" starts.{calendar}",
        tone=Tone.SUCCESS,
        buttons=(Button("Cancel my signup", LEAVE, str(shift_id)),),
    )


def leave_shift(ctx: Context, value: str) -> Reply:
    """Cancel your own signup (or leave the waitlist); the next in line gets the place."""
    volunteer_id = signed_up(ctx)
    shift_id = int_value(value)
    with session_scope(ctx.services.engine) as session:
        shift = _upcoming(session, ctx, shift_id, locked=True)
        signup = _existing(session, shift_id, volunteer_id)
        if signup is None or signup.status not in HOLDING:
            raise Refusal(
                f"You're not signed up for *{shift.title}*, so there is nothing to cancel."
            )
        had_place = signup.status in ACTIVE
        signup.status = SignupStatus.CANCELLED
        signup.cancelled_at = ctx.services.clock.now()
        session.add(signup)
        promoted = _promote(session, shift) if had_place else None
    if promoted is not None:
        zone = shift.time_zone or active_campaign(ctx).config.time_zone
        text = f"A place opened up: you're now signed up for *{shift.title}*, {{when}}."
        _tell(ctx, promoted, text, shift, zone)
    return Reply(text=f"Done: you're off *{shift.title}*. Thanks for letting us know.")


def confirm_shift(ctx: Context, value: str) -> Reply:
    """The I'll be there button of a reminder."""
    volunteer_id = signed_up(ctx)
    shift_id = int_value(value)
    with session_scope(ctx.services.engine) as session:
        shift = _upcoming(session, ctx, shift_id, locked=False)
        signup = _existing(session, shift_id, volunteer_id)
        if signup is None or signup.status not in ACTIVE:
            raise Refusal(f"You're not signed up for *{shift.title}*; sign up with `shifts`.")
        confirm_signup(session, signup, ctx.services.clock.now())
    return Reply(text=f"Thanks! See you at *{shift.title}*.", tone=Tone.SUCCESS)


def confirm_signup(session: Session, signup: ShiftSignup, now: datetime) -> None:
    """Mark a signup confirmed (the button, or YES by SMS)."""
    if signup.status != SignupStatus.CONFIRMED:
        signup.status = SignupStatus.CONFIRMED
        signup.confirmed_at = now
        session.add(signup)


# --- the rules --------------------------------------------------------------------------------


def _apply(
    ctx: Context, session: Session, shift: Shift, typed: ShiftInput, default: str
) -> tuple[bool, list[int]]:
    """Apply the edit; whether the shift's time changed, and who a larger capacity promoted."""
    zone = typed.time_zone or shift.time_zone or default
    before = (shift.starts_at, shift.ends_at)
    if typed.day or typed.span or typed.time_zone:
        local_start = shift.starts_at.astimezone(ZoneInfo(zone))
        local_end = shift.ends_at.astimezone(ZoneInfo(zone))
        day = typed.day or local_start.date()
        start, end = typed.span or (local_start.time(), local_end.time())
        shift.starts_at, shift.ends_at = combine(day, start, zone), combine(day, end, zone)
        _not_past(ctx, shift.starts_at)
    if typed.capacity is not None:
        holding = _count(session, int(shift.id or 0))
        if typed.capacity < holding:
            raise Refusal(
                f"{_people(holding)} signed up already; the capacity can't go below that."
            )
        shift.capacity = typed.capacity
    if typed.channel is not None:
        shift.channel, shift.platform = typed.channel, str(ctx.platform)
    shift.time_zone = typed.time_zone or shift.time_zone
    shift.language = typed.language or shift.language
    shift.title = typed.title or shift.title
    session.add(shift)
    promoted = _promote_all(session, shift) if typed.capacity is not None else []
    return (shift.starts_at, shift.ends_at) != before, promoted


def _not_past(ctx: Context, starts_at: datetime) -> None:
    if starts_at <= ctx.services.clock.now():
        raise Refusal("That shift would start in the past; pick a later time.")


def _no_overlap(session: Session, shift: Shift, volunteer_id: int) -> None:
    other = session.exec(
        select(Shift)
        .join(ShiftSignup, col(ShiftSignup.shift_id) == col(Shift.id))
        .where(
            col(ShiftSignup.volunteer_id) == volunteer_id,
            col(ShiftSignup.status).in_(HOLDING),
            col(Shift.id) != shift.id,
            col(Shift.cancelled_at).is_(None),
            col(Shift.starts_at) < shift.ends_at,
            col(Shift.ends_at) > shift.starts_at,
        )
        .limit(1)
    ).first()
    if other is not None:
        raise Refusal(
            f"That overlaps *{other.title}*, which you're signed up for; cancel that one first."
        )


def _hold(
    session: Session,
    ctx: Context,
    signup: ShiftSignup | None,
    shift_id: int,
    volunteer_id: int,
    status: SignupStatus,
) -> ShiftSignup:
    now = ctx.services.clock.now()
    if signup is None:
        signup = ShiftSignup(shift_id=shift_id, volunteer_id=volunteer_id, created_at=now)
    signup.status, signup.created_at, signup.cancelled_at = status, now, None  # back of the line
    session.add(signup)
    session.flush()
    return signup


def _promote(session: Session, shift: Shift) -> int | None:
    """Give the first on the waitlist the freed place; their volunteer id."""
    first = session.exec(
        select(ShiftSignup)
        .where(
            col(ShiftSignup.shift_id) == shift.id,
            col(ShiftSignup.status) == SignupStatus.WAITLISTED,
        )
        .order_by(col(ShiftSignup.created_at), col(ShiftSignup.id))
        .limit(1)
    ).first()
    if first is None:
        return None
    first.status = SignupStatus.SIGNED_UP
    session.add(first)
    return first.volunteer_id


def _promote_all(session: Session, shift: Shift) -> list[int]:
    """Fill every free place from the waitlist, in order; the volunteers promoted."""
    promoted: list[int] = []
    while shift.capacity is None or _count(session, int(shift.id or 0)) < shift.capacity:
        volunteer_id = _promote(session, shift)
        if volunteer_id is None:
            break
        promoted.append(volunteer_id)
        session.flush()
    return promoted


def _open_shift(
    session: Session, ctx: Context, shift_id: int, campaign_id: int, *, locked: bool
) -> Shift:
    shift = _locked(session, shift_id) if locked else session.get(Shift, shift_id)
    if shift is None or shift.campaign_id != campaign_id:
        raise Refusal(f"There is no shift #{shift_id}; `shifts` lists them.")
    if shift.cancelled_at is not None:
        raise Refusal(f"Shift #{shift_id} was cancelled already.")
    if shift.starts_at <= ctx.services.clock.now():
        raise Refusal(f"Shift #{shift_id} has started already; it can't be changed now.")
    return shift


def _upcoming(session: Session, ctx: Context, shift_id: int, *, locked: bool) -> Shift:
    shift = _locked(session, shift_id) if locked else session.get(Shift, shift_id)
    if shift is None or shift.cancelled_at is not None:
        raise Refusal("That shift was cancelled; `shifts` lists the ones coming up.")
    if shift.starts_at <= ctx.services.clock.now():
        raise Refusal(f"*{shift.title}* has started already.")
    return shift


def _locked(session: Session, shift_id: int) -> Shift | None:
    """The shift row, locked until commit (PostgreSQL): signups to it happen one at a time, so
    its capacity holds."""
    return session.exec(select(Shift).where(col(Shift.id) == shift_id).with_for_update()).first()


def _existing(session: Session, shift_id: int, volunteer_id: int) -> ShiftSignup | None:
    return session.exec(
        select(ShiftSignup).where(
            col(ShiftSignup.shift_id) == shift_id, col(ShiftSignup.volunteer_id) == volunteer_id
        )
    ).first()


def _count(session: Session, shift_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(ShiftSignup)
            .where(col(ShiftSignup.shift_id) == shift_id, col(ShiftSignup.status).in_(ACTIVE))
        ).one()
    )


def _taken(session: Session, shift_ids: Sequence[int]) -> dict[int, int]:
    rows = session.exec(
        select(ShiftSignup.shift_id, func.count())
        .where(col(ShiftSignup.shift_id).in_(shift_ids), col(ShiftSignup.status).in_(ACTIVE))
        .group_by(col(ShiftSignup.shift_id))
    ).all()
    return {int(shift_id): int(count) for shift_id, count in rows}


def _my_signups(
    session: Session, volunteer_id: int | None, shift_ids: Sequence[int]
) -> dict[int, ShiftSignup]:
    if volunteer_id is None or not shift_ids:
        return {}
    rows = session.exec(
        select(ShiftSignup).where(
            col(ShiftSignup.volunteer_id) == volunteer_id,
            col(ShiftSignup.shift_id).in_(shift_ids),
            col(ShiftSignup.status).in_(HOLDING),
        )
    ).all()
    return {signup.shift_id: signup for signup in rows}


def _holders(session: Session, shift_id: int) -> list[int]:
    rows = session.exec(
        select(ShiftSignup.volunteer_id)
        .where(col(ShiftSignup.shift_id) == shift_id, col(ShiftSignup.status).in_(HOLDING))
        .order_by(col(ShiftSignup.id))
    ).all()
    return [int(v) for v in rows]


# --- what it looks like -----------------------------------------------------------------------


def _shift_section(shift: Shift, zone: str, mine: ShiftSignup | None, taken: int) -> Section:
    facts = [
        Fact("When", f"{local_time(shift.starts_at, zone)} to {local_time(shift.ends_at, zone)}")
    ]
    if shift.capacity is not None:
        left = max(shift.capacity - taken, 0)
        facts.append(
            Fact("Places left", f"{left} of {shift.capacity}" if left else "full (waitlist)")
        )
    if shift.language:
        facts.append(Fact("Language", shift.language))
    value = str(shift.id)
    if mine is None:
        label = (
            "Join the waitlist"
            if shift.capacity is not None and taken >= shift.capacity
            else "Sign up"
        )
        buttons: tuple[Button, ...] = (Button(label, SIGN_UP, value, ButtonStyle.PRIMARY),)
        text = f"#{shift.id} *{shift.title}*"
    else:
        buttons = (Button("Cancel my signup", LEAVE, value),)
        text = f"#{shift.id} *{shift.title}*: you're {_standing(mine)}"
        if mine.status == SignupStatus.SIGNED_UP:
            buttons = (Button("I'll be there", CONFIRM, value), *buttons)
    return Section(text=text, facts=tuple(facts), buttons=buttons)


def _describe(shift: Shift, zone: str) -> str:
    parts = [
        f"*{shift.title}*, {local_time(shift.starts_at, zone)} to {local_time(shift.ends_at, zone)}"
    ]
    if shift.capacity is not None:
        parts.append(f"{shift.capacity} places")
    if shift.channel:
        parts.append(f"announced in {shift.channel}")
    if shift.language:
        parts.append(f"language {shift.language}")
    return ", ".join(parts)


def _standing(signup: ShiftSignup) -> str:
    return {
        SignupStatus.WAITLISTED: "on the waitlist",
        SignupStatus.CONFIRMED: "signed up and confirmed",
    }.get(SignupStatus(signup.status), "signed up")


def _people(count: int) -> str:
    return "1 person" if count == 1 else f"{count} people"


def _tell(ctx: Context, volunteer_id: int, template: str, shift: Shift, fallback_zone: str) -> None:
    """DM a volunteer about their shift after the answer, the time in their own zone."""
    services = ctx.services

    def send() -> None:
        with read_session(services.engine) as session:
            volunteer = session.get(Volunteer, volunteer_id)
        when = local_time(shift.starts_at, volunteer_zone(volunteer, fallback_zone))
        reply = Reply(text=template.format(when=when), ephemeral=False)
        services.notifier.to_volunteer(volunteer_id, reply)

    key = f"shift-news:{shift.id}:{volunteer_id}:{zlib.crc32(template.encode())}"
    services.after_request(key, send, replace=False)


def _audit(session: Session, ctx: Context, action: str, shift: Shift) -> None:
    session.add(
        AuditLog(
            at=ctx.services.clock.now(),
            actor=ctx.identity,
            action=action,
            target=f"shift:{shift.id}",
            detail={"starts_at": shift.starts_at.isoformat(), "capacity": shift.capacity},
        )
    )
