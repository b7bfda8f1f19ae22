"""The tables. Every timestamp is UTC (see `storage.types.UTCDateTime`).

Status-like columns are plain strings checked by the code (see the `StrEnum`s), so adding a
value never needs a database enum migration.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, String, Text, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

import storage.claim_function  # noqa: F401  (creates the claim function with the tables)
from storage.types import JSONDocument, UTCDateTime


def _json(default_factory: Any) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSONDocument, nullable=False))


def _utc(**kwargs: Any) -> Any:
    nullable = kwargs.pop("nullable", False)
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, **kwargs))


# "Never attempted" for `Voter.available_at`: a real timestamp, so the column can stay NOT NULL
# and sort the same way on both databases (NULLs sort first on SQLite, last on PostgreSQL).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _where(condition: str) -> dict[str, Any]:
    """The same partial-index condition on both databases."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


# Voters a claim may take: in the pool and not held by an open batch. Every claim index below is
# partial on this, so claimed and finished voters drop out of the indexes the claim walks.
_IN_POOL = "status = 'ready' AND batch_id IS NULL"
# Open batch cards and items: what the "never in two open batches" unique indexes cover.
_OPEN = "released_at IS NULL"
_UNDECIDED = "decided_at IS NULL"


class VolunteerStatus(StrEnum):
    APPLICANT = "applicant"
    TRAINED = "trained"
    CERTIFIED = "certified"
    SUSPENDED = "suspended"  # by an organizer: no batches, no calls until reinstated


class VoterStatus(StrEnum):
    READY = "ready"  # in the pool
    DONE = "done"  # a terminal result was logged
    REVIEW = "review"  # an outcome logged without a placed call waits for an organizer
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
    # Rung instead of the phone when set: a SIP address ("sip:maria@example.sip.twilio.com").
    sip_address: str | None = Field(default=None, max_length=200)
    # Rung in the browser instead (the softphone page, `/phonebank softphone`), when true.
    softphone: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # Signed into every softphone link; `softphone off` bumps it, voiding the links given before.
    softphone_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    email: str | None = Field(default=None, max_length=320)
    area_code: str | None = Field(default=None, max_length=3)
    languages: list[str] = _json(list)
    status: str = Field(default=VolunteerStatus.APPLICANT, max_length=16)
    sms_consent: bool = False
    sms_opted_out: bool = False
    # Why texts cannot reach the phone (Twilio 21614 "not a mobile", 21635 "landline"); None: they can.
    sms_undeliverable: str | None = Field(default=None, max_length=64)
    phone_verified_at: datetime | None = _utc(nullable=True)
    # Left the public leaderboard (`leaderboard hide`); still counted in team totals.
    leaderboard_hidden: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
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


class ChatWorkspace(SQLModel, table=True):
    """A Slack workspace, Discord guild or the local console, and the campaign it works on."""

    __tablename__ = "chat_workspace"
    __table_args__ = (
        UniqueConstraint("platform", "workspace", name="uq_chat_workspace_platform_workspace"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    workspace: str = Field(max_length=64)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id")
    updated_by: str | None = Field(default=None, max_length=100)  # platform:user_id
    updated_at: datetime = _utc()


class Voter(SQLModel, table=True):
    __table_args__ = (
        # One voter per (campaign, external id), or per (campaign, name + phone) without an id:
        # the importer's upsert key.
        UniqueConstraint("campaign_id", "dedupe_key", name="uq_voter_campaign_key"),
        # Households: everyone on one phone in a campaign, for the call card.
        Index("ix_voter_campaign_phone", "campaign_id", "phone"),
        # The claim walks one of these per matching tier (matching/claims.py): equality on
        # campaign, language and the tier's key, then already in call order (priority, fewest
        # attempts, oldest last attempt = earliest `available_at`), so `LIMIT n` stops after
        # about n rows instead of sorting the list.
        Index(
            "ix_voter_pool_area",
            "campaign_id",
            "language",
            "area_code",
            "priority",
            "attempts",
            "available_at",
            **_where(_IN_POOL),
        ),
        Index(
            "ix_voter_pool_state",
            "campaign_id",
            "language",
            "state",
            "priority",
            "attempts",
            "available_at",
            **_where(_IN_POOL),
        ),
        Index(
            "ix_voter_pool_zone",
            "campaign_id",
            "language",
            "calling_zone_key",
            "priority",
            "attempts",
            "available_at",
            **_where(_IN_POOL),
        ),
        Index(
            "ix_voter_pool_any",
            "campaign_id",
            "language",
            "priority",
            "attempts",
            "available_at",
            **_where(_IN_POOL),
        ),
        # The distinct zone keys of a campaign (a loose index scan: a few probes, not the list),
        # and the voters whose key still has to be resolved.
        Index("ix_voter_campaign_zone_key", "campaign_id", "calling_zone_key"),
        Index("ix_voter_zone_unresolved", "campaign_id", **_where("calling_zone_key IS NULL")),
        # "Which voters does this open batch hold": lease sweep and release.
        Index("ix_voter_batch", "batch_id", **_where("batch_id IS NOT NULL")),
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
    priority: int = 0  # lower is called first (priority 1 before 2), as on walk and call lists
    status: str = Field(default=VoterStatus.READY, max_length=16)
    attempts: int = 0
    last_attempt_at: datetime | None = _utc(nullable=True)
    last_result: str | None = Field(default=None, max_length=32)
    # The zones whose calling hours apply (matching/zones.py), space-separated and sorted:
    # from state/ZIP when known, else the number's. "" = no geographic zone (never callable);
    # None = not resolved yet (the claim resolves it).
    calling_zone_key: str | None = Field(default=None, max_length=200)
    # Earliest next call: last attempt + the campaign's minimum gap (EPOCH: never attempted).
    available_at: datetime = Field(
        default=EPOCH, sa_column=Column(UTCDateTime(), nullable=False, default=EPOCH)
    )
    batch_id: int | None = Field(default=None, foreign_key="batch.id")  # the open batch holding it
    # Set by a "language barrier" result: the language heard; `language` is switched to it so the
    # voter goes to a volunteer who speaks it.
    language_heard: str | None = Field(default=None, max_length=16)
    attributes: dict[str, Any] = _json(dict)
    row_hash: str = Field(max_length=32)  # of the imported fields: tells "updated" from "unchanged"
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class Batch(SQLModel, table=True):
    __table_args__ = (
        # The lease sweep: open batches whose lease ran out.
        Index("ix_batch_open_expires", "expires_at", **_where("closed_at IS NULL")),
        # A retried claim request finds the batch its first attempt made (handlers/batch.py).
        Index("uq_batch_request_key", "request_key", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", index=True)
    claimed_at: datetime = _utc()
    last_activity_at: datetime = _utc()
    expires_at: datetime = _utc()  # last activity + the campaign's lease
    closed_at: datetime | None = _utc(nullable=True)
    close_reason: str | None = Field(default=None, max_length=32)
    # The chat request that claimed it (Context.request_key): the same on every retry.
    request_key: str | None = Field(default=None, max_length=200)


class BatchCard(SQLModel, table=True):
    """One phone on a batch: the call card. Household members on that phone share it."""

    __tablename__ = "batch_card"
    __table_args__ = (
        # No phone in two open batches of a campaign, whatever the claim code does.
        Index("uq_batch_card_open_phone", "campaign_id", "phone", unique=True, **_where(_OPEN)),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    phone: str = Field(max_length=20)
    position: int = 0  # order on the batch
    match_reason: str = Field(default="", max_length=200)  # "same area code 512; speaks Spanish"
    assigned_at: datetime = _utc()
    released_at: datetime | None = _utc(nullable=True)


class BatchItem(SQLModel, table=True):
    """One voter on a card, from claim until an outcome, release or lease expiry."""

    __tablename__ = "batch_item"
    __table_args__ = (
        # No voter in two open batches, whatever the claim code does.
        Index("uq_batch_item_open_voter", "voter_id", unique=True, **_where(_OPEN)),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    card_id: int = Field(foreign_key="batch_card.id", index=True)
    voter_id: int = Field(foreign_key="voter.id", index=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    assigned_at: datetime = _utc()
    released_at: datetime | None = _utc(nullable=True)
    release_reason: str | None = Field(default=None, max_length=32)  # outcome|released|expired|...
    outcome_at: datetime | None = _utc(nullable=True)
    result_code: str | None = Field(default=None, max_length=32)


class CallSession(SQLModel, table=True):
    """A volunteer's phone, rung once and kept up while each voter of a batch is dialed from it."""

    __tablename__ = "call_session"
    __table_args__ = (
        # The live session of a batch: a Call press continues it instead of ringing again.
        Index("ix_call_session_open_batch", "batch_id", **_where("ended_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", index=True)
    batch_id: int = Field(foreign_key="batch.id")
    call_sid: str | None = Field(default=None, max_length=64, unique=True)  # the volunteer's leg
    status: str = Field(default="placing", max_length=16)  # Twilio's call statuses, forward only
    # The attempt to dial next (set by a Call press), or being dialed now.
    current_attempt_id: int | None = Field(default=None)
    started_at: datetime = _utc()
    answered_at: datetime | None = _utc(nullable=True)
    ended_at: datetime | None = _utc(nullable=True)
    end_reason: str | None = Field(default=None, max_length=32)
    # The last webhook of an idle live call (a keypad wait), at most once a minute: the sweep
    # of sessions that died without a hang-up (matching/sessions.py) tells them from dead ones.
    last_heard_at: datetime | None = _utc(nullable=True)


class CallAttempt(SQLModel, table=True):
    __tablename__ = "call_attempt"
    __table_args__ = (
        # Retried chat requests: a second press of the same Call, or a second submit of the same
        # outcome, finds this row instead of calling or logging again.
        Index("uq_call_attempt_request_key", "request_key", unique=True),
        Index("uq_call_attempt_outcome_key", "outcome_key", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    voter_id: int = Field(foreign_key="voter.id", index=True)
    volunteer_id: int | None = Field(default=None, foreign_key="volunteer.id", index=True)
    batch_id: int | None = Field(default=None, foreign_key="batch.id", index=True)
    # The voter's leg (Twilio's child call) or, without sessions, the simulated call.
    call_sid: str | None = Field(default=None, max_length=64, unique=True)
    call_status: str | None = Field(default=None, max_length=16)
    session_id: int | None = Field(default=None, foreign_key="call_session.id", index=True)
    error_code: int | None = None  # Twilio's error code when the call failed
    started_at: datetime = _utc()
    ended_at: datetime | None = _utc(nullable=True)
    duration_s: int | None = None
    result_code: str | None = Field(default=None, max_length=32)
    survey: dict[str, Any] = _json(dict)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    request_key: str | None = Field(default=None, max_length=200)  # the request that placed it
    outcome_key: str | None = Field(default=None, max_length=200)  # the request that logged it
    logged_at: datetime | None = _utc(nullable=True)  # when its outcome was logged (edit window)


class OutcomeReview(SQLModel, table=True):
    """An outcome a volunteer logged on a card nobody called through Phonebank (a campaign with
    manual dialing) that would change shared data: it waits here for an organizer, and the voter
    waits out of the pool (`VoterStatus.REVIEW`)."""

    __tablename__ = "outcome_review"
    __table_args__ = (
        # A retried submit finds the review its first attempt made.
        Index("uq_outcome_review_request_key", "request_key", unique=True),
        # The queue: a campaign's reviews still waiting, oldest first.
        Index("ix_outcome_review_waiting", "campaign_id", "submitted_at", **_where(_UNDECIDED)),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    batch_id: int = Field(foreign_key="batch.id")
    voter_id: int = Field(foreign_key="voter.id", index=True)
    volunteer_id: int | None = Field(default=None, foreign_key="volunteer.id")
    submitted_by: str = Field(max_length=100)  # platform:user_id
    result_code: str = Field(max_length=32)
    language_heard: str | None = Field(default=None, max_length=16)
    survey: dict[str, Any] = _json(dict)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    request_key: str | None = Field(default=None, max_length=200)
    submitted_at: datetime = _utc()
    decision: str | None = Field(default=None, max_length=16)  # approved | rejected
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: datetime | None = _utc(nullable=True)


class Shift(SQLModel, table=True):
    __table_args__ = (Index("ix_shift_starts_at", "starts_at"),)  # the scheduler's sweeps

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    title: str = Field(max_length=200)
    starts_at: datetime = _utc()
    ends_at: datetime = _utc()
    capacity: int | None = None
    created_at: datetime = _utc()
    # Where the shift is announced at its start (a channel on one platform), the zone its times
    # were given in, the language its callers need; None: not announced, the campaign's zone.
    platform: str | None = Field(default=None, max_length=16)
    channel: str | None = Field(default=None, max_length=100)
    time_zone: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=16)
    created_by: str | None = Field(default=None, max_length=200)
    cancelled_at: datetime | None = _utc(nullable=True)


class SignupStatus(StrEnum):
    SIGNED_UP = "signed_up"
    CONFIRMED = "confirmed"  # said "I'll be there" (or YES by SMS)
    WAITLISTED = "waitlisted"  # promoted in order of `created_at` when a place frees up
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"  # signed up, no call during the shift
    KEPT = "kept"  # signed up and called during the shift


class ShiftSignup(SQLModel, table=True):
    __tablename__ = "shift_signup"
    __table_args__ = (UniqueConstraint("shift_id", "volunteer_id"),)

    id: int | None = Field(default=None, primary_key=True)
    shift_id: int = Field(foreign_key="shift.id", index=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", index=True)
    status: str = Field(default=SignupStatus.SIGNED_UP, max_length=16)
    reminded_at: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc()
    confirmed_at: datetime | None = _utc(nullable=True)
    cancelled_at: datetime | None = _utc(nullable=True)


class SendLedger(SQLModel, table=True):
    """A message the bot sends on its own (a reminder, a shift start, a rally), written before
    it is sent: the unique key (job, recipient, kind) makes a job that runs twice send once
    (scheduling/ledger.py)."""

    __tablename__ = "send_ledger"
    __table_args__ = (UniqueConstraint("job", "recipient", "kind", name="uq_send_ledger_key"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64)
    recipient: str = Field(max_length=200)  # "volunteer:12", "slack:#phones"
    kind: str = Field(max_length=200)  # "shift:7:reminder:60:dm"
    status: str = Field(default="pending", max_length=16)  # pending, sent, failed
    owner: str = Field(max_length=64)  # the scheduler process that claimed it
    claimed_at: datetime = _utc()
    done_at: datetime | None = _utc(nullable=True)
    detail: str | None = Field(default=None, max_length=200)


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
    # Where the volunteer is: the page they read, then the quiz answers given so far this try
    # (one choice index a character), the tries that failed and when the last one failed.
    step: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    answers: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": text("''")})
    failures: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    failed_at: datetime | None = _utc(nullable=True)


class PracticeRound(SQLModel, table=True):
    """A practice batch of fictional voters (handlers/practice.py). Kept apart from `batch` and
    `call_attempt` on purpose: nothing that counts calls (stats, exports, leaderboards, goals)
    ever reads these tables, and nothing here is ever dialed."""

    __tablename__ = "practice_round"
    id: int | None = Field(default=None, primary_key=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", index=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    voters: int  # how many fictional voters the round has
    started_at: datetime = _utc()
    ended_at: datetime | None = _utc(nullable=True)


class PracticeCall(SQLModel, table=True):
    """A pretend call to the fictional voter at `position` of a practice round, and its result."""

    __tablename__ = "practice_call"
    __table_args__ = (UniqueConstraint("round_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="practice_round.id", index=True)
    position: int
    called_at: datetime = _utc()
    result_code: str | None = Field(default=None, max_length=32)
    logged_at: datetime | None = _utc(nullable=True)


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
    # What the card says above the script while this version is the newest (a broadcast's).
    title: str = Field(default="", max_length=200)
    talking_points: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Broadcast(SQLModel, table=True):
    """Rapid-response talking points and script change, from the form to every caller
    (handlers/broadcasts.py): waiting for a second organizer, scheduled, or sent."""

    __table_args__ = (Index("uq_broadcast_request_key", "request_key", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    title: str = Field(max_length=200)
    talking_points: str = Field(sa_column=Column(Text, nullable=False))
    scripts: dict[str, Any] = _json(dict)  # language -> new body; missing: unchanged
    audience: dict[str, Any] = _json(dict)  # {"kind": "everyone" | "languages" | ..., "values"}
    sms: bool = False
    status: str = Field(default="waiting", max_length=16)  # waiting | scheduled | sent
    send_at: datetime | None = _utc(nullable=True)
    author: str = Field(max_length=100)  # platform:user_id
    approved_by: str | None = Field(default=None, max_length=100)
    approved_at: datetime | None = _utc(nullable=True)
    version: int | None = None  # the script version it published
    script_id: int | None = Field(default=None, foreign_key="script.id")  # acks count on it
    recipients: int = 0  # volunteers it was sent to
    request_key: str | None = Field(default=None, max_length=200)
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)


class Question(SQLModel, table=True):
    """A volunteer's question to the organizers' channel of their platform (handlers/questions.py)."""

    __table_args__ = (Index("uq_question_request_key", "request_key", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    volunteer_id: int | None = Field(default=None, foreign_key="volunteer.id", index=True)
    asker: str = Field(max_length=100)  # platform:user_id
    platform: str = Field(max_length=16)
    workspace: str = Field(max_length=64)
    channel: str = Field(max_length=64)  # the organizers' channel it was posted to
    body: str = Field(sa_column=Column(Text, nullable=False))
    context: dict[str, Any] = _json(dict)  # the card's: voter first name, masked phone, ...
    status: str = Field(default="open", max_length=16)  # open | answered | resolved
    request_key: str | None = Field(default=None, max_length=200)
    asked_at: datetime = _utc()
    answered_at: datetime | None = _utc(nullable=True)
    reraised_at: datetime | None = _utc(nullable=True)
    resolved_at: datetime | None = _utc(nullable=True)
    resolved_by: str | None = Field(default=None, max_length=100)


class QuestionReply(SQLModel, table=True):
    __tablename__ = "question_reply"

    id: int | None = Field(default=None, primary_key=True)
    question_id: int = Field(foreign_key="question.id", index=True)
    author: str = Field(max_length=100)  # platform:user_id
    from_organizer: bool = False
    body: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = _utc()


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
    created_by: str | None = Field(default=None, max_length=100)  # platform:user_id; None: file
    # The campaign-local day coordinators were last told it is behind pace (once a day).
    alerted_on: date | None = None


class DashboardLink(SQLModel, table=True):
    """A one-time dashboard link DM'd to a coordinator: its token's SHA-256, who it is for, until
    when it may be exchanged for a session, and when it was (once)."""

    __tablename__ = "dashboard_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    platform: str = Field(max_length=16)
    workspace: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    campaign_id: int = Field(foreign_key="campaign.id")
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    used_at: datetime | None = _utc(nullable=True)


class DashboardSession(SQLModel, table=True):
    """A dashboard session a link was exchanged for: the cookie's SHA-256 and its end."""

    __tablename__ = "dashboard_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    link_id: int = Field(foreign_key="dashboard_link.id")
    platform: str = Field(max_length=16)
    workspace: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    campaign_id: int = Field(foreign_key="campaign.id")
    created_at: datetime = _utc()
    expires_at: datetime = _utc()


class CallRollup(SQLModel, table=True):
    """What the leaderboards and goals count, per volunteer, day and voter area, updated in the
    outcome's transaction (storage/rollup.py): sums over it equal a recount from call_attempt."""

    __tablename__ = "call_rollup"
    __table_args__ = (Index("ix_call_rollup_campaign_day", "campaign_id", "day"),)

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", primary_key=True)
    day: date = Field(primary_key=True)  # in the volunteer's own time zone
    area_code: str = Field(default="", max_length=3, primary_key=True)  # the voter's
    state: str = Field(default="", max_length=2, primary_key=True)
    language: str = Field(default="", max_length=16, primary_key=True)
    dials: int = 0
    contacts: int = 0
    surveys: int = 0
    pledges: int = 0
    supporters: int = 0


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


class SmsVerification(SQLModel, table=True):
    """A 6-digit code texted to a volunteer's phone; entering it links the phone to them."""

    __tablename__ = "sms_verification"

    id: int | None = Field(default=None, primary_key=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", index=True)
    phone: str = Field(max_length=20)
    code_hash: str = Field(max_length=128)  # never the code itself
    attempts: int = 0
    expires_at: datetime = _utc()
    verified_at: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc()


class SmsSend(SQLModel, table=True):
    """A text that costs money, sent because someone asked (a verification code): what the
    send limits count, per asker, per destination and per workspace (handlers/send_limits.py)."""

    __tablename__ = "sms_send"
    __table_args__ = (
        Index("ix_sms_send_asker", "asker", "sent_at"),
        Index("ix_sms_send_destination", "destination", "sent_at"),
        Index("ix_sms_send_workspace", "workspace", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    asker: str = Field(max_length=200)  # the chat identity: platform:workspace:user_id
    workspace: str = Field(max_length=100)  # platform:workspace
    destination: str = Field(max_length=20)  # E.164
    purpose: str = Field(max_length=32)
    sent_at: datetime = _utc()


class SmsInbound(SQLModel, table=True):
    """A text a volunteer sent us: keywords act at once, free text waits for an organizer."""

    __tablename__ = "sms_inbound"
    __table_args__ = (
        # Texts that look like an opt-out in words ("please stop texting me"), for review.
        Index("ix_sms_inbound_review", "received_at", **_where("needs_review")),
        # "Did this number text STOP?", asked before every text we send (handlers/texting.py).
        Index("ix_sms_inbound_from_phone", "from_phone", "keyword"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_sid: str = Field(max_length=64, unique=True)  # Twilio's: a repeated webhook is a no-op
    from_phone: str = Field(max_length=20)
    volunteer_id: int | None = Field(default=None, foreign_key="volunteer.id", index=True)
    body: str = Field(sa_column=Column(Text, nullable=False, default=""))
    keyword: str | None = Field(default=None, max_length=16)  # STOP, START, HELP, YES ...
    needs_review: bool = False
    reviewed_by: str | None = Field(default=None, max_length=100)
    received_at: datetime = _utc()
    # The auto-reply it got (HELP, START, FREE, REVIEW ...); None: none. Bounds the replies to a
    # sender (handlers/sms.py): one of a kind a day, and one ever to a number we do not know.
    reply_kind: str | None = Field(default=None, max_length=16)


class ProcessedEvent(SQLModel, table=True):
    """Idempotency keys: a platform's retry of an event finds its key here and does nothing."""

    __tablename__ = "processed_event"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    source: str = Field(max_length=32)
    created_at: datetime = _utc()
    result: dict[str, Any] = _json(dict)


class OutboxTask(SQLModel, table=True):
    """Work owed after an answer, written with (or before) it: storage/outbox.py runs it."""

    __tablename__ = "outbox"
    __table_args__ = (
        # What the worker looks for: unfinished rows, soonest due first.
        Index("ix_outbox_due", "due_at", "id", **_where("finished_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64)
    key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    payload: dict[str, Any] = _json(dict)
    created_at: datetime = _utc()
    due_at: datetime = _utc()
    attempts: int = 0
    finished_at: datetime | None = _utc(nullable=True)
    failed: bool = False  # finished without its effect: gave up after MAX_ATTEMPTS
    last_error: str | None = Field(default=None, max_length=500)
