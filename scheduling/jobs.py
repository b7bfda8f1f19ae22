"""The fixed jobs, defined in code. Each decides what is due from the database at the injected
clock's time and calls handlers; none is ever added by a handler (they write rows instead).

How often each runs bounds how late what it sends can be: a reminder is at most one reminder
interval late, a lease at most one lease interval past its end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handlers.broadcasts import send_due_broadcasts
from handlers.context import Services
from handlers.goals import alert_all_behind_pace
from handlers.leaderboard import post_due_leaderboards
from handlers.questions import reraise_questions
from handlers.rally import rally_where_needed
from handlers.send_ledger import Ledger
from handlers.shift_jobs import announce_shift_starts, record_no_shows, send_due_reminders
from handlers.voice import sweep_sessions
from matching.leases import SWEEP_LIMIT, sweep_expired_batches


@dataclass(frozen=True)
class JobContext:
    services: Services
    ledger: Ledger


@dataclass(frozen=True)
class Job:
    name: str
    every_s: int
    run: Callable[[JobContext], int]  # how many things it did (sent, closed, settled)


def reminders(ctx: JobContext) -> int:
    """Shift reminders that are due (24 h and 1 h before, per the campaign file)."""
    return send_due_reminders(ctx.services, ctx.ledger)


def shift_starts(ctx: JobContext) -> int:
    """Shifts that began: the channel post and the volunteers' Get a batch DMs."""
    return announce_shift_starts(ctx.services, ctx.ledger)


def no_shows(ctx: JobContext) -> int:
    """Shifts that ended: each signup kept or a no-show."""
    return record_no_shows(ctx.services)


def rally(ctx: JobContext) -> int:
    """Regions where callable voters outnumber callers: a call for help in their channel."""
    return rally_where_needed(ctx.services, ctx.ledger)


def lease_expiry(ctx: JobContext) -> int:
    """Batches whose lease ran out: closed, their untouched voters back in the pool."""
    services, closed = ctx.services, 0
    while True:
        swept = sweep_expired_batches(services.engine, clock=services.clock)
        closed += swept
        if swept < SWEEP_LIMIT:
            return closed


def silent_sessions(ctx: JobContext) -> int:
    """Calling sessions that died without a hang-up: ended, their uncalled voters back in the
    pool, each volunteer told as a hang-up would (handlers.voice.sweep_sessions)."""
    return sweep_sessions(ctx.services)


def leaderboard_posts(ctx: JobContext) -> int:
    """Leaderboards due on the campaign's schedule: posted once per scheduled time."""
    return post_due_leaderboards(ctx.services)


def behind_pace(ctx: JobContext) -> int:
    """Goals behind the pace they need: coordinators alerted once per goal per day."""
    return alert_all_behind_pace(ctx.services)


def broadcasts(ctx: JobContext) -> int:
    """Broadcasts set for a time that has come: published (their sends owed to the outbox)."""
    return send_due_broadcasts(ctx.services)


def questions(ctx: JobContext) -> int:
    """Volunteers' questions nobody answered in time: raised once more to the organizers."""
    return reraise_questions(ctx.services)


JOBS: tuple[Job, ...] = (
    Job("shift_reminders", 30, reminders),
    Job("shift_starts", 30, shift_starts),
    Job("no_shows", 300, no_shows),
    Job("rally", 60, rally),
    Job("lease_expiry", 60, lease_expiry),
    Job("silent_sessions", 30, silent_sessions),
    Job("leaderboard_posts", 60, leaderboard_posts),
    Job("behind_pace", 900, behind_pace),
    Job("broadcasts", 15, broadcasts),
    Job("questions", 60, questions),
)
