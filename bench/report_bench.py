"""How fast leaderboards and goal progress are as the campaign grows (issue 16's Benchmark).

    python -m bench.report_bench [--sizes 100000 1000000] [--repeat 30]

PostgreSQL with N call attempts over 5,000 volunteers and 90 days (rows made by the database,
`generate_series`), the rollup built from them by one GROUP BY (what the outcomes' transactions
keep up to date one volunteer-day at a time), and six goals. Timed: each metric's leaderboard
for this week (storage/standings.py, names and ranks included) and every goal's progress
(handlers/goals.py), beside a floor measured in the same run: a bare `SELECT count(*)` over the
attempts of one day. Targets: p99 <= 200 ms at 1,000,000 attempts, and the time at 1,000,000 no
more than 1.5x the time at 100,000. Writes bench/results/report_bench.json.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

from bench.common import fresh_database, percentile, write_results
from handlers.goals import goal_progress
from storage.campaign_config import CampaignConfig
from storage.db import create_schema, make_engine
from storage.standings import BOARD_METRICS, individual_board, metric_values, people, period

VOLUNTEERS = 5_000
DAYS = 90
NOW = datetime(2026, 11, 3, 20, 0, tzinfo=UTC)
ZONE = "America/New_York"
GOALS = [
    ("campaign", "contacts", 400_000),
    ("campaign", "dials", 2_000_000),
    ("area:512", "dials", 300_000),
    ("language:es", "surveys", 50_000),
    ("state:TX", "pledges", 40_000),
    ("campaign", "supporters", 90_000),
]


def bench_config() -> CampaignConfig:
    return CampaignConfig.model_validate(
        {
            "slug": "bench",
            "name": "Bench",
            "caller_id": "+15125550100",
            "time_zone": ZONE,
            "scripts": {"en": "Hi"},
            "survey": [{"id": "support", "question": "Support?", "choices": ["yes", "no"]}],
            "result_codes": [
                {"code": "talked", "label": "Talked", "kind": "contact", "survey": True},
                {"code": "not_home", "label": "Not home", "kind": "retry"},
                {"code": "refused", "label": "Refused", "kind": "terminal"},
                {"code": "dnc", "label": "Do not call", "kind": "terminal", "action": "dnc"},
            ],
            "calling_hours": {"mon": "09:00-20:00"},
            "pledge": {"question": "support", "answers": ["yes"]},
            "supporter": {"question": "support", "answers": ["yes"]},
        }
    )


def seed(engine: Engine, attempts: int, config: CampaignConfig) -> None:
    """Volunteers, voters, N attempts and the rollup, made by the database."""
    voters = max(attempts // 3, 1)
    start = NOW - timedelta(days=DAYS)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO campaign (id, slug, name, config, config_source, created_at, updated_at)"
                " VALUES (1, 'bench', 'Bench', CAST(:config AS JSONB), '', :now, :now)"
            ),
            {"config": config.model_dump_json(), "now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO volunteer (name, languages, status, sms_consent, sms_opted_out,"
                " softphone, softphone_version, leaderboard_hidden, created_at, updated_at)"
                " SELECT 'Volunteer ' || g, '[]', 'certified', false, false, false, 0, false, :now, :now"
                " FROM generate_series(1, :n) g"
            ),
            {"n": VOLUNTEERS, "now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO voter (campaign_id, dedupe_key, first_name, last_name, phone,"
                " area_code, state, time_zones, language, status, priority, attempts, available_at,"
                " attributes, row_hash, created_at, updated_at)"
                " SELECT 1, 'k' || g, 'V', 'W', '+1512555' || lpad((g % 10000)::text, 4, '0'),"
                " (ARRAY['512','737','214','713','210'])[1 + g % 5],"
                " 'TX', 'America/Chicago', (ARRAY['en','en','en','es'])[1 + g % 4], 'done', 0, 1,"
                " :now, '{}', 'h', :now, :now"
                " FROM generate_series(1, :n) g"
            ),
            {"n": voters, "now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO call_attempt (campaign_id, voter_id, volunteer_id, started_at,"
                " result_code, survey, notes, logged_at)"
                " SELECT 1, 1 + g % :voters, 1 + g % :volunteers,"
                " :start + (g % :days) * interval '1 day' + (g % 43200) * interval '1 second',"
                " (ARRAY['talked','not_home','not_home','refused'])[1 + g % 4],"
                ' CASE WHEN g % 8 = 0 THEN CAST(\'{"support": "yes"}\' AS JSONB)'
                ' WHEN g % 8 = 4 THEN CAST(\'{"support": "no"}\' AS JSONB)'
                " ELSE CAST('{}' AS JSONB) END, '', :start"
                " FROM generate_series(1, :n) g"
            ),
            {
                "n": attempts,
                "voters": voters,
                "volunteers": VOLUNTEERS,
                "days": DAYS,
                "start": start,
            },
        )
        build_rollup(conn)
        for index, (scope, metric, target) in enumerate(GOALS, start=1):
            conn.execute(
                text(
                    "INSERT INTO goal (id, campaign_id, scope, metric, target, deadline, created_at,"
                    " created_by) VALUES (:id, 1, :scope, :metric, :target, :deadline, :now, 'bench')"
                ),
                {
                    "id": index,
                    "scope": scope,
                    "metric": metric,
                    "target": target,
                    "deadline": NOW + timedelta(days=30),
                    "now": NOW,
                },
            )
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))


def build_rollup(conn: Connection) -> None:
    """The rollup as the outcomes would have left it (volunteers without a phone: the
    campaign's zone), by one GROUP BY."""
    conn.execute(
        text(
            "INSERT INTO call_rollup (campaign_id, volunteer_id, day, area_code, state, language,"
            " dials, contacts, surveys, pledges, supporters)"
            " SELECT a.campaign_id, a.volunteer_id, (a.started_at AT TIME ZONE :zone)::date,"
            " coalesce(v.area_code, ''), coalesce(v.state, ''), coalesce(v.language, ''),"
            " count(*), count(*) FILTER (WHERE a.result_code = 'talked'),"
            " count(*) FILTER (WHERE a.survey <> '{}'::jsonb),"
            " count(*) FILTER (WHERE a.survey ->> 'support' = 'yes'),"
            " count(*) FILTER (WHERE a.survey ->> 'support' = 'yes')"
            " FROM call_attempt a JOIN voter v ON v.id = a.voter_id"
            " WHERE a.result_code IS NOT NULL AND a.volunteer_id IS NOT NULL"
            " GROUP BY 1, 2, 3, 4, 5, 6"
        ),
        {"zone": ZONE},
    )


def timed(work: Callable[[], Any], repeat: int) -> list[float]:
    work()  # warm the caches once
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return times


def measure(
    engine: Engine, config: CampaignConfig, attempts: int, repeat: int
) -> list[dict[str, Any]]:
    today = NOW.astimezone().date()
    week = period("week", today)
    day_start = NOW - timedelta(days=1)
    cases: dict[str, Callable[[], Any]] = {}

    def floor() -> None:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT count(*) FROM call_attempt WHERE campaign_id = 1"
                    " AND started_at >= :a AND started_at < :b"
                ),
                {"a": day_start, "b": NOW},
            ).scalar()

    cases["floor: count(*) of one day's attempts"] = floor
    for metric in BOARD_METRICS:

        def board(metric: str = metric) -> None:
            with engine.connect() as conn:
                values = metric_values(conn, config, 1, metric, week, NOW)
                individual_board(values, people(conn, values))

        cases[f"leaderboard week by {metric}"] = board

    def goals() -> None:
        with engine.connect() as conn:
            goal_progress(conn, 1, config, NOW)

    cases[f"progress of all {len(GOALS)} goals"] = goals
    rows = []
    floor_p50 = None
    for case, work in cases.items():
        times = timed(work, repeat)
        p50 = percentile(times, 0.5)
        floor_p50 = floor_p50 or p50
        rows.append(
            {
                "case": case,
                "db": "postgresql",
                "concurrency": 1,
                "n": attempts,
                "per_s": round(1000 / p50, 1) if p50 else None,
                "p50_ms": round(p50, 2),
                "p95_ms": round(percentile(times, 0.95), 2),
                "p99_ms": round(percentile(times, 0.99), 2),
                "peak_rss_mb": None,
                "ratio_to_floor": round(p50 / floor_p50, 2) if floor_p50 else None,
            }
        )
    return rows


def run(sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    config = bench_config()
    rows: list[dict[str, Any]] = []
    for attempts in sizes:
        url, drop = fresh_database("postgresql")
        engine = make_engine(url)
        try:
            create_schema(engine)
            started = time.perf_counter()
            seed(engine, attempts, config)
            print(f"seeded {attempts:,} attempts in {time.perf_counter() - started:.1f} s")
            rows += measure(engine, config, attempts, repeat)
        finally:
            engine.dispose()
            drop()
    return rows


def report(rows: list[dict[str, Any]], sizes: list[int]) -> None:
    print(f"{'case':<44} {'n':>9} {'p50 ms':>8} {'p99 ms':>8} {'x floor':>8}")
    for row in rows:
        print(
            f"{row['case']:<44} {row['n']:>9,} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}"
            f" {row['ratio_to_floor']:>8.2f}"
        )
    if len(sizes) >= 2:
        small, large = min(sizes), max(sizes)
        by = {(r["case"], r["n"]): r for r in rows}
        print(f"\ntargets at {large:,}: p99 <= 200 ms; p50 at {large:,} <= 1.5x p50 at {small:,}")
        for case in dict.fromkeys(r["case"] for r in rows):
            if case.startswith("floor"):
                continue
            big, little = by[(case, large)], by[(case, small)]
            growth = big["p50_ms"] / little["p50_ms"] if little["p50_ms"] else float("inf")
            ok = big["p99_ms"] <= 200 and growth <= 1.5
            print(
                f"{case:<44} p99 {big['p99_ms']:>8.2f}  growth {growth:>5.2f}x  {'ok' if ok else 'MISSED'}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", nargs="+", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    rows = run(args.sizes, args.repeat)
    report(rows, args.sizes)
    path = write_results(
        "report_bench",
        {"sizes": args.sizes, "repeat": args.repeat, "volunteers": VOLUNTEERS, "days": DAYS},
        rows,
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
