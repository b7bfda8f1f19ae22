"""Signing up to call: name, phone (its area code matches voters), languages, consent to texts,
and optionally a SIP address that calls ring instead of the phone (texts still go to the phone).

With consent to texts, a new or changed phone gets a code to verify it (handlers/verification.py);
without, the reply says how to verify later. Running signup again edits the profile. A phone already linked to another volunteer is refused;
a phone on the imported recruiting list that no chat user has claimed yet is taken over, so a
recruit who signs up keeps their record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.context import Context
from handlers.identity import link_volunteer
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
from handlers.verification import HOW_TO_VERIFY_LATER, CodeSent, Sending, send_code
from matching.phones import InvalidPhone, normalize_phone
from matching.ranking import LANGUAGE_NAMES, language_name
from storage.db import read_session, session_scope
from storage.models import ChatIdentity, Volunteer

SUBMIT = "pb:signup:submit"
CONSENT = "yes"
_YES = frozenset({"yes", "true", "on", "1"})
_AREA_CODE = re.compile(r"\d{3}")
# sip:user@host[:port][;transport=udp|tcp|tls]: what Twilio's <Sip> noun dials.
_SIP = re.compile(
    r"sip:(?P<user>[A-Za-z0-9._~!$&'()*+,;=%-]{1,64})"
    r"@(?P<host>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
    r"(?P<port>:\d{1,5})?(?P<params>;transport=(?:udp|tcp|tls))?",
    re.IGNORECASE,
)
SIP_EXAMPLE = "sip:maria@example.sip.twilio.com"
PHONE_TAKEN = (
    "This phone is already linked to another volunteer. If it is yours, ask an organizer to"
    " untangle it."
)

Answers = Mapping[str, str | list[str]]


@dataclass(frozen=True)
class Profile:
    """A validated signup."""

    name: str
    phone: str  # E.164
    area_code: str | None
    languages: list[str]
    sms_consent: bool
    sip_address: str | None = None


def signup(ctx: Context, args: list[str]) -> Reply:
    """Sign up to call, or edit your profile (name, phone, languages, texts)."""
    return open_signup(ctx, "")


def open_signup(ctx: Context, value: str) -> Reply:
    """The signup form, filled with what we know."""
    volunteer = _volunteer(ctx)
    intro = "Edit your profile." if volunteer else "Sign up to call voters from chat."
    return Reply(text=intro, form=signup_form(ctx, volunteer))


def signup_form(ctx: Context, volunteer: Volunteer | None) -> Form:
    """The form, with the volunteer's current answers as initial values."""
    return Form(
        title="Sign up" if volunteer is None else "Your profile",
        submit_action=SUBMIT,
        submit_label="Save",
        inputs=(
            Input("name", "Your name", initial=volunteer.name if volunteer else ctx.display_name),
            Input(
                "phone",
                "Your phone number",
                initial=volunteer.phone if volunteer else None,
                hint="Calls ring this phone first, then connect you to the voter.",
            ),
            Input(
                "sip_address",
                "SIP address (optional)",
                required=False,
                initial=volunteer.sip_address if volunteer else None,
                hint=f"Calls ring this instead of your phone, like {SIP_EXAMPLE}. Texts still"
                " go to your phone.",
            ),
            Input(
                "area_code",
                "Area code to match voters by",
                required=False,
                initial=volunteer.area_code if volunteer else None,
                hint="Leave blank to use your phone's.",
            ),
            Input(
                "languages",
                "Languages you can call in",
                kind=InputKind.CHOICES,
                options=tuple(Option(name, code) for code, name in LANGUAGE_NAMES.items()),
                initial=tuple(volunteer.languages) if volunteer else ("en",),
            ),
            Input(
                "sms_consent",
                "Text me reminders and batches (reply STOP to end)",
                kind=InputKind.CHECKBOX,
                required=False,
                initial=CONSENT if volunteer and volunteer.sms_consent else None,
            ),
        ),
    )


def submit_signup(ctx: Context, value: str, answers: Answers) -> Reply:
    """Validate the form; create or update the volunteer and link them to this chat user."""
    profile, errors = validate(answers, ctx.services.default_region)
    if profile is None:
        return Reply(text="Please fix the marked answers.", tone=Tone.WARNING, errors=errors)
    try:
        with session_scope(ctx.services.engine) as session:
            saved = _save(session, ctx, profile)
    except _PhoneTaken:
        return Reply(text=PHONE_TAKEN, tone=Tone.WARNING, errors={"phone": PHONE_TAKEN})
    except IntegrityError:  # another signup took the phone between our check and commit
        return Reply(text=PHONE_TAKEN, tone=Tone.WARNING, errors={"phone": PHONE_TAKEN})
    code = _verify_phone(ctx, saved)
    return _saved(saved, new=ctx.volunteer_id is None, code=code)


def validate(answers: Answers, region: str) -> tuple[Profile | None, dict[str, str]]:
    """The profile, or the problems by input id."""
    errors: dict[str, str] = {}
    name = " ".join(_text(answers, "name").split())
    if not name:
        errors["name"] = "Tell us your name."
    elif len(name) > 200:
        errors["name"] = "That is longer than 200 characters."
    phone, area_code = _phone(_text(answers, "phone"), region, errors)
    typed_area = _text(answers, "area_code").strip()
    if typed_area:
        if _AREA_CODE.fullmatch(typed_area):
            area_code = typed_area
        else:
            errors["area_code"] = "An area code is three digits, like 512."
    languages = _languages(answers.get("languages"), errors)
    sip_address = _sip_address(_text(answers, "sip_address"), errors)
    if errors or phone is None:
        return None, errors
    consent = _ticked(answers.get("sms_consent"))
    return Profile(name, phone, area_code, languages, consent, sip_address), {}


def valid_sip_address(raw: str) -> str | None:
    """`sip:user@host` with an optional port and transport, the scheme and host lowercased;
    None when it is not one."""
    match = _SIP.fullmatch(raw.strip())
    if match is None or (match["port"] and not 0 < int(match["port"][1:]) < 65536):
        return None
    tail = (match["port"] or "") + (match["params"] or "").lower()
    return f"sip:{match['user']}@{match['host'].lower()}{tail}"


class _PhoneTaken(Exception):
    pass


@dataclass(frozen=True)
class _Saved:
    """The stored profile, and what changed that matters to texting."""

    volunteer: Volunteer
    adopted: bool  # a recruit from the imported list, now linked to this chat user
    needs_code: bool  # consent given and a phone not yet verified, new or changed or newly agreed


def _save(session: Session, ctx: Context, profile: Profile) -> _Saved:
    now = ctx.services.clock.now()
    own = session.get(Volunteer, ctx.volunteer_id) if ctx.volunteer_id else None
    holder = session.exec(select(Volunteer).where(col(Volunteer.phone) == profile.phone)).first()
    adopted = False
    if holder is not None and (own is None or holder.id != own.id):
        if own is not None or _linked(session, holder):
            raise _PhoneTaken
        own, adopted = holder, True
    volunteer = own or Volunteer(name=profile.name, created_at=now, updated_at=now)
    fresh = volunteer.id is None or adopted
    new_phone = volunteer.phone != profile.phone
    newly_agreed = profile.sms_consent and not volunteer.sms_consent
    if new_phone:  # what we knew about the old phone says nothing about this one
        volunteer.phone_verified_at = None
        volunteer.sms_undeliverable = None
    volunteer.name = profile.name
    volunteer.phone = profile.phone
    volunteer.sip_address = profile.sip_address
    volunteer.area_code = profile.area_code
    volunteer.languages = profile.languages
    volunteer.sms_consent = profile.sms_consent
    volunteer.updated_at = now
    session.add(volunteer)
    session.flush()
    link_volunteer(session, ctx, int(volunteer.id or 0))
    needs_code = (
        profile.sms_consent
        and volunteer.phone_verified_at is None
        and (fresh or new_phone or newly_agreed)
    )
    return _Saved(volunteer, adopted, needs_code)


def _verify_phone(ctx: Context, saved: _Saved) -> CodeSent | None:
    """Text a code when the save calls for one; what became of it."""
    if not saved.needs_code:
        return None
    return send_code(ctx.services, int(saved.volunteer.id or 0))


def _linked(session: Session, volunteer: Volunteer) -> bool:
    return (
        session.exec(
            select(ChatIdentity.id).where(col(ChatIdentity.volunteer_id) == volunteer.id)
        ).first()
        is not None
    )


def _saved(saved: _Saved, *, new: bool, code: CodeSent | None) -> Reply:
    volunteer = saved.volunteer
    first = volunteer.name.split(" ")[0]
    if saved.adopted:
        text = f"Welcome, {first}! We found you on the volunteer list and linked you."
    elif new:
        text = f"You're signed up, {first}!"
    else:
        text = f"Saved your profile, {first}."
    facts = (
        Fact("Phone", volunteer.phone or ""),
        *((Fact("Calls ring", volunteer.sip_address),) if volunteer.sip_address else ()),
        Fact("Area code", volunteer.area_code or "none"),
        Fact("Languages", ", ".join(language_name(lang) for lang in volunteer.languages)),
        Fact("Texts", _texts_fact(volunteer)),
        Fact("Phone verified", "yes" if volunteer.phone_verified_at else "not yet"),
    )
    note = _verification_note(volunteer, code)
    return Reply(
        text=text,
        tone=Tone.SUCCESS,
        sections=(Section("Your profile", facts=facts), *((Section(note),) if note else ())),
        buttons=(Button("Get a batch", "pb:batch:claim", style=ButtonStyle.PRIMARY),),
    )


def _texts_fact(volunteer: Volunteer) -> str:
    if not volunteer.sms_consent:
        return "no"
    if volunteer.sms_opted_out:
        return "yes, but you replied STOP: text START to us to get them"
    return "yes"


def _verification_note(volunteer: Volunteer, code: CodeSent | None) -> str:
    """What the volunteer should do about verifying their phone, if anything."""
    if volunteer.phone_verified_at is not None:
        return ""
    if not volunteer.sms_consent:
        return HOW_TO_VERIFY_LATER
    if code is None:
        return "Verify your phone with `/phonebank verify CODE` (or `/phonebank verify resend`)."
    if code.outcome is Sending.SENT:
        return "We texted you a 6-digit code: type `/phonebank verify CODE`."
    if code.outcome is Sending.TOO_SOON:
        return "We texted you a code a moment ago: type `/phonebank verify CODE`."
    return f"We could not text you a code ({code.reason}); try `/phonebank verify resend` later."


def _volunteer(ctx: Context) -> Volunteer | None:
    if ctx.volunteer_id is None:
        return None
    with read_session(ctx.services.engine) as session:
        volunteer = session.get(Volunteer, ctx.volunteer_id)
        if volunteer is not None:
            session.expunge(volunteer)
        return volunteer


def _phone(raw: str, region: str, errors: dict[str, str]) -> tuple[str | None, str | None]:
    if not raw.strip():
        errors["phone"] = "We need your phone number: calls ring it first."
        return None, None
    try:
        info = normalize_phone(raw, region)
    except InvalidPhone as exc:
        errors["phone"] = f"That is not a phone number we can ring ({exc.reason})."
        return None, None
    return info.e164, info.area_code


def _sip_address(raw: str, errors: dict[str, str]) -> str | None:
    if not raw.strip():
        return None
    address = valid_sip_address(raw)
    if address is None:
        errors["sip_address"] = f"A SIP address looks like {SIP_EXAMPLE}."
    return address


def _languages(answer: str | list[str] | None, errors: dict[str, str]) -> list[str]:
    chosen = [answer] if isinstance(answer, str) else list(answer or [])
    chosen = [code.strip().lower() for code in chosen if code.strip()]
    unknown = [code for code in chosen if code not in LANGUAGE_NAMES]
    if unknown:
        errors["languages"] = f"Unknown language: {', '.join(unknown)}."
    elif not chosen:
        errors["languages"] = "Pick at least one language you can call in."
    return list(dict.fromkeys(chosen))


def _ticked(answer: str | list[str] | None) -> bool:
    if isinstance(answer, list):
        return any(item.strip().lower() in _YES for item in answer)
    return (answer or "").strip().lower() in _YES


def _text(answers: Answers, key: str) -> str:
    value = answers.get(key)
    if isinstance(value, list):
        return " ".join(value)
    return value or ""
