"""Small factories for test rows: sensible defaults, unique keys, the clock's time.

Every `make_*` adds its row to the session, flushes (so the id is set) and returns it; any
column can be overridden by keyword. Timestamps come from `clock` (default: a frozen clock at
the same instant as the `clock` fixture), so pass the test's clock when the test moves time.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import yaml
from sqlmodel import Session

from storage.campaign_config import CampaignConfig
from storage.clock import Clock, FrozenClock
from storage.models import (
    Batch,
    CallAttempt,
    Campaign,
    Shift,
    ShiftSignup,
    Volunteer,
    VolunteerStatus,
    Voter,
)

FACTORY_TIME = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)  # the `clock` fixture's instant
_sequence = itertools.count(1)
Row = TypeVar("Row", Campaign, Volunteer, Voter, Batch, CallAttempt)

DEFAULT_SURVEY: list[dict[str, Any]] = [
    {
        "id": "support",
        "question": "Can we count on your support?",
        "choices": ["yes", "no", "undecided"],
    },
    {
        "id": "vote_plan",
        "question": "How do you plan to vote?",
        "choices": ["early", "mail", "election_day"],
    },
]
DEFAULT_RESULT_CODES: list[dict[str, Any]] = [
    {"code": "talked", "label": "Talked to voter", "kind": "contact", "keypad": 1, "survey": True},
    {"code": "not_home", "label": "Not home", "kind": "retry", "keypad": 2},
    {"code": "refused", "label": "Refused", "kind": "terminal", "keypad": 3},
    {
        "code": "wrong_number",
        "label": "Wrong number",
        "kind": "terminal",
        "action": "wrong_number",
        "keypad": 4,
    },
    {
        "code": "do_not_call",
        "label": "Asked not to be called",
        "kind": "terminal",
        "action": "dnc",
        "keypad": 5,
    },
]


def _next() -> int:
    return next(_sequence)


def _now(clock: Clock | None) -> datetime:
    return (clock or FrozenClock(FACTORY_TIME)).now()


def campaign_config(**overrides: Any) -> CampaignConfig:
    """A valid campaign configuration: two survey questions, five result codes, open every day."""
    fields: dict[str, Any] = {
        "slug": f"campaign-{_next()}",
        "name": "Test campaign",
        "caller_id": "+15125550100",
        "time_zone": "America/New_York",
        "scripts": {"en": "Hi {{ voter.first_name }}, this is {{ volunteer.name }}."},
        "survey": DEFAULT_SURVEY,
        "result_codes": DEFAULT_RESULT_CODES,
        "calling_hours": {day: "09:00-20:00" for day in ("mon", "tue", "wed", "thu", "fri")}
        | {"sat": "10:00-18:00", "sun": "closed"},
    }
    fields.update(overrides)
    return CampaignConfig.model_validate(fields)


def make_campaign(
    session: Session,
    config: CampaignConfig | None = None,
    slug: str | None = None,
    *,
    clock: Clock | None = None,
    **overrides: Any,
) -> Campaign:
    """A campaign row whose `config` is `config` (default: `campaign_config()`) as JSON."""
    if config is None:
        config = campaign_config(**({"slug": slug} if slug else {}))
    elif slug and slug != config.slug:
        config = config.model_copy(update={"slug": slug})
    document = config.model_dump(mode="json")
    now = _now(clock)
    fields: dict[str, Any] = {
        "slug": config.slug,
        "name": config.name,
        "config": document,
        "config_source": yaml.safe_dump(document, sort_keys=False),
        "created_at": now,
        "updated_at": now,
    }
    return _add(session, Campaign(**(fields | overrides)))


def set_campaign_config(session: Session, campaign: Campaign, config: CampaignConfig) -> Campaign:
    """Replace a stored campaign's configuration (e.g. a survey question added mid-campaign)."""
    campaign.config = config.model_dump(mode="json")
    campaign.config_source = yaml.safe_dump(campaign.config, sort_keys=False)
    return _add(session, campaign)


def make_volunteer(session: Session, *, clock: Clock | None = None, **overrides: Any) -> Volunteer:
    """A certified, English-speaking volunteer with a unique Austin phone number, verified."""
    n = _next()
    now = _now(clock)
    fields: dict[str, Any] = {
        "name": f"Volunteer {n}",
        "phone": f"+1737555{n % 10000:04d}",
        "area_code": "737",
        "languages": ["en"],
        "status": VolunteerStatus.CERTIFIED,
        "sms_consent": True,
        "phone_verified_at": now,
        "created_at": now,
        "updated_at": now,
    }
    return _add(session, Volunteer(**(fields | overrides)))


def make_voter(
    session: Session, campaign: Campaign, *, clock: Clock | None = None, **overrides: Any
) -> Voter:
    """A ready voter of `campaign` with a unique VanID-like external id and a unique phone."""
    n = _next()
    now = _now(clock)
    external_id = overrides.pop("external_id", f"{100000 + n}")
    fields: dict[str, Any] = {
        "campaign_id": campaign.id,
        "external_id": external_id,
        "dedupe_key": f"id:{external_id}" if external_id else f"name:voter {n}",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        # 555-3000 and up: never a phone the chat tests sign volunteers up with (555-01nn) or the
        # scenarios' voters (555-02nn), whose numbers the chat payload scan looks for.
        "phone": f"+1512555{3000 + n % 7000:04d}",
        "area_code": "512",
        "phone_region": "US",
        "state": "TX",
        "zip": "78701",
        "time_zones": "America/Chicago",
        "row_hash": f"factory{n}",
        "created_at": now,
        "updated_at": now,
    }
    return _add(session, Voter(**(fields | overrides)))


def make_batch(
    session: Session,
    campaign: Campaign,
    volunteer: Volunteer,
    *,
    clock: Clock | None = None,
    **overrides: Any,
) -> Batch:
    """An open batch claimed now, expiring after a 30-minute lease."""
    now = _now(clock)
    fields: dict[str, Any] = {
        "campaign_id": campaign.id,
        "volunteer_id": volunteer.id,
        "claimed_at": now,
        "last_activity_at": now,
        "expires_at": now + timedelta(minutes=30),
    }
    return _add(session, Batch(**(fields | overrides)))


def make_attempt(
    session: Session,
    voter: Voter,
    volunteer: Volunteer | None = None,
    batch: Batch | None = None,
    *,
    clock: Clock | None = None,
    **overrides: Any,
) -> CallAttempt:
    """A finished call to `voter` started now, result `talked`, no survey answers."""
    now = _now(clock)
    n = _next()
    fields: dict[str, Any] = {
        "campaign_id": voter.campaign_id,
        "voter_id": voter.id,
        "volunteer_id": volunteer.id if volunteer else None,
        "batch_id": batch.id if batch else None,
        "call_sid": f"CA{n:032x}",
        "call_status": "completed",
        "started_at": now,
        "ended_at": now + timedelta(minutes=2),
        "duration_s": 120,
        "result_code": "talked",
    }
    return _add(session, CallAttempt(**(fields | overrides)))


def _add(session: Session, row: Row) -> Row:
    session.add(row)
    session.flush()
    return row


def make_shift(
    session: Session,
    campaign: Campaign,
    starts_at: datetime,
    *,
    hours: float = 3,
    clock: Clock | None = None,
    **overrides: Any,
) -> Shift:
    """A shift of `campaign` from `starts_at`, `hours` long, without a channel."""
    fields: dict[str, Any] = {
        "campaign_id": campaign.id,
        "title": f"Shift {_next()}",
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(hours=hours),
        "created_at": _now(clock),
    }
    return _add(session, Shift(**(fields | overrides)))


def make_signup(
    session: Session,
    shift: Shift,
    volunteer: Volunteer,
    *,
    clock: Clock | None = None,
    **overrides: Any,
) -> ShiftSignup:
    """`volunteer` signed up for `shift`."""
    fields: dict[str, Any] = {
        "shift_id": shift.id,
        "volunteer_id": volunteer.id,
        "created_at": _now(clock),
    }
    return _add(session, ShiftSignup(**(fields | overrides)))
