"""Signing up to call: name, phone (its area code matches voters), languages, consent to texts,
and optionally a SIP address that calls ring instead of the phone (texts still go to the phone).

Calls ring only what was proven, so the phone must be one the campaign may call (its countries,
an ordinary line: never premium-rate, toll-free or satellite), a SIP address must be on a domain
the organizers allow (PHONEBANK_SIP_DOMAINS), and a new or changed phone gets a code to verify
it (handlers/verification.py) before any batch. Running signup again edits the profile.

The reply never tells whether a phone belongs to someone: a phone another record holds (an
imported recruit, another chat user) is answered like any other, and only its code, typed back,
makes it the asker's (handlers/verification.py decides whose record that is then).
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
from handlers.send_limits import Asker
from handlers.verification import (
    HOW_TO_VERIFY,
    CodeSent,
    Sending,
    claimed_phone,
    kill_open_codes,
    send_code,
)
from matching.phones import InvalidPhone, PhonePolicy, normalize_phone
from matching.ranking import LANGUAGE_NAMES, language_name
from storage.db import read_session, session_scope
from storage.models import Volunteer

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
SAVE_AGAIN = "Your profile changed while it was saved; please save it again."

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
    phone = volunteer.phone if volunteer else None
    if volunteer is not None and volunteer.id is not None and phone is None:
        with read_session(ctx.services.engine) as session:
            phone = claimed_phone(session, volunteer.id)
    return Form(
        title="Sign up" if volunteer is None else "Your profile",
        submit_action=SUBMIT,
        submit_label="Save",
        inputs=(
            Input("name", "Your name", initial=volunteer.name if volunteer else ctx.display_name),
            Input(
                "phone",
                "Your phone number",
                initial=phone,
                hint="Calls ring this phone first, then the voter. We text it a code to prove it"
                " is yours.",
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
    services = ctx.services
    profile, errors = validate(answers, services.default_region, services.phone_policy)
    if profile is None:
        return Reply(text="Please fix the marked answers.", tone=Tone.WARNING, errors=errors)
    try:
        with session_scope(services.engine) as session:
            saved = _save(session, ctx, profile)
    except IntegrityError:  # another signup took the phone between our check and commit
        return Reply(text=SAVE_AGAIN, tone=Tone.WARNING)
    code = _verify_phone(ctx, saved)
    return _saved(saved, new=ctx.volunteer_id is None, code=code)


def validate(
    answers: Answers, region: str, policy: PhonePolicy | None = None
) -> tuple[Profile | None, dict[str, str]]:
    """The profile, or the problems by input id."""
    policy = policy or PhonePolicy()
    errors: dict[str, str] = {}
    name = " ".join(_text(answers, "name").split())
    if not name:
        errors["name"] = "Tell us your name."
    elif len(name) > 200:
        errors["name"] = "That is longer than 200 characters."
    phone, area_code = _phone(_text(answers, "phone"), region, policy, errors)
    typed_area = _text(answers, "area_code").strip()
    if typed_area:
        if _AREA_CODE.fullmatch(typed_area):
            area_code = typed_area
        else:
            errors["area_code"] = "An area code is three digits, like 512."
    languages = _languages(answers.get("languages"), errors)
    sip_address = _sip_address(_text(answers, "sip_address"), policy, errors)
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


@dataclass(frozen=True)
class _Saved:
    """The stored profile, and the phone that needs a code (None: none is due)."""

    volunteer: Volunteer
    phone: str  # as typed: the profile's, or one another record holds until its code is typed
    code_for: str | None


def _save(session: Session, ctx: Context, profile: Profile) -> _Saved:
    now = ctx.services.clock.now()
    own = session.get(Volunteer, ctx.volunteer_id) if ctx.volunteer_id else None
    holder = session.exec(select(Volunteer).where(col(Volunteer.phone) == profile.phone)).first()
    volunteer = own or Volunteer(name=profile.name, created_at=now, updated_at=now)
    fresh = volunteer.id is None
    held_by_another = holder is not None and holder.id != volunteer.id
    new_phone = volunteer.phone != profile.phone
    if new_phone:  # what we knew about the old phone says nothing about this one
        volunteer.phone_verified_at = None
        volunteer.sms_undeliverable = None
        # Someone else's record holds it: it waits in its code until the code comes back.
        volunteer.phone = None if held_by_another else profile.phone
    volunteer.name = profile.name
    volunteer.sip_address = profile.sip_address
    volunteer.area_code = profile.area_code
    volunteer.languages = profile.languages
    volunteer.sms_consent = profile.sms_consent
    volunteer.updated_at = now
    session.add(volunteer)
    session.flush()
    volunteer_id = int(volunteer.id or 0)
    if new_phone and not fresh:
        kill_open_codes(session, volunteer_id, now)  # a code for the old phone proves nothing
    link_volunteer(session, ctx, volunteer_id)
    due = volunteer.phone_verified_at is None and (fresh or new_phone)
    return _Saved(volunteer, profile.phone, profile.phone if due else None)


def _verify_phone(ctx: Context, saved: _Saved) -> CodeSent | None:
    """Text a code when the save calls for one; what became of it."""
    if saved.code_for is None:
        return None
    volunteer_id = int(saved.volunteer.id or 0)
    return send_code(ctx.services, volunteer_id, Asker.of(ctx), saved.code_for)


def _saved(saved: _Saved, *, new: bool, code: CodeSent | None) -> Reply:
    volunteer = saved.volunteer
    first = volunteer.name.split(" ")[0]
    text = f"You're signed up, {first}!" if new else f"Saved your profile, {first}."
    verified = volunteer.phone_verified_at is not None and volunteer.phone == saved.phone
    facts = (
        Fact("Phone", saved.phone),
        *((Fact("Calls ring", volunteer.sip_address),) if volunteer.sip_address else ()),
        Fact("Area code", volunteer.area_code or "none"),
        Fact("Languages", ", ".join(language_name(lang) for lang in volunteer.languages)),
        Fact("Texts", _texts_fact(volunteer)),
        Fact("Phone verified", "yes" if verified else "not yet"),
    )
    note = "" if verified else _verification_note(code)
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


def _verification_note(code: CodeSent | None) -> str:
    """What the volunteer should do about verifying their phone: calls ring it only then."""
    if code is None:
        return f"Verify your phone before you call: {HOW_TO_VERIFY}."
    if code.outcome is Sending.SENT:
        return "We texted you a 6-digit code: type `/phonebank verify CODE` before you call."
    if code.outcome is Sending.TOO_SOON:
        return f"We could not text you a code yet. {code.reason}"
    return f"We could not text you a code ({code.reason}); try `/phonebank verify resend` later."


def _volunteer(ctx: Context) -> Volunteer | None:
    if ctx.volunteer_id is None:
        return None
    with read_session(ctx.services.engine) as session:
        volunteer = session.get(Volunteer, ctx.volunteer_id)
        if volunteer is not None:
            session.expunge(volunteer)
        return volunteer


def _phone(
    raw: str, region: str, policy: PhonePolicy, errors: dict[str, str]
) -> tuple[str | None, str | None]:
    if not raw.strip():
        errors["phone"] = "We need your phone number: calls ring it first."
        return None, None
    try:
        info = normalize_phone(raw, region)
    except InvalidPhone as exc:
        errors["phone"] = f"That is not a phone number we can ring ({exc.reason})."
        return None, None
    refused = policy.phone_problem(info.e164)
    if refused is not None:
        errors["phone"] = (
            f"We cannot ring that phone: {refused}. We call phones in {policy.countries_text()}."
        )
        return None, None
    return info.e164, info.area_code


def _sip_address(raw: str, policy: PhonePolicy, errors: dict[str, str]) -> str | None:
    if not raw.strip():
        return None
    address = valid_sip_address(raw)
    if address is None:
        errors["sip_address"] = f"A SIP address looks like {SIP_EXAMPLE}."
        return None
    refused = policy.sip_problem(address)
    if refused is not None:
        errors["sip_address"] = f"We cannot ring that address: {refused}. Leave it blank."
        return None
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
