"""Turnout goals: set in chat by coordinators or in the campaign file, shown with a progress bar,
the pace needed and a projection, and an alert to coordinators when one falls behind pace.

A goal counts a metric (dials, contacts, surveys, pledges, supporters) over a scope: the whole
campaign, a voter area code (`area:512`), state (`state:TX`), language (`language:es`), or a
team of the campaign file (`team:North`), from the rollup (storage/rollup.py). The current pace
is the average per day over the last `PACE_DAYS` campaign days, today included; the projection
carries it on to the deadline. A goal is behind pace when the projection falls short; the
alert for it goes out at most once per goal per campaign day (`goal.alerted_on`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, or_, select, update
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from handlers.campaigns import active_campaign
from handlers.context import Context, Services
from handlers.outbox import Task, outbox_handler, owe, owed
from handlers.refusal import Refusal
from handlers.replies import Fact, Reply, Section, Tone
from storage.campaign_config import CampaignConfig
from storage.campaign_store import campaign_config
from storage.db import read_session, session_scope
from storage.models import AuditLog, Campaign, ChatIdentity, Goal, Role
from storage.rollup import METRICS
from storage.standings import daily_totals, scope_filter, team_members

PACE_DAYS = 7
MAX_TARGET = 10_000_000
BAR_WIDTH = 10
SCOPE_FLAGS = {"--area": "area", "--state": "state", "--language": "language", "--team": "team"}
USAGE = (
    "`goal set METRIC TARGET [--area 512 | --state TX | --language es | --team NAME]"
    " [--by YYYY-MM-DD]`, METRIC one of " + ", ".join(METRICS)
)
ALERT = "goals.behind_pace"


@dataclass(frozen=True)
class Progress:
    goal_id: int | None
    scope: str
    metric: str
    target: int
    deadline: date | None
    done: int
    pace: float  # per day, over the last PACE_DAYS days
    needed: float | None  # per day from today to the deadline; None without a deadline
    projected: int | None  # at the current pace by the deadline
    from_file: bool

    @property
    def share(self) -> float:
        return min(self.done / self.target, 1.0) if self.target else 1.0


def _is_behind(p: Progress) -> bool:
    return p.projected is not None and p.done < p.target and p.projected < p.target


# --- setting a goal -----------------------------------------------------------------------------


def set_goal(ctx: Context, args: list[str]) -> Reply:
    """Set a turnout goal: `goal set contacts 5000 --area 512 --by 2026-11-03`."""
    current = active_campaign(ctx)
    now = ctx.services.clock.now()
    today = _today(current.config, now)
    metric, target, scope, deadline = parse_goal(args, current.config, today)
    with session_scope(ctx.services.engine) as session:
        existing = session.exec(
            select_rows(Goal).where(
                col(Goal.campaign_id) == current.id,
                col(Goal.scope) == scope,
                col(Goal.metric) == metric,
            )
        ).one_or_none()
        goal = existing or Goal(campaign_id=current.id, scope=scope, metric=metric, target=target)
        goal.target, goal.created_by, goal.alerted_on = target, ctx.identity, None
        goal.deadline = _end_of(deadline, current.config) if deadline else None
        goal.created_at = goal.created_at if existing else now
        session.add(goal)
        session.add(
            AuditLog(
                at=now,
                actor=ctx.identity,
                action="goal.set",
                target=f"goal:{scope}:{metric}",
                detail={"target": target, "deadline": deadline.isoformat() if deadline else None},
            )
        )
    by = f" by {deadline.isoformat()}" if deadline else ""
    verb = "Updated" if existing else "Set"
    return Reply(
        text=f"{verb} the goal: {target:,} {metric} for {describe_scope(scope)}{by}.",
        tone=Tone.SUCCESS,
    )


def parse_goal(
    args: list[str], config: CampaignConfig, today: date
) -> tuple[str, int, str, date | None]:
    """(metric, target, scope, deadline) from the words after `goal set`, or a refusal."""
    words = list(args)
    if len(words) < 2:
        raise Refusal(f"Say what and how many: {USAGE}.")
    metric, amount = words.pop(0).lower(), words.pop(0)
    if metric not in METRICS:
        raise Refusal(f"I can't count {metric!r} for a goal. Try {USAGE}.")
    _check_metric_defined(metric, config)
    target = _target(amount)
    scope, deadline = "campaign", None
    while words:
        flag = words.pop(0).lower()
        if not words:
            raise Refusal(f"{flag} needs a value. Try {USAGE}.")
        value = words.pop(0)
        if flag in SCOPE_FLAGS:
            if scope != "campaign":
                raise Refusal("A goal has one scope: an area, a state, a language or a team.")
            scope = make_scope(SCOPE_FLAGS[flag], value, config)
        elif flag == "--by":
            deadline = _deadline(value, today)
        else:
            raise Refusal(f"I don't know {flag!r}. Try {USAGE}.")
    return metric, target, scope, deadline


def _check_metric_defined(metric: str, config: CampaignConfig) -> None:
    if metric == "pledges" and config.pledge is None:
        raise Refusal("The campaign file does not say which survey answer is a pledge (`pledge:`).")
    if metric == "supporters" and config.supporter is None:
        raise Refusal(
            "The campaign file does not say which answer makes a supporter (`supporter:`)."
        )


def _target(amount: str) -> int:
    cleaned = amount.replace(",", "").replace("_", "")
    if not re.fullmatch(r"-?\d{1,12}", cleaned):
        raise Refusal(f"The target must be a whole number, not {amount!r}.")
    target = int(cleaned)
    if target <= 0:
        raise Refusal("The target must be more than zero.")
    if target > MAX_TARGET:
        raise Refusal(f"The target can be at most {MAX_TARGET:,}.")
    return target


def _deadline(value: str, today: date) -> date:
    try:
        deadline = date.fromisoformat(value)
    except ValueError:
        raise Refusal(f"The deadline must be a date like 2026-11-03, not {value!r}.") from None
    if deadline < today:
        raise Refusal(f"{deadline.isoformat()} has passed; pick today or a later day.")
    return deadline


def make_scope(kind: str, value: str, config: CampaignConfig) -> str:
    """The stored scope (`area:512`) for a flag's value, or a refusal saying what is wrong."""
    if kind == "area" and re.fullmatch(r"[2-9]\d\d", value):
        return f"area:{value}"
    if kind == "state" and re.fullmatch(r"[A-Za-z]{2}", value):
        return f"state:{value.upper()}"
    if kind == "language" and re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?", value):
        return f"language:{value.lower()}"
    if kind == "team":
        names = {team.name.lower(): team.name for team in config.teams}
        if value.lower() in names:
            return f"team:{names[value.lower()]}"
        known = ", ".join(sorted(names.values())) or "none in the campaign file"
        raise Refusal(f"There is no team {value!r} (teams: {known}).")
    raise Refusal(f"{value!r} is not a valid {kind}.")


def describe_scope(scope: str) -> str:
    """`area:512` -> `area code 512`."""
    kind, _, value = scope.partition(":")
    return {
        "campaign": "the campaign",
        "area": f"area code {value}",
        "state": value,
        "language": f"voters speaking {value}",
        "team": f"team {value}",
    }.get(kind, scope)


# --- showing goals --------------------------------------------------------------------------------


def show_goals(ctx: Context, args: list[str]) -> Reply:
    """The campaign's goals: progress, the pace needed and where the current pace leads."""
    current = active_campaign(ctx)
    now = ctx.services.clock.now()
    with session_scope(ctx.services.engine) as session:
        sync_file_goals(session, current.id, current.config, now)
    with read_session(ctx.services.engine) as session:
        progress = goal_progress(session.connection(), current.id, current.config, now)
    if not progress:
        return Reply(text="No goals yet. Coordinators set them with " + USAGE + ".")
    sections = tuple(_section(p) for p in progress)
    return Reply(
        text=f"Goals for {current.name} (pace: the daily average over the last {PACE_DAYS} days,"
        " today included).",
        sections=sections,
    )


def _section(p: Progress) -> Section:
    facts = [Fact("Done", f"{p.done:,} of {p.target:,} ({p.share:.0%})")]
    if p.deadline is not None:
        facts.append(Fact("Deadline", p.deadline.isoformat()))
        if p.needed is not None and p.done < p.target:
            facts.append(Fact("Pace needed", f"{math.ceil(p.needed):,} a day"))
    facts.append(Fact("Current pace", f"{p.pace:,.1f} a day"))
    if p.projected is not None:
        status = "behind pace" if _is_behind(p) else "on track"
        facts.append(Fact("Projection", f"{p.projected:,} by the deadline: {status}"))
    title = f"{p.metric.title()} for {describe_scope(p.scope)}"
    if p.metric not in METRICS:
        return Section(f"*{title}*: not counted by Phonebank yet")
    return Section(f"*{title}*\n`{progress_bar(p.share)}`", facts=tuple(facts))


def progress_bar(share: float, width: int = BAR_WIDTH) -> str:
    """`██████░░░░ 60%`."""
    filled = min(width, max(0, int(share * width + 1e-9)))
    return "█" * filled + "░" * (width - filled) + f" {share:.0%}"


def sync_file_goals(
    session: Session, campaign_id: int, config: CampaignConfig, now: datetime
) -> None:
    """Goals of the campaign file that have no row yet get one (the row keeps its alert day);
    a goal set in chat for the same scope and metric wins."""
    existing = {
        (g.scope, g.metric)
        for g in session.exec(select_rows(Goal).where(col(Goal.campaign_id) == campaign_id))
    }
    for goal in config.goals:
        if (goal.scope, goal.metric) not in existing:
            deadline = _end_of(goal.deadline, config) if goal.deadline else None
            session.add(
                Goal(
                    campaign_id=campaign_id,
                    scope=goal.scope,
                    metric=goal.metric,
                    target=goal.target,
                    deadline=deadline,
                    created_at=now,
                )
            )


def goal_progress(
    conn: Connection, campaign_id: int, config: CampaignConfig, now: datetime
) -> list[Progress]:
    """Every goal's progress, in the order they were set."""
    goals = conn.execute(
        select(Goal).where(col(Goal.campaign_id) == campaign_id).order_by(col(Goal.id))
    ).all()
    return [progress_of(conn, campaign_id, config, goal, now) for goal in goals]


def progress_of(
    conn: Connection, campaign_id: int, config: CampaignConfig, goal: Any, now: datetime
) -> Progress:
    """One goal's figures (a metric Phonebank does not count shows zero)."""
    today = _today(config, now)
    deadline = (
        goal.deadline.astimezone(ZoneInfo(config.time_zone)).date() if goal.deadline else None
    )
    from_file = goal.created_by is None
    if goal.metric not in METRICS:
        return Progress(
            goal.id, goal.scope, goal.metric, goal.target, deadline, 0, 0, None, None, from_file
        )
    try:
        members = _members(conn, config, campaign_id, goal.scope)
        where = scope_filter(goal.scope, members)
    except ValueError:
        return Progress(
            goal.id, goal.scope, "unknown scope", goal.target, deadline, 0, 0, None, None, from_file
        )
    per_day = daily_totals(conn, campaign_id, goal.metric, where, None)
    done = sum(per_day.values())
    first = today - timedelta(days=PACE_DAYS - 1)
    pace = sum(v for day, v in per_day.items() if first <= day <= today) / PACE_DAYS
    needed = projected = None
    if deadline is not None:
        days_left = (deadline - today).days + 1  # today included
        needed = max(goal.target - done, 0) / days_left
        projected = done + round(pace * (deadline - today).days)
    return Progress(
        goal.id,
        goal.scope,
        goal.metric,
        goal.target,
        deadline,
        done,
        pace,
        needed,
        projected,
        from_file,
    )


def _members(
    conn: Connection, config: CampaignConfig, campaign_id: int, scope: str
) -> list[int] | None:
    kind, _, value = scope.partition(":")
    return team_members(conn, config, campaign_id, value) if kind == "team" else None


def daily_series(
    conn: Connection, campaign_id: int, config: CampaignConfig, goal: Progress
) -> dict[date, int]:
    """A goal's metric per day (for the dashboard's burn-up)."""
    where = scope_filter(goal.scope, _members(conn, config, campaign_id, goal.scope))
    return daily_totals(conn, campaign_id, goal.metric, where, None)


# --- the behind-pace alert --------------------------------------------------------------------------


def alert_behind_pace(services: Services, campaign_id: int) -> int:
    """Owe coordinators an alert for each goal behind pace not alerted yet today (the scheduler
    calls this); how many goals were alerted. The day is claimed and the alert owed in one
    transaction, so two runs (or two schedulers) alert once."""
    now = services.clock.now()
    alerted = 0
    with session_scope(services.engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            return 0
        config = campaign_config(campaign)
        sync_file_goals(session, campaign_id, config, now)
        session.flush()
        conn = session.connection()
        today = _today(config, now)
        for p in goal_progress(conn, campaign_id, config, now):
            if p.goal_id is None or not _is_behind(p) or not _claim_day(conn, p.goal_id, today):
                continue
            text = (
                f"Behind pace: {p.metric} for {describe_scope(p.scope)} at {p.done:,} of"
                f" {p.target:,}; {math.ceil(p.needed or 0):,} a day are needed to {p.deadline},"
                f" and the last {PACE_DAYS} days averaged {p.pace:,.1f}."
            )
            owe(
                conn,
                ALERT,
                {"campaign_id": campaign_id, "text": text},
                key=f"{ALERT}:{p.goal_id}:{today}",
                now=now,
            )
            alerted += 1
    if alerted:
        owed(services)
    return alerted


def alert_all_behind_pace(services: Services) -> int:
    """`alert_behind_pace` for every campaign (the scheduler's job; hourly is enough)."""
    with read_session(services.engine) as session:
        ids = [int(i) for i in session.exec(select_rows(Campaign.id)) if i is not None]
    return sum(alert_behind_pace(services, campaign_id) for campaign_id in ids)


def _claim_day(conn: Connection, goal_id: int, today: date) -> bool:
    goal = Goal.__table__  # type: ignore[attr-defined]
    claimed = conn.execute(
        update(goal)
        .where(goal.c.id == goal_id, or_(goal.c.alerted_on.is_(None), goal.c.alerted_on < today))
        .values(alerted_on=today)
    )
    return bool(claimed.rowcount)


@outbox_handler(ALERT)
def send_alert(services: Services, task: Task) -> None:
    """Tell every coordinator (and admin) with a linked volunteer."""
    reply = Reply(text=str(task.payload["text"]), tone=Tone.WARNING)
    for volunteer_id in coordinators(services):
        services.notifier.to_volunteer(volunteer_id, reply)


def coordinators(services: Services) -> list[int]:
    """Volunteer ids of the chat users holding the coordinator or admin role."""
    with read_session(services.engine) as session:
        identities = session.exec(
            select_rows(ChatIdentity).where(col(ChatIdentity.volunteer_id).is_not(None))
        )
        wanted = {str(Role.COORDINATOR), str(Role.ADMIN)}
        return sorted(
            {
                int(i.volunteer_id or 0)
                for i in identities
                if wanted & set(i.roles or []) or f"{i.platform}:{i.user_id}" in services.admins
            }
        )


def _today(config: CampaignConfig, now: datetime) -> date:
    return now.astimezone(ZoneInfo(config.time_zone)).date()


def _end_of(day: date, config: CampaignConfig) -> datetime:
    """The last moment of `day` in the campaign's zone (a deadline is the whole day)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo(config.time_zone))
