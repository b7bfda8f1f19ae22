"""What the scheduler's shift jobs do when they run: reminders, shift starts, no-shows.

Each function reads what is due from the database at `services.clock.now()` and speaks through
the `Notifier` (and the texting gate for SMS), every message first written in the send ledger
(handlers/send_ledger.py), so running a job twice sends once. Nothing here knows about
APScheduler: scheduling/jobs.py calls these.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, update
from sqlmodel import Session, col, select

from handlers.context import Platform, Services
from handlers.replies import Button, ButtonStyle, Reply
from handlers.send_ledger import Ledger, Sent
from handlers.shift_zones import campaign_settings, shift_zone, volunteer_zone
from handlers.texting import TextStatus, text_volunteer
from handlers.times import local_time, written
from storage.db import read_session, session_scope
from storage.models import CallAttempt, Shift, ShiftSignup, SignupStatus, Volunteer

log = logging.getLogger(__name__)

REMINDER_JOB = "shift_reminders"
START_JOB = "shift_starts"
ACTIVE = (SignupStatus.SIGNED_UP.value, SignupStatus.CONFIRMED.value)
REMINDER_HORIZON = timedelta(days=14)  # the longest reminder offset a campaign may set
NO_SHOW_LOOKBACK = timedelta(days=7)  # shifts that ended longer ago were settled already
CONFIRM = "pb:shift:confirm"
LEAVE = "pb:shift:leave"
GET_BATCH = "pb:batch:claim"
# Reminders go out side by side: each mostly waits on the chat API or Twilio.
SEND_THREADS = 8


@dataclass(frozen=True)
class Attendee:
    """One active signup of a shift, with what a message to them needs."""

    signup_id: int
    volunteer_id: int
    shift_id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    shift_zone: str
    zone: str  # the volunteer's own
    confirmed: bool
    may_text: bool  # consented, not opted out (the texting gate checks again)


def send_due_reminders(services: Services, ledger: Ledger) -> int:
    """Remind every active signup whose reminder is due and whose shift has not started; only
    the nearest due reminder (after an outage the 1 h one, not also the 24 h one). How many
    messages went out."""
    due = _due_reminders(services, services.clock.now())
    if not due:
        return 0
    with ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="reminders") as pool:
        return sum(pool.map(lambda item: _remind(services, ledger, *item), due))


def announce_shift_starts(services: Services, ledger: Ledger) -> int:
    """For shifts under way: a post in the shift's channel and a DM with **Get a batch** to
    each volunteer signed up. How many messages went out."""
    now = services.clock.now()
    sent = 0
    with read_session(services.engine) as session:
        shifts = session.exec(
            select(Shift).where(
                col(Shift.cancelled_at).is_(None),
                col(Shift.starts_at) <= now,
                col(Shift.ends_at) > now,
            )
        ).all()
    for shift in shifts:
        sent += _announce(services, ledger, shift)
    return sent


def record_no_shows(services: Services) -> int:
    """Settle the signups of shifts that ended: kept when the volunteer made a call during the
    shift, else a no-show. How many were settled."""
    now = services.clock.now()
    settled = 0
    with session_scope(services.engine) as session:
        shifts = session.exec(
            select(Shift).where(
                col(Shift.cancelled_at).is_(None),
                col(Shift.ends_at) <= now,
                col(Shift.ends_at) > now - NO_SHOW_LOOKBACK,
            )
        ).all()
        for shift in shifts:
            settled += _settle(session, shift)
    return settled


def _settle(session: Session, shift: Shift) -> int:
    called = exists().where(
        col(CallAttempt.volunteer_id) == col(ShiftSignup.volunteer_id),
        col(CallAttempt.started_at) >= shift.starts_at,
        col(CallAttempt.started_at) < shift.ends_at,
    )
    active = (col(ShiftSignup.shift_id) == shift.id, col(ShiftSignup.status).in_(ACTIVE))
    kept = session.execute(
        update(ShiftSignup).where(*active, called).values(status=SignupStatus.KEPT)
    )
    missed = session.execute(
        update(ShiftSignup).where(*active, ~called).values(status=SignupStatus.NO_SHOW)
    )
    return int(kept.rowcount or 0) + int(missed.rowcount or 0)  # type: ignore[attr-defined]


def _due_reminders(services: Services, now: datetime) -> list[tuple[Attendee, int]]:
    due: list[tuple[Attendee, int]] = []
    for attendee, offsets in _upcoming_attendees(services, now):
        reached = [m for m in offsets if attendee.starts_at - timedelta(minutes=m) <= now]
        if reached:
            due.append((attendee, min(reached)))
    return due


def _upcoming_attendees(services: Services, now: datetime) -> list[tuple[Attendee, list[int]]]:
    with read_session(services.engine) as session:
        rows = session.exec(
            select(Shift, ShiftSignup, Volunteer)
            .join(ShiftSignup, col(ShiftSignup.shift_id) == col(Shift.id))
            .join(Volunteer, col(Volunteer.id) == col(ShiftSignup.volunteer_id))
            .where(
                col(Shift.cancelled_at).is_(None),
                col(Shift.starts_at) > now,
                col(Shift.starts_at) <= now + REMINDER_HORIZON,
                col(ShiftSignup.status).in_(ACTIVE),
            )
            .order_by(col(Shift.starts_at), col(ShiftSignup.id))
        ).all()
        settings = campaign_settings(session, {shift.campaign_id for shift, _, _ in rows})
    found = []
    for shift, signup, volunteer in rows:
        zone = shift_zone(shift, settings[shift.campaign_id].time_zone)
        attendee = _attendee(shift, signup, volunteer, zone)
        found.append((attendee, list(settings[shift.campaign_id].reminder_minutes)))
    return found


def _attendee(shift: Shift, signup: ShiftSignup, volunteer: Volunteer, zone: str) -> Attendee:
    return Attendee(
        signup_id=int(signup.id or 0),
        volunteer_id=int(volunteer.id or 0),
        shift_id=int(shift.id or 0),
        title=shift.title,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        shift_zone=zone,
        zone=volunteer_zone(volunteer, zone),
        confirmed=signup.status == SignupStatus.CONFIRMED,
        may_text=volunteer.sms_consent and not volunteer.sms_opted_out and bool(volunteer.phone),
    )


def _remind(services: Services, ledger: Ledger, attendee: Attendee, minutes: int) -> int:
    recipient = f"volunteer:{attendee.volunteer_id}"
    # The start is in the key: a shift moved to another time is reminded again.
    starts = int(attendee.starts_at.timestamp())
    kind = f"shift:{attendee.shift_id}:{starts}:reminder:{minutes}"
    sent = int(ledger.once(REMINDER_JOB, recipient, f"{kind}:dm", lambda: _dm(services, attendee)))
    if attendee.may_text:
        texted = ledger.once(
            REMINDER_JOB, recipient, f"{kind}:sms", lambda: _text(services, attendee)
        )
        sent += int(texted)
    return sent


def _dm(services: Services, attendee: Attendee) -> Sent:
    if _started(services, attendee):
        return Sent.FAILED
    services.notifier.to_volunteer(attendee.volunteer_id, reminder_reply(attendee))
    with session_scope(services.engine) as session:
        session.execute(
            update(ShiftSignup)
            .where(col(ShiftSignup.id) == attendee.signup_id)
            .values(reminded_at=services.clock.now())
        )
    return Sent.SENT


def _text(services: Services, attendee: Attendee) -> Sent:
    if _started(services, attendee):
        return Sent.FAILED
    when = written(attendee.starts_at, attendee.zone)
    body = f"Phonebank: your shift {attendee.title[:60]} starts {when}."
    if not attendee.confirmed:
        body += " Reply YES to confirm."
    result = text_volunteer(services, attendee.volunteer_id, body, purpose="shift_reminder")
    if result.retry_later:
        return Sent.RETRY
    return Sent.SENT if result.status is TextStatus.SENT else Sent.FAILED


def _started(services: Services, attendee: Attendee) -> bool:
    """No reminder once the shift has begun, however late the sweep runs."""
    return services.clock.now() >= attendee.starts_at


def reminder_reply(attendee: Attendee) -> Reply:
    """The reminder DM: when, in the volunteer's zone, and a way to confirm or drop out."""
    when = local_time(attendee.starts_at, attendee.zone)
    text = f"Reminder: your shift *{attendee.title}* starts {when}."
    buttons: tuple[Button, ...] = ()
    if attendee.confirmed:
        text += " You said you'll be there: thank you!"
    else:
        buttons = (Button("I'll be there", CONFIRM, str(attendee.shift_id), ButtonStyle.PRIMARY),)
    buttons += (Button("Can't make it", LEAVE, str(attendee.shift_id)),)
    return Reply(text=text, buttons=buttons, ephemeral=False)


def _announce(services: Services, ledger: Ledger, shift: Shift) -> int:
    sent = 0
    get_batch = Button("Get a batch", GET_BATCH, "", ButtonStyle.PRIMARY)
    if shift.platform and shift.channel:
        platform, channel = Platform(shift.platform), shift.channel
        post = Reply(
            text=f"*{shift.title}* has started. Callers, take a batch and dial!",
            buttons=(get_batch,),
            ephemeral=False,
        )

        def to_channel() -> Sent:
            services.notifier.to_channel(platform, channel, post)
            return Sent.SENT

        recipient = f"{platform}:{channel}"
        sent += int(ledger.once(START_JOB, recipient, f"shift:{shift.id}:start", to_channel))
    for volunteer_id in _active_volunteers(services, int(shift.id or 0)):
        dm = Reply(
            text=f"Your shift *{shift.title}* has started: take a batch when you are ready.",
            buttons=(get_batch,),
            ephemeral=False,
        )

        def to_volunteer(volunteer_id: int = volunteer_id, dm: Reply = dm) -> Sent:
            services.notifier.to_volunteer(volunteer_id, dm)
            return Sent.SENT

        recipient = f"volunteer:{volunteer_id}"
        kind = f"shift:{shift.id}:start:dm"
        sent += int(ledger.once(START_JOB, recipient, kind, to_volunteer))
    return sent


def _active_volunteers(services: Services, shift_id: int) -> list[int]:
    with read_session(services.engine) as session:
        found = session.exec(
            select(ShiftSignup.volunteer_id)
            .where(col(ShiftSignup.shift_id) == shift_id, col(ShiftSignup.status).in_(ACTIVE))
            .order_by(col(ShiftSignup.id))
        ).all()
    return [int(v) for v in found]
