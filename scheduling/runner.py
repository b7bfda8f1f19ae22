"""The scheduler process's clock: APScheduler 3 running the fixed jobs, only while leading.

Every process runs the same jobs (scheduling/jobs.py) on an in-memory job store and a leadership
check (scheduling/leader.py); a job in a process that is not the leader returns at once. A new
leader runs every job at once, and adopts what a dead leader left pending in the send ledger.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from handlers.context import Services
from handlers.send_ledger import Ledger
from scheduling.jobs import JOBS, Job, JobContext
from scheduling.leader import Leadership

log = logging.getLogger(__name__)

LEADERSHIP_POLL_S = 5  # how soon a follower notices the leader is gone, at most


class Scheduler:
    """The fixed jobs and the competition for leadership, in one process."""

    def __init__(
        self,
        services: Services,
        leadership: Leadership,
        jobs: Sequence[Job] = JOBS,
        *,
        poll_s: float = LEADERSHIP_POLL_S,
    ) -> None:
        self.services = services
        self.leadership = leadership
        self.jobs = tuple(jobs)
        self.poll_s = poll_s
        self.ledger = Ledger(services.engine, services.clock)
        self._leading = threading.Event()
        self._aps = BackgroundScheduler(
            timezone=UTC,
            job_defaults={
                # A sweep finds everything due whenever it runs, so runs missed while the process
                # was busy or asleep collapse into one (coalesce) rather than repeating back to
                # back; and a run that starts late is still worth running up to one interval
                # late (the misfire grace is set per job below; APScheduler's 1 s default would
                # drop a run whenever a previous one ran long).
                "coalesce": True,
                # Never two runs of one sweep at once: they would only race for the same rows.
                "max_instances": 1,
            },
        )

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def start(self) -> None:
        """Start competing for leadership and running the jobs in background threads."""
        now = datetime.now(UTC)
        self._aps.add_job(
            self.check_leadership,
            "interval",
            seconds=self.poll_s,
            id="leadership",
            next_run_time=now,
            misfire_grace_time=max(1, int(self.poll_s)),
        )
        for job in self.jobs:
            self._aps.add_job(
                self._run_if_leading,
                "interval",
                args=(job,),
                seconds=job.every_s,
                id=job.name,
                misfire_grace_time=job.every_s,
            )
        self._aps.start()

    def shutdown(self) -> None:
        """Stop the jobs (waiting for running ones) and let the lock go."""
        if self._aps.running:
            self._aps.shutdown(wait=True)
        self._leading.clear()
        self.leadership.release()

    def check_leadership(self) -> bool:
        """Take or keep the lock; on becoming leader, run every job now."""
        leads = self.leadership.try_lead()
        if leads and not self.leading:
            self.ledger.since = self.services.clock.now()
            self._leading.set()
            log.info("This scheduler is the leader now (%s)", self.ledger.owner)
            self._run_all_soon()
        elif not leads and self.leading:
            self._leading.clear()
            log.warning("This scheduler is no longer the leader")
        return leads

    def run_once(self) -> dict[str, int]:
        """Check leadership and, when leading, run every job once now, in this thread (the
        tests' and the benchmark's way in). What each job did."""
        if not self.check_leadership():
            return {}
        return {job.name: self._run(job) for job in self.jobs}

    def _run_all_soon(self) -> None:
        if not self._aps.running:
            return
        now = datetime.now(UTC)
        for job in self.jobs:
            scheduled = self._aps.get_job(job.name)
            if scheduled is not None:
                scheduled.modify(next_run_time=now)

    def _run_if_leading(self, job: Job) -> None:
        if self.leading:
            self._run(job)

    def _run(self, job: Job) -> int:
        try:
            done = job.run(JobContext(self.services, self.ledger))
        except Exception:
            log.exception("Scheduled job %s failed; it runs again in %s s", job.name, job.every_s)
            return 0
        if done:
            log.info("%s: %d", job.name, done)
        return done
