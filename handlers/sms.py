"""Texts volunteers send to the campaign's number: keywords act at once, the rest is kept.

Each text is stored once, keyed by Twilio's MessageSid: a repeated webhook finds its row and
changes nothing (and answers nothing, so no one gets a reply twice). A keyword is the whole text
in any case, with whitespace and punctuation around it ignored, and is honoured for the number
even when no volunteer has it yet (a STOP from an unknown number is recorded, and the texting
gate reads it):

- STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT: opted out. We send no reply:
  Twilio's opt-out handling confirms a STOP itself and blocks anything else we send to the
  number (error 21610), so a second confirmation would be either a duplicate or refused.
- START, UNSTOP: opted back in, confirmed.
- HELP: who we are, how to reach an organizer, how to opt out.
- YES: confirms the volunteer's next upcoming shift. Twilio treats YES as an opt-in too, so an
  opted-out volunteer who sends it is opted back in, as Twilio's block on the number is lifted.

Free text that reads like an opt-out ("please stop texting me") is not acted on automatically,
since words are ambiguous: it waits for an organizer's review (`/phonebank sms review`), and
organizers hear of it in one digest per quiet period, sent by the outbox after the webhook is
answered (handlers/sms_digest.py), naming the volunteer and never the number.

Anyone can text the number, so no text can make the bot talk much: a sender gets each kind of
automatic reply (HELP, START, YES, ..., the free-text and review replies) at most once a day, and
a number that is no volunteer's gets one reply ever. Texts from one number are handled one at a
time, so a burst cannot slip two replies past that count.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text as sql
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.context import Services
from handlers.shifts import confirm_signup
from handlers.sms_digest import owe_review_digest
from handlers.texting import OPT_IN_WORDS, OPT_OUT_WORDS, number_opted_out, set_opted_out
from matching.phones import InvalidPhone, normalize_phone
from storage.db import session_scope
from storage.models import Campaign, Shift, ShiftSignup, SmsInbound, Volunteer

log = logging.getLogger(__name__)

HELP_WORD = "HELP"
YES_WORD = "YES"
KEYWORDS = OPT_OUT_WORDS | OPT_IN_WORDS | {HELP_WORD}
FREE_TEXT, REVIEW = "FREE", "REVIEW"  # reply kinds of texts that are no keyword
REPLY_EVERY = timedelta(days=1)  # one reply of a kind to a sender in this long
SENDER_LOCKS = 20_006  # pg_advisory_xact_lock's first key: texts from one number, one at a time
OPEN_SHIFT_STATUSES = ("signed_up", "confirmed")
CONFIRMED = "confirmed"
PROGRAM = "Phonebank"

_AROUND = re.compile(r"^[\W_]+|[\W_]+$")
_OPT_OUT_WORDING = re.compile(
    r"\b(?:stop|quit|cease|no more|don[’']?t|do not|never)\b.{0,30}"
    r"\b(?:text|texts|texting|sms|messag\w*|contact\w*|call\w*)\b"
    r"|\bremove me\b|\btake me off\b|\bunsubscribe\b|\bopt(?:ing)?[\s-]?out\b"
    r"|\bleave me alone\b|\bstop\b",
    re.IGNORECASE,
)

OPTED_IN = f"You'll get {PROGRAM} texts again. Reply HELP for help, STOP to opt out."
REVIEW_REPLY = "Thanks, an organizer will read this. To stop all texts now, reply STOP."
FREE_TEXT_REPLY = (
    "Thanks! No one reads this number: please message us in chat. Reply HELP for help."
)
UNKNOWN_YES = f"We don't know this number. Sign up in chat with /phonebank signup to use {PROGRAM}."
NO_SHIFT = "You have no upcoming shift to confirm. Sign up for one in chat."


@dataclass(frozen=True)
class IncomingText:
    """Twilio's MessageSid, the sender's number (From) and the text (Body)."""

    message_sid: str
    from_phone: str
    body: str


@dataclass(frozen=True)
class SmsAnswer:
    """What to text back (None: nothing); `duplicate` when the MessageSid was seen before."""

    reply: str | None = None
    duplicate: bool = False


def receive_text(services: Services, text: IncomingText) -> SmsAnswer:
    """Store the text (once per MessageSid), act on its keyword, and say what to reply."""
    phone = _normalized(text.from_phone, services.default_region)
    try:
        with session_scope(services.engine) as session:
            _one_sender_at_a_time(session, phone)
            if _seen(session, text.message_sid):
                return SmsAnswer(duplicate=True)
            reply = _handle(session, services, text, phone)
    except IntegrityError:  # the same MessageSid, stored by a concurrent request
        return SmsAnswer(duplicate=True)
    return SmsAnswer(reply)


def keyword_of(body: str) -> str | None:
    """The keyword a text is, ignoring case and whitespace or punctuation around it."""
    word = _AROUND.sub("", body).upper()
    return word if word in KEYWORDS else None


def reads_like_opt_out(body: str) -> bool:
    """Free text that may mean "stop texting me": for an organizer to judge."""
    return _OPT_OUT_WORDING.search(body) is not None


def _handle(session: Session, services: Services, text: IncomingText, phone: str) -> str | None:
    """Store and act on the text; the reply it may have."""
    now = services.clock.now()
    volunteer = session.exec(select(Volunteer).where(col(Volunteer.phone) == phone)).first()
    keyword = keyword_of(text.body)
    review = keyword is None and reads_like_opt_out(text.body)
    row = SmsInbound(
        message_sid=text.message_sid,
        from_phone=phone,
        volunteer_id=volunteer.id if volunteer else None,
        body=text.body,
        keyword=keyword,
        needs_review=review,
        received_at=now,
    )
    session.add(row)
    session.flush()
    if review:
        owe_review_digest(session.connection(), now)
    reply, kind = _act(session, services, volunteer, keyword, review, phone)
    if reply is not None and _replied_before(session, phone, kind, volunteer is not None, now):
        log.info("No %s reply to text %s: answered lately", kind, row.id)
        reply = None
    row.reply_kind = kind if reply is not None else None
    session.add(row)
    return reply


def _act(
    session: Session,
    services: Services,
    volunteer: Volunteer | None,
    keyword: str | None,
    review: bool,
    phone: str,
) -> tuple[str | None, str]:
    """Act on a keyword; (the reply, its kind)."""
    if keyword is not None:
        return _act_on_keyword(session, services, volunteer, keyword), keyword
    opted_out = (volunteer is not None and volunteer.sms_opted_out) or number_opted_out(
        session, phone
    )
    if review:
        return (None if opted_out else REVIEW_REPLY), REVIEW
    return (None if opted_out else FREE_TEXT_REPLY), FREE_TEXT


def _replied_before(session: Session, phone: str, kind: str, known: bool, now: datetime) -> bool:
    """Whether the sender had this kind of reply in the last day; for a number we do not know,
    whether it had any reply at all."""
    query = select(SmsInbound.id).where(
        col(SmsInbound.from_phone) == phone, col(SmsInbound.reply_kind).is_not(None)
    )
    if known:
        query = query.where(
            col(SmsInbound.reply_kind) == kind, col(SmsInbound.received_at) > now - REPLY_EVERY
        )
    return session.exec(query.limit(1)).first() is not None


def _one_sender_at_a_time(session: Session, phone: str) -> None:
    """On PostgreSQL, hold the sender's lock for the transaction: two texts from one number
    never decide their replies at once. (SQLite runs one write transaction at a time.)"""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(
            sql("SELECT pg_advisory_xact_lock(:space, hashtext(:phone))"),
            {"space": SENDER_LOCKS, "phone": phone},
        )


def _act_on_keyword(
    session: Session, services: Services, volunteer: Volunteer | None, keyword: str
) -> str | None:
    if keyword in OPT_OUT_WORDS:
        if volunteer is not None:
            set_opted_out(session, services, volunteer, True)
        return None
    if keyword == HELP_WORD:
        return _help_text(session)
    if volunteer is not None:
        set_opted_out(session, services, volunteer, False)
    if keyword == YES_WORD:
        return _confirm_next_shift(session, services, volunteer)
    return OPTED_IN


def _confirm_next_shift(session: Session, services: Services, volunteer: Volunteer | None) -> str:
    if volunteer is None:
        return UNKNOWN_YES
    found = session.exec(
        select(ShiftSignup, Shift)
        .join(Shift, col(Shift.id) == col(ShiftSignup.shift_id))
        .where(
            col(ShiftSignup.volunteer_id) == volunteer.id,
            col(ShiftSignup.status).in_(OPEN_SHIFT_STATUSES),
            col(Shift.cancelled_at).is_(None),
            col(Shift.starts_at) > services.clock.now(),
        )
        .order_by(col(Shift.starts_at), col(Shift.id))
        .limit(1)
    ).first()
    if found is None:
        return NO_SHIFT
    signup, shift = found
    confirm_signup(session, signup, services.clock.now())
    when = _local_time(shift.starts_at, _time_zone(session, shift.campaign_id))
    return f"Thanks! You're confirmed for {shift.title[:60]}, {when}."


def _help_text(session: Session) -> str:
    campaigns = session.exec(select(Campaign.name).limit(2)).all()
    program = campaigns[0] if len(campaigns) == 1 else PROGRAM
    return (
        f"{program[:40]}: texts for phone bank volunteers. Questions? Message an organizer"
        " in chat. Reply STOP to opt out."
    )


def _seen(session: Session, message_sid: str) -> bool:
    found = session.exec(
        select(SmsInbound.id).where(col(SmsInbound.message_sid) == message_sid)
    ).first()
    return found is not None


def _normalized(raw: str, region: str) -> str:
    """E.164 when it is a phone number; else as Twilio gave it (a short code, an alphanumeric
    sender), cut to the column's size."""
    try:
        return normalize_phone(raw, region).e164
    except InvalidPhone:
        return raw.strip()[:20]


def _time_zone(session: Session, campaign_id: int) -> str:
    campaign = session.get(Campaign, campaign_id)
    zone = (campaign.config or {}).get("time_zone") if campaign else None
    return str(zone or "America/New_York")


def _local_time(at: datetime, zone: str) -> str:
    local = at.astimezone(ZoneInfo(zone))
    hour = local.strftime("%I:%M %p").lstrip("0")
    return f"{local:%a %b} {local.day} at {hour}"
