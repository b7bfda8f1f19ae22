"""Leaderboards and goal progress, summed from the rollup (storage/rollup.py), never from every
call attempt: the cost follows the rows of the period asked for, not the campaign's history.

Ranks are shared by ties (1, 2, 2, 4), and tied rows are ordered by name. A streak is the run of
days with a dial that ends on the volunteer's own today or yesterday (a streak is not broken
before their day is over). Follow-through is shifts kept of shifts signed up, from shift_signup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, select, text, true
from sqlmodel import SQLModel

from storage.campaign_config import CampaignConfig
from storage.rollup import METRICS, ROLLUP, VOLUNTEER, phone_zone, zone_named

BOARD_METRICS = (*METRICS, "streak", "shifts")
CHAT_IDENTITY = SQLModel.metadata.tables["chat_identity"]
SHIFT = SQLModel.metadata.tables["shift"]
SIGNUP = SQLModel.metadata.tables["shift_signup"]
STREAK_LOOKBACK_DAYS = 400  # a streak longer than this shows as this
KEPT = ("kept",)  # shift_signup.status values that count as kept (issue 15's shifts)
NOT_COUNTED = ("cancelled", "waitlisted")


@dataclass(frozen=True)
class Period:
    """Days [first, last], inclusive; first None: since the start."""

    name: str  # today | week | all
    first: date | None
    last: date


def period(name: str, today: date) -> Period:
    """today, week (from Monday) or all, ending on `today`."""
    if name == "today":
        return Period(name, today, today)
    if name == "week":
        return Period(name, today - timedelta(days=today.weekday()), today)
    if name == "all":
        return Period(name, None, today)
    raise ValueError(f"unknown period {name!r}")


@dataclass(frozen=True)
class Standing:
    rank: int
    name: str
    value: float  # a count, a streak in days, or a share kept (0..1) for follow-through
    tied: bool
    key: str  # "volunteer:12" or "team:North"


def ranked(entries: Iterable[tuple[str, str, float]]) -> list[Standing]:
    """(key, name, value) ranked high to low; ties share a rank, ordered by name; zeros left out."""
    rows = sorted((e for e in entries if e[2] > 0), key=lambda e: (-e[2], e[1].casefold(), e[0]))
    counts: dict[float, int] = defaultdict(int)
    for _, _, value in rows:
        counts[value] += 1
    standings: list[Standing] = []
    for position, (key, name, value) in enumerate(rows, start=1):
        rank = standings[-1].rank if standings and standings[-1].value == value else position
        standings.append(Standing(rank, name, value, counts[value] > 1, key))
    return standings


def _in_period(p: Period) -> ColumnElement[bool]:
    clauses = [ROLLUP.c.day <= p.last]
    if p.first is not None:
        clauses.append(ROLLUP.c.day >= p.first)
    return and_(*clauses)


def volunteer_totals(conn: Connection, campaign_id: int, metric: str, p: Period) -> dict[int, int]:
    """A rollup metric summed per volunteer over the period."""
    column = ROLLUP.c[metric]
    rows = conn.execute(
        select(ROLLUP.c.volunteer_id, func.sum(column))
        .where(ROLLUP.c.campaign_id == campaign_id, _in_period(p))
        .group_by(ROLLUP.c.volunteer_id)
    ).all()
    return {volunteer_id: int(total or 0) for volunteer_id, total in rows}


def streaks(
    conn: Connection, campaign_id: int, fallback_zone: str, now: datetime
) -> dict[int, int]:
    """Each volunteer's current streak: days in a row with a dial, ending on their own today
    or yesterday. The runs of consecutive days are found by the database (a day minus its rank
    is constant along a run), so only each volunteer's latest run comes back."""
    latest_possible = now.date() + timedelta(days=1)  # the earliest zone's today
    rows = conn.execute(
        _latest_runs(conn.dialect.name),
        {
            "campaign_id": campaign_id,
            "since": now.date() - timedelta(days=STREAK_LOOKBACK_DAYS + 2),
            "recent": latest_possible - timedelta(days=3),
        },
    ).all()
    result = {}
    for volunteer_id, last_day, length, phone in rows:
        last = last_day if isinstance(last_day, date) else date.fromisoformat(str(last_day))
        today = now.astimezone(zone_named(phone_zone(phone) or fallback_zone)).date()
        if today - timedelta(days=1) <= last <= today:
            result[volunteer_id] = min(int(length), STREAK_LOOKBACK_DAYS)
    return result


def _latest_runs(dialect: str) -> Any:
    """SQL: per volunteer, each run of consecutive dial days ending recently, its last day and
    length, with the volunteer's phone (for their time zone)."""
    island = "julianday(day) - rn" if dialect == "sqlite" else "day - CAST(rn AS integer)"
    return text(
        f"""
        SELECT r.volunteer_id, max(r.day) AS last_day, count(*) AS length, v.phone
        FROM (
            SELECT volunteer_id, day, {island} AS island
            FROM (
                SELECT volunteer_id, day,
                       row_number() OVER (PARTITION BY volunteer_id ORDER BY day) AS rn
                FROM (
                    SELECT DISTINCT volunteer_id, day FROM call_rollup
                    WHERE campaign_id = :campaign_id AND dials > 0 AND day >= :since
                ) AS d
            ) AS ranked
        ) AS r
        JOIN volunteer v ON v.id = r.volunteer_id
        GROUP BY r.volunteer_id, r.island, v.phone
        HAVING max(r.day) >= :recent
        """
    )


def streak_length(days: set[date], today: date) -> int:
    """The run of consecutive days in `days` ending today, or yesterday when today has none."""
    day = today if today in days else today - timedelta(days=1)
    length = 0
    while day in days and length < STREAK_LOOKBACK_DAYS:
        length += 1
        day -= timedelta(days=1)
    return length


def follow_through(conn: Connection, campaign_id: int, now: datetime) -> dict[int, float]:
    """Per volunteer: shifts kept / shifts signed up that have ended (cancelled and waitlisted
    signups left out)."""
    rows = conn.execute(
        select(
            SIGNUP.c.volunteer_id,
            func.count(),
            func.count().filter(SIGNUP.c.status.in_(KEPT)),
        )
        .join(SHIFT, SHIFT.c.id == SIGNUP.c.shift_id)
        .where(
            SHIFT.c.campaign_id == campaign_id,
            SHIFT.c.ends_at <= now,
            SIGNUP.c.status.not_in(NOT_COUNTED),
        )
        .group_by(SIGNUP.c.volunteer_id)
    ).all()
    return {volunteer_id: kept / total for volunteer_id, total, kept in rows if total}


def metric_values(
    conn: Connection,
    config: CampaignConfig,
    campaign_id: int,
    metric: str,
    p: Period,
    now: datetime,
) -> dict[int, float]:
    """Per volunteer, the metric's value for the period (streaks and follow-through: as of now)."""
    if metric == "streak":
        return {k: float(v) for k, v in streaks(conn, campaign_id, config.time_zone, now).items()}
    if metric == "shifts":
        return follow_through(conn, campaign_id, now)
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    return {k: float(v) for k, v in volunteer_totals(conn, campaign_id, metric, p).items()}


@dataclass(frozen=True)
class Person:
    volunteer_id: int
    name: str
    hidden: bool
    area_code: str | None
    identities: tuple[str, ...]  # platform:user_id
    email: str | None


def people(conn: Connection, volunteer_ids: Iterable[int]) -> dict[int, Person]:
    """Names, hide flags, area codes and chat identities of these volunteers."""
    ids = sorted(set(volunteer_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(
            VOLUNTEER.c.id,
            VOLUNTEER.c.name,
            VOLUNTEER.c.leaderboard_hidden,
            VOLUNTEER.c.area_code,
            VOLUNTEER.c.email,
        ).where(VOLUNTEER.c.id.in_(ids))
    ).all()
    identities: dict[int, list[str]] = defaultdict(list)
    for volunteer_id, platform, user_id in conn.execute(
        select(
            CHAT_IDENTITY.c.volunteer_id, CHAT_IDENTITY.c.platform, CHAT_IDENTITY.c.user_id
        ).where(CHAT_IDENTITY.c.volunteer_id.in_(ids))
    ):
        identities[volunteer_id].append(f"{platform}:{user_id}")
    return {
        r.id: Person(
            r.id, r.name, bool(r.leaderboard_hidden), r.area_code, tuple(identities[r.id]), r.email
        )
        for r in rows
    }


def teams_of(config: CampaignConfig, person: Person, by: str) -> list[str]:
    """The teams a volunteer is on: by area code, or the campaign file's named teams."""
    if by == "area":
        return [person.area_code] if person.area_code else []
    mine = {i.lower() for i in (*person.identities, person.email or "") if i}
    return [t.name for t in config.teams if mine & {m.lower() for m in t.members}]


def individual_board(values: dict[int, float], who: dict[int, Person]) -> list[Standing]:
    """Volunteers ranked; those who left the public ranking are not shown."""
    return ranked(
        (f"volunteer:{vid}", who[vid].name, value)
        for vid, value in values.items()
        if vid in who and not who[vid].hidden
    )


def team_board(
    config: CampaignConfig, values: dict[int, float], who: dict[int, Person], by: str, metric: str
) -> list[Standing]:
    """Teams ranked by their members' total (hidden members count); follow-through and streaks
    are the members' average."""
    members: dict[str, list[float]] = defaultdict(list)
    for vid, value in values.items():
        if vid in who:
            for team in teams_of(config, who[vid], by):
                members[team].append(value)
    average = metric in ("shifts", "streak")
    return ranked(
        (
            f"team:{team}",
            team,
            round(sum(vs) / len(vs), 2) if average else sum(vs),
        )
        for team, vs in members.items()
    )


def scope_filter(scope: str, volunteer_ids: Sequence[int] | None) -> ColumnElement[bool]:
    """SQL over the rollup for a goal's scope: campaign, area:512, state:TX, language:es,
    team:NAME (`volunteer_ids`: the team's members)."""
    kind, _, value = scope.partition(":")
    if kind == "campaign":
        return true()
    if kind == "area":
        return ROLLUP.c.area_code == value
    if kind == "state":
        return ROLLUP.c.state == value.upper()
    if kind == "language":
        return ROLLUP.c.language == value.lower()
    if kind == "team":
        return ROLLUP.c.volunteer_id.in_(list(volunteer_ids or []) or [-1])
    raise ValueError(f"unknown scope {scope!r}")


def daily_totals(
    conn: Connection, campaign_id: int, metric: str, where: ColumnElement[bool], since: date | None
) -> dict[date, int]:
    """A metric per day (rollup days) for a goal's scope."""
    column = ROLLUP.c[metric]
    statement = (
        select(ROLLUP.c.day, func.sum(column))
        .where(ROLLUP.c.campaign_id == campaign_id, where)
        .group_by(ROLLUP.c.day)
    )
    if since is not None:
        statement = statement.where(ROLLUP.c.day >= since)
    return {day: int(total or 0) for day, total in conn.execute(statement).all()}


def team_members(
    conn: Connection, config: CampaignConfig, campaign_id: int, team: str
) -> list[int]:
    """The volunteers of a named team, or of an area-code team, who have counted calls."""
    ids = [
        r[0]
        for r in conn.execute(
            select(ROLLUP.c.volunteer_id).where(ROLLUP.c.campaign_id == campaign_id).distinct()
        )
    ]
    return [
        p.volunteer_id for p in people(conn, ids).values() if team in teams_of(config, p, "team")
    ]
