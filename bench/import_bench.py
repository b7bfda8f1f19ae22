"""Voter import benchmark: `python -m bench.import_bench [--rows N]`.

Generates a synthetic voter file, then times, each in its own process (so peak RSS is per
case), on SQLite and on PostgreSQL:

- floor: the file read with `csv` and written as it is with plain bulk inserts (`executemany`
  on SQLite, `COPY` on PostgreSQL) into the empty voter table with all its indexes: no phone
  normalization, no dedupe, no upsert;
- import: `import_voters`, the real thing, into an empty campaign;
- reimport: the same file again (every row unchanged or rejected), in the same process.

Also the phone normalizer alone: the memoized fast path against phonenumbers end to end.
Writes bench/results/import_bench.json in DESIGN.md's shape.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from bench.common import fresh_database, write_results
from storage.clock import SystemClock
from storage.db import create_schema, make_engine
from storage.importing import common as import_common
from storage.importing.common import fewer_gc_passes
from storage.models import Campaign

# Imported where used: phonenumbers' geocoding data alone is ~100 MB, and the floor's process
# must not carry it, or its peak RSS would not be the floor's.

RESULTS = Path(__file__).parent / "results" / "import_bench.json"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
SLUG = "bench"
_FLOOR_COLUMNS = (
    "campaign_id", "dedupe_key", "external_id", "first_name", "last_name", "phone", "language",
    "state", "zip", "attributes", "row_hash", "time_zones", "priority", "status", "attempts",
    "available_at", "created_at", "updated_at",
)  # fmt: skip
_VOTER_FILE_HEADER = [
    "VanID",
    "FirstName",
    "LastName",
    "CellPhone",
    "HomePhone",
    "Language",
    "State",
    "Zip5",
    "Precinct",
    "PollingPlace",
    "Age",
    "Party",
]  # bench.synthetic_voters.HEADER, without importing it (see above)
console = Console()


def main(argv: list[str] | None = None) -> None:
    """Run every case and write the results."""
    args = _arguments(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.url, Path(args.file))))
        return
    from bench.synthetic_voters import write_voter_file

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="import_bench_") as tmp:
        voter_file = Path(tmp) / "voters.csv"
        started = time.perf_counter()
        write_voter_file(voter_file, args.rows)
        console.print(
            f"generated {args.rows:,} rows ({voter_file.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        rows = _phone_rows(voter_file)
        for db in args.db:
            rows += _database_rows(db, voter_file, Path(tmp), args)
    params = {
        "rows": args.rows,
        "chunk_rows": import_common.CHUNK_ROWS,
        "malformed_share": 0.05,
        "duplicate_share": 0.02,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }
    _report(rows, params)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.import_bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PHONEBANK_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a server where the bench may create and drop databases",
    )
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- the parent: one fresh database and one process per case ------------------------------


def _database_rows(
    db: str, voter_file: Path, tmp: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for case in ("floor", "import"):
        url, cleanup = fresh_database(db, args.postgres_url)
        try:
            console.print(f"{db}: {case} ...")
            results[case] = _run_worker(case, url, voter_file)
        finally:
            cleanup()
    floor_s = results["floor"]["seconds"]
    floor = _row("floor", db, args.rows, results["floor"], floor_s)
    imported = _row("import", db, args.rows, results["import"], floor_s)
    again = _row("reimport", db, args.rows, results["import"]["reimport"], floor_s)
    again["peak_rss_mb"] = imported["peak_rss_mb"]
    return [floor, imported, again]


def _row(case: str, db: str, n: int, result: dict[str, Any], floor_s: float) -> dict[str, Any]:
    row = {
        "case": case,
        "db": db,
        "n": n,
        "seconds": round(result["seconds"], 2),
        "per_s": round(n / result["seconds"], 1),
        "ratio_to_floor": round(result["seconds"] / floor_s, 2),
        "cpu_s": round(result["cpu_s"], 2),
        "errors": 0,
    }
    if "peak_rss_mb" in result:
        row["peak_rss_mb"] = result["peak_rss_mb"]
    return row | result.get("counts", {})


def _run_worker(case: str, url: str, voter_file: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.import_bench", "--worker", case, "--url", url]
    done = subprocess.run(
        [*command, "--file", str(voter_file)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{case} worker failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the workers ---------------------------------------------------------------------------


def _worker(case: str, url: str, voter_file: Path) -> dict[str, Any]:
    engine = make_engine(url)
    create_schema(engine)
    campaign_id = _campaign(engine)
    if case == "floor":
        started, cpu = time.perf_counter(), time.process_time()
        _floor(engine, campaign_id, voter_file)
        result: dict[str, Any] = {
            "seconds": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu,
        }
    else:
        result = _timed_import(engine, voter_file)
        result["reimport"] = _timed_import(engine, voter_file)
    result["peak_rss_mb"] = _peak_rss_mb()
    engine.dispose()
    return result


def _peak_rss_mb() -> float:
    """This process's own peak RSS. Not ru_maxrss: Linux carries it over from the parent
    through fork and exec, so every worker would report at least the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _campaign(engine: Engine) -> int:
    now = datetime.now(UTC)
    values = {"slug": SLUG, "name": "Bench", "config": {}, "config_source": ""}
    with engine.begin() as conn:
        table = Campaign.__table__  # type: ignore[attr-defined]
        inserted = conn.execute(
            insert(table).values(values | {"created_at": now, "updated_at": now})
        )
        return int(inserted.inserted_primary_key[0])


def _timed_import(engine: Engine, voter_file: Path) -> dict[str, Any]:
    from storage.importing import import_voters

    started, cpu = time.perf_counter(), time.process_time()
    summary = import_voters(engine, voter_file, SLUG, SystemClock())
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    counts = {
        k: getattr(summary, k)
        for k in ("read", "imported", "updated", "unchanged", "rejected", "on_dnc")
    }
    return {"seconds": seconds, "cpu_s": cpu_s, "counts": counts}


def _floor(engine: Engine, campaign_id: int, voter_file: Path) -> None:
    """csv rows straight into the voter table: what any import must at least spend."""
    raw = engine.raw_connection()
    driver: Any = raw.driver_connection
    postgres = engine.dialect.name == "postgresql"
    now = "2026-01-01 00:00:00.000000"
    columns = ", ".join(_FLOOR_COLUMNS)
    sql = f"INSERT INTO voter ({columns}) VALUES ({', '.join(['?'] * len(_FLOOR_COLUMNS))})"
    extra = _VOTER_FILE_HEADER[8:]
    # The import's own garbage-collector setting, so the ratio measures processing alone.
    with voter_file.open(encoding="utf-8", newline="") as handle, fewer_gc_passes():
        reader = csv.reader(handle)
        next(reader)
        for chunk in import_common.chunked(enumerate(reader)):
            rows = [
                (
                    campaign_id,
                    f"row:{n}",
                    r[0],
                    r[1],
                    r[2],
                    r[3] or r[4],
                    r[5],
                    r[6],
                    r[7],
                    json.dumps(dict(zip(extra, r[8:], strict=True))),
                    "",
                    "",
                    0,
                    "ready",
                    0,
                    "1970-01-01 00:00:00.000000",
                    now,
                    now,
                )  # fmt: skip
                for n, r in chunk
            ]
            if postgres:
                with (
                    driver.cursor() as cursor,
                    cursor.copy(f"COPY voter ({columns}) FROM STDIN") as copy,
                ):
                    for row in rows:
                        copy.write_row(row)
            else:
                driver.execute("BEGIN IMMEDIATE")
                driver.executemany(sql, rows)
            driver.commit()
    raw.close()


# --- the phone normalizer alone ------------------------------------------------------------


def _phone_rows(voter_file: Path, limit: int = 100_000) -> list[dict[str, Any]]:
    from matching.phones import clear_phone_cache, full_normalize_phone, normalize_phone

    phones: list[str] = []
    with voter_file.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            phones.extend(p for p in row[3:5] if p)
            if len(phones) >= limit:
                break
    phones = phones[1:limit]  # drop the header's
    rows = []
    clear_phone_cache()
    for case, normalize in (
        ("normalize_phone, cold memo", normalize_phone),
        ("normalize_phone, warm memo", normalize_phone),
        ("phonenumbers end to end", full_normalize_phone),
    ):
        started = time.perf_counter()
        for phone in phones:
            with contextlib.suppress(ValueError):
                normalize(phone)
        seconds = time.perf_counter() - started
        rows.append({"case": case, "n": len(phones), "per_s": round(len(phones) / seconds, 1)})
    return rows


# --- output --------------------------------------------------------------------------------


def _report(rows: list[dict[str, Any]], params: dict[str, Any]) -> None:
    table = Table(title="import_bench")
    keys = ["case", "db", "n", "seconds", "cpu_s", "per_s", "ratio_to_floor", "peak_rss_mb"]
    keys += ["imported", "updated", "unchanged", "rejected"]
    for key in keys:
        table.add_column(key, justify="left" if key in ("case", "db") else "right")
    for row in rows:
        table.add_row(*(_cell(row.get(key)) for key in keys))
    wide = console if console.is_terminal else Console(width=160)
    wide.print(table)
    wide.print(f"params: {params}")
    written = write_results("import_bench", params, rows, RESULTS)
    console.print(f"wrote {written}")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


if __name__ == "__main__":
    main()
