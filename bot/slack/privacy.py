"""What must not leave: full phone numbers in chat payloads; phone numbers, tokens, secrets and
one-time links in logs.

The handlers already show voters' phones masked; this is the edge's last line, applied to every
text Slack receives and to every log record the process writes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# A North American number however it is written: +1 (512) 555-0123, 512.555.0123, 5125550123.
# Area code and exchange start 2-9 (NANP), which keeps most other ten-digit ids out.
_NANP = re.compile(
    r"(?<![\w+])(?:\+?1[\s.-]?)?\(?(?P<area>[2-9]\d{2})\)?[\s.-]?[2-9]\d{2}[\s.-]?\d{2}(?P<last>\d{2})(?!\d)"
)
# Any other international number in E.164.
_E164 = re.compile(r"(?<![\w+])\+(?P<body>\d{6,13})(?P<last>\d{2})(?!\d)")
_TOKENS = re.compile(
    r"\b(?:xox[abposr]|xapp|xoxe(?:\.xox[bp])?)-[A-Za-z0-9-]+"  # Slack bot, user, app tokens
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"
)
# One-time links: whoever holds one may act as its owner until it expires. Slack's response_url
# (and incoming webhooks), the softphone page's signed fragment, and signed query parameters.
_LINKS = re.compile(
    r"(?P<slack>https://hooks\.slack\.com/)[^\s\"'<>]+"
    r"|(?P<fragment>#)\d+\.\d+\.\d+\.[A-Za-z0-9_-]+"
    r"|(?P<param>[?&](?:token|sig|signature|key|secret|code)=)[^&\s\"'<>]+"
)
MASK = "•"


def mask_phone_numbers(text: str) -> str:
    """`(512) 555-0123` -> `(512) •••-••23`: the area code and last two digits stay."""
    if not any(ch.isdigit() for ch in text):
        return text
    text = _NANP.sub(lambda m: f"({m['area']}) {MASK * 3}-{MASK * 2}{m['last']}", text)
    return _E164.sub(lambda m: f"+{MASK * len(m['body'])}{m['last']}", text)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Log-safe text: tokens, one-time links, the given secrets and phone numbers masked."""
    text = _TOKENS.sub("[redacted token]", text)
    text = _LINKS.sub(_hide_link, text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return mask_phone_numbers(text)


def _hide_link(match: re.Match[str]) -> str:
    kept = match["slack"] or match["fragment"] or match["param"]
    return f"{kept}[redacted link]"


class _Redacted:
    """A log argument that formats (with %s or %r) as its redacted text."""

    def __init__(self, value: object, secrets: tuple[str, ...]) -> None:
        self._value, self._secrets = value, secrets

    def __str__(self) -> str:
        return redact(str(self._value), self._secrets)

    def __repr__(self) -> str:
        return redact(repr(self._value), self._secrets)


def _redact_arg(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if value is None or isinstance(value, bool | int | float):
        return value  # numbers stay numbers, for %d; no phone is logged as an int here
    return _Redacted(value, secrets)


def install_log_redaction(secrets: Iterable[str] = ()) -> Callable[[], None]:
    """Redact every log record this process creates, whoever logs it; returns the undo.

    The message and each argument are redacted separately, so formatters that read the
    arguments (uvicorn's access log) keep working.
    """
    kept = tuple(s for s in secrets if s)
    previous = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg, kept)
        if isinstance(record.args, Mapping):
            record.args = {key: _redact_arg(value, kept) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_redact_arg(value, kept) for value in record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(formatter.formatException(record.exc_info), kept)
        return record

    logging.setLogRecordFactory(factory)
    return lambda: logging.setLogRecordFactory(previous)
