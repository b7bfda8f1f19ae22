"""The send ledger: every message the bot sends on its own is written down before it is sent.

A row's unique key (job, recipient, kind) makes a job that runs twice (two leaders for a
moment, a retry, a restart) send once: whoever inserts the row sends, everyone else skips. A row
stays `pending` while its send is in flight; a leader that took over from a dead one re-sends
the dead leader's pending rows (their sends may not have happened), so nothing owed is lost: at
worst the one message that was in flight when the leader died goes twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CursorResult, Engine, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from storage.clock import Clock
from storage.db import session_scope
from storage.models import SendLedger

log = logging.getLogger(__name__)


class Sent(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # will not be tried again (refused, no such user)
    RETRY = "retry"  # an outage: forget the row so the next sweep tries again


@dataclass
class Ledger:
    """What one scheduler process sends. `since`: when it became the leader; pending rows other
    processes claimed before then are orphans of a dead leader and are sent again."""

    engine: Engine
    clock: Clock
    owner: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    since: datetime | None = None

    def once(self, job: str, recipient: str, kind: str, send: Callable[[], Sent]) -> bool:
        """Run `send` unless the ledger already holds (job, recipient, kind); whether it ran."""
        if not self._claim(job, recipient, kind):
            return False
        try:
            outcome = send()
        except Exception:
            log.exception("%s to %s (%s) failed", job, recipient, kind)
            outcome = Sent.FAILED
        self._finish(job, recipient, kind, outcome)
        return outcome is Sent.SENT

    def _claim(self, job: str, recipient: str, kind: str) -> bool:
        now = self.clock.now()
        row = SendLedger(job=job, recipient=recipient, kind=kind, owner=self.owner, claimed_at=now)
        try:
            with session_scope(self.engine) as session:
                session.add(row)
            return True
        except IntegrityError:
            return self._adopt_orphan(job, recipient, kind, now)

    def _adopt_orphan(self, job: str, recipient: str, kind: str, now: datetime) -> bool:
        if self.since is None:
            return False
        with session_scope(self.engine) as session:
            adopted: CursorResult[tuple[()]] = session.execute(  # type: ignore[assignment]
                update(SendLedger)
                .where(
                    col(SendLedger.job) == job,
                    col(SendLedger.recipient) == recipient,
                    col(SendLedger.kind) == kind,
                    col(SendLedger.status) == "pending",
                    col(SendLedger.owner) != self.owner,
                    col(SendLedger.claimed_at) < self.since,
                )
                .values(owner=self.owner, claimed_at=now)
            )
            return adopted.rowcount == 1

    def _finish(self, job: str, recipient: str, kind: str, outcome: Sent) -> None:
        key = (
            col(SendLedger.job) == job,
            col(SendLedger.recipient) == recipient,
            col(SendLedger.kind) == kind,
            col(SendLedger.owner) == self.owner,
        )
        with session_scope(self.engine) as session:
            if outcome is Sent.RETRY:
                session.execute(delete(SendLedger).where(*key))
                return
            session.execute(
                update(SendLedger).where(*key).values(status=str(outcome), done_at=self.clock.now())
            )
