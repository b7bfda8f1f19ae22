"""Is this web process ready for traffic? `GET /readyz` asks `Readiness`.

`/healthz` says only that the process answers (a liveness probe: restarting a process because
its database is down helps nothing). `/readyz` says whether a load balancer should send it
requests: the database answers, its schema is at the revision this code was shipped with (a
replica of a newer or older release waits while `phonebank db upgrade` runs), and the process has
warmed up (bot/warm.py) and is not shutting down. A failing part is named in the answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

from storage.migrate import current_revision, head_revision

log = logging.getLogger(__name__)


@dataclass
class Readiness:
    """The parts of readiness; `warmed` is set by the web app's lifespan."""

    engine: Engine
    warmed: bool = False
    stopping: bool = False
    _head: str | None = field(default=None, init=False)

    def check(self) -> dict[str, str]:
        """Each part's state: "ok" or why not (blocking: run it in a worker thread)."""
        parts = {"database": "ok", "migrations": "ok", "warm": "ok"}
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            parts["migrations"] = self._migrations()
        except Exception as error:
            log.warning("Readiness: the database does not answer (%s)", type(error).__name__)
            parts["database"] = "unreachable"
            parts["migrations"] = "unknown"
        if self.stopping:
            parts["warm"] = "shutting down"
        elif not self.warmed:
            parts["warm"] = "warming up"
        return parts

    def _migrations(self) -> str:
        if self._head is None:
            self._head = head_revision()
        current = current_revision(self.engine)
        if current == self._head:
            return "ok"
        return f"database at {current or 'no revision'}, this release needs {self._head}"


def failing(parts: dict[str, str]) -> list[str]:
    """The names of the parts that are not ok."""
    return [name for name, state in parts.items() if state != "ok"]
