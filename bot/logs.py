"""How a Phonebank process logs: every record redacted, one line each, JSON off a terminal.

Redaction is bot/slack/privacy.py's record factory, so it covers every logger in the process
(ours, uvicorn's, Bolt's, discord.py's, twilio's) before any handler sees a record. Off a
terminal (a container, systemd) each record is one JSON object, for a log pipeline to parse; on a
terminal it is a readable line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TextIO

from bot.slack.privacy import install_log_redaction

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def configure_logging(
    secrets: Iterable[str] = (),
    *,
    stream: TextIO | None = None,
    as_json: bool | None = None,
    level: int = logging.INFO,
) -> Callable[[], None]:
    """Redact every record and write it to `stream` (stderr), as JSON unless it is a terminal
    (or as `as_json` says). Returns the undo."""
    target = stream if stream is not None else sys.stderr
    if as_json is None:
        as_json = not target.isatty()
    undo_redaction = install_log_redaction(secrets)
    handler = logging.StreamHandler(target)
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(level)

    def undo() -> None:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        undo_redaction()

    return undo
