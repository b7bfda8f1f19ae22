"""Per-volunteer limits on batches claimed and calls placed an hour (the campaign file's
`limits`), so one compromised chat account cannot drain the voter list or run up the phone
bill. Past a limit the volunteer is told when they can go on, and organizers hear of it once an
hour per volunteer (handlers/alerts.py). A retried request is never counted twice: the callers
check it before its first attempt's row is looked for.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlmodel import Session, col, func, select

from handlers.alerts import alert_organizers
from handlers.context import Context
from handlers.refusal import Refusal
from handlers.replies import Reply, Tone
from storage.campaign_config import VolunteerLimits
from storage.db import read_session
from storage.models import Batch, CallAttempt, Volunteer

WINDOW = timedelta(hours=1)


def check_claims(ctx: Context, volunteer_id: int, limits: VolunteerLimits) -> None:
    """Refuse a new batch once `claims_per_hour` were claimed in the last hour."""
    since = ctx.services.clock.now() - WINDOW
    with read_session(ctx.services.engine) as session:
        claimed = select(Batch.claimed_at).where(
            col(Batch.volunteer_id) == volunteer_id, col(Batch.claimed_at) > since
        )
        count, oldest = _count_and_oldest(session, claimed.subquery())
    if count >= limits.claims_per_hour:
        _refuse(ctx, volunteer_id, "claims", _counted(count, "batch", "batches"), oldest)


def check_calls(ctx: Context, volunteer_id: int, limits: VolunteerLimits) -> None:
    """Refuse a call once `calls_per_hour` were placed in the last hour."""
    since = ctx.services.clock.now() - WINDOW
    with read_session(ctx.services.engine) as session:
        placed: Any = select(col(CallAttempt.started_at).label("claimed_at")).where(
            col(CallAttempt.volunteer_id) == volunteer_id,
            col(CallAttempt.call_status).is_not(None),  # placed; not an outcome logged by hand
            col(CallAttempt.started_at) > since,
        )
        count, oldest = _count_and_oldest(session, placed.subquery())
    if count >= limits.calls_per_hour:
        _refuse(ctx, volunteer_id, "calls", _counted(count, "call", "calls"), oldest)


def _count_and_oldest(session: Session, rows: object) -> tuple[int, datetime | None]:
    count, oldest = session.exec(
        select(func.count(), func.min(rows.c.claimed_at))  # type: ignore[attr-defined]
    ).one()
    return int(count), oldest


def _counted(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _refuse(
    ctx: Context, volunteer_id: int, kind: str, how_many: str, oldest: datetime | None
) -> NoReturn:
    now = ctx.services.clock.now()
    free_at = (_aware(oldest, now) if oldest is not None else now) + WINDOW
    minutes = max(1, math.ceil((free_at - now).total_seconds() / 60))
    with read_session(ctx.services.engine) as session:
        volunteer = session.get(Volunteer, volunteer_id)
        name = volunteer.name if volunteer is not None else "a volunteer"
    alert_organizers(
        ctx.services,
        f"limit.{kind}",
        f"{name} (volunteer #{volunteer_id}, {ctx.identity}) reached the hourly limit of"
        f" {kind} ({how_many} in the last hour). If that was not them, suspend the account.",
        target=f"volunteer:{volunteer_id}",
        quiet_for=WINDOW,
    )
    raise Refusal(
        Reply(
            text=f"You've reached this campaign's limit: {how_many} in the last hour."
            f" You can go on in {minutes} minutes. Thank you for calling!",
            tone=Tone.WARNING,
        )
    )


def _aware(moment: datetime, like: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes; compare them as the clock's."""
    return moment.replace(tzinfo=like.tzinfo) if moment.tzinfo is None else moment
