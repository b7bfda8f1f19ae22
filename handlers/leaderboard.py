"""Leaderboards: individual and team rankings on dials, contacts, survey answers, pledges,
supporters, streaks and follow-through, with a bar chart.

Counted from the rollup (storage/rollup.py, storage/standings.py): only logged outcomes, never
practice rounds. Periods are the campaign's own days (`today`, `week` from Monday, `all`);
a streak and follow-through are as of now whatever the period. Ties share a rank and are
listed by name. A volunteer may leave the public ranking (`leaderboard hide`) and come back
(`leaderboard show`); their calls still count for their teams.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Connection, update
from sqlmodel import select as select_rows

from handlers.campaigns import ActiveCampaign, active_campaign
from handlers.charts import bar_chart_png
from handlers.context import Context, Platform, Services
from handlers.outbox import Task, outbox_handler, owe, owed
from handlers.refusal import Refusal, signed_up
from handlers.replies import Reply, Section, Tone
from storage.campaign_store import campaign_config
from storage.db import read_session, session_scope
from storage.models import Campaign, Volunteer
from storage.standings import (
    Period,
    Person,
    Standing,
    individual_board,
    metric_values,
    people,
    period,
    team_board,
)

PERIODS = ("today", "week", "all")
METRIC_NAMES = {
    "dials": "dials",
    "calls": "dials",
    "contacts": "contacts",
    "surveys": "surveys",
    "answers": "surveys",
    "pledges": "pledges",
    "supporters": "supporters",
    "streak": "streak",
    "streaks": "streak",
    "shifts": "shifts",
    "follow-through": "shifts",
}
LABELS = {
    "dials": "dials",
    "contacts": "contacts",
    "surveys": "survey answers",
    "pledges": "pledges to vote",
    "supporters": "supporters",
    "streak": "days in a row",
    "shifts": "shifts kept",
}
TEAM_WORDS = {"teams": "team", "team": "team", "areas": "area", "area": "area"}
USAGE = "`leaderboard [today|week|all] [by METRIC] [teams|areas]`, METRIC one of " + ", ".join(
    sorted(set(METRIC_NAMES.values()))
)
SHOWN = 10


@dataclass(frozen=True)
class BoardRequest:
    period: str
    metric: str
    teams: str | None  # None: individuals; "team" (the campaign file's) or "area"


def leaderboard(ctx: Context, args: list[str]) -> Reply:
    """Who is calling most: today, this week or all along, by any measure."""
    current = active_campaign(ctx)
    request = parse_request(args, current.config.leaderboard.metric)
    return board_reply(ctx, current, request)


def parse_request(args: list[str], default_metric: str) -> BoardRequest:
    """The period, metric and team kind from the words after `leaderboard`, or a refusal."""
    words = [word.lower() for word in args]
    chosen_period, metric, teams = "week", METRIC_NAMES.get(default_metric, "contacts"), None
    while words:
        word = words.pop(0)
        if word in PERIODS:
            chosen_period = word
        elif word == "by" and words:
            name = words.pop(0)
            if name not in METRIC_NAMES:
                raise Refusal(f"I don't count {name!r}. Try {USAGE}.")
            metric = METRIC_NAMES[name]
        elif word in TEAM_WORDS:
            teams = TEAM_WORDS[word]
        else:
            raise Refusal(f"I don't understand {word!r}. Try {USAGE}.")
    return BoardRequest(chosen_period, metric, teams)


def board_reply(ctx: Context, current: ActiveCampaign, request: BoardRequest) -> Reply:
    """The ranking, the asker's own place, and a chart."""
    now = ctx.services.clock.now()
    today = now.astimezone(ZoneInfo(current.config.time_zone)).date()
    chosen = period(request.period, today)
    with read_session(ctx.services.engine) as session:
        conn = session.connection()
        standings, mine = _standings(conn, current, request, chosen, now, ctx.volunteer_id)
    title = f"{_title(request, chosen)}: {LABELS[request.metric]}"
    if not standings:
        return Reply(text=f"{title}. Nobody has any yet: the first call puts you on the board.")
    lines = [format_standing(s, request.metric) for s in standings[:SHOWN]]
    sections = [Section("\n".join(lines))]
    if request.teams is None and ctx.volunteer_id is not None:
        sections.append(Section(mine))
    chart = bar_chart_png(
        title,
        [s.name for s in standings[:SHOWN]],
        [s.value for s in standings[:SHOWN]],
    )
    return Reply(text=title, sections=tuple(sections), image_file=str(chart))


def _standings(
    conn: Connection,
    current: ActiveCampaign,
    request: BoardRequest,
    chosen: Period,
    now: datetime,
    asker: int | None,
) -> tuple[list[Standing], str]:
    values = metric_values(conn, current.config, current.id, request.metric, chosen, now)
    who = people(conn, [*values, *([asker] if asker else [])])
    if request.teams is not None:
        return team_board(current.config, values, who, request.teams, request.metric), ""
    standings = individual_board(values, who)
    return standings, _my_place(standings, who, asker, request.metric)


def _my_place(
    standings: list[Standing], who: dict[int, Person], asker: int | None, metric: str
) -> str:
    if asker is None:
        return ""
    if asker in who and who[asker].hidden:
        return "You are hidden from the ranking; `leaderboard show` brings you back."
    key = f"volunteer:{asker}"
    for standing in standings:
        if standing.key == key:
            tie = " (tied)" if standing.tied else ""
            return f"You: #{standing.rank}{tie} with {_value(standing.value, metric)}."
    return f"You have no {LABELS[metric]} here yet: your next call counts."


def format_standing(standing: Standing, metric: str) -> str:
    """`1. Ana: 12`, with `=` after the rank of a tie."""
    tie = "=" if standing.tied else "."
    return f"{standing.rank}{tie} {standing.name}: {_value(standing.value, metric)}"


def _value(value: float, metric: str) -> str:
    if metric == "shifts":
        return f"{value:.0%}"
    return f"{value:,.0f}"


def _title(request: BoardRequest, chosen: Period) -> str:
    who = {None: "Leaderboard", "team": "Team leaderboard", "area": "Area-code leaderboard"}
    if request.metric in ("streak", "shifts"):
        return f"{who[request.teams]}, as of today"
    when = {"today": "today", "week": "this week", "all": "all along"}[chosen.name]
    return f"{who[request.teams]} {when}"


# --- posted on the campaign's schedule ------------------------------------------------------------

POST = "leaderboard.post"
CATCH_UP = timedelta(
    hours=1
)  # a post missed by longer than this (the scheduler was down) is skipped


def post_due_leaderboards(services: Services) -> int:
    """Owe a post for each campaign whose `leaderboard.schedule` fired within the last hour
    (the scheduler calls this every minute or so); the outbox key (campaign, fire time) makes
    a second run, or a second scheduler, post once. How many posts were owed."""
    now = services.clock.now()
    owed_posts = 0
    with session_scope(services.engine) as session:
        for campaign in session.exec(select_rows(Campaign)):
            config = campaign_config(campaign)
            board = config.leaderboard
            if not board.schedule or not board.channel:
                continue
            fired = last_fire_time(board.schedule, config.time_zone, now)
            if fired is None or now - fired > CATCH_UP:
                continue
            key = f"{POST}:{campaign.id}:{fired.isoformat()}"
            payload = {"campaign_id": campaign.id}
            if owe(session.connection(), POST, payload, key=key, now=now) is not None:
                owed_posts += 1
    if owed_posts:
        owed(services)
    return owed_posts


def last_fire_time(schedule: str, zone: str, now: datetime) -> datetime | None:
    """The latest time at or before `now` the cron schedule fires (within the last 8 days)."""
    trigger = CronTrigger.from_crontab(schedule, timezone=ZoneInfo(zone))
    fired, cursor = None, now - timedelta(days=8)
    while True:
        following = trigger.get_next_fire_time(fired, cursor)
        if following is None or following > now:
            return fired
        fired, cursor = following, following + timedelta(seconds=1)


@outbox_handler(POST)
def send_post(services: Services, task: Task) -> None:
    """The week's board on the campaign's metric, with its chart, in the configured channel
    (`slack:#phones`, `discord:123`; no platform: Slack)."""
    with read_session(services.engine) as session:
        campaign = session.get(Campaign, int(task.payload["campaign_id"]))
        if campaign is None:
            return
        config = campaign_config(campaign)
        current = ActiveCampaign(int(campaign.id or 0), campaign.slug, campaign.name, config)
    channel = config.leaderboard.channel or ""
    platform, _, name = channel.rpartition(":") if ":" in channel else ("slack", "", channel)
    ctx = Context(Platform(platform), "", "scheduler", services)
    request = BoardRequest("week", METRIC_NAMES.get(config.leaderboard.metric, "contacts"), None)
    reply = board_reply(ctx, current, request)
    services.notifier.to_channel(Platform(platform), name, replace(reply, ephemeral=False))


def hide(ctx: Context, args: list[str]) -> Reply:
    """Leave the public ranking (your calls still count for your team)."""
    return _set_hidden(ctx, True)


def show(ctx: Context, args: list[str]) -> Reply:
    """Come back to the public ranking."""
    return _set_hidden(ctx, False)


def _set_hidden(ctx: Context, hidden: bool) -> Reply:
    volunteer_id = signed_up(ctx)
    with session_scope(ctx.services.engine) as session:
        session.execute(
            update(Volunteer)
            .where(Volunteer.id == volunteer_id)  # type: ignore[arg-type]
            .values(leaderboard_hidden=hidden)
        )
    if hidden:
        return Reply(
            text="You are off the public leaderboard; your calls still count for your team."
            " `leaderboard show` brings you back.",
            tone=Tone.SUCCESS,
        )
    return Reply(text="You are back on the leaderboard.", tone=Tone.SUCCESS)
