"""The Discord bench (bench/discord_bench.py): a small run end to end through the real client in
its own process, the fake gateway and the fake REST API. Figures are printed, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_small_run_times_every_kind_beside_the_floor_and_logs_every_flow_once(
    tmp_path: Path,
) -> None:
    out = tmp_path / "discord_bench.json"
    command = ["-m", "bench.discord_bench", "--volunteers", "3", "--pace-s", "0"]
    ran = subprocess.run(
        [sys.executable, *command, "--voters", "2000", "--db", "sqlite", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert ran.returncode == 0, ran.stderr
    document = json.loads(out.read_text())
    rows = {row["case"]: row for row in document["rows"]}
    assert rows["floor (back to back)"]["n"] == 6  # before and after each flow
    for kind in ("help", "batch", "call", "outcome form", "outcome"):  # "open form": when busy
        row = rows[f"{kind} (back to back)"]
        assert row["n"] == 3 and row["ratio_to_floor"] is not None, row
    flows = rows["flows (back to back)"]
    assert (flows["n"], flows["lost"], flows["errors"], flows["doubles"]) == (3, 0, 0, 0)
    assert document["params"]["outcomes_logged"] == 3
