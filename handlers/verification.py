"""Proving a phone is yours: a 6-digit code texted to it, typed back in chat.

Calls ring a volunteer's phone only once it is proven (`ring_problem`, `ring_refusal`), so a
phone typed at signup gets a code whatever the volunteer said about reminders: they asked for it
by typing the phone. Codes cost money, so each is counted by handlers/send_limits.py (per chat
user, per phone, per workspace); the once-a-minute resend is one of those limits.

Only a hash of the code is stored (salted SHA-256: the code lives ten minutes, so a slow hash
buys nothing). A code dies after 10 minutes or 5 wrong tries, and a new one (`verify resend`)
kills the old one. A code is for the phone it was texted to: the volunteer's own, or one they
typed that another volunteer's record still holds (an imported recruit, or someone who never
proved it). Nothing about that other record is said until the right code is typed; then the
phone is the asker's: a recruit's record that nobody claimed (or one whose phone was proven
before, the same person on another chat) becomes theirs, and an unproven holder loses it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from handlers.context import Context, Services, TelephonyFailure
from handlers.identity import link_volunteer
from handlers.replies import Reply, Tone, problem
from handlers.send_limits import Asker, Refused, release, reserve
from handlers.texting import VERIFICATION, TextResult, TextStatus, text_volunteer
from matching.phones import PhonePolicy
from storage.db import read_session, session_scope
from storage.models import (
    AuditLog,
    Batch,
    BroadcastAck,
    CallAttempt,
    CallSession,
    ChatIdentity,
    Question,
    ShiftSignup,
    SmsInbound,
    SmsVerification,
    TrainingProgress,
    Volunteer,
)

CODE_DIGITS = 6
LIFETIME = timedelta(minutes=10)
MAX_TRIES = 5
RESEND = "`/phonebank verify resend`"
HOW_TO_VERIFY = (
    f"type the code we texted you (`/phonebank verify CODE`), or ask for a new one with {RESEND}"
)


class Sending(StrEnum):
    SENT = "sent"
    TOO_SOON = "too_soon"  # a send limit: `reason` says which, and when to ask again
    ALREADY_VERIFIED = "already_verified"
    NOT_SENT = "not_sent"  # the texting gate or Twilio refused; `reason` says why, to the volunteer


@dataclass(frozen=True)
class CodeSent:
    """The outcome of asking for a code."""

    outcome: Sending
    reason: str = ""
    wait_seconds: int = 0


def send_code(
    services: Services, volunteer_id: int, asker: Asker, phone: str | None = None
) -> CodeSent:
    """Text a new code (killing earlier ones) to `phone`, default the volunteer's own, if the
    send limits allow it now."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        # Locked: two asks at once take turns, so the second sees the first's code.
        volunteer = session.get(Volunteer, volunteer_id, with_for_update=True)
        to = phone or (volunteer.phone if volunteer else None)
        refused = _why_not_send(services.phone_policy, volunteer, to)
        if refused is not None:
            return refused
        assert to is not None
        reserved = reserve(session, asker, to, VERIFICATION, now)
        if isinstance(reserved, Refused):
            return CodeSent(Sending.TOO_SOON, reserved.text(), reserved.wait_seconds)
        code = new_code()
        kill_open_codes(session, volunteer_id, now)
        row = SmsVerification(
            volunteer_id=volunteer_id,
            phone=to,
            code_hash=hash_code(code),
            expires_at=now + LIFETIME,
            created_at=now,
        )
        session.add(row)
        session.flush()
        row_id = row.id
    own = to == (volunteer.phone if volunteer else None)
    result = text_volunteer(
        services, volunteer_id, _code_text(code), purpose=VERIFICATION, to=None if own else to
    )
    if not result.sent:
        _forget(services, row_id)  # nothing arrived: the code cannot be typed
        if result.failure is not TelephonyFailure.OUTAGE:  # an outage may have sent it
            release(services.engine, reserved)
        return CodeSent(Sending.NOT_SENT, _why_not_texted(result))
    return CodeSent(Sending.SENT)


def ring_problem(volunteer: Volunteer, policy: PhonePolicy) -> str | None:
    """Why calls cannot ring this volunteer yet, and how to fix it; None when they can."""
    if volunteer.softphone:
        return None  # the browser softphone: `/phonebank softphone`
    if volunteer.sip_address:
        refused = policy.sip_problem(volunteer.sip_address)
        if refused is None:
            return None
        return f"Calls cannot ring your SIP address: {refused}. Clear it in `/phonebank signup`."
    if not volunteer.phone:
        return f"Your phone is not verified yet: {HOW_TO_VERIFY}."
    refused = policy.phone_problem(volunteer.phone)
    if refused is not None:
        return (
            f"Calls cannot ring your phone: {refused}. We call phones in"
            f" {policy.countries_text()}; change it in `/phonebank signup`."
        )
    if volunteer.phone_verified_at is None:
        return f"Your phone is not verified yet: {HOW_TO_VERIFY}."
    return None


def ring_refusal(engine: Engine, policy: PhonePolicy, target: str) -> str | None:
    """Why telephony must not ring `target` (a phone, `sip:` or `client:` address): no
    volunteer proved it, or the campaign does not allow it. None when it may ring."""
    with read_session(engine) as session:
        if target.startswith("client:volunteer_"):
            number = target.removeprefix("client:volunteer_")
            volunteer = session.get(Volunteer, int(number)) if number.isdigit() else None
            ok = volunteer is not None and volunteer.softphone
            return None if ok else "no volunteer takes calls in that browser"
        if target.startswith("sip:"):
            held = session.exec(
                select(Volunteer.id).where(col(Volunteer.sip_address) == target)
            ).first()
            return policy.sip_problem(target) or (None if held else "no volunteer gave it")
        refused = policy.phone_problem(target)
        if refused is not None:
            return refused
        proven = session.exec(
            select(Volunteer.id).where(
                col(Volunteer.phone) == target, col(Volunteer.phone_verified_at).is_not(None)
            )
        ).first()
        return None if proven else "no volunteer has verified that phone"


def verify(ctx: Context, args: list[str]) -> Reply:
    """Verify your phone with the code we texted you (`resend` for a new one)."""
    if ctx.volunteer_id is None:
        return problem("Sign up first with `/phonebank signup`; then we text you a code.")
    if len(args) != 1:
        return problem(
            f"Type the 6-digit code we texted you: `/phonebank verify 123456`, or {RESEND}."
        )
    if args[0].lower() == "resend":
        return resend(ctx)
    return check_code(ctx, args[0])


def resend(ctx: Context) -> Reply:
    """A new code, for the phone the last one was for, within the send limits."""
    assert ctx.volunteer_id is not None
    with read_session(ctx.services.engine) as session:
        phone = claimed_phone(session, ctx.volunteer_id)
    return code_sent_reply(send_code(ctx.services, ctx.volunteer_id, Asker.of(ctx), phone))


def claimed_phone(session: Session, volunteer_id: int) -> str | None:
    """The phone the volunteer is proving: their own, or the one their last code was for when
    their profile has none (they typed a phone another record holds)."""
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None or volunteer.phone:
        return volunteer.phone if volunteer else None
    last = session.exec(
        select(SmsVerification.phone)
        .where(col(SmsVerification.volunteer_id) == volunteer_id)
        .order_by(col(SmsVerification.created_at).desc(), col(SmsVerification.id).desc())
    ).first()
    return last


def check_code(ctx: Context, typed: str) -> Reply:
    """Right code: the phone is verified and linked to this chat user. Else say what is wrong."""
    assert ctx.volunteer_id is not None
    code = typed.strip()
    if not (code.isascii() and code.isdigit() and len(code) == CODE_DIGITS):
        return problem("A code is 6 digits, like `/phonebank verify 123456`.")
    now = ctx.services.clock.now()
    with session_scope(ctx.services.engine) as session:
        # The volunteer first, then the code: send_code's lock order.
        volunteer = session.get(Volunteer, ctx.volunteer_id, with_for_update=True)
        row = _latest_code(session, ctx.volunteer_id)
        if row is None or volunteer is None:
            return problem(f"There is no code waiting for you; ask for one with {RESEND}.")
        if row.verified_at is not None and row.phone == volunteer.phone:
            return Reply(text="Your phone is already verified.", tone=Tone.SUCCESS)
        if row.attempts >= MAX_TRIES:
            return problem(f"Too many wrong tries: that code no longer works. {_ask_new()}")
        if now >= row.expires_at or row.verified_at is not None:
            return problem(f"That code has expired. {_ask_new()}")
        if not code_matches(code, row.code_hash):
            row.attempts += 1
            session.add(row)
            return _wrong(MAX_TRIES - row.attempts)
        row.verified_at = now
        session.add(row)
        _claim_phone(session, ctx, volunteer, row.phone, now)
    return Reply(text="Your phone is verified. Thank you!", tone=Tone.SUCCESS)


def _claim_phone(
    session: Session, ctx: Context, volunteer: Volunteer, phone: str, now: datetime
) -> None:
    """The asker proved `phone`: it becomes theirs, with the chat user linked to its record."""
    holder = session.exec(
        select(Volunteer).where(col(Volunteer.phone) == phone).with_for_update()
    ).first()
    if holder is None or holder.id == volunteer.id:
        _prove(volunteer, phone, now)
        session.add(volunteer)
        link_volunteer(session, ctx, int(volunteer.id or 0))
        return
    if _one_person(session, holder) and _fresh(session, ctx, volunteer):
        _adopt(session, ctx, holder, volunteer, now)
        return
    # The holder never proved it: the phone leaves their record for the one who did.
    holder.phone, holder.phone_verified_at = None, None
    holder.updated_at = now
    session.add(holder)
    session.flush()
    _prove(volunteer, phone, now)
    session.add(volunteer)
    link_volunteer(session, ctx, int(volunteer.id or 0))
    _audit(session, ctx, "phone.moved", holder, {"to_volunteer": volunteer.id})


def _prove(volunteer: Volunteer, phone: str, now: datetime) -> None:
    if volunteer.phone != phone:
        volunteer.sms_undeliverable = None
    volunteer.phone, volunteer.phone_verified_at, volunteer.updated_at = phone, now, now


def _one_person(session: Session, holder: Volunteer) -> bool:
    """Whether whoever proves the holder's phone is the holder: an imported recruit nobody has
    claimed, or a record whose phone was proven before (the same person, another chat)."""
    return holder.phone_verified_at is not None or not _linked_elsewhere(session, holder, None)


def _fresh(session: Session, ctx: Context, volunteer: Volunteer) -> bool:
    """A record made by this signup only: nothing else refers to it."""
    if _linked_elsewhere(session, volunteer, ctx):
        return False
    vid = volunteer.id
    tables = (Batch, CallSession, CallAttempt, ShiftSignup, TrainingProgress, BroadcastAck)
    for table in (*tables, SmsInbound, Question):
        used = session.exec(
            select(func.count()).select_from(table).where(col(table.volunteer_id) == vid)  # type: ignore[attr-defined]
        ).one()
        if used:
            return False
    return True


def _linked_elsewhere(session: Session, volunteer: Volunteer, ctx: Context | None) -> bool:
    """Whether a chat identity (other than the asker's) is linked to the record."""
    query = select(ChatIdentity).where(col(ChatIdentity.volunteer_id) == volunteer.id)
    for identity in session.exec(query):
        if ctx is None or (identity.platform, identity.workspace, identity.user_id) != (
            ctx.platform,
            ctx.workspace,
            ctx.user_id,
        ):
            return True
    return False


def _adopt(
    session: Session, ctx: Context, holder: Volunteer, made: Volunteer, now: datetime
) -> None:
    """The holder's record becomes the asker's, with what they typed at signup; the record the
    signup made goes (its codes move with the chat user)."""
    holder.name, holder.languages = made.name, made.languages
    holder.area_code, holder.sip_address = made.area_code, made.sip_address
    holder.sms_consent = holder.sms_consent or made.sms_consent
    holder.phone_verified_at, holder.updated_at = now, now
    session.add(holder)
    link_volunteer(session, ctx, int(holder.id or 0))
    for code in session.exec(
        select(SmsVerification).where(col(SmsVerification.volunteer_id) == made.id)
    ):
        code.volunteer_id = int(holder.id or 0)
        session.add(code)
    session.flush()
    session.delete(made)
    _audit(session, ctx, "volunteer.adopted", holder, {"signup_record": made.id})


def _audit(
    session: Session, ctx: Context, action: str, volunteer: Volunteer, detail: dict[str, object]
) -> None:
    session.add(
        AuditLog(
            at=ctx.services.clock.now(),
            actor=ctx.identity,
            action=action,
            target=f"volunteer:{volunteer.id}",
            detail=detail,
        )
    )


def code_sent_reply(sent: CodeSent) -> Reply:
    """What to tell the volunteer after asking for a code."""
    if sent.outcome is Sending.SENT:
        minutes = int(LIFETIME.total_seconds() // 60)
        return Reply(
            text=f"We texted you a 6-digit code. Type `/phonebank verify CODE` within {minutes} minutes.",
            tone=Tone.SUCCESS,
        )
    if sent.outcome is Sending.TOO_SOON:
        return problem(sent.reason)
    if sent.outcome is Sending.ALREADY_VERIFIED:
        return Reply(text="Your phone is already verified.", tone=Tone.SUCCESS)
    return problem(f"We could not text you a code: {sent.reason}.")


def new_code() -> str:
    """A random 6-digit code, leading zeros kept."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(code: str) -> str:
    """`salt$sha256(salt + code)`: what is stored instead of the code."""
    salt = secrets.token_hex(16)
    return f"{salt}${_digest(salt, code)}"


def code_matches(code: str, stored: str) -> bool:
    salt, _, digest = stored.partition("$")
    return hmac.compare_digest(_digest(salt, code), digest)


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}{code}".encode()).hexdigest()


def _why_not_send(
    policy: PhonePolicy, volunteer: Volunteer | None, phone: str | None
) -> CodeSent | None:
    if volunteer is None or not phone:
        return CodeSent(Sending.NOT_SENT, "there is no phone number on your profile")
    if volunteer.phone_verified_at is not None and phone == volunteer.phone:
        return CodeSent(Sending.ALREADY_VERIFIED)
    refused = policy.phone_problem(phone)
    if refused is not None:
        return CodeSent(Sending.NOT_SENT, f"{refused}; we text phones in {policy.countries_text()}")
    return None


def _latest_code(session: Session, volunteer_id: int) -> SmsVerification | None:
    query = (
        select(SmsVerification)
        .where(col(SmsVerification.volunteer_id) == volunteer_id)
        .order_by(col(SmsVerification.created_at).desc(), col(SmsVerification.id).desc())
        .limit(1)
    )
    # Locked: two tries at once must not both count as the fourth.
    return session.exec(query.with_for_update()).first()


def kill_open_codes(session: Session, volunteer_id: int, now: datetime) -> None:
    """Every code of the volunteer not typed yet stops working now."""
    open_codes = session.exec(
        select(SmsVerification).where(
            col(SmsVerification.volunteer_id) == volunteer_id,
            col(SmsVerification.verified_at).is_(None),
        )
    ).all()
    for row in open_codes:
        row.expires_at = min(row.expires_at, now)
        session.add(row)


def _forget(services: Services, row_id: int | None) -> None:
    with session_scope(services.engine) as session:
        row = session.get(SmsVerification, row_id)
        if row is not None:
            session.delete(row)


def _why_not_texted(result: TextResult) -> str:
    """The texting gate's or Twilio's refusal, told to the volunteer (a clause, no period)."""
    if result.status is TextStatus.OPTED_OUT:
        return "you replied STOP to our texts; text START to our number to get them again"
    if result.status is TextStatus.NOT_ALLOWED:
        return result.reason.rstrip(".")
    if result.status is TextStatus.UNDELIVERABLE:
        detail = f" ({result.undeliverable})" if result.undeliverable else ""
        return f"your phone cannot receive texts{detail}"
    return result.reason.rstrip(".")


def _code_text(code: str) -> str:
    return f"Your Phonebank code is {code}. It works for 10 minutes. Reply STOP to opt out."


def _wrong(tries_left: int) -> Reply:
    if tries_left <= 0:
        return problem(f"That code is not right, and it was the last try. {_ask_new()}")
    plural = "try" if tries_left == 1 else "tries"
    return problem(f"That code is not right; {tries_left} {plural} left.")


def _ask_new() -> str:
    return f"Ask for a new one with {RESEND}."
