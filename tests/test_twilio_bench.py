"""The Twilio bench's CPU figure (bench/twilio_bench.py): a process's CPU as proc(5) counts it,
and none for a process that is gone."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.twilio_bench import cpu_seconds


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
