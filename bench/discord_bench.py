"""Discord under load: time from an interaction's arrival to its first callback, per kind.

    python -m bench.discord_bench [--volunteers N] [--pace-s S] [--db sqlite|postgresql]

Loads voters into a fresh database (bench.claim_bench's loader; dropped at the end), links N
volunteers (default 200) to Discord members of the bench guild, and starts the real discord.py
client in a process of its own, as `phonebank discord` runs it: logged in to the local fake of
the REST API (tests/fakes/discord_api.py) and connected to the local fake gateway
(tests/fakes/discord_gateway.py). Each volunteer then runs

    /phonebank help  ->  /phonebank batch  ->  Call  ->  Log outcome  ->  submit "Not home"

every step an INTERACTION_CREATE sent over the gateway (calls are placed on the simulated
telephony and not moved along: call progress reaches the web replicas, not this process), first at a real pace (one interaction
every S seconds per volunteer, default 3, start times spread over the first S seconds), then
back to back. Reported per kind: the time from sending the interaction to the fake receiving
its first callback (Discord allows 3 s), p50/p95/p99, beside a floor measured in the same run:
a button whose answer needs no database (a form step that is gone), pressed by every volunteer
before and after its flow. Also: flows lost (a callback that never came), double outcomes
(from the rows), and the client process's peak RSS.

Target at a real pace with 200 volunteers: p99 under 500 ms for every kind, 0 lost, 0 doubles.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import multiprocessing as mp
import random
import signal
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, text

from bench.claim_bench import BENCH_START, VOLUNTEERS, BenchClock, load
from bench.common import fresh_database, peak_rss_mb, percentile, write_results
from storage.db import make_engine
from storage.models import ChatIdentity
from tests.discord_support import BOT_TOKEN, command_data, interaction_payload
from tests.fakes.discord_api import (
    CHANNEL_ID,
    GUILD_ID,
    DiscordCall,
    FakeDiscordAPI,
    Interaction,
)
from tests.fakes.discord_gateway import FakeDiscordGateway

RESULTS = Path(__file__).parent / "results" / "discord_bench.json"
ANSWER_TIMEOUT_S = 30.0
START_TIMEOUT_S = 120.0
KINDS = ("help", "batch", "call", "outcome form", "open form", "outcome")
FLOOR = "floor"
FLOOR_BUTTON = "pb:form:open:gone.0"
CALL = "pb:card:call:"
FORM_OPEN = "pb:form:open:"  # a form step this process never opened: answered at once
COMMAND, COMPONENT, MODAL_SUBMIT = 2, 3, 5
_interaction_ids = itertools.count(1_600_000_000_000_000_000)
_message_ids = itertools.count(1_700_000_000_000_000_000)


# ---- the client, in its own process ----------------------------------------------------------


def serve(url: str, api_url: str, started: float) -> None:
    """The Discord client as `phonebank discord` builds it, on the bench clock."""
    from bot.app import build_services, database_engine
    from bot.discord.app import discord_for
    from bot.later import LaterWork
    from bot.settings import load_settings
    from bot.slack.privacy import install_log_redaction

    logging.basicConfig(level=logging.WARNING)
    install_log_redaction([BOT_TOKEN])
    settings = load_settings(database_url=url, discord_bot_token=BOT_TOKEN, discord_api_url=api_url)
    later = LaterWork()
    services = build_services(
        settings, engine=database_engine(settings), clock=BenchClock(started), later=later.submit
    )
    adapter = discord_for(settings, services)
    assert adapter is not None
    # Calls are placed on the simulated telephony and not moved along (as in slack_bench): with
    # Twilio, call progress reaches the web replicas, not the gateway's process.
    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(_until_terminated(adapter))


async def _until_terminated(adapter: Any) -> None:
    main = asyncio.current_task()
    if main is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    await adapter.run_gateway()


# ---- Discord's side ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Heard:
    """One call the fake received: when (perf_counter, the same clock in every process), what,
    and the message it made or changed as it then stood."""

    at: float
    route: str
    path: str
    message_id: str | None
    body: Any
    message: dict[str, Any] | None


class Mirror:
    """What the fake REST API, in a process of its own, received: a thread reads its queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop, calls: Any) -> None:
        self.loop = loop
        self.calls = calls
        self.messages: dict[str, dict[str, Any]] = {}
        self.synced: list[dict[str, Any]] = []
        self._by_token: dict[str, list[Heard]] = defaultdict(list)
        self._waiting: dict[str, asyncio.Future[tuple[float, Heard]]] = {}
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def expect(self, token: str) -> asyncio.Future[tuple[float, Heard]]:
        future = self.loop.create_future()
        with self._lock:
            self._waiting[token] = future
        return future

    def heard(self, token: str) -> list[Heard]:
        with self._lock:
            return list(self._by_token.get(token, []))

    def message(self, message_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.messages[message_id])

    def _read(self) -> None:
        while (item := self.calls.get()) is not None:
            heard = Heard(*item)
            token = _token_of(heard.path)
            with self._lock:
                if heard.message is not None and heard.message_id:
                    self.messages[heard.message_id] = heard.message
                if heard.route == "commands.sync":
                    self.synced += list(heard.body or [])
                if token:
                    self._by_token[token].append(heard)
                future = (
                    self._waiting.pop(token, None)
                    if token and heard.route == "interaction.callback"
                    else None
                )
            if future is not None:
                self.loop.call_soon_threadsafe(_settle, future, (heard.at, heard))


def _token_of(path: str) -> str | None:
    parts = path.split("/")
    if path.startswith("/interactions/") and len(parts) > 3:
        return parts[3]
    if path.startswith("/webhooks/") and len(parts) > 3:
        return parts[3]
    return None


def fake_process(calls: Any, address: Any, gateway_url: str) -> None:
    """The fake REST API in a process of its own (its threads would otherwise take turns with the
    volunteers' loop and delay what they time); every call it receives goes to `calls`."""
    fake = FakeDiscordAPI(gateway_url=gateway_url, trust_tokens=True)

    def on_call(call: DiscordCall) -> None:
        message = None
        if call.message_id:
            with contextlib.suppress(KeyError):
                message = fake.message(call.message_id)
        calls.put((time.perf_counter(), call.route, call.path, call.message_id, call.body, message))

    fake.on_call = on_call
    fake.start()
    address.send(fake.base_url)
    threading.Event().wait()


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


@dataclass
class Timings:
    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    completed: int = 0
    lost: int = 0
    errors: int = 0


@dataclass
class Bench:
    mirror: Mirror
    gateway: FakeDiscordGateway
    group: dict[str, Any]
    floor_message: dict[str, Any]


class Volunteer:
    """One Discord member of the bench guild."""

    def __init__(self, index: int, bench: Bench, timings: Timings, pace_s: float) -> None:
        self.user_id = str(1_500_000_000_000_000_000 + index)
        self.name = f"volunteer{index}"
        self.bench = bench
        self.timings = timings
        self.pace_s = pace_s

    async def interact(
        self, kind: str, type_: int, data: dict[str, Any], message: dict[str, Any] | None = None
    ) -> tuple[Interaction, Heard]:
        """Send one interaction over the gateway; its first callback, timed. Its token tells the
        fake (in its own process) where the interaction happened."""
        channel = str(message["channel_id"]) if message else CHANNEL_ID
        message_id = str(message["id"]) if message else None
        interaction_id = str(next(_interaction_ids))
        token = f"bench.{interaction_id}.{message_id or 0}.{channel}"
        interaction = Interaction(interaction_id, token, self.user_id, channel, message_id)
        answered = self.bench.mirror.expect(interaction.token)
        payload = interaction_payload(
            interaction, type_, data, message, user_id=self.user_id, name=self.name
        )
        sent = time.perf_counter()
        await asyncio.wrap_future(self.bench.gateway.dispatch_soon("INTERACTION_CREATE", payload))
        arrived, call = await asyncio.wait_for(answered, ANSWER_TIMEOUT_S)
        self.timings.ms[kind].append((arrived - sent) * 1000)
        return interaction, call

    async def pause(self) -> None:
        if self.pace_s:
            await asyncio.sleep(self.pace_s)

    async def floor(self) -> None:
        data = {"custom_id": FLOOR_BUTTON, "component_type": 2}
        await self.interact(FLOOR, COMPONENT, data, self.bench.floor_message)

    async def flow(self) -> bool:
        """help -> batch -> Call -> Log outcome -> submit "Not home"; whether it completed."""
        group = self.bench.group
        await self.interact("help", COMMAND, command_data(group, "help"))
        await self.pause()
        interaction, _ = await self.interact("batch", COMMAND, command_data(group, "batch"))
        card = await self.card_message(interaction)
        if card is None:
            return False
        await self.pause()
        call_id = _button(card, CALL)
        await self.interact("call", COMPONENT, {"custom_id": call_id, "component_type": 2}, card)
        await self.pause()
        card = self.bench.mirror.message(str(card["id"]))
        outcome_id = "pb:card:outcome:" + call_id.rsplit(":", 1)[1].partition("#")[0]
        data = {"custom_id": _button(card, outcome_id), "component_type": 2}
        interaction, opened = await self.interact("outcome form", COMPONENT, data, card)
        if opened.body.get("type") != 9:  # deferred (a busy process): the form opens from a button
            opened = await self.open_offered_form(interaction)
            if opened is None:
                return False
        modal = opened.body.get("data") or {}
        await self.pause()
        answers = {"custom_id": modal["custom_id"], "components": _not_home(modal)}
        message = self.bench.mirror.message(str(card["id"]))
        interaction, _ = await self.interact("outcome", MODAL_SUBMIT, answers, message)
        return await self.logged(interaction)

    async def logged(self, interaction: Interaction) -> bool:
        """Whether the outcome's answer (perhaps after a deferral) says it was logged."""
        found = await self.answer(interaction, lambda heard: "Logged for" in str(heard.body))
        return found is not None

    async def open_offered_form(self, interaction: Interaction) -> Heard | None:
        """Press the "Open the form" button the deferred answer brought; the modal's callback."""
        found = await self.answer(interaction, lambda h: bool(_button(h.message or {}, FORM_OPEN)))
        if found is None or found.message is None:
            return None
        data = {"custom_id": _button(found.message, FORM_OPEN), "component_type": 2}
        _, opened = await self.interact("open form", COMPONENT, data, found.message)
        return opened

    async def card_message(self, interaction: Interaction) -> dict[str, Any] | None:
        """The first message of the batch that holds a Call button (it may follow a deferral)."""
        found = await self.answer(interaction, lambda h: bool(_button(h.message or {}, CALL)))
        return found.message if found is not None else None

    async def answer(self, interaction: Interaction, wanted: Any) -> Heard | None:
        """The first call answering `interaction` that is `wanted`, as it arrives."""
        ends = time.monotonic() + ANSWER_TIMEOUT_S
        while time.monotonic() < ends:
            for heard in self.bench.mirror.heard(interaction.token):
                if wanted(heard):
                    return heard
            await asyncio.sleep(0.02)
        return None

    async def run(self) -> None:
        if self.pace_s:
            await asyncio.sleep(random.uniform(0, self.pace_s))
        try:
            await self.floor()
            ok = await self.flow()
            await self.pause()
            await self.floor()
        except TimeoutError:
            ok = False
        except Exception:
            self.timings.errors += 1
            ok = False
        if ok:
            self.timings.completed += 1
        else:
            self.timings.lost += 1


def _button(message: dict[str, Any], prefix: str) -> str:
    for row in message.get("components") or []:
        for button in row.get("components") or []:
            if str(button.get("custom_id", "")).startswith(prefix):
                return str(button["custom_id"])
    return ""


def _not_home(modal: dict[str, Any]) -> list[dict[str, Any]]:
    """The outcome form answered "Not home" (for a household: its first voter), the rest empty."""
    rows = []
    for row in modal.get("components") or []:
        if row.get("type") != 18:
            continue
        component = row["component"]
        custom_id = component["custom_id"]
        if component["type"] == 4:
            rows.append({"type": 18, "component": {"type": 4, "custom_id": custom_id, "value": ""}})
            continue
        values: list[str] = []
        if custom_id == "result":
            values = ["not_home"]
        elif custom_id == "voter":
            values = [component["options"][0]["value"]]
        rows.append(
            {"type": 18, "component": {"type": 3, "custom_id": custom_id, "values": values}}
        )
    return rows


def floor_message() -> dict[str, Any]:
    """A message holding the floor's button (as if Phonebank had posted it earlier)."""
    return {
        "id": str(next(_message_ids)),
        "channel_id": CHANNEL_ID,
        "type": 0,
        "content": "",
        "embeds": [{"description": "floor"}],
        "components": [
            {
                "type": 1,
                "components": [{"type": 2, "style": 1, "label": "Open", "custom_id": FLOOR_BUTTON}],
            }
        ],
        "flags": 64,
        "author": {"id": "1", "username": "phonebank", "discriminator": "0", "avatar": None},
        "timestamp": BENCH_START.isoformat(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "pinned": False,
    }


async def run_mode(
    bench: Bench, volunteers: int, pace_s: float, first: int
) -> tuple[Timings, float]:
    timings = Timings()
    users = [Volunteer(first + i, bench, timings, pace_s) for i in range(volunteers)]
    started = time.perf_counter()
    await asyncio.gather(*(user.run() for user in users))
    return timings, time.perf_counter() - started


# ---- the database --------------------------------------------------------------------------


def link_members(url: str, count: int, first: int) -> None:
    """Bench volunteers `first`.. are Discord members of the bench guild."""
    engine = make_engine(url)
    with engine.begin() as conn:
        ids = [row.id for row in conn.execute(text("SELECT id FROM volunteer ORDER BY id"))]
        conn.execute(
            insert(ChatIdentity.__table__),  # type: ignore[attr-defined]
            [
                {
                    "platform": "discord",
                    "workspace": GUILD_ID,
                    "user_id": str(1_500_000_000_000_000_000 + first + i),
                    "volunteer_id": v,
                    "roles": [],
                    "created_at": BENCH_START,
                }
                for i, v in enumerate(ids[:count])
            ],
        )
    engine.dispose()


def count_outcomes(url: str) -> tuple[int, int]:
    """(outcomes logged, voters with more than one logged outcome)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT count(*) FROM call_attempt WHERE result_code IS NOT NULL")
        ).scalar_one()
        doubles = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT voter_id FROM call_attempt"
                " WHERE result_code IS NOT NULL GROUP BY voter_id HAVING count(*) > 1) d"
            )
        ).scalar_one()
    engine.dispose()
    return int(logged), int(doubles)


# ---- rows --------------------------------------------------------------------------------------


def mode_rows(
    label: str, db: str, volunteers: int, timings: Timings, seconds: float, rss: float | None
) -> list[dict[str, Any]]:
    suffix = "" if not label else f" ({label})"
    floor_ms = timings.ms.get(FLOOR, [])
    floor_p99 = percentile(floor_ms, 0.99)
    rows = [_latency_row(FLOOR + suffix, db, volunteers, floor_ms)]
    for kind in KINDS:
        if not timings.ms.get(kind):  # "open form" happens only when a form was deferred
            continue
        row = _latency_row(kind + suffix, db, volunteers, timings.ms[kind])
        row["ratio_to_floor"] = round(row["p99_ms"] / floor_p99, 2) if floor_p99 else None
        rows.append(row)
    rows.append(
        {
            "case": "flows" + suffix,
            "db": db,
            "concurrency": volunteers,
            "n": timings.completed + timings.lost,
            "per_s": round(timings.completed / seconds, 2) if seconds else None,
            "peak_rss_mb": rss,
            "errors": timings.errors,
            "lost": timings.lost,
        }
    )
    return rows


def _latency_row(case: str, db: str, volunteers: int, values: list[float]) -> dict[str, Any]:
    return {
        "case": case,
        "db": db,
        "concurrency": volunteers,
        "n": len(values),
        "p50_ms": round(percentile(values, 0.50), 1),
        "p95_ms": round(percentile(values, 0.95), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
    }


# ---- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=200, help="at most 256")
    parser.add_argument("--pace-s", type=float, default=3.0, help="0: back to back only")
    parser.add_argument("--voters", type=int, default=50_000)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not 1 <= args.volunteers <= VOLUNTEERS:
        parser.error(f"--volunteers: 1 to {VOLUNTEERS} (the bench loader's volunteers)")
    modes = (
        [("", args.pace_s), ("back to back", 0.0)] if args.pace_s > 0 else [("back to back", 0.0)]
    )
    url, drop = fresh_database(args.db)
    rows: list[dict[str, Any]] = []
    logged = doubles = 0
    try:
        engine = make_engine(url)
        load(engine, args.voters)
        engine.dispose()
        link_members(url, args.volunteers, 0)
        rows, logged, doubles = asyncio.run(run(url, args, modes))
    finally:
        drop()
    for row in rows:
        if row["case"].startswith("flows"):
            row["doubles"] = doubles
    params = {
        "volunteers": args.volunteers,
        "pace_s": args.pace_s,
        "voters": args.voters,
        "db": args.db,
        "flow": ["/phonebank help", "/phonebank batch", "Call", "Log outcome", "submit Not home"],
        "floor": "a button whose answer needs no database, before and after each flow",
        "outcomes_logged": logged,
        "target": "at a real pace with 200 volunteers: p99 < 500 ms for every kind; 0 lost, 0 doubles",
    }
    out = write_results("discord_bench", params, rows, args.out)
    print_table(rows, out)


async def run(
    url: str, args: argparse.Namespace, modes: list[tuple[str, float]]
) -> tuple[list[dict[str, Any]], int, int]:
    rows: list[dict[str, Any]] = []
    spawn = mp.get_context("spawn")
    calls, (receive, send) = spawn.Queue(), spawn.Pipe(duplex=False)
    with FakeDiscordGateway(BOT_TOKEN) as gateway:
        fake = spawn.Process(target=fake_process, args=(calls, send, gateway.url), daemon=True)
        fake.start()
        api_url = receive.recv()
        mirror = Mirror(asyncio.get_running_loop(), calls)
        client = spawn.Process(target=serve, args=(url, api_url, time.time()), daemon=True)
        client.start()
        try:
            await _until(lambda: gateway.identified.is_set() and bool(_group(mirror)), client)
            bench = Bench(mirror, gateway, _group(mirror), floor_message())
            for label, pace_s in modes:  # the same volunteers: the second flow, their next card
                timings, seconds = await run_mode(bench, args.volunteers, pace_s, 0)
                rss = peak_rss_mb(client.pid)
                rows += mode_rows(label, args.db, args.volunteers, timings, seconds, rss)
        finally:
            client.terminate()
            client.join(timeout=10)
            fake.terminate()
            fake.join(timeout=10)
            calls.put(None)
    logged, doubles = count_outcomes(url)
    return rows, logged, doubles


def _group(mirror: Mirror) -> dict[str, Any]:
    return next((dict(c) for c in mirror.synced if c["name"] == "phonebank"), {})


async def _until(ready: Any, process: mp.process.BaseProcess) -> None:
    ends = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if not process.is_alive():
            raise RuntimeError("the Discord client exited during start-up")
        if time.monotonic() > ends:
            raise RuntimeError("the Discord client did not connect")
        await asyncio.sleep(0.05)


def print_table(rows: list[dict[str, Any]], out: Path) -> None:
    columns = ["case", "db", "concurrency", "n", "per_s", "p50_ms", "p95_ms", "p99_ms"]
    columns += ["ratio_to_floor", "peak_rss_mb", "errors", "lost", "doubles"]
    table = Table(title="discord_bench")
    for column in columns:
        table.add_column(column, justify="left" if column == "case" else "right")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console(width=180).print(table)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
