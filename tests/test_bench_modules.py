"""The benchmarks are not run by the suite (they take minutes), but each must at least load and
explain itself: a broken import once went unnoticed until someone ran the bench by hand."""

from __future__ import annotations

import importlib
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
