"""Batch claims under concurrency, against the unlocked claim most texting tools ship.

    python -m bench.claim_bench [--voters N] [--claimers C ...] [--db sqlite postgresql]

Loads N voters (default 1,000,000) over 50 area codes and 5 languages, with households sharing
a phone, into a fresh database per engine (PostgreSQL: a database of its own, dropped at the
end). Then, for each concurrency, C claimers (volunteers of mixed area codes and languages, in
worker processes) claim batches of 20 and log an outcome for every voter, for a fixed time.
Reported per database and concurrency: claims/s, claim latency p50/p95/p99, busy and empty
answers, the voters and the phones that were ever in two batches (counted from the rows, not from
what the claim code says), and the share of claims that got same-area-code voters when the
volunteer's area code has voters; and the CPU per claim (its 20 outcomes included), the claimers'
own and their PostgreSQL backends' (read from /proc: the server runs on this machine), with the
claims/s that much CPU allows at best on this machine's cores. The peer baseline, `UPDATE ... WHERE id IN (SELECT ... WHERE
unassigned LIMIT n)`, runs on a copy of the list at each concurrency, logging what each caller
got, and its double assignments are counted the same way.

Outcomes are retry (not home), contact and terminal results: a voter comes back only after the
4-hour gap, so within a run any voter or phone seen in two batches was handed out twice.

By default each claimer works back to back (claim, log 20 outcomes, claim again), so latency at
high concurrency is mostly the wait for the CPU (Little's law: latency = claimers / throughput).
`--rate R` offers R claims/s spread over the claimers instead, to read latency at a given load;
`--out` writes such a run elsewhere. A claimer's first claim compiles its statements and is left
out of the latencies. PostgreSQL claimers run in one process per core, SQLite's in one process
(how it is deployed).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, bindparam, insert, text
from sqlalchemy.exc import OperationalError

from bench.common import BackendCpu, fresh_database, percentile, write_results
from matching.claims import ClaimStatus, claim_batch
from matching.outcomes import Outcome, record_outcomes
from matching.tables import CAMPAIGN, VOLUNTEER, VOTER
from matching.zones import calling_zone_key
from storage.campaign_config import CampaignConfig
from storage.db import create_schema, make_engine
from storage.models import EPOCH

RESULTS = Path(__file__).parent / "results" / "claim_bench.json"
ADMIN_URL = os.environ.get("PHONEBANK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test")
# A Tuesday, 18:00 UTC: 13:00 in New York, 10:00 in Los Angeles: every voter is callable.
BENCH_START = datetime(2026, 10, 20, 18, 0, tzinfo=UTC)
BATCH = 20
AREA_CODES = {  # 50 area codes: state
    "212": "NY", "718": "NY", "516": "NY", "315": "NY", "201": "NJ", "973": "NJ", "215": "PA",
    "412": "PA", "617": "MA", "413": "MA", "203": "CT", "401": "RI", "202": "DC", "301": "MD",
    "410": "MD", "703": "VA", "804": "VA", "919": "NC", "704": "NC", "803": "SC", "404": "GA",
    "912": "GA", "305": "FL", "407": "FL", "850": "FL", "813": "FL", "205": "AL", "615": "TN",
    "901": "TN", "502": "KY", "216": "OH", "614": "OH", "313": "MI", "312": "IL", "773": "IL",
    "317": "IN", "414": "WI", "612": "MN", "314": "MO", "504": "LA", "512": "TX", "713": "TX",
    "214": "TX", "915": "TX", "303": "CO", "602": "AZ", "208": "ID", "702": "NV", "213": "CA",
    "206": "WA",
}  # fmt: skip
OTHER_AREA_CODES = ("907", "808", "505", "801")  # volunteers from places with no voters
LANGUAGES = (("en", 60), ("es", 20), ("zh", 8), ("vi", 7), ("ko", 5))
OUTCOMES = (("not_home", 55), ("talked", 25), ("refused", 12), ("wrong_number", 5), ("dnc", 3))
VOLUNTEERS = 256
CONFIG: dict[str, Any] = {
    "slug": "bench",
    "name": "Claim benchmark",
    "caller_id": "+15125550100",
    "scripts": {"en": "Hi"},
    "result_codes": [
        {"code": "talked", "label": "Talked", "kind": "contact"},
        {"code": "not_home", "label": "Not home", "kind": "retry"},
        {"code": "refused", "label": "Refused", "kind": "terminal"},
        {"code": "wrong_number", "label": "Wrong", "kind": "terminal", "action": "wrong_number"},
        {"code": "dnc", "label": "Do not call", "kind": "terminal", "action": "dnc"},
    ],
    "calling_hours": {day: "08:00-21:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat")},
    "batch_size": BATCH,
    "attempts": {"max_attempts": 3, "min_gap_hours": 4},
}


class BenchClock:
    """Bench time: BENCH_START plus the real time elapsed since the run began."""

    def __init__(self, started: float) -> None:
        self._started = started

    def now(self) -> datetime:
        return BENCH_START + timedelta(seconds=time.time() - self._started)


# ---- loading ------------------------------------------------------------------------------


def voter_rows(n: int, campaign_id: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """N voters; about one phone in ten is shared by a household of two, same language."""
    rng = random.Random(seed)
    codes = list(AREA_CODES)
    keys = {ac: _area_key(ac) for ac in codes}
    languages = [code for code, weight in LANGUAGES for _ in range(weight)]
    made = 0
    line = 0
    while made < n:
        line += 1
        area = codes[line % len(codes)]
        phone = f"+1{area}{200 + (line // 10000) % 800:03d}{line % 10000:04d}"
        language = rng.choice(languages)
        for _ in range(2 if rng.random() < 0.1 else 1):
            if made == n:
                break
            made += 1
            yield (
                campaign_id,
                f"id:{made}",
                f"V{made}",
                f"L{made}",
                phone,
                area,
                AREA_CODES[area],
                keys[area][1],
                keys[area][0],
                language,
                rng.choice((1, 2, 2, 3)),
                "ready",
                0,
                EPOCH,
                "{}",
                f"h{made}",
                BENCH_START,
                BENCH_START,
            )


VOTER_COLUMNS = (
    "campaign_id, dedupe_key, first_name, last_name, phone, area_code, state, time_zones, "
    "calling_zone_key, language, priority, status, attempts, available_at, attributes, row_hash, "
    "created_at, updated_at"
)


def _area_key(area: str) -> tuple[str, str]:
    from matching.phones import normalize_phone

    info = normalize_phone(f"+1{area}2000100")
    zones = " ".join(info.time_zones)
    return calling_zone_key(info.e164, AREA_CODES[area], zones), zones


def load(engine: Engine, n: int, volunteers: int = VOLUNTEERS) -> tuple[int, float]:
    """Schema, campaign, volunteers and N voters; (campaign id, seconds spent on voters)."""
    create_schema(engine)
    now = BENCH_START
    config = CampaignConfig.model_validate(CONFIG).model_dump(mode="json")
    with engine.begin() as conn:
        campaign_id = conn.execute(
            insert(CAMPAIGN)
            .values(slug="bench", name="Bench", config=config, config_source="")
            .values(created_at=now, updated_at=now)
            .returning(CAMPAIGN.c.id)
        ).scalar_one()
        conn.execute(
            insert(VOLUNTEER),
            # Verified phones: calls ring only a proven phone, and batches go only to them.
            [
                row | {"created_at": now, "updated_at": now, "phone_verified_at": now}
                for row in volunteer_rows(volunteers)
            ],
        )
    started = time.perf_counter()
    indexes = [ix for ix in VOTER.indexes if not ix.unique]
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
    if engine.dialect.name == "postgresql":
        _copy_voters(engine, n, campaign_id)
    else:
        _insert_voters(engine, n, campaign_id)
    with engine.begin() as conn:
        for index in indexes:
            index.create(conn)
        # The list only: batch tables stay unanalyzed, so the planner sizes them from their pages
        # as they grow, not from the "empty" an ANALYZE now would record.
        for table in ("voter", "volunteer", "campaign"):
            conn.execute(text(f"ANALYZE {table}"))
    return campaign_id, time.perf_counter() - started


def volunteer_rows(count: int = VOLUNTEERS) -> Iterator[dict[str, Any]]:
    rng = random.Random(11)
    codes = list(AREA_CODES)
    for i in range(count):
        area = rng.choice(OTHER_AREA_CODES) if i % 5 == 4 else codes[i % len(codes)]
        spoken = ["en"] + ([LANGUAGES[1 + i % 4][0]] if i % 3 == 0 else [])
        yield {
            "name": f"Volunteer {i}",
            "phone": f"+1{area}555{i:04d}",
            "area_code": area,
            "languages": spoken,
            "status": "certified",
            "sms_consent": False,
            "sms_opted_out": False,
        }


def _copy_voters(engine: Engine, n: int, campaign_id: int) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY voter ({VOTER_COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in voter_rows(n, campaign_id):
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def _insert_voters(engine: Engine, n: int, campaign_id: int) -> None:
    placeholders = ", ".join("?" for _ in VOTER_COLUMNS.split(","))
    sql = f"INSERT INTO voter ({VOTER_COLUMNS}) VALUES ({placeholders})"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        rows = (
            row[:13] + (_sqlite_time(row[13]),) + row[14:16] + (_sqlite_time(row[16]),) * 2
            for row in voter_rows(n, campaign_id)
        )
        cursor.executemany(sql, rows)
        cursor.execute("COMMIT")
    finally:
        raw.close()


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it


# ---- claimers -----------------------------------------------------------------------------


@dataclass
class WorkerReport:
    latencies_ms: list[float] = field(default_factory=list)
    claims: int = 0
    busy: int = 0
    empty: int = 0
    errors: int = 0
    same_area: int = 0  # claims that got same-area-code voters
    area_claims: int = 0  # claims made while same-area-code voters were available
    outcome_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0  # the claimer processes' own CPU time (their share of the machine)
    server_cpu_s: float = 0.0  # their PostgreSQL backends' CPU time


def claimer_process(
    url: str,
    campaign_id: int,
    volunteers: list[tuple[int, str, list[str]]],
    seconds: float,
    started: float,
    interval: float | None,
) -> WorkerReport:
    """One process running one thread per volunteer; returns their merged report."""
    cpu_started = time.process_time()
    engine = make_engine(url, pool_size=len(volunteers), max_overflow=4)
    backends = BackendCpu(engine)
    clock = BenchClock(started)
    report = WorkerReport()
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    threads = [
        threading.Thread(
            target=_claim_loop,
            args=(engine, campaign_id, v, clock, deadline, report, lock, interval),
        )
        for v in volunteers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.server_cpu_s = backends.seconds()
    engine.dispose()
    report.cpu_s = time.process_time() - cpu_started
    return report


def _claim_loop(
    engine: Engine,
    campaign_id: int,
    volunteer: tuple[int, str, list[str]],
    clock: BenchClock,
    deadline: float,
    report: WorkerReport,
    lock: threading.Lock,
    interval: float | None,
) -> None:
    volunteer_id, area, languages = volunteer
    rng = random.Random(volunteer_id)
    codes = [code for code, weight in OUTCOMES for _ in range(weight)]
    next_at = time.perf_counter() + (rng.random() * interval if interval else 0.0)
    warm = False  # a claimer's first claim compiles its statements: not in the latencies
    while time.perf_counter() < deadline:
        if interval:  # paced: this claimer's share of the offered rate
            time.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += interval
        t0 = time.perf_counter()
        try:
            result = claim_batch(engine, volunteer_id, campaign_id, BATCH, clock=clock)
        except Exception:
            with lock:
                report.errors += 1
            continue
        elapsed = (time.perf_counter() - t0) * 1000
        # No calls are placed here: the outcomes are vouched for, as a reviewed manual dial's
        # are, so the path measured is the claim's and the outcome's own (not the call check).
        outcomes = [
            Outcome(v.voter_id, rng.choice(codes), batch_id=result.batch_id, vouched_by="bench")
            for card in result.cards
            for v in card.voters
        ]
        t1 = time.perf_counter()
        if result.status is ClaimStatus.CLAIMED:
            record_outcomes(engine, outcomes, clock=clock)
        outcome_ms = (time.perf_counter() - t1) * 1000
        same_area = bool(result.cards) and result.cards[0].reason.startswith("same area code")
        could_have = same_area or (
            result.status is ClaimStatus.CLAIMED
            and _area_has_voters(engine, campaign_id, area, languages, clock)
        )
        with lock:
            if warm:
                report.latencies_ms.append(elapsed)
            warm = True
            if result.status is ClaimStatus.BUSY:
                report.busy += 1
            elif result.status is ClaimStatus.EMPTY:
                report.empty += 1
            elif result.status is ClaimStatus.CLAIMED:
                report.claims += 1
                report.outcome_ms.append(outcome_ms)
                report.area_claims += could_have
                report.same_area += same_area
        if result.status is ClaimStatus.EMPTY:
            return


_AREA_HAS_VOTERS = text(
    "SELECT 1 FROM voter WHERE campaign_id = :c AND area_code = :a AND status = 'ready'"
    " AND batch_id IS NULL AND attempts < 3 AND available_at <= :now LIMIT 1"
)


def _area_has_voters(
    engine: Engine, campaign_id: int, area: str, languages: list[str], clock: BenchClock
) -> bool:
    """Whether same-area-code voters this volunteer may call were left (checked after a claim
    that got none, outside the timed part)."""
    if area not in AREA_CODES:
        return False
    query = _AREA_HAS_VOTERS.text.replace("LIMIT 1", "AND language IN :langs LIMIT 1")
    statement = text(query).bindparams(bindparam("langs", expanding=True))
    with engine.connect() as conn:
        params = {"c": campaign_id, "a": area, "now": clock.now(), "langs": languages}
        return conn.execute(statement, params).first() is not None


def _processes(url: str, concurrency: int) -> int:
    """PostgreSQL: one worker process per core. SQLite: one process, as it is deployed
    (embedded, one process; threads queue on matching's writer lock)."""
    if url.startswith("sqlite"):
        return 1
    return min(concurrency, os.cpu_count() or 2)


def run_claimers(
    url: str, campaign_id: int, concurrency: int, seconds: float, rate: float | None, first: int
) -> WorkerReport:
    """C claimers (volunteers from the `first`th on) over worker processes; reports merged."""
    volunteers = _volunteers(url, concurrency, first)
    processes = _processes(url, concurrency)
    shares = [volunteers[i::processes] for i in range(processes)]
    started = time.time()
    interval = concurrency / rate if rate else None
    with mp.get_context("spawn").Pool(processes) as pool:
        reports = pool.starmap(
            claimer_process,
            [(url, campaign_id, share, seconds, started, interval) for share in shares],
        )
    merged = WorkerReport()
    for report in reports:
        merged.latencies_ms += report.latencies_ms
        merged.outcome_ms += report.outcome_ms
        for name in (
            "claims",
            "busy",
            "empty",
            "errors",
            "same_area",
            "area_claims",
            "cpu_s",
            "server_cpu_s",
        ):
            setattr(merged, name, getattr(merged, name) + getattr(report, name))
    return merged


def _volunteers(url: str, count: int, first: int) -> list[tuple[int, str, list[str]]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, area_code, languages FROM volunteer ORDER BY id LIMIT :n OFFSET :o"),
            {"n": count, "o": first},
        ).all()
    engine.dispose()
    return [(row.id, row.area_code, _languages(row.languages)) for row in rows]


def _languages(value: Any) -> list[str]:
    return list(json.loads(value) if isinstance(value, str) else value)


def count_doubles(engine: Engine, first_batch: int) -> tuple[int, int]:
    """(voters, phones) found in more than one batch since `first_batch`, from the rows."""
    with engine.connect() as conn:
        voters = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT voter_id FROM batch_item WHERE batch_id >= :b"
                " GROUP BY voter_id HAVING count(*) > 1) d"
            ),
            {"b": first_batch},
        ).scalar_one()
        phones = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT v.phone FROM batch_item i JOIN voter v"
                " ON v.id = i.voter_id WHERE i.batch_id >= :b GROUP BY v.phone"
                " HAVING count(DISTINCT i.batch_id) > 1) d"
            ),
            {"b": first_batch},
        ).scalar_one()
    return int(voters), int(phones)


def next_batch_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM batch")).scalar_one())


# ---- the peer baseline --------------------------------------------------------------------

BASELINE_SETUP = [
    "CREATE TABLE baseline_contact (id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL,"
    " assignment_id INTEGER)",
    "CREATE TABLE baseline_log (assignment_id INTEGER NOT NULL, contact_id INTEGER NOT NULL)",
    "INSERT INTO baseline_contact (id, campaign_id) SELECT id, campaign_id FROM voter",
    "CREATE INDEX ix_baseline_unassigned ON baseline_contact (campaign_id, assignment_id)",
]
# Spoke's assignment query, in essence: no lock on the rows the subquery picks.
BASELINE_CLAIM = text(
    "UPDATE baseline_contact SET assignment_id = :a WHERE id IN (SELECT id FROM baseline_contact"
    " WHERE campaign_id = :c AND assignment_id IS NULL LIMIT :n) RETURNING id"
)


@dataclass
class BaselineReport:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0  # deadlocks: its rows are locked in no particular order
    cpu_s: float = 0.0
    server_cpu_s: float = 0.0


def baseline_process(
    url: str, campaign_id: int, workers: list[int], seconds: float
) -> BaselineReport:
    engine = make_engine(url, pool_size=len(workers), max_overflow=4)
    backends = BackendCpu(engine)
    cpu_started = time.process_time()
    report = BaselineReport()
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def loop(worker: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            assignment = worker * 1_000_000 + n
            t0 = time.perf_counter()
            try:
                with engine.begin() as conn:
                    ids = conn.execute(
                        BASELINE_CLAIM, {"a": assignment, "c": campaign_id, "n": BATCH}
                    ).scalars()
                    rows = [{"a": assignment, "v": i} for i in ids]
                    if rows:
                        conn.execute(text("INSERT INTO baseline_log VALUES (:a, :v)"), rows)
            except OperationalError:
                with lock:
                    report.errors += 1
                continue
            with lock:
                report.latencies_ms.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.server_cpu_s = backends.seconds()
    engine.dispose()
    report.cpu_s = time.process_time() - cpu_started
    return report


def run_baseline(url: str, campaign_id: int, concurrency: int, seconds: float) -> BaselineReport:
    processes = _processes(url, concurrency)
    workers = list(range(1, concurrency + 1))
    with mp.get_context("spawn").Pool(processes) as pool:
        parts = pool.starmap(
            baseline_process,
            [(url, campaign_id, workers[i::processes], seconds) for i in range(processes)],
        )
    merged = BaselineReport()
    for part in parts:
        merged.latencies_ms += part.latencies_ms
        merged.errors += part.errors
        merged.cpu_s += part.cpu_s
        merged.server_cpu_s += part.server_cpu_s
    return merged


def baseline_doubles(engine: Engine) -> int:
    with engine.begin() as conn:
        doubles = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT contact_id FROM baseline_log GROUP BY contact_id"
                " HAVING count(*) > 1) d"
            )
        ).scalar_one()
        conn.execute(text("DELETE FROM baseline_log"))
        conn.execute(text("UPDATE baseline_contact SET assignment_id = NULL"))
    return int(doubles)


# ---- the run ------------------------------------------------------------------------------


# What autovacuum does between the cases in production. This server may run without it (the
# development and CI one does): then each case left the next its dead rows, the peer's reset of
# a million rows above all, and later cases measured the bloat (the peer fell to 42 claims/s).
VACUUMED = ("voter", "batch", "batch_card", "batch_item", "call_attempt", "dnc_entry")


def vacuum_between_cases(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in (*VACUUMED, "baseline_contact", "baseline_log"):
            conn.execute(text(f"VACUUM (ANALYZE) {table}"))


def claim_row(
    db: str,
    concurrency: int,
    report: WorkerReport,
    seconds: float,
    rate: float | None,
) -> dict[str, Any]:
    lat = report.latencies_ms
    case = "claim (SKIP LOCKED)" if db == "postgresql" else "claim (BEGIN IMMEDIATE)"
    return {
        "case": case + (f", paced at {rate:g}/s offered" if rate else ""),
        "db": db,
        "concurrency": concurrency,
        "n": report.claims,
        "per_s": round(report.claims / seconds, 1),
        "p50_ms": round(percentile(lat, 0.50), 2),
        "p95_ms": round(percentile(lat, 0.95), 2),
        "p99_ms": round(percentile(lat, 0.99), 2),
        "outcomes_p50_ms": round(statistics.median(report.outcome_ms), 2)
        if report.outcome_ms
        else 0.0,
        "busy": report.busy,
        "empty": report.empty,
        "errors": report.errors,
        "same_area_share": round(report.same_area / report.area_claims, 3)
        if report.area_claims
        else None,
        **cpu_figures(report.cpu_s, report.server_cpu_s, report.claims),
    }


def cpu_figures(client_cpu_s: float, server_cpu_s: float, claims: int) -> dict[str, Any]:
    """CPU per claim and its 20 outcomes, claimers' and database server's, and the claims/s
    that much CPU allows on this machine's cores at best (every core busy, no waiting)."""
    if not claims:
        return {}
    per_claim = (client_cpu_s + server_cpu_s) / claims
    return {
        "client_cpu_ms": round(client_cpu_s / claims * 1000, 2),
        "server_cpu_ms": round(server_cpu_s / claims * 1000, 2),
        "cpu_bound_per_s": round((os.cpu_count() or 1) / per_claim, 1),
    }


def bench_database(
    db: str, voters: int, claimers: list[int], seconds: float, rate: float | None
) -> list[dict[str, Any]]:
    url, cleanup = fresh_database(db, ADMIN_URL)
    try:
        engine = make_engine(url)
        campaign_id, load_s = load(engine, voters)
        rows: list[dict[str, Any]] = [
            {"case": "load voters", "db": db, "n": voters, "per_s": round(voters / load_s, 1)}
        ]
        with engine.begin() as conn:
            for statement in BASELINE_SETUP:
                conn.execute(text(statement))
        url_text = engine.url.render_as_string(hide_password=False)
        volunteers_used = 0  # each case its own volunteers, whose areas earlier cases left full
        for concurrency in claimers:
            first = next_batch_id(engine)
            report = run_claimers(
                url_text, campaign_id, concurrency, seconds, rate, volunteers_used
            )
            volunteers_used += concurrency
            row = claim_row(db, concurrency, report, seconds, rate)
            row["doubles"], row["phone_doubles"] = count_doubles(engine, first)
            rows.append(row)
            baseline = run_baseline(url_text, campaign_id, concurrency, seconds)
            latencies = baseline.latencies_ms
            rows.append(
                {
                    "case": "baseline: unlocked UPDATE ... WHERE id IN (SELECT ... LIMIT n)",
                    "db": db,
                    "concurrency": concurrency,
                    "n": len(latencies),
                    "per_s": round(len(latencies) / seconds, 1),
                    "p50_ms": round(percentile(latencies, 0.5), 2),
                    "p99_ms": round(percentile(latencies, 0.99), 2),
                    "errors": baseline.errors,
                    "doubles": baseline_doubles(engine),
                    **cpu_figures(baseline.cpu_s, baseline.server_cpu_s, len(latencies)),
                }
            )
            vacuum_between_cases(engine)
        engine.dispose()
        return rows
    finally:
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=1_000_000)
    parser.add_argument("--claimers", type=int, nargs="+", help="concurrencies (both databases)")
    parser.add_argument("--db", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--seconds", type=float, default=10.0, help="per concurrency")
    parser.add_argument(
        "--rate", type=float, help="offered claims/s over all claimers (default: back to back)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    defaults = {"postgresql": [1, 16, 64], "sqlite": [1, 4, 16]}
    rows: list[dict[str, Any]] = []
    for db in args.db:
        claimers = args.claimers or defaults[db]
        rows += bench_database(db, args.voters, claimers, args.seconds, args.rate)
    save_results(args, rows)
    print_table(rows, args.out)


def save_results(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    params = {
        "voters": args.voters,
        "claimers": args.claimers,
        "databases": args.db,
        "seconds_per_case": args.seconds,
        "offered_rate": args.rate,
        "batch_size": BATCH,
        "area_codes": len(AREA_CODES),
        "languages": [code for code, _ in LANGUAGES],
    }
    write_results("claim_bench", params, rows, args.out)


def print_table(rows: list[dict[str, Any]], out: Path) -> None:
    columns = ["case", "db", "concurrency", "n", "per_s", "p50_ms", "p95_ms", "p99_ms"]
    columns += ["busy", "errors", "doubles", "phone_doubles", "same_area_share"]
    columns += ["client_cpu_ms", "server_cpu_ms", "cpu_bound_per_s"]
    table = Table(title="claim_bench")
    for column in columns:
        table.add_column(column, justify="left" if column in ("case", "db") else "right")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console = Console()
    (console if console.is_terminal else Console(width=200)).print(table)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
