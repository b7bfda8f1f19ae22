"""What the leaderboards and goals count, kept per volunteer, day and voter area (`call_rollup`).

A leaderboard or a goal must not scan every call attempt ever made, so each outcome refreshes
the rollup cells it touches in its own transaction: the cell of a volunteer's day is recounted
from that volunteer's attempts of that day (a few hundred rows at most), so the rollup always
equals a plain recount (`recount`), whatever order outcomes and corrections come in.

Counted (`counted`): attempts with a logged outcome and a volunteer. A dial is such an attempt;
a contact one whose result is of kind `contact`; a survey answer one with at least one answer;
a pledge or a supporter one whose survey answers match the campaign's `pledge` or `supporter`.
The day is the volunteer's own (the time zone of their phone, else the campaign's), so a
streak follows their midnight, not the server's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone
from sqlalchemy import ColumnElement, Connection, and_, delete, insert, select, text
from sqlmodel import SQLModel

from storage.campaign_config import CampaignConfig, ResultKind, SurveyMatch
from storage.reports import local_day_bounds

METRICS = ("dials", "contacts", "surveys", "pledges", "supporters")

ATTEMPT = SQLModel.metadata.tables["call_attempt"]
VOTER = SQLModel.metadata.tables["voter"]
VOLUNTEER = SQLModel.metadata.tables["volunteer"]
ROLLUP = SQLModel.metadata.tables["call_rollup"]

ADVISORY_SPACE = 16016  # pg_advisory_xact_lock(ADVISORY_SPACE, volunteer id): a rollup recount
CellKey = tuple[str, str, str]  # the voter's area code, state, language


def counted(attempt: Any = ATTEMPT) -> ColumnElement[bool]:
    """SQL: the attempts the numbers count. The one place to leave practice rounds out
    (issue 13 marks them on call_attempt): add `attempt.c.practice.is_(False)` here."""
    return and_(attempt.c.result_code.is_not(None), attempt.c.volunteer_id.is_not(None))


def refresh_voters(conn: Connection, config: CampaignConfig, voter_ids: Iterable[int]) -> None:
    """Recount the rollup cells of every counted attempt on these voters (an outcome's call)."""
    ids = sorted(set(voter_ids))
    if not ids:
        return
    rows = conn.execute(
        select(ATTEMPT.c.campaign_id, ATTEMPT.c.volunteer_id, ATTEMPT.c.started_at).where(
            ATTEMPT.c.voter_id.in_(ids), counted()
        )
    ).all()
    _refresh_days(conn, config, rows)


def refresh_attempt(conn: Connection, config: CampaignConfig, attempt_id: int) -> None:
    """Recount the rollup cell of one attempt (its survey answers were corrected)."""
    rows = conn.execute(
        select(ATTEMPT.c.campaign_id, ATTEMPT.c.volunteer_id, ATTEMPT.c.started_at).where(
            ATTEMPT.c.id == attempt_id, counted()
        )
    ).all()
    _refresh_days(conn, config, rows)


def _refresh_days(conn: Connection, config: CampaignConfig, rows: Iterable[Any]) -> None:
    days: dict[tuple[int, int], set[date]] = defaultdict(set)
    zones: dict[int, ZoneInfo] = {}
    for campaign_id, volunteer_id, started_at in rows:
        if volunteer_id not in zones:
            zones[volunteer_id] = volunteer_zone(conn, volunteer_id, config.time_zone)
        days[(campaign_id, volunteer_id)].add(started_at.astimezone(zones[volunteer_id]).date())
    if conn.dialect.name == "postgresql":
        # Two transactions recounting one volunteer's day at once would each miss the other's
        # attempt (and collide on the insert): one at a time per volunteer, in id order. The
        # advisory lock's own key space cannot deadlock with the row locks outcomes take.
        for volunteer_id in sorted({v for _, v in days}):
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:space, :volunteer)"),
                {"space": ADVISORY_SPACE, "volunteer": volunteer_id},
            )
    for (campaign_id, volunteer_id), dates in sorted(days.items()):
        for day in sorted(dates):
            _recount_day(conn, config, campaign_id, volunteer_id, day, zones[volunteer_id])


def _recount_day(
    conn: Connection,
    config: CampaignConfig,
    campaign_id: int,
    volunteer_id: int,
    day: date,
    zone: ZoneInfo,
) -> None:
    start, end = local_day_bounds(day, zone)
    attempts = conn.execute(
        _attempts_with_voter().where(
            ATTEMPT.c.campaign_id == campaign_id,
            ATTEMPT.c.volunteer_id == volunteer_id,
            ATTEMPT.c.started_at >= start,
            ATTEMPT.c.started_at < end,
            counted(),
        )
    ).all()
    cells = tally(config, attempts)
    conn.execute(
        delete(ROLLUP).where(
            ROLLUP.c.campaign_id == campaign_id,
            ROLLUP.c.volunteer_id == volunteer_id,
            ROLLUP.c.day == day,
        )
    )
    if cells:
        conn.execute(
            insert(ROLLUP),
            [
                {
                    "campaign_id": campaign_id,
                    "volunteer_id": volunteer_id,
                    "day": day,
                    "area_code": key[0],
                    "state": key[1],
                    "language": key[2],
                    **counts,
                }
                for key, counts in sorted(cells.items())
            ],
        )


def _attempts_with_voter() -> Any:
    return select(
        ATTEMPT.c.result_code,
        ATTEMPT.c.survey,
        VOTER.c.area_code,
        VOTER.c.state,
        VOTER.c.language,
    ).join(VOTER, VOTER.c.id == ATTEMPT.c.voter_id)


def tally(config: CampaignConfig, attempts: Iterable[Any]) -> dict[CellKey, dict[str, int]]:
    """Per voter area: each metric's count over these attempts (only cells with a dial)."""
    contact_codes = {c.code for c in config.result_codes if c.kind is ResultKind.CONTACT}
    cells: dict[CellKey, dict[str, int]] = {}
    for code, survey, area, state, language in attempts:
        key = ((area or "")[:3], (state or "")[:2], (language or "")[:16])
        counts = cells.setdefault(key, dict.fromkeys(METRICS, 0))
        answers = survey or {}
        counts["dials"] += 1
        counts["contacts"] += code in contact_codes
        counts["surveys"] += bool(answers)
        counts["pledges"] += _matches(config.pledge, answers)
        counts["supporters"] += _matches(config.supporter, answers)
    return cells


def _matches(match: SurveyMatch | None, answers: Mapping[str, Any]) -> bool:
    if match is None:
        return False
    given = answers.get(match.question)
    chosen = given if isinstance(given, list) else [given]
    return any(str(answer) in match.answers for answer in chosen if answer is not None)


def volunteer_zone(conn: Connection, volunteer_id: int, fallback: str) -> ZoneInfo:
    """The volunteer's own time zone: their phone's, else the campaign's."""
    phone = conn.execute(
        select(VOLUNTEER.c.phone).where(VOLUNTEER.c.id == volunteer_id)
    ).scalar_one_or_none()
    return zone_named(phone_zone(phone) or fallback)


@lru_cache(maxsize=65536)
def phone_zone(phone: str | None) -> str | None:
    """The first time zone of a phone number, if it names one."""
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone, "US")
    except phonenumbers.NumberParseException:
        return None
    zones = [z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    return sorted(zones)[0] if zones else None


@lru_cache(maxsize=256)
def zone_named(name: str) -> ZoneInfo:
    """The zone of that name (UTC when the name is not a zone)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class RollupRow:
    volunteer_id: int
    day: date
    area_code: str
    state: str
    language: str
    counts: tuple[int, ...]  # in METRICS order


def recount(conn: Connection, config: CampaignConfig, campaign_id: int) -> set[RollupRow]:
    """The rollup as a plain recount from call_attempt would make it (for tests and checks)."""
    rows = conn.execute(
        _attempts_with_voter()
        .add_columns(ATTEMPT.c.volunteer_id, ATTEMPT.c.started_at)
        .where(ATTEMPT.c.campaign_id == campaign_id, counted())
    ).all()
    by_day: dict[tuple[int, date], list[Any]] = defaultdict(list)
    for row in rows:
        zone = volunteer_zone(conn, row.volunteer_id, config.time_zone)
        by_day[(row.volunteer_id, row.started_at.astimezone(zone).date())].append(row[:5])
    return {
        RollupRow(volunteer, day, *key, tuple(counts[m] for m in METRICS))
        for (volunteer, day), attempts in by_day.items()
        for key, counts in tally(config, attempts).items()
    }


def stored(conn: Connection, campaign_id: int) -> set[RollupRow]:
    """The rollup as stored, in `recount`'s shape."""
    rows = conn.execute(select(ROLLUP).where(ROLLUP.c.campaign_id == campaign_id)).all()
    return {
        RollupRow(
            r.volunteer_id,
            r.day,
            r.area_code,
            r.state,
            r.language,
            tuple(getattr(r, m) for m in METRICS),
        )
        for r in rows
    }


def rebuild(conn: Connection, config: CampaignConfig, campaign_id: int) -> int:
    """Replace a campaign's rollup with a recount (after a migration or a config change of what
    counts as a pledge); the rows written."""
    rows = recount(conn, config, campaign_id)
    conn.execute(delete(ROLLUP).where(ROLLUP.c.campaign_id == campaign_id))
    if rows:
        conn.execute(
            insert(ROLLUP),
            [
                {
                    "campaign_id": campaign_id,
                    "volunteer_id": r.volunteer_id,
                    "day": r.day,
                    "area_code": r.area_code,
                    "state": r.state,
                    "language": r.language,
                    **dict(zip(METRICS, r.counts, strict=True)),
                }
                for r in rows
            ],
        )
    return len(rows)
