"""The Twilio bench (bench/twilio_bench.py): a small run end to end (a burst on a server just
started, then the warm-up and the measured sessions), and its CPU figure (a process's CPU as
proc(5) counts it, none for a process that is gone)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.twilio_bench import cpu_seconds

ROOT = Path(__file__).resolve().parent.parent


def test_cpu_seconds_reads_what_the_kernel_counted_for_the_process() -> None:
    while os.times().user < 0.05:  # some CPU to count: the kernel counts in ticks of 10 ms
        sum(range(10_000))
    counted = os.times()

    read = cpu_seconds(os.getpid())

    assert counted.user + counted.system - 0.02 <= read <= counted.user + counted.system + 0.5


def test_a_process_that_is_gone_counts_nothing() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()

    assert cpu_seconds(gone.pid) == 0.0


def test_a_small_run_warms_up_then_calls_every_voter_once(tmp_path: Path) -> None:
    out = tmp_path / "twilio_bench.json"
    command = ["-m", "bench.twilio_bench", "--voters", "2000", "--concurrency", "3", "--burst", "2"]
    ran = subprocess.run(
        [sys.executable, *command, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert ran.returncode == 0, ran.stderr
    rows = {row["case"]: row for row in json.loads(out.read_text())["rows"]}
    assert rows["answer (cold server)"]["n"] == 3  # the warm-up: one voter for each of 3
    assert rows["answer"]["n"] == 3
    sessions = rows["sessions"]
    assert sessions["done"] == 3
    assert sessions["outcomes_logged"] == 3 * 20  # the measured batches only, every voter
    assert rows["keypad outcome"]["n"] == 3 * 20 and rows["keypad outcome"]["errors"] == 0
    assert sessions["doubles"] == 0 and sessions["lost"] == 0
    assert rows["keypad #"]["ratio_to_floor"] > 0  # each kind against the forged floor
    assert sessions["calls_created_at_twilio"] == 6  # one per session: 3 warm-up, 3 measured
    burst = rows["burst: answer (cold server)"]  # 2 sessions answered at once by a new server
    assert burst["concurrency"] == burst["n"] == 2
    assert burst["errors"] == burst["lost"] == 0  # each logged its one voter
    assert burst["ratio_to_floor"] > 0 and burst["server_cpu_ms_per_answer"] > 0
    assert rows["floor: burst of forged signatures, refused before any work"]["n"] == 2 * 4
