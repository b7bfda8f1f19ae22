"""The tables. Every timestamp is UTC (see `storage.types.UTCDateTime`).

Status-like columns are plain strings checked by the code (see the `StrEnum`s), so adding a
value never needs a database enum migration.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import JSONDocument, UTCDateTime


def _json(default_factory: Any) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSONDocument, nullable=False))


def _utc(**kwargs: Any) -> Any:
    nullable = kwargs.pop("nullable", False)
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, **kwargs))


class VolunteerStatus(StrEnum):
    APPLICANT = "applicant"
    TRAINED = "trained"
    CERTIFIED = "certified"


class VoterStatus(StrEnum):
    READY = "ready"  # in the pool
    DONE = "done"  # a terminal result was logged
    REMOVED = "removed"  # taken out by an organizer


class Role(StrEnum):
    VOLUNTEER = "volunteer"
    ORGANIZER = "organizer"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


class Campaign(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    config: dict[str, Any] = Field(sa_column=Column(JSONDocument, nullable=False))
    config_source: str = Field(sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class Volunteer(SQLModel, table=True):
    __table_args__ = (
        Index("uq_volunteer_phone", "phone", unique=True),
        Index("uq_volunteer_email", "email", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    phone: str | None = Field(default=None, max_length=20)  # E.164, verified later by SMS
    email: str | None = Field(default=None, max_length=320)
    area_code: str | None = Field(default=None, max_length=3)
    languages: list[str] = _json(list)
    status: str = Field(default=VolunteerStatus.APPLICANT, max_length=16)
    sms_consent: bool = False
    sms_opted_out: bool = False
    phone_verified_at: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class ChatIdentity(SQLModel, table=True):
    __tablename__ = "chat_identity"
    __table_args__ = (UniqueConstraint("platform", "workspace", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)  # slack | discord | console
    workspace: str = Field(max_length=64)  # Slack team id or Discord guild id
    user_id: str = Field(max_length=64)
    volunteer_id: int | None = Field(default=None, foreign_key="volunteer.id", index=True)
    roles: list[str] = _json(list)
    created_at: datetime = _utc()


class Voter(SQLModel, table=True):
    __table_args__ = (
        # One voter per (campaign, external id), or per (campaign, name + phone) without an id:
        # the importer's upsert key.
        UniqueConstraint("campaign_id", "dedupe_key", name="uq_voter_campaign_key"),
        # Households: everyone on one phone in a campaign, for the call card.
        Index("ix_voter_campaign_phone", "campaign_id", "phone"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    external_id: str | None = Field(default=None, max_length=64)
    dedupe_key: str = Field(max_length=300)
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    phone: str = Field(max_length=20)  # E.164
    area_code: str | None = Field(default=None, max_length=3)
    phone_region: str | None = Field(default=None, max_length=2)  # ISO country of the number
    state: str | None = Field(default=None, max_length=2)
    zip: str | None = Field(default=None, max_length=10)
    time_zones: str = Field(default="", max_length=200)  # space-separated IANA zones of the number
    language: str = Field(default="en", max_length=16)
    priority: int = 0
    status: str = Field(default=VoterStatus.READY, max_length=16)
    attempts: int = 0
    last_attempt_at: datetime | None = _utc(nullable=True)
    last_result: str | None = Field(default=None, max_length=32)
    attributes: dict[str, Any] = _json(dict)
    row_hash: str = Field(max_length=32)  # of the imported fields: tells "updated" from "unchanged"
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class Batch(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", index=True)
    claimed_at: datetime = _utc()
    expires_at: datetime = _utc()
    closed_at: datetime | None = _utc(nullable=True)
    close_reason: str | None = Field(default=None, max_length=32)


class CallAttempt(SQLModel, table=True):
    __tablename__ = "call_attempt"
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    voter_id: int = Field(foreign_key="voter.id", index=True)
    volunteer_id: int | None = Field(default=None, foreign_key="volunteer.id", index=True)
    batch_id: int | None = Field(default=None, foreign_key="batch.id", index=True)
    call_sid: str | None = Field(default=None, max_length=64, unique=True)
    call_status: str | None = Field(default=None, max_length=16)
    started_at: datetime = _utc()
    ended_at: datetime | None = _utc(nullable=True)
    duration_s: int | None = None
    result_code: str | None = Field(default=None, max_length=32)
    survey: dict[str, Any] = _json(dict)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Shift(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    title: str = Field(max_length=200)
    starts_at: datetime = _utc()
    ends_at: datetime = _utc()
    capacity: int | None = None
    created_at: datetime = _utc()


class ShiftSignup(SQLModel, table=True):
    __tablename__ = "shift_signup"
    __table_args__ = (UniqueConstraint("shift_id", "volunteer_id"),)

    id: int | None = Field(default=None, primary_key=True)
    shift_id: int = Field(foreign_key="shift.id", index=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", index=True)
    status: str = Field(default="signed_up", max_length=16)
    reminded_at: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc()


class TrainingProgress(SQLModel, table=True):
    __tablename__ = "training_progress"
    __table_args__ = (UniqueConstraint("volunteer_id", "campaign_id", "module"),)

    id: int | None = Field(default=None, primary_key=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", index=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    module: str = Field(max_length=64)
    score: int | None = None
    passed: bool = False
    completed_at: datetime | None = _utc(nullable=True)


class Script(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("campaign_id", "name", "language", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    name: str = Field(max_length=64)
    language: str = Field(default="en", max_length=16)
    version: int = 1
    body: str = Field(sa_column=Column(Text, nullable=False))
    rapid_response: bool = False
    created_by: str | None = Field(default=None, max_length=100)
    created_at: datetime = _utc()


class BroadcastAck(SQLModel, table=True):
    __tablename__ = "broadcast_ack"
    __table_args__ = (UniqueConstraint("script_id", "volunteer_id"),)

    id: int | None = Field(default=None, primary_key=True)
    script_id: int = Field(foreign_key="script.id", index=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", index=True)
    acked_at: datetime = _utc()


class Goal(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("campaign_id", "scope", "metric"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    scope: str = Field(default="campaign", max_length=64)
    metric: str = Field(max_length=32)
    target: int
    deadline: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc()


class DncEntry(SQLModel, table=True):
    """A phone nobody in any campaign may call."""

    __tablename__ = "dnc_entry"
    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=20, unique=True)
    source: str = Field(default="import", max_length=64)
    reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = _utc()


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc(index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=64)
    target: str | None = Field(default=None, max_length=200)
    detail: dict[str, Any] = _json(dict)


class ProcessedEvent(SQLModel, table=True):
    """Idempotency keys: a platform's retry of an event finds its key here and does nothing."""

    __tablename__ = "processed_event"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    source: str = Field(max_length=32)
    created_at: datetime = _utc()
    result: dict[str, Any] = _json(dict)
