"""The one way the core texts a volunteer: verification codes now, shift reminders and
broadcasts later. Every text passes the same gate first, as Spoke checks opt-outs before every
outbound message:

- the phone is one the campaign may text at all (`Services.phone_policy`: its countries, no
  premium-rate, toll-free or other non-geographic numbers);
- the volunteer said yes to texts (`sms_consent`, ticked at signup); the code that proves a
  phone (purpose `VERIFICATION`) is the one text that needs no such yes: the volunteer asked
  for it by typing the phone;
- the phone is theirs: verified with a texted code (`phone_verified_at`), so a mistyped number
  never gets reminders meant for someone else; the code itself is the one text that may go to
  an unverified phone (or to a phone they typed that is still another volunteer's: `to`);
- they have not opted out (`sms_opted_out`, or a STOP from their number we recorded before we
  knew whose it was, see `number_opted_out`);
- their phone can receive texts (`sms_undeliverable` unset).

What Twilio answers teaches the gate: 21610 (the person texted STOP to our number) marks them
opted out, 21614/21635 (not a mobile, a landline) and 21211 (no such number) mark the phone
undeliverable; an outage or rate limit is only reported. The result says why a text was not
sent. Phone numbers are never logged: volunteers are named by id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session, col, select

from handlers.context import Services, TelephonyError, TelephonyFailure
from handlers.sms_segments import split_for_sms
from storage.db import read_session, session_scope
from storage.models import AuditLog, SmsInbound, Volunteer

log = logging.getLogger(__name__)

VERIFICATION = "verification"  # the purpose of a code text: the one allowed before verification
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
# Twilio's own opt-in keywords: any of them lifts Twilio's block on the number, so ours follows.
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES"})

# Twilio's error codes on a text, as TelephonyError.code or a delivery report's ErrorCode.
UNDELIVERABLE_REASONS = {
    21211: "invalid number",
    21614: "not a mobile number",
    21635: "landline",
}
DELIVERY_FAILURES = {
    21610: TelephonyFailure.UNSUBSCRIBED,
    21614: TelephonyFailure.CANNOT_RECEIVE_SMS,
    21635: TelephonyFailure.CANNOT_RECEIVE_SMS,
    21211: TelephonyFailure.INVALID_NUMBER,
}


class TextStatus(StrEnum):
    SENT = "sent"
    NO_VOLUNTEER = "no_volunteer"
    NO_PHONE = "no_phone"
    NO_CONSENT = "no_consent"
    NOT_ALLOWED = "not_allowed"  # outside the campaign's countries, or not an ordinary line
    UNVERIFIED = "unverified"
    OPTED_OUT = "opted_out"
    UNDELIVERABLE = "undeliverable"
    FAILED = "failed"  # Twilio refused or was unreachable; `failure` says how


@dataclass(frozen=True)
class TextResult:
    """What became of a text: sent (with the message ids, one per part), or why not."""

    status: TextStatus
    reason: str = ""  # a sentence for organizers and logs
    message_ids: tuple[str, ...] = ()
    failure: TelephonyFailure | None = None
    undeliverable: str | None = None  # why the phone cannot take texts ("landline")

    @property
    def sent(self) -> bool:
        return self.status is TextStatus.SENT

    @property
    def retry_later(self) -> bool:
        """An outage or a rate limit: the same text may go through later."""
        return self.failure in (TelephonyFailure.OUTAGE, TelephonyFailure.RATE_LIMITED)


def text_volunteer(
    services: Services, volunteer_id: int, body: str, *, purpose: str, to: str | None = None
) -> TextResult:
    """Text a volunteer `body` (split into one-segment parts when long) if the gate allows;
    `to`: a verification code for a phone they typed that is not on their profile yet."""
    if to is not None and purpose != VERIFICATION:
        raise ValueError("only a verification code goes to a phone not on the profile")
    with read_session(services.engine) as session:
        volunteer = session.get(Volunteer, volunteer_id)
        phone = to or (volunteer.phone if volunteer else None)
        refused = _refusal(session, services, volunteer, phone, purpose)
    if refused is not None:
        log.info("No %s text to volunteer %s: %s", purpose, volunteer_id, refused.status)
        return refused
    assert phone is not None  # the gate refuses a volunteer without one
    return _send_parts(services, volunteer_id, phone, split_for_sms(body), purpose)


def number_opted_out(session: Session, phone: str) -> bool:
    """Whether the last opt keyword texted from `phone` (known volunteer or not) was an opt-out."""
    keywords = sorted(OPT_OUT_WORDS | OPT_IN_WORDS)
    last = session.exec(
        select(SmsInbound.keyword)
        .where(col(SmsInbound.from_phone) == phone, col(SmsInbound.keyword).in_(keywords))
        .order_by(col(SmsInbound.received_at).desc(), col(SmsInbound.id).desc())
        .limit(1)
    ).first()
    return last in OPT_OUT_WORDS


def delivery_failed(services: Services, to_phone: str, error_code: int) -> bool:
    """A delivery report's error for a text to `to_phone`: mark the volunteer as a failed send
    would. Whether anything changed (a repeated report changes nothing)."""
    failure = DELIVERY_FAILURES.get(error_code)
    if failure is None:
        return False
    with session_scope(services.engine) as session:
        volunteer = session.exec(select(Volunteer).where(col(Volunteer.phone) == to_phone)).first()
        if volunteer is None:
            return False
        return _learn(session, services, volunteer, failure, error_code)


def set_opted_out(
    session: Session, services: Services, volunteer: Volunteer, opted_out: bool
) -> bool:
    """Record an opt-out or opt-in (audited when it changes anything); whether it did."""
    if volunteer.sms_opted_out == opted_out:
        return False
    volunteer.sms_opted_out = opted_out
    volunteer.updated_at = services.clock.now()
    session.add(volunteer)
    _audit(session, services, volunteer, "sms.opt_out" if opted_out else "sms.opt_in", {})
    return True


def _refusal(
    session: Session,
    services: Services,
    volunteer: Volunteer | None,
    phone: str | None,
    purpose: str,
) -> TextResult | None:
    """Why the gate stops a text to this volunteer at `phone`, or None when it may go."""
    if volunteer is None:
        return TextResult(TextStatus.NO_VOLUNTEER, "There is no such volunteer.")
    if not phone:
        return TextResult(TextStatus.NO_PHONE, "No phone number is on file.")
    problem = services.phone_policy.phone_problem(phone)
    if problem is not None:
        return TextResult(TextStatus.NOT_ALLOWED, f"We do not text that phone: {problem}.")
    if not volunteer.sms_consent and purpose != VERIFICATION:
        return TextResult(TextStatus.NO_CONSENT, "They have not agreed to texts.")
    if volunteer.sms_opted_out or number_opted_out(session, phone):
        return TextResult(TextStatus.OPTED_OUT, "They replied STOP to our texts.")
    if phone != volunteer.phone:
        return None  # a code for a phone they typed: what we know of their own says nothing
    if volunteer.sms_undeliverable:
        reason = f"Their phone cannot receive texts ({volunteer.sms_undeliverable})."
        return TextResult(
            TextStatus.UNDELIVERABLE, reason, undeliverable=volunteer.sms_undeliverable
        )
    if volunteer.phone_verified_at is None and purpose != VERIFICATION:
        return TextResult(TextStatus.UNVERIFIED, "Their phone is not verified yet.")
    return None


def _send_parts(
    services: Services, volunteer_id: int, phone: str, parts: list[str], purpose: str
) -> TextResult:
    sent: list[str] = []
    for part in parts:
        try:
            sent.append(services.telephony.send_sms(phone, part))
        except TelephonyError as error:
            return _failed(services, volunteer_id, phone, error, tuple(sent), purpose)
    log.info("Texted volunteer %s (%s, %d part(s))", volunteer_id, purpose, len(sent))
    return TextResult(TextStatus.SENT, message_ids=tuple(sent))


def _failed(
    services: Services,
    volunteer_id: int,
    phone: str,
    error: TelephonyError,
    sent: tuple[str, ...],
    purpose: str,
) -> TextResult:
    log.warning(
        "Text to volunteer %s (%s) failed: %s (%s)",
        volunteer_id,
        purpose,
        error.failure,
        error.code,
    )
    with session_scope(services.engine) as session:
        volunteer = session.get(Volunteer, volunteer_id)
        if volunteer is not None and volunteer.phone == phone:  # not a phone they only typed
            _learn(session, services, volunteer, error.failure, error.code)
    status = {
        TelephonyFailure.UNSUBSCRIBED: TextStatus.OPTED_OUT,
        TelephonyFailure.CANNOT_RECEIVE_SMS: TextStatus.UNDELIVERABLE,
        TelephonyFailure.INVALID_NUMBER: TextStatus.UNDELIVERABLE,
    }.get(error.failure, TextStatus.FAILED)
    why = undeliverable_reason(error.failure, error.code)
    return TextResult(status, _failure_text(error), sent, error.failure, why)


def undeliverable_reason(failure: TelephonyFailure, code: int | None) -> str | None:
    """What `sms_undeliverable` records for a failure; None when it says nothing of the phone."""
    if failure is TelephonyFailure.INVALID_NUMBER:
        return UNDELIVERABLE_REASONS[21211]
    if failure is TelephonyFailure.CANNOT_RECEIVE_SMS:
        return UNDELIVERABLE_REASONS.get(code or 0, "cannot receive texts")
    return None


def _learn(
    session: Session,
    services: Services,
    volunteer: Volunteer,
    failure: TelephonyFailure,
    code: int | None,
) -> bool:
    """Mark what a failure says about the volunteer's phone; whether anything changed."""
    if failure is TelephonyFailure.UNSUBSCRIBED:
        return set_opted_out(session, services, volunteer, True)
    reason = undeliverable_reason(failure, code)
    if reason is None or volunteer.sms_undeliverable == reason:
        return False
    volunteer.sms_undeliverable = reason
    volunteer.updated_at = services.clock.now()
    session.add(volunteer)
    _audit(session, services, volunteer, "sms.undeliverable", {"reason": reason, "code": code})
    return True


def _failure_text(error: TelephonyError) -> str:
    return {
        TelephonyFailure.UNSUBSCRIBED: "They replied STOP to our texts.",
        TelephonyFailure.CANNOT_RECEIVE_SMS: "Their phone cannot receive texts.",
        TelephonyFailure.INVALID_NUMBER: "Their phone number is not valid.",
        TelephonyFailure.OUTAGE: "Texting is down at the moment; try again later.",
        TelephonyFailure.RATE_LIMITED: "Too many texts at once; try again in a minute.",
    }.get(error.failure, "The text could not be sent.")


def _audit(
    session: Session,
    services: Services,
    volunteer: Volunteer,
    action: str,
    detail: dict[str, object],
) -> None:
    session.add(
        AuditLog(
            at=services.clock.now(),
            actor="phonebank",
            action=action,
            target=f"volunteer:{volunteer.id}",
            detail=detail,
        )
    )
