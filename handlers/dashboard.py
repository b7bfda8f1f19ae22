"""The coordinators' dashboard: the one-time link, the session it becomes, and the figures the
pages show (bot/dashboard.py renders them).

`/phonebank dashboard` DMs a link holding a random 256-bit token; the database keeps only its
SHA-256 (`dashboard_link`), so a stolen table opens nothing and a guessed or altered token
matches no row. The link works once (the row is marked used by the same statement that checks
it), within `LINK_LIFETIME`, and only for a chat user who still holds the coordinator or admin
role when it is opened. It becomes a session cookie whose token is kept the same way
(`dashboard_session`); every page checks the session and the role again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select, update
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from handlers.campaigns import active_campaign
from handlers.context import Context, Services
from handlers.goals import Progress, daily_series, goal_progress, sync_file_goals
from handlers.refusal import signed_up
from handlers.replies import Reply, Tone, problem
from storage.attempts import was_rung
from storage.campaign_config import CampaignConfig, ResultKind
from storage.campaign_store import campaign_config
from storage.db import read_session, session_scope
from storage.models import (
    AuditLog,
    CallAttempt,
    Campaign,
    ChatIdentity,
    DashboardLink,
    DashboardSession,
    Role,
)
from storage.reports import local_day_bounds
from storage.rollup import counted
from storage.standings import (
    Standing,
    individual_board,
    metric_values,
    people,
    period,
)

LINK_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(hours=8)
DASHBOARD_ROLES = (str(Role.COORDINATOR), str(Role.ADMIN))


def dashboard(ctx: Context, args: list[str]) -> Reply:
    """A one-time link to the coordinators' dashboard, sent to you in a direct message."""
    volunteer_id = signed_up(ctx)
    base = ctx.services.dashboard_url
    if base is None:
        return problem("The dashboard is not served here (no web app).")
    current = active_campaign(ctx)
    token = secrets.token_urlsafe(32)
    now = ctx.services.clock.now()
    with session_scope(ctx.services.engine) as session:
        session.add(
            DashboardLink(
                token_hash=token_hash(token),
                platform=str(ctx.platform),
                workspace=ctx.workspace,
                user_id=ctx.user_id,
                campaign_id=current.id,
                created_at=now,
                expires_at=now + LINK_LIFETIME,
            )
        )
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    link = Reply(
        text=f"Your dashboard for {current.name}: {base}/login/{token}\n"
        f"It opens once, within {minutes} minutes; ask again for a new one."
    )
    ctx.services.notifier.to_volunteer(volunteer_id, link)
    return Reply(
        text=f"I sent you a one-time dashboard link in a direct message (valid {minutes} minutes).",
        tone=Tone.SUCCESS,
    )


def token_hash(token: str) -> str:
    """What the database keeps of a link's or a session's token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the dashboard, for which campaign."""

    platform: str
    workspace: str
    user_id: str
    campaign_id: int

    @property
    def identity(self) -> str:
        return f"{self.platform}:{self.user_id}"


def exchange_link(services: Services, token: str) -> tuple[str, Viewer] | None:
    """A new session token for a link's token, or None: unknown (forged), used, expired, or
    its holder no longer a coordinator. A link is spent by its first use, good or not."""
    now = services.clock.now()
    digest = token_hash(token[:200])
    link = DashboardLink.__table__  # type: ignore[attr-defined]
    with session_scope(services.engine) as session:
        spent = session.execute(
            update(link)
            .where(link.c.token_hash == digest, link.c.used_at.is_(None), link.c.expires_at > now)
            .values(used_at=now)
        )
        if not spent.rowcount:  # type: ignore[attr-defined]
            return None
        row = session.execute(select(link).where(link.c.token_hash == digest)).one()
        viewer = Viewer(row.platform, row.workspace, row.user_id, row.campaign_id)
        if not may_view(services, viewer):
            return None
        session_token = secrets.token_urlsafe(32)
        session.add(
            DashboardSession(
                token_hash=token_hash(session_token),
                link_id=row.id,
                platform=viewer.platform,
                workspace=viewer.workspace,
                user_id=viewer.user_id,
                campaign_id=viewer.campaign_id,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
    return session_token, viewer


def viewer_of(services: Services, session_token: str | None) -> Viewer | None:
    """The viewer of a live session cookie who still holds the role; None otherwise."""
    if not session_token:
        return None
    now = services.clock.now()
    table = DashboardSession.__table__  # type: ignore[attr-defined]
    with read_session(services.engine) as session:
        row = session.execute(
            select(table).where(
                and_(
                    table.c.token_hash == token_hash(session_token[:200]), table.c.expires_at > now
                )
            )
        ).one_or_none()
    if row is None:
        return None
    viewer = Viewer(row.platform, row.workspace, row.user_id, row.campaign_id)
    return viewer if may_view(services, viewer) else None


def may_view(services: Services, viewer: Viewer) -> bool:
    """Whether the chat user holds the coordinator or admin role now."""
    if viewer.identity in services.admins:
        return True
    with read_session(services.engine) as session:
        identity = session.exec(
            select_rows(ChatIdentity).where(
                col(ChatIdentity.platform) == viewer.platform,
                col(ChatIdentity.workspace) == viewer.workspace,
                col(ChatIdentity.user_id) == viewer.user_id,
            )
        ).one_or_none()
    return identity is not None and any(role in DASHBOARD_ROLES for role in identity.roles or [])


def record_download(services: Services, viewer: Viewer, what: str, rows: int) -> None:
    """The audit log notes who downloaded which export."""
    with session_scope(services.engine) as session:
        session.add(
            AuditLog(
                at=services.clock.now(),
                actor=viewer.identity,
                action="dashboard.export",
                target=f"campaign:{viewer.campaign_id}",
                detail={"export": what, "rows": rows},
            )
        )


# --- what the pages show ------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalView:
    progress: Progress
    days: list[date]
    cumulative: list[int]


@dataclass(frozen=True)
class DashboardData:
    campaign: str
    config: CampaignConfig
    today: date
    goals: list[GoalView]
    hours: list[int]  # 0..23, campaign time
    dials_by_hour: list[int]
    contacts_by_hour: list[int]
    contacts_week: list[Standing]
    dials_week: list[Standing]


def dashboard_data(services: Services, campaign_id: int) -> DashboardData | None:
    """The figures for the campaign's dashboard (None: the campaign is gone)."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            return None
        config = campaign_config(campaign)
        sync_file_goals(session, campaign_id, config, now)
    zone = ZoneInfo(config.time_zone)
    today = now.astimezone(zone).date()
    with read_session(services.engine) as session:
        conn = session.connection()
        goals = []
        for p in goal_progress(conn, campaign_id, config, now):
            series = daily_series(conn, campaign_id, config, p) if p.goal_id else {}
            days, running, total = sorted(series), [], 0
            for day in days:
                total += series[day]
                running.append(total)
            goals.append(GoalView(p, days, running))
        dials, contacts = _by_hour(session, campaign_id, config, today, zone)
        week = period("week", today)
        boards = []
        for metric in ("contacts", "dials"):
            values = metric_values(conn, config, campaign_id, metric, week, now)
            boards.append(individual_board(values, people(conn, values))[:10])
    return DashboardData(
        campaign.name, config, today, goals, list(range(24)), dials, contacts, *boards
    )


def _by_hour(
    session: Session, campaign_id: int, config: CampaignConfig, today: date, zone: ZoneInfo
) -> tuple[list[int], list[int]]:
    """Today's counted calls and contacts per campaign hour (one day's attempts, by index)."""
    start, end = local_day_bounds(today, zone)
    contact_codes = {c.code for c in config.result_codes if c.kind is ResultKind.CONTACT}
    attempt = CallAttempt.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        select(attempt.c.started_at, attempt.c.result_code).where(
            attempt.c.campaign_id == campaign_id,
            attempt.c.started_at >= start,
            attempt.c.started_at < end,
            counted(attempt),
            was_rung(attempt.c.call_sid, attempt.c.call_status, attempt.c.result_code),
        )
    ).all()
    dials, contacts = [0] * 24, [0] * 24
    for started_at, code in rows:
        hour = started_at.astimezone(zone).hour
        dials[hour] += 1
        contacts[hour] += code in contact_codes
    return dials, contacts
