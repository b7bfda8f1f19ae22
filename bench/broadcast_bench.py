"""A broadcast to everyone: how soon every open card is redrawn and every DM sent.

    python -m bench.broadcast_bench [--volunteers 1000] [--batch 20] [--broadcasts 3]
                                    [--db sqlite|postgresql]

Seeds V volunteers on Slack, each with an open batch of B cards, then publishes several
broadcasts to everyone through the real path: the organizer's form submission (handlers.router),
the durable outbox drained by the web process's worker (bot/outbox.py), the real SlackNotifier
and slack_sdk WebClient against the local fake Web API (tests/fakes/slack_api.py). Reported per
broadcast: time from publish until the last open card was redrawn and until the last DM was
sent (p50/p99 over the broadcasts), beside a floor measured in the same run: the same number of
bare `chat.postMessage` calls to the same fake on as many threads as the worker has. Lost and
doubled sends are counted from the fake's calls; "lost" counts what had not reached the fake
when the bench stopped waiting (WAIT_S), and the time is then that wait, a lower bound. Discord is not measured: its surface and fake
are on another branch.
"""

from __future__ import annotations

import argparse
import dataclasses
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from slack_sdk import WebClient
from sqlalchemy import Engine, insert

from bench.common import fresh_database, percentile, write_results
from bot.app import build_services
from bot.outbox import THREADS, OutboxWorker
from bot.settings import load_settings
from bot.slack.app import slack_for
from handlers.broadcasts import SUBMIT
from handlers.context import Platform, Services
from handlers.identity import context_for
from handlers.router import handle_form
from matching.tables import BATCH, CARD, ITEM, VOTER
from storage.clock import SystemClock
from storage.db import create_schema, make_engine, session_scope
from storage.models import ChatIdentity, Role, Volunteer
from tests.factories import make_campaign
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI, SlackCall
from tests.scenarios.world import scenario_config
from tests.slack_support import BOT_TOKEN, SIGNING_SECRET

WAIT_S = 300.0


@dataclasses.dataclass
class Clocked:
    """Every call the fake receives, with when it arrived."""

    calls: list[tuple[float, SlackCall]] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def __call__(self, call: SlackCall) -> None:
        with self.lock:
            self.calls.append((time.perf_counter(), call))

    def since(self, index: int) -> list[tuple[float, SlackCall]]:
        with self.lock:
            return list(self.calls[index:])


def seed(engine: Engine, volunteers: int, batch: int) -> int:
    """A campaign, and volunteers on Slack each holding an open batch of `batch` cards."""
    now = SystemClock().now()
    with session_scope(engine) as session:
        campaign = make_campaign(session, scenario_config(batch_size=min(batch, 50)))
        campaign_id = int(campaign.id or 0)
    with engine.begin() as conn:
        conn.execute(
            insert(Volunteer.__table__),  # type: ignore[arg-type]
            [
                {
                    "id": n + 1,
                    "name": f"Volunteer {n}",
                    "phone": f"+1512{7000000 + n:07d}",
                    "area_code": "512",
                    "languages": ["en"],
                    "status": "certified",
                    "sms_consent": False,
                    "sms_opted_out": False,
                    "softphone": False,
                    "softphone_version": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(volunteers)
            ],
        )
        conn.execute(
            insert(ChatIdentity.__table__),  # type: ignore[arg-type]
            [
                {
                    "platform": "slack",
                    "workspace": TEAM_ID,
                    "user_id": f"UV{n:05d}",
                    "volunteer_id": n + 1,
                    "roles": [],
                    "created_at": now,
                }
                for n in range(volunteers)
            ],
        )
        expires = now + timedelta(hours=4)
        conn.execute(
            insert(BATCH),
            [
                {
                    "id": n + 1,
                    "campaign_id": campaign_id,
                    "volunteer_id": n + 1,
                    "claimed_at": now,
                    "last_activity_at": now,
                    "expires_at": expires,
                }
                for n in range(volunteers)
            ],
        )
        total = volunteers * batch
        conn.execute(
            insert(VOTER),
            [
                {
                    "id": i + 1,
                    "campaign_id": campaign_id,
                    "dedupe_key": f"k{i}",
                    "first_name": f"Voter{i}",
                    "last_name": "",
                    "phone": f"+1512{2000000 + i:07d}",
                    "area_code": "512",
                    "state": "TX",
                    "time_zones": "America/Chicago",
                    "language": "en",
                    "priority": 0,
                    "status": "ready",
                    "attempts": 0,
                    "available_at": now,
                    "batch_id": i // batch + 1,
                    "attributes": {"PollingPlace": "School"},
                    "row_hash": f"h{i}",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(total)
            ],
        )
        conn.execute(
            insert(CARD),
            [
                {
                    "id": i + 1,
                    "batch_id": i // batch + 1,
                    "campaign_id": campaign_id,
                    "phone": f"+1512{2000000 + i:07d}",
                    "position": i % batch,
                    "match_reason": "same area code 512",
                    "assigned_at": now,
                }
                for i in range(total)
            ],
        )
        conn.execute(
            insert(ITEM),
            [
                {
                    "batch_id": i // batch + 1,
                    "card_id": i + 1,
                    "voter_id": i + 1,
                    "campaign_id": campaign_id,
                    "assigned_at": now,
                }
                for i in range(total)
            ],
        )
    return campaign_id


def publish_one(
    services: Services, clocked: Clocked, n: int, volunteers: int, wait_s: float = WAIT_S
) -> dict[str, Any]:
    """One broadcast to everyone; when its last card and last DM reached the fake."""
    organizer = context_for(services, Platform.SLACK, TEAM_ID, "UORGANIZER")
    organizer = dataclasses.replace(
        organizer, roles=frozenset({Role.ORGANIZER}), request_key=f"bench:{n}"
    )
    title = f"Bench update {n}"
    answers = {
        "title": title,
        "talking_points": f"Talking point number {n}: everyone votes at City Hall.",
        "script:en": f"Hi {{{{ first_name }}}}, update {n}: vote at City Hall.",
        "audience": "everyone",
    }
    start_index = len(clocked.calls)
    started = time.perf_counter()
    reply = handle_form(organizer, SUBMIT, "", answers)
    assert "Published" in reply.text, reply.text
    card_marker, dm_marker = "Updated", f"Update from the organizers: {title}"
    cards: Counter[str] = Counter()
    dms: Counter[str] = Counter()
    last_card = last_dm = started
    deadline = started + wait_s
    seen = start_index
    while time.perf_counter() < deadline:
        for at, call in clocked.since(seen):
            seen += 1
            if call.method not in ("chat.postMessage", "chat.update"):
                continue
            channel, body = str(call.body.get("channel")), str(call.body)
            if dm_marker in body:
                dms[channel] += 1
                last_dm = at
            elif card_marker in body and f"update {n}: vote" in body:
                cards[channel] += 1
                last_card = at
        if len(cards) >= volunteers and len(dms) >= volunteers:
            break
        time.sleep(0.05)
    pages = max(cards.values(), default=1) if cards else 1
    waited = time.perf_counter()
    if len(cards) < volunteers:  # not all within the wait: the wait is a lower bound
        last_card = waited
    if len(dms) < volunteers:
        last_dm = waited
    return {
        "to_last_card_ms": (last_card - started) * 1000,
        "to_last_dm_ms": (last_dm - started) * 1000,
        "cards_lost": volunteers - len(cards),
        "dms_lost": volunteers - len(dms),
        "dm_doubles": sum(count - 1 for count in dms.values() if count > 1),
        "card_pages": pages,
    }


def floor(fake: FakeSlackAPI, sends: int, threads: int) -> float:
    """Milliseconds for `sends` bare chat.postMessage calls on `threads` threads."""
    client = WebClient(token=BOT_TOKEN, base_url=fake.base_url)
    started = time.perf_counter()

    def send(i: int) -> None:
        client.chat_postMessage(channel=f"DFLOOR{i}", text=f"floor {i}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, range(sends)))
    return (time.perf_counter() - started) * 1000


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    url, drop = fresh_database(args.db)
    fake = FakeSlackAPI().start()
    clocked = Clocked()
    fake.on_call = clocked
    worker = OutboxWorker()
    try:
        engine = make_engine(url)
        create_schema(engine)
        seed(engine, args.volunteers, args.batch)
        settings = load_settings(
            database_url=url,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=fake.base_url,
        )
        services = build_services(settings, engine=engine, clock=SystemClock(), outbox=worker)
        assert slack_for(settings, services) is not None
        worker.start(services)
        results = [
            publish_one(services, clocked, n, args.volunteers)
            for n in range(1, args.broadcasts + 1)
        ]
        pages = results[0]["card_pages"]
        floor_ms = floor(fake, args.volunteers * (1 + pages), THREADS)
    finally:
        worker.close(timeout=30)
        fake.stop()
        drop()
    return rows(args, results, floor_ms)


def rows(
    args: argparse.Namespace, results: list[dict[str, Any]], floor_ms: float
) -> list[dict[str, Any]]:
    common = {"db": args.db, "concurrency": THREADS, "n": args.volunteers}
    out = []
    for case, key, lost in (
        ("broadcast: publish -> last open card redrawn", "to_last_card_ms", "cards_lost"),
        ("broadcast: publish -> last DM sent", "to_last_dm_ms", "dms_lost"),
    ):
        values = [result[key] for result in results]
        out.append(
            common
            | {
                "case": case,
                "p50_ms": round(percentile(values, 0.5), 1),
                "p99_ms": round(percentile(values, 0.99), 1),
                "ratio_to_floor": round(percentile(values, 0.99) / floor_ms, 2),
                "lost": sum(result[lost] for result in results),
                "doubles": sum(result["dm_doubles"] for result in results) if "dm" in key else 0,
            }
        )
    sends = args.volunteers * (1 + results[0]["card_pages"])
    out.append(
        common | {"case": f"floor: {sends} bare chat.postMessage", "p50_ms": round(floor_ms, 1)}
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--broadcasts", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--wait", type=float, default=WAIT_S, help="seconds to wait per broadcast")
    args = parser.parse_args()
    results = run(args)
    params = vars(args) | {"outbox_threads": THREADS, "target_s": 60, "target_ratio": 2.0}
    out = write_results("broadcast_bench", params, results)
    table = Table("case", "db", "n", "p50 ms", "p99 ms", "× floor", "lost", "doubles")
    for row in results:
        table.add_row(
            row["case"],
            row["db"],
            str(row["n"]),
            str(row.get("p50_ms", "")),
            str(row.get("p99_ms", "")),
            str(row.get("ratio_to_floor", "")),
            str(row.get("lost", "")),
            str(row.get("doubles", "")),
        )
    Console().print(table)
    Console().print(f"Written to {out}")


if __name__ == "__main__":
    main()
