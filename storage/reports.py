"""Campaign figures for coordinators, counted by the database (GROUP BY), never row by row."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, select
from sqlmodel import Session, col

from storage.attempts import was_rung
from storage.campaign_config import CampaignConfig, ResultKind
from storage.models import CallAttempt, Campaign, Voter, VoterStatus


@dataclass(frozen=True)
class ResultCount:
    """Attempts logged with one result code (`code` None: no result logged yet)."""

    code: str | None
    label: str
    kind: str | None  # contact | terminal | retry; None when the code is not in the config
    attempts: int
    today: int


@dataclass(frozen=True)
class CampaignStats:
    """What `phonebank stats` shows; `today` is the campaign's local date."""

    campaign: str
    time_zone: str
    today: date
    voters_total: int
    voters_by_status: dict[str, int]
    attempts: int
    contacts: int
    contact_rate: float | None  # contacts / attempts; None before the first attempt
    attempts_today: int
    contacts_today: int
    by_result: list[ResultCount]

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the date as ISO text)."""
        document = asdict(self)
        document["today"] = self.today.isoformat()
        return document


def campaign_stats(
    session: Session, campaign: Campaign, config: CampaignConfig, now: datetime
) -> CampaignStats:
    """Voters by status, attempts, contacts and today's share, in the campaign's time zone."""
    zone = _zone(config.time_zone)
    today = now.astimezone(zone).date()
    by_status = voters_by_status(session, campaign)
    by_result = attempts_by_result(session, campaign, config, local_day_bounds(today, zone))
    attempts = sum(r.attempts for r in by_result)
    contacts = sum(r.attempts for r in by_result if r.kind == ResultKind.CONTACT)
    return CampaignStats(
        campaign=campaign.slug,
        time_zone=config.time_zone,
        today=today,
        voters_total=sum(by_status.values()),
        voters_by_status=by_status,
        attempts=attempts,
        contacts=contacts,
        contact_rate=round(contacts / attempts, 4) if attempts else None,
        attempts_today=sum(r.today for r in by_result),
        contacts_today=sum(r.today for r in by_result if r.kind == ResultKind.CONTACT),
        by_result=by_result,
    )


def voters_by_status(session: Session, campaign: Campaign) -> dict[str, int]:
    """Voter counts per status; every known status is present, zero or not."""
    statement = (
        select(col(Voter.status), func.count())
        .where(col(Voter.campaign_id) == campaign.id)
        .group_by(col(Voter.status))
    )
    counts = {str(status): 0 for status in VoterStatus}
    for status, count in session.execute(statement):
        counts[status] = count
    return counts


def attempts_by_result(
    session: Session,
    campaign: Campaign,
    config: CampaignConfig,
    today: tuple[datetime, datetime],
) -> list[ResultCount]:
    """Attempts per result code, overall and inside `today` (a UTC [start, end) pair)."""
    started = col(CallAttempt.started_at)
    in_today = and_(started >= today[0], started < today[1])
    code = col(CallAttempt.result_code)
    statement = (
        select(code, func.count(), func.count().filter(in_today))
        .where(
            col(CallAttempt.campaign_id) == campaign.id,
            # A voter counted as dialed is a voter who was rung (storage/attempts.py).
            was_rung(col(CallAttempt.call_sid), col(CallAttempt.call_status), code),
        )
        .group_by(code)
    )
    counts = [_result_count(config, *row) for row in session.execute(statement)]
    return sorted(counts, key=_config_order(config))


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where `day` starts and ends in `zone` (23 or 25 hours on DST days)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"campaign time_zone {name!r} is not an IANA time zone") from None


def _result_count(
    config: CampaignConfig, code: str | None, attempts: int, today: int
) -> ResultCount:
    known = config.result_code(code) if code else None
    if known is None:
        label = "" if code else "(no result yet)"
        return ResultCount(code=code, label=label, kind=None, attempts=attempts, today=today)
    return ResultCount(
        code=code, label=known.label, kind=str(known.kind), attempts=attempts, today=today
    )


def _config_order(config: CampaignConfig) -> Any:
    position = {code.code: i for i, code in enumerate(config.result_codes)}

    def key(count: ResultCount) -> tuple[int, str]:
        return (position.get(count.code or "", len(position)), count.code or "")

    return key
