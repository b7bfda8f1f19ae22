"""Twilio's webhooks under load: TwiML response time through uvicorn on loopback.

    python -m bench.twilio_bench [--voters N] [--concurrency C] [--db postgresql|sqlite]
                                 [--servers S] [--think-ms T] [--burst B ...]

Loads N voters (default 100,000; bench.claim_bench's loader) into a fresh database and starts
the web app under uvicorn in a process of its own, as `phonebank web` builds it with Twilio
configured. C volunteers (default 50) each take a batch and press Call in chat, which rings
their phone through the real `twilio` client (pointed at the local fake REST API). Then all C
calling sessions run at once, every webhook signed as Twilio signs it:

    answer (whisper + dial the voter) -> voter leg: initiated, ringing, in-progress, completed
    -> dialed (the keypad question) -> key "2" (no answer) -> key "#" (the next voter, dialed
    inside the same call) -> ... until the batch is done -> the volunteer hangs up

First a warm-up: C other volunteers' sessions, one voter each, back to back, so that the
measured sessions meet the server as it runs all day (its statements compiled and prepared on
its pooled connections) rather than just started; their answers are reported on a row of their
own, "answer (cold server)".

Reported per kind of webhook: p50/p95/p99 of the response time (request sent -> TwiML read),
and a floor: the same answer requests with a wrong signature (refused before any work), 50 at
once, four times, after the sessions on their warm connections. The web servers' CPU (from
/proc) per voter called, all its webhooks and card updates together, says what the latency
under saturation is made of. Also counted from the rows: outcomes logged twice (must be 0) and
calls created at Twilio (one per session, the warm-up's too: later voters are dialed inside the
call). Target: p99 under 100 ms at 50 concurrent.

Before all that, the bursts (default 50 and 200 sessions): for each B, a server just started
(it answers /healthz only once warm), B sessions set up through the core, and every session's
answer webhook in the same instant. Reported: "burst: answer (cold server)" (then each session
calls one voter, keyed, and hangs up: `lost` counts those never logged), the server's CPU per
answer from the first answer sent to the last one read (the arithmetic of the burst: B answers
take at least B times that on the one core a process's Python runs on), and the floor: as many
forged requests at once on the same server once idle, four times.

By default each session sends its next webhook as soon as the last is answered: 50 requests
always in flight, the saturation case, where the response time is mostly the queue. With
`--think-ms T` each session pauses 0.5 T to 1.5 T (at random) before each webhook, as a real
call does (a real session sends a webhook every few seconds), which measures the response time
at a given load.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing as mp
import os
import random
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import uvloop
from rich.console import Console
from rich.table import Table
from sqlalchemy import bindparam, text
from sqlmodel import col, func, select
from twilio.request_validator import RequestValidator

from bench.claim_bench import CONFIG, VOLUNTEERS, BenchClock, load
from bench.common import (
    RESULTS_DIR,
    free_port,
    fresh_database,
    peak_rss_mb,
    percentile,
    wait_until_up,
    web_server,
    write_results,
)
from bench.slack_bench import count_doubles
from storage.campaign_config import CampaignConfig
from storage.db import make_engine, session_scope
from storage.models import CallAttempt, Campaign
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, CALLER_ID, FakeTwilioAPI

NO_ANSWER_KEY = "2"
FLOOR_ROUNDS = 4  # forged requests per session, all sessions at once each round
MAX_STEPS = 200  # a session that goes on longer than its batch is a bug: stop it
WARMUP_VOTERS = 1  # voters per warm-up session: every kind of webhook once
FLOOR = "floor: forged signature, refused before any work"
# The bench campaign: claim_bench's, with keypad keys on its result codes.
KEYPAD = {"talked": 1, "not_home": 2, "refused": 3, "wrong_number": 4, "dnc": 5}
_child_sids = itertools.count(1)


# ---- the server, in its own process ----------------------------------------------------------


def twilio_settings(url: str, api_url: str, public_base_url: str) -> Any:
    from bot.settings import load_settings

    return load_settings(
        database_url=url,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_caller_id=CALLER_ID,
        twilio_api_url=api_url,
        public_base_url=public_base_url,
        twilio_calls_per_second=100,
    )


def serve(url: str, port: int, api_url: str, started: float) -> None:
    """The web app as `phonebank web` builds it with Twilio set up, on the bench clock."""
    import uvicorn

    from bot.app import build_services
    from bot.cli.run import web_worker
    from bot.in_flight import InFlight
    from bot.later import LaterWork
    from bot.telephony.webhooks import twilio_routes
    from bot.web import create_web_app

    settings = twilio_settings(url, api_url, f"http://127.0.0.1:{port}")
    in_flight = InFlight()
    # Card updates after the answer, letting the answers go first, as `phonebank web` does.
    later = LaterWork(wait_quiet=in_flight.wait_quiet)
    worker = web_worker()  # the outbox's rows (a session's end notice), as `phonebank web` runs
    services = build_services(
        settings, clock=BenchClock(started), later=later.submit, outbox=worker
    )
    worker.start(services)
    app = create_web_app(services, routes=twilio_routes(settings, services), in_flight=in_flight)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ---- setting up: a batch and a ringing session per volunteer ----------------------------------


@dataclass(frozen=True)
class Session:
    session_id: int
    attempt_id: int
    call_sid: str  # the volunteer's leg


def start_sessions(
    url: str, api_url: str, port: int, count: int, started: float, first: int = 0
) -> list[Session]:
    """`count` volunteers (from the `first`th on) take a batch and press Call on its first
    card, through the core."""
    from bot.app import build_services
    from handlers.context import Platform
    from handlers.identity import context_for, link_volunteer
    from handlers.router import handle_action, handle_command
    from storage.db import session_scope

    settings = twilio_settings(url, api_url, f"http://127.0.0.1:{port}")
    engine = make_engine(url)
    services = build_services(settings, engine=engine, clock=BenchClock(started))
    with engine.begin() as conn:
        volunteers = [row.id for row in conn.execute(text("SELECT id FROM volunteer ORDER BY id"))]
    for index, volunteer_id in enumerate(volunteers[first : first + count], start=first):
        user = f"U0TWILIO{index:04d}"
        with session_scope(engine) as db:
            link_volunteer(db, context_for(services, Platform.SLACK, "T0BENCH", user), volunteer_id)
        ctx = context_for(services, Platform.SLACK, "T0BENCH", user, request_key=f"batch-{user}")
        handle_command(ctx, "batch")
        card_id = _first_card(engine, volunteer_id)
        ctx = context_for(services, Platform.SLACK, "T0BENCH", user, request_key=f"call-{user}")
        handle_action(ctx, "pb:card:call", str(card_id))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, current_attempt_id, call_sid FROM call_session"
                " WHERE call_sid IS NOT NULL AND volunteer_id IN :ids ORDER BY id"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": volunteers[first : first + count]},
        ).all()
    engine.dispose()
    return [Session(row.id, row.current_attempt_id, row.call_sid) for row in rows]


# What autovacuum's ANALYZE would have recorded by now in production. The development and CI
# server runs without autovacuum: with no statistics, the planner takes the batch tables for a
# few rows and probes them through the partial indexes on open cards and items, whose every
# entry (dead ones too) it then reads: about 80 times slower per webhook on a used database.
BATCH_TABLES = ("batch", "batch_card", "batch_item", "call_attempt", "call_session")


def analyze_batch_tables(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        for table in BATCH_TABLES:
            conn.execute(text(f"ANALYZE {table}"))
    engine.dispose()


def _first_card(engine: Any, volunteer_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT c.id FROM batch_card c JOIN batch b ON b.id = c.batch_id"
                    " WHERE b.volunteer_id = :v AND b.closed_at IS NULL ORDER BY c.position LIMIT 1"
                ),
                {"v": volunteer_id},
            ).scalar_one()
        )


def keypad_campaign(url: str) -> None:
    """Give the bench campaign's result codes their keypad keys."""
    codes = [code | {"keypad": KEYPAD[code["code"]]} for code in CONFIG["result_codes"]]
    config = CampaignConfig.model_validate(CONFIG | {"result_codes": codes})
    engine = make_engine(url)
    with session_scope(engine) as db:
        campaign = db.exec(select(Campaign)).one()
        campaign.config = config.model_dump(mode="json")
        db.add(campaign)
    engine.dispose()


# ---- Twilio's side: signed webhooks ------------------------------------------------------------


@dataclass
class Timings:
    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: int = 0
    sessions_done: int = 0


class Twilio:
    """Posts webhooks as Twilio does: form-encoded, signed over the public URL and parameters."""

    def __init__(
        self, http: aiohttp.ClientSession, base: str, timings: Timings, think_s: float = 0.0
    ) -> None:
        self.http = http
        self.base = base
        self.timings = timings
        self.think_s = think_s
        self.jitter = random.Random(7)
        self.validator = RequestValidator(AUTH_TOKEN)

    async def post(
        self, kind: str, url: str, params: dict[str, str], *, sign: bool = True
    ) -> ET.Element | None:
        if self.think_s and sign:  # the time a real call spends between two webhooks
            # Jittered, so that the sessions do not move in lockstep and arrive in bursts.
            await asyncio.sleep(self.think_s * self.jitter.uniform(0.5, 1.5))
        signature = self.validator.compute_signature(url, params) if sign else "forged"
        headers = {"X-Twilio-Signature": signature}
        started = time.perf_counter()
        async with self.http.post(url, data=params, headers=headers) as response:
            body = await response.read()
        self.timings.ms[kind].append((time.perf_counter() - started) * 1000)
        expected = 200 if sign else 403
        if response.status != expected:
            self.timings.errors += 1
            return None
        return ET.fromstring(body) if sign and body else None

    async def session(
        self,
        session: Session,
        voters: int = MAX_STEPS,
        answered: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        """One volunteer's call, from answering to hanging up after the last voter (or after
        `voters` voters); `answered` is awaited once the answer webhook has its TwiML."""
        common = {"AccountSid": ACCOUNT_SID, "CallSid": session.call_sid, "From": CALLER_ID}
        query = urlencode({"session": session.session_id, "attempt": session.attempt_id})
        twiml = await self.post(
            "answer",
            f"{self.base}/twilio/voice/answer?{query}",
            common | {"CallStatus": "in-progress"},
        )
        if answered is not None:
            await answered()
        for _ in range(MAX_STEPS):
            if twiml is None or twiml.find("Hangup") is not None or voters == 0:
                break
            dial = twiml.find("Dial")
            if dial is not None:
                twiml = await self.voter_call(common, dial)
                voters -= 1
            else:  # refused at dial time (say, calling hours): ask for the next one
                twiml = await self.press(common, twiml, "#")
        status_url = f"{self.base}/twilio/voice/status?session={session.session_id}"
        await self.post(
            "status (volunteer hung up)", status_url, common | {"CallStatus": "completed"}
        )
        self.timings.sessions_done += 1

    async def voter_call(self, common: dict[str, str], dial: ET.Element) -> ET.Element | None:
        """The voter's leg rings and ends unanswered; then "no answer" and "#" on the keypad."""
        child = f"CA{next(_child_sids):032x}"
        number = dial.find("Number")
        if number is None:
            return None
        voter_status = number.get("statusCallback", "")
        for status in ("initiated", "ringing", "in-progress", "completed"):
            params = common | {"CallSid": child, "ParentCallSid": common["CallSid"]}
            await self.post("voter status", voter_status, params | {"CallStatus": status})
        dialed = common | {"DialCallSid": child, "DialCallStatus": "no-answer"}
        twiml = await self.post(
            "dialed", dial.get("action", ""), dialed | {"DialCallDuration": "0"}
        )
        if twiml is None:
            return None
        twiml = await self.press(common, twiml, NO_ANSWER_KEY)
        return await self.press(common, twiml, "#") if twiml is not None else None

    async def press(self, common: dict[str, str], twiml: ET.Element, key: str) -> ET.Element | None:
        gather = twiml.find("Gather")
        if gather is None:
            return None
        kind = "keypad #" if key == "#" else "keypad outcome"
        return await self.post(kind, gather.get("action", ""), common | {"Digits": key})

    async def floor(self, sessions: list[Session]) -> None:
        """The same answer requests, forged: refused by the signature check alone."""
        for session in sessions:
            query = urlencode({"session": session.session_id, "attempt": session.attempt_id})
            params = {
                "AccountSid": ACCOUNT_SID,
                "CallSid": session.call_sid,
                "CallStatus": "ringing",
            }
            await self.post(
                FLOOR,
                f"{self.base}/twilio/voice/answer?{query}",
                params,
                sign=False,
            )


@dataclass
class Run:
    timings: Timings  # the measured sessions
    cold: Timings  # the warm-up
    seconds: float
    server_cpu_s: float  # the servers', during the measured sessions
    outcomes_before: int  # logged by the warm-up


async def run_sessions(
    url: str,
    servers: list[tuple[int, int | None]],
    warmup: list[Session],
    sessions: list[Session],
    think_s: float = 0.0,
) -> Run:
    """The warm-up sessions, then every measured session at once, spread over the servers
    (port, pid) as a load balancer would (round robin: a session's later webhooks go where its
    TwiML points, the same server)."""
    timings, cold = Timings(), Timings()
    connector = aiohttp.TCPConnector(limit=len(sessions) + 5)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as http:
        bases = [f"http://127.0.0.1:{port}" for port, _ in servers]
        warmers = [Twilio(http, base, cold) for base in bases]
        await asyncio.gather(
            *(warmers[i % len(bases)].session(s, WARMUP_VOTERS) for i, s in enumerate(warmup))
        )
        outcomes_before = outcomes_logged(url)
        cpu_before = sum(cpu_seconds(pid) for _, pid in servers)
        twilios = [Twilio(http, base, timings, think_s) for base in bases]
        assigned = [(twilios[i % len(bases)], s) for i, s in enumerate(sessions)]
        started = time.perf_counter()
        await asyncio.gather(*(twilio.session(s) for twilio, s in assigned))
        seconds = time.perf_counter() - started
        server_cpu_s = sum(cpu_seconds(pid) for _, pid in servers) - cpu_before
        # After the sessions, on their warm connections: measured first, the floor mostly timed
        # the servers' first-request start-up (all 50 took the same ~140 ms).
        for _ in range(FLOOR_ROUNDS):
            await asyncio.gather(*(twilio.floor([s]) for twilio, s in assigned))
    return Run(timings, cold, seconds, server_cpu_s, outcomes_before)


BURST_ANSWER = "burst: answer (cold server)"
BURST_FLOOR = "floor: burst of forged signatures, refused before any work"


@dataclass
class BurstRun:
    timings: Timings
    floor_ms: list[float]
    server_cpu_s: float  # the server's, from the first answer sent to the last one read


async def run_burst(base: str, pid: int | None, sessions: list[Session]) -> BurstRun:
    """Every session's answer webhook in the same instant on a server just started; once all
    are answered, each session calls one voter and hangs up. Then, on the idle server, as many
    forged requests at once, FLOOR_ROUNDS times: the floor."""
    timings, forged = Timings(), Timings()
    all_answered = asyncio.Barrier(len(sessions) + 1)
    connector = aiohttp.TCPConnector(limit=len(sessions) + 5)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as http:
        twilio, forger = Twilio(http, base, timings), Twilio(http, base, forged)
        cpu_before = cpu_seconds(pid)
        calls = asyncio.gather(
            *(twilio.session(s, WARMUP_VOTERS, all_answered.wait) for s in sessions)
        )
        await all_answered.wait()
        server_cpu_s = cpu_seconds(pid) - cpu_before
        await calls
        for _ in range(FLOOR_ROUNDS):
            await asyncio.gather(*(forger.floor([s]) for s in sessions))
    return BurstRun(timings, forged.ms[FLOOR], server_cpu_s)


def burst_case(
    url: str, args: argparse.Namespace, api_url: str, size: int, first: int, started: float
) -> list[dict[str, Any]]:
    """`size` sessions answered at once by a server just started (volunteers from `first` on)."""
    with web_server(serve, url, api_url, started) as (port, pid):
        sessions = start_sessions(url, api_url, port, size, started, first)
        analyze_batch_tables(url)
        logged_before = outcomes_logged(url)
        run = uvloop.run(run_burst(f"http://127.0.0.1:{port}", pid, sessions))
        rss = peak_rss_mb(pid)
    lost = size * WARMUP_VOTERS - (outcomes_logged(url) - logged_before)  # one voter each
    rows = burst_rows(args, size, run.timings, run.floor_ms, lost)
    rows[1]["server_cpu_ms_per_answer"] = round(run.server_cpu_s / size * 1000, 2)
    for row in rows:
        row["peak_rss_mb"] = rss
    return rows


def burst_rows(
    args: argparse.Namespace, size: int, timings: Timings, floor_ms: list[float], lost: int
) -> list[dict[str, Any]]:
    """The burst's floor and its answers, at concurrency `size`."""
    one_server = {"concurrency": size, "servers": 1, "think_ms": 0.0}
    floor_row = _row(BURST_FLOOR, args, floor_ms) | one_server
    answer = _row(BURST_ANSWER, args, timings.ms["answer"]) | one_server
    floor_p99 = floor_row["p99_ms"]
    answer["ratio_to_floor"] = round(answer["p99_ms"] / floor_p99, 1) if floor_p99 else None
    answer.update(errors=timings.errors, lost=lost)
    return [floor_row, answer]


# ---- counting from the rows ------------------------------------------------------------------


def outcomes_logged(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT count(*) FROM call_attempt WHERE result_code IS NOT NULL")
        ).scalar_one()
    engine.dispose()
    return int(logged)


# ---- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--voters", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=50, help="calling sessions at once")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="pause before each webhook of a session (0: back to back, the saturation case)",
    )
    parser.add_argument(
        "--servers", type=int, default=1, help="web processes (replicas behind a load balancer)"
    )
    parser.add_argument(
        "--burst",
        type=int,
        nargs="*",
        default=[50, 200],
        help="calling sessions answered at once, each burst on a server just started",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "twilio_bench.json")
    args = parser.parse_args()
    url, drop = fresh_database(args.db)
    try:
        engine = make_engine(url)
        load(
            engine, args.voters, volunteers=max(VOLUNTEERS, sum(args.burst) + 2 * args.concurrency)
        )
        engine.dispose()
        keypad_campaign(url)
        rows = run_bench(url, args)
    finally:
        drop()
    params = {
        "voters": args.voters,
        "concurrency": args.concurrency,
        "db": args.db,
        "servers": args.servers,
        "think_ms": args.think_ms,
        "burst": args.burst,
        "flow": ["answer", "voter status x4", "dialed", "key 2", "key #", "... hang up"],
        "target": (
            "p99 TwiML response < 100 ms at 50 concurrent; burst on a cold server: answer p99"
            " <= 500 ms for 50, <= 2 s for 200"
        ),
    }
    out = write_results("twilio_bench", params, rows, args.out)
    print_table(rows, out)


def run_bench(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    spawn = mp.get_context("spawn")
    started = time.time()
    with FakeTwilioAPI() as fake:
        rows: list[dict[str, Any]] = []
        first = 0
        for size in args.burst:
            rows += burst_case(url, args, fake.base_url, size, first, started)
            first += size
        calls_before = len(fake.calls_created())
        ports = [free_port() for _ in range(args.servers)]
        servers = [
            spawn.Process(target=serve, args=(url, port, fake.base_url, started), daemon=True)
            for port in ports
        ]
        for server in servers:
            server.start()
        try:
            for port, server in zip(ports, servers, strict=True):
                wait_until_up(port, server)
            count = args.concurrency
            sessions = start_sessions(url, fake.base_url, ports[0], 2 * count, started, first)
            warmup, sessions = sessions[:count], sessions[count:]
            analyze_batch_tables(url)
            pids = [(port, server.pid) for port, server in zip(ports, servers, strict=True)]
            # Twilio's side on uvloop too: the less of the 2 cores it takes, the more is the app's.
            run = uvloop.run(run_sessions(url, pids, warmup, sessions, args.think_ms / 1000))
            rss = max(peak_rss_mb(server.pid) or 0.0 for server in servers)
        finally:
            for server in servers:
                server.terminate()
                server.join(timeout=10)
        calls_created = len(fake.calls_created()) - calls_before
    doubles = count_doubles(url)  # each voter is dialed once
    logged = outcomes_logged(url) - run.outcomes_before
    seconds, server_cpu_s = run.seconds, run.server_cpu_s
    floor_p99 = percentile(run.timings.ms[FLOOR], 0.99)
    main = [_row("answer (cold server)", args, run.cold.ms["answer"])]
    main += [_row(kind, args, values) for kind, values in run.timings.ms.items()]
    for row in main:
        row.update(peak_rss_mb=rss, errors=run.timings.errors + run.cold.errors)
        if floor_p99 and row["case"] != FLOOR:
            row["ratio_to_floor"] = round(row["p99_ms"] / floor_p99, 1)  # of the p99s
    rows += main
    rows.append(
        {
            "case": "sessions",
            "db": args.db,
            "servers": args.servers,
            "concurrency": args.concurrency,
            "n": len(sessions),
            "done": run.timings.sessions_done,
            "outcomes_logged": logged,
            "per_s": round(logged / seconds, 1) if seconds else None,
            "server_cpu_ms_per_voter": round(server_cpu_s / logged * 1000, 2) if logged else None,
            "doubles": doubles,
            "lost": unlogged_calls(url, [s.session_id for s in sessions]),
            "calls_created_at_twilio": calls_created,
        }
    )
    return rows


def unlogged_calls(url: str, session_ids: list[int]) -> int:
    """Voters the sessions dialed whose outcome was never logged (each is keyed "2")."""
    engine = make_engine(url)
    with engine.connect() as conn:
        lost = conn.execute(
            select(func.count())
            .select_from(CallAttempt)
            .where(
                col(CallAttempt.session_id).in_(session_ids),
                col(CallAttempt.result_code).is_(None),
                col(CallAttempt.call_status) != "canceled",  # refused at dial time: not called
            )
        ).scalar_one()
    engine.dispose()
    return int(lost)


def cpu_seconds(pid: int | None) -> float:
    """User and system CPU seconds a process has used so far (proc(5)); 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(") ")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _row(kind: str, args: argparse.Namespace, values: list[float]) -> dict[str, Any]:
    return {
        "case": kind,
        "db": args.db,
        "servers": args.servers,
        "think_ms": args.think_ms,
        "concurrency": args.concurrency,
        "n": len(values),
        "p50_ms": round(percentile(values, 0.50), 1),
        "p95_ms": round(percentile(values, 0.95), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
    }


def print_table(rows: list[dict[str, Any]], out: Path) -> None:
    columns = [
        "case",
        "db",
        "servers",
        "think_ms",
        "concurrency",
        "n",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "errors",
    ]
    columns += ["ratio_to_floor", "outcomes_logged", "per_s", "server_cpu_ms_per_voter"]
    columns += ["server_cpu_ms_per_answer"]
    columns += ["doubles", "lost"]
    columns += ["calls_created_at_twilio"]
    table = Table(title="twilio_bench")
    for column in columns:
        table.add_column(column, justify="left" if column == "case" else "right")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console(width=160).print(table)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
