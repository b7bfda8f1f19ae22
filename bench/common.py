"""What every benchmark shares: throwaway databases and the results file in DESIGN.md's shape."""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import platform
import socket
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text

from storage.db import make_engine, normalize_url

RESULTS_DIR = Path(__file__).parent / "results"
DEFAULT_POSTGRES_URL = os.environ.get(
    "PHONEBANK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def fresh_database(
    db: str, postgres_url: str = DEFAULT_POSTGRES_URL
) -> tuple[str, Callable[[], None]]:
    """An empty database of kind `db` ("sqlite" or "postgresql") and the function that drops it."""
    if db == "sqlite":
        directory = tempfile.TemporaryDirectory(prefix="phonebank_bench_")
        return f"sqlite:///{directory.name}/bench.db", directory.cleanup
    admin_url = normalize_url(postgres_url)
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"phonebank_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` 0.99 for p99); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def write_results(
    bench: str, params: dict[str, Any], rows: list[dict[str, Any]], out: Path | None = None
) -> Path:
    """Write bench/results/<bench>.json (or `out`) in the one shape every benchmark uses."""
    target = out or RESULTS_DIR / f"{bench}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "bench": bench,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "params": params,
        "rows": rows,
    }
    target.write_text(json.dumps(document, indent=2) + "\n")
    return target


# ---- a server under test, in a process of its own --------------------------------------------


def wait_until_up(port: int, process: mp.process.BaseProcess, deadline_s: float = 60) -> None:
    ends = time.monotonic() + deadline_s
    while time.monotonic() < ends:
        if not process.is_alive():
            raise RuntimeError("the web app exited during start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the web app did not start")


def peak_rss_mb(pid: int | None) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), 0)
    return round(kb / 1024, 1)


class BackendCpu:
    """CPU seconds of the PostgreSQL backends serving one engine's connections, read from /proc
    (the server runs on this machine). Only this engine's backends count, not those of anything
    else using the server meanwhile; read `seconds()` before disposing of the engine, while the
    backends are still alive."""

    def __init__(self, engine: Engine) -> None:
        self._pids: list[int] = []
        if engine.dialect.name == "postgresql":
            event.listen(engine, "connect", self._remember_backend)

    def _remember_backend(self, dbapi_connection: Any, _record: Any) -> None:
        self._pids.append(dbapi_connection.info.backend_pid)

    def seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self._pids:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:  # closed meanwhile: its CPU is lost to this count
                continue
            fields = stat.rpartition(") ")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (proc(5))
        return total / ticks


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def web_server(
    serve: Callable[[str, int, str, float], None], url: str, api_url: str, started: float
) -> Iterator[tuple[int, int | None]]:
    """`serve(url, port, api_url, started)` in a process of its own, just started and up (it
    answers /healthz, which it does only once warm): (port, pid) while it runs."""
    port = free_port()
    server = mp.get_context("spawn").Process(
        target=serve, args=(url, port, api_url, started), daemon=True
    )
    server.start()
    try:
        wait_until_up(port, server)
        yield port, server.pid
    finally:
        server.terminate()
        server.join(timeout=10)
