"""The benchmarks are not run by the suite (they take minutes), but each must at least load and
explain itself: a broken import once went unnoticed until someone ran the bench by hand. The
Slack bench also runs small: a burst on a new server, then the flows."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import bench

ROOT = Path(__file__).resolve().parent.parent
RUNNABLE = sorted(
    name
    for module in pkgutil.iter_modules(bench.__path__)
    if (name := module.name).endswith("_bench")
)


def test_there_are_benchmarks() -> None:
    assert {"claim_bench", "import_bench", "slack_bench"} <= set(RUNNABLE)


@pytest.mark.parametrize("name", RUNNABLE)
def test_each_benchmark_loads_and_prints_its_help(name: str) -> None:
    importlib.import_module(f"bench.{name}")
    shown = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert "usage:" in shown.stdout


def test_a_small_slack_run_answers_a_burst_on_a_new_server_then_the_flows(tmp_path: Path) -> None:
    out = tmp_path / "slack_bench.json"
    command = ["--voters", "2000", "--concurrency", "2", "--flows", "1", "--burst", "3"]
    ran = subprocess.run(
        [sys.executable, "-m", "bench.slack_bench", *command, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert ran.returncode == 0, ran.stderr
    rows = {row["case"]: row for row in json.loads(out.read_text())["rows"]}
    ack = rows["burst: ack /phonebank batch (cold server)"]
    answered = rows["burst: batch answered, every card (cold server)"]
    assert ack["n"] == answered["n"] == ack["concurrency"] == 3  # three at once, each answered
    assert ack["errors"] == ack["lost"] == ack["doubles"] == 0
    assert ack["ratio_to_floor"] > 0
    assert rows["floor: burst of signed URL checks, no handler"]["concurrency"] == 3
    flows = rows["flows (batch, call, outcome, done)"]
    assert flows["n"] == 2 and flows["lost"] == flows["doubles"] == 0
