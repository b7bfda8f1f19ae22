"""10,000 shift reminders due within one minute (5,000 volunteers: a Slack DM and a text each),
sent by the scheduler through the real Slack Notifier and Twilio client to the local fakes.

    python -m bench.scheduler_bench [--volunteers 5000] [--db postgresql|sqlite]

Rows: the floor (the same number of bare client calls, `chat.postMessage` and
`messages.create`, to the same fakes, on the same 8 threads the reminder sweep uses); the
scheduler in this process; and two `phonebank scheduler` processes with the leader killed with
SIGKILL when half the reminders are out (PostgreSQL only: a SQLite file lock works the same way
but is one machine's). Each scheduler row gives the lag from a reminder's due time to its send
(p50/p99, from the send ledger), sends per second over the busy span beside the floor, and the
reminders sent twice, never, or after their shift started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from slack_sdk import WebClient
from sqlalchemy import func
from sqlmodel import col, select
from twilio.rest import Client

from bench.common import fresh_database, percentile, write_results
from bot.app import build_services
from bot.settings import load_settings
from bot.slack.app import slack_for
from bot.telephony.twilio_backend import RebasedHttpClient
from handlers.shift_jobs import REMINDER_JOB, SEND_THREADS
from scheduling.leader import leadership_for
from scheduling.runner import Scheduler
from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import ChatIdentity, SendLedger, Shift, ShiftSignup
from tests.factories import campaign_config, make_campaign, make_volunteer
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.fakes.twilio_api import FakeTwilioAPI

LEAD = timedelta(seconds=20)  # the first reminder falls due this long after seeding
SPREAD_S = 60  # ... and the last within the same minute
REMINDER = timedelta(minutes=60)
DEADLINE_S = 600.0
PHONEBANK = str(Path(sys.executable).with_name("phonebank"))
console = Console()
COLUMNS = ("case", "db", "n", "per_s", "ratio_to_floor", "p50_ms", "p99_ms")
COLUMNS += ("doubles", "lost", "late", "errors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volunteers", type=int, default=5000)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    rows = [floor_row(args.volunteers, args.db)]
    rows.append(run_case("one scheduler", args.volunteers, args.db, processes=0))
    if args.db == "postgresql":
        rows.append(run_case("two processes, leader killed", args.volunteers, args.db, processes=2))
    for row in rows[1:]:
        row["ratio_to_floor"] = round(row["per_s"] / rows[0]["per_s"], 2) if rows[0]["per_s"] else 0
    show(rows)
    params = {"volunteers": args.volunteers, "sends": 2 * args.volunteers, "db": args.db}
    path = write_results("scheduler_bench", params, rows)
    console.print(f"wrote {path}")


# --- the floor ----------------------------------------------------------------------------------


def floor_row(volunteers: int, db: str) -> dict[str, Any]:
    """The same number of bare client calls to the same fakes, on the sweep's threads."""
    with FakeSlackAPI() as slack, FakeTwilioAPI() as twilio:
        web = WebClient(token="xoxb-bench", base_url=slack.base_url)
        settings = twilio.settings()
        client = Client(
            settings["twilio_account_sid"],
            settings["twilio_auth_token"],
            http_client=RebasedHttpClient(twilio.base_url),
        )

        def dm(n: int) -> None:
            web.chat_postMessage(channel=f"DU{n:05d}", text="Reminder")

        def text(n: int) -> None:
            client.messages.create(
                to=f"+1737555{n:04d}", from_=settings["twilio_caller_id"], body="Reminder"
            )

        started = time.perf_counter()
        with ThreadPoolExecutor(SEND_THREADS) as pool:
            list(pool.map(dm, range(volunteers)))
            list(pool.map(text, range(volunteers)))
        elapsed = time.perf_counter() - started
    n = 2 * volunteers
    return {
        "case": "floor",
        "db": db,
        "concurrency": SEND_THREADS,
        "n": n,
        "per_s": round(n / elapsed, 1),
    }


# --- a run --------------------------------------------------------------------------------------


def run_case(case: str, volunteers: int, db: str, *, processes: int) -> dict[str, Any]:
    url, drop = fresh_database(db)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        with FakeSlackAPI() as slack, FakeTwilioAPI() as twilio:
            due = seed(engine, volunteers)
            if processes:
                killed = run_processes(url, slack, twilio, engine, 2 * volunteers, processes)
            else:
                killed = False
                run_in_process(engine, slack, twilio, 2 * volunteers)
            row = measure(engine, slack, twilio, due, volunteers)
    finally:
        engine.dispose()
        drop()
    row.update({"case": case, "db": db, "concurrency": SEND_THREADS})
    if processes:
        row["leader_killed"] = killed
    return row


def seed(engine: Any, volunteers: int) -> dict[int, datetime]:
    """Volunteers on Slack with verified phones that take texts, each signed up for one of 60
    shifts starting a second apart, whose 1 h reminders fall due within one minute. Each
    signup's due time, by volunteer id."""
    now = datetime.now(UTC)
    first = now + LEAD + REMINDER
    due: dict[int, datetime] = {}
    with session_scope(engine) as session:
        campaign = make_campaign(session, campaign_config(shift_reminder_minutes=[60]))
        shifts = [
            Shift(
                campaign_id=campaign.id,
                title=f"Evening calls {k}",
                starts_at=first + timedelta(seconds=k),
                ends_at=first + timedelta(seconds=k, hours=3),
                created_at=now,
            )
            for k in range(SPREAD_S)
        ]
        session.add_all(shifts)
        session.flush()
        for n in range(volunteers):
            volunteer = make_volunteer(session, phone=f"+1737555{n:04d}", name=f"Volunteer {n}")
            shift = shifts[n % SPREAD_S]
            session.add(ShiftSignup(shift_id=shift.id, volunteer_id=volunteer.id, created_at=now))
            session.add(
                ChatIdentity(
                    platform="slack",
                    workspace=TEAM_ID,
                    user_id=f"U{n:05d}",
                    volunteer_id=volunteer.id,
                    created_at=now,
                )
            )
            due[int(volunteer.id or 0)] = shift.starts_at - REMINDER
    return due


def settings_env(url: str, slack: FakeSlackAPI, twilio: FakeTwilioAPI) -> dict[str, str]:
    env = {
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": "bench-secret",
        "SLACK_API_URL": slack.base_url,
    }
    env |= {key.upper(): str(value) for key, value in twilio.settings().items()}
    return env


def run_in_process(engine: Any, slack: FakeSlackAPI, twilio: FakeTwilioAPI, sends: int) -> None:
    env = settings_env(engine.url.render_as_string(hide_password=False), slack, twilio)
    settings = load_settings(**{key.lower(): value for key, value in env.items()})
    services = build_services(settings, engine=engine)
    slack_for(settings, services)
    scheduler = Scheduler(services, leadership_for(engine))
    scheduler.start()
    try:
        wait_for(lambda: finished(engine) >= sends, f"{sends} sends")
    finally:
        scheduler.shutdown()


def run_processes(
    url: str, slack: FakeSlackAPI, twilio: FakeTwilioAPI, engine: Any, sends: int, count: int
) -> bool:
    """`count` scheduler processes; the leader is killed with SIGKILL when half is sent."""
    env = {"PATH": os.environ.get("PATH", "")} | settings_env(url, slack, twilio)
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    processes = []
    for n in range(count):
        log = (logs / f"scheduler_bench_{os.getpid()}_{n}.log").open("wb")
        processes.append(
            (
                log.name,
                subprocess.Popen(
                    [PHONEBANK, "scheduler"],
                    env=env,
                    cwd=logs,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
            )
        )
    killed = False
    try:
        wait_for(lambda: finished(engine) >= sends // 2, "half the sends")
        for name, process in processes:
            if b"is the leader now" in Path(name).read_bytes():
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed = True
                break
        wait_for(lambda: finished(engine) >= sends, f"{sends} sends")
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
    return killed


def finished(engine: Any) -> int:
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(SendLedger).where(col(SendLedger.status) != "pending")
        ).scalar()
        conn.rollback()
    return int(count or 0)


def wait_for(condition: Any, what: str) -> None:
    ends = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > ends:
            raise SystemExit(f"not within {DEADLINE_S} s: {what}")
        time.sleep(0.25)


def measure(
    engine: Any,
    slack: FakeSlackAPI,
    twilio: FakeTwilioAPI,
    due: dict[int, datetime],
    volunteers: int,
) -> dict[str, Any]:
    """Lag from the ledger; twice and never from what the fakes received; late from the ledger."""
    with session_scope(engine) as session:
        rows = list(session.exec(select(SendLedger).where(col(SendLedger.job) == REMINDER_JOB)))
    sent = [row for row in rows if row.status == "sent" and row.done_at is not None]
    lags = [
        (row.done_at - due[int(row.recipient.split(":")[1])]).total_seconds() * 1000
        for row in sent
        if row.done_at is not None
    ]
    dms = Counter(str(call.body.get("channel")) for call in slack.calls("chat.postMessage"))
    texts = Counter(str(request.params.get("To")) for request in twilio.messages_created())
    expected_dms = {f"DU{n:05d}" for n in range(volunteers)}
    expected_texts = {f"+1737555{n:04d}" for n in range(volunteers)}
    twice = sum(1 for c in dms.values() if c > 1) + sum(1 for c in texts.values() if c > 1)
    never = len(expected_dms - set(dms)) + len(expected_texts - set(texts))
    late = sum(
        1
        for row in sent
        if row.done_at and row.done_at >= due[int(row.recipient.split(":")[1])] + REMINDER
    )
    times = sorted(row.done_at for row in sent if row.done_at)
    span = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
    return {
        "n": len(sent),
        "per_s": round(len(sent) / span, 1) if span else 0.0,
        "p50_ms": round(percentile(lags, 0.50), 1),
        "p99_ms": round(percentile(lags, 0.99), 1),
        "errors": sum(1 for row in rows if row.status == "failed"),
        "doubles": twice,
        "lost": never,
        "late": late,
    }


def show(rows: list[dict[str, Any]]) -> None:
    table = Table(title="scheduler_bench: 1 h reminders due within one minute")
    for column in COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row.get(column, "")) for column in COLUMNS))
    console.print(table)


if __name__ == "__main__":
    main()
