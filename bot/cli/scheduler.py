"""`phonebank scheduler`: the scheduler alone (any number of them; one leader runs the jobs).

It needs the chat adapters' credentials too: reminders and shift starts go out through the same
notifiers as everything else. It stops cleanly on SIGTERM or Ctrl-C, letting its lock go.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from bot.app import build_services
from bot.cli.common import console, engine, require_migrated, settings
from bot.slack.app import slack_for
from bot.slack.privacy import install_log_redaction
from scheduling.leader import leadership_for
from scheduling.runner import Scheduler

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def scheduler() -> None:
    """Run the scheduler alone: reminders, shift starts, no-shows, lease expiry."""
    from bot.cli.run import secrets_of  # one list of secrets for every process

    current = settings()
    db = engine(current)
    require_migrated(db)
    restore_logging = install_log_redaction(secrets_of(current))
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    services = build_services(current, engine=db)
    if slack_for(current, services) is None:
        console.print("  Slack: off (reminders reach only SMS)", highlight=False)
    runner = Scheduler(services, leadership_for(db))
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    console.print("Phonebank scheduler: competing for leadership", highlight=False)
    runner.start()
    try:
        stop.wait()
    finally:
        runner.shutdown()
        restore_logging()
        db.dispose()
