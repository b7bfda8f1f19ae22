"""Proving a phone is yours: a 6-digit code texted to it, typed back in chat.

Only a hash of the code is stored (salted SHA-256: the code lives ten minutes, so a slow hash
buys nothing). A code dies after 10 minutes or 5 wrong tries, and a new one (`verify resend`)
can be had once a minute, which also kills the old one. A right code sets `phone_verified_at`
and links the phone's volunteer to the chat identity that typed it. Nothing is texted without
consent to texts; the reply then says how to verify later.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session, col, select

from handlers.context import Context, Services
from handlers.identity import link_volunteer
from handlers.replies import Reply, Tone, problem
from handlers.texting import VERIFICATION, TextResult, TextStatus, text_volunteer
from storage.db import session_scope
from storage.models import SmsVerification, Volunteer

CODE_DIGITS = 6
LIFETIME = timedelta(minutes=10)
MAX_TRIES = 5
RESEND_AFTER = timedelta(minutes=1)
HOW_TO_VERIFY_LATER = "To verify your phone by text later, tick “Text me” in `/phonebank signup`."
RESEND = "`/phonebank verify resend`"


class Sending(StrEnum):
    SENT = "sent"
    NO_CONSENT = "no_consent"
    TOO_SOON = "too_soon"
    ALREADY_VERIFIED = "already_verified"
    NOT_SENT = "not_sent"  # the texting gate or Twilio refused; `reason` says why, to the volunteer


@dataclass(frozen=True)
class CodeSent:
    """The outcome of asking for a code."""

    outcome: Sending
    reason: str = ""
    wait_seconds: int = 0


def send_code(services: Services, volunteer_id: int) -> CodeSent:
    """Text a new code to the volunteer's phone (killing earlier ones), if allowed now."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        # Locked: two asks at once take turns, so the second sees the first's code and waits
        # its minute (locking only the latest code let both through when there was none yet).
        volunteer = session.get(Volunteer, volunteer_id, with_for_update=True)
        refused = _why_not_send(session, volunteer, now)
        if refused is not None:
            return refused
        assert volunteer is not None and volunteer.phone is not None
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        _kill_open_codes(session, volunteer_id, now)
        row = SmsVerification(
            volunteer_id=volunteer_id,
            phone=volunteer.phone,
            code_hash=hash_code(code),
            expires_at=now + LIFETIME,
            created_at=now,
        )
        session.add(row)
        session.flush()
        row_id = row.id
    result = text_volunteer(services, volunteer_id, _code_text(code), purpose=VERIFICATION)
    if not result.sent:
        _forget(services, row_id)  # nothing arrived: it must not count against resending
        return CodeSent(Sending.NOT_SENT, _why_not_texted(result))
    return CodeSent(Sending.SENT)


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
    """A new code, at most once a minute."""
    assert ctx.volunteer_id is not None
    return code_sent_reply(send_code(ctx.services, ctx.volunteer_id))


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
        if row.phone != volunteer.phone:
            return problem(f"That code was for your old phone number. {_ask_new()}")
        if row.verified_at is not None:
            return Reply(text="Your phone is already verified.", tone=Tone.SUCCESS)
        if row.attempts >= MAX_TRIES:
            return problem(f"Too many wrong tries: that code no longer works. {_ask_new()}")
        if now >= row.expires_at:
            return problem(f"That code has expired. {_ask_new()}")
        if not code_matches(code, row.code_hash):
            row.attempts += 1
            session.add(row)
            return _wrong(MAX_TRIES - row.attempts)
        row.verified_at = now
        volunteer.phone_verified_at = now
        volunteer.updated_at = now
        session.add_all([row, volunteer])
        link_volunteer(session, ctx, ctx.volunteer_id)
    return Reply(text="Your phone is verified. Thank you!", tone=Tone.SUCCESS)


def code_sent_reply(sent: CodeSent) -> Reply:
    """What to tell the volunteer after asking for a code."""
    if sent.outcome is Sending.SENT:
        minutes = int(LIFETIME.total_seconds() // 60)
        return Reply(
            text=f"We texted you a 6-digit code. Type `/phonebank verify CODE` within {minutes} minutes.",
            tone=Tone.SUCCESS,
        )
    if sent.outcome is Sending.TOO_SOON:
        return problem(
            f"We just sent you a code; you can ask for a new one in {sent.wait_seconds} s."
        )
    if sent.outcome is Sending.ALREADY_VERIFIED:
        return Reply(text="Your phone is already verified.", tone=Tone.SUCCESS)
    if sent.outcome is Sending.NO_CONSENT:
        return problem(f"You have not agreed to texts, so we sent no code. {HOW_TO_VERIFY_LATER}")
    return problem(f"We could not text you a code: {sent.reason}.")


def hash_code(code: str) -> str:
    """`salt$sha256(salt + code)`: what is stored instead of the code."""
    salt = secrets.token_hex(16)
    return f"{salt}${_digest(salt, code)}"


def code_matches(code: str, stored: str) -> bool:
    salt, _, digest = stored.partition("$")
    return hmac.compare_digest(_digest(salt, code), digest)


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}{code}".encode()).hexdigest()


def _why_not_send(session: Session, volunteer: Volunteer | None, now: datetime) -> CodeSent | None:
    if volunteer is None or not volunteer.phone:
        return CodeSent(Sending.NOT_SENT, "there is no phone number on your profile")
    if not volunteer.sms_consent:
        return CodeSent(Sending.NO_CONSENT)
    if volunteer.phone_verified_at is not None:
        return CodeSent(Sending.ALREADY_VERIFIED)
    last = _latest_code(session, int(volunteer.id or 0))
    if last is not None and last.phone == volunteer.phone:
        wait = last.created_at + RESEND_AFTER - now
        if wait > timedelta(0):
            return CodeSent(Sending.TOO_SOON, wait_seconds=max(1, int(wait.total_seconds())))
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


def _kill_open_codes(session: Session, volunteer_id: int, now: datetime) -> None:
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
