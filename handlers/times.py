"""Times in replies: one neutral mark that each adapter renders in its platform's local-time
markup (Slack's `<!date^…>`, Discord's `<t:…>`), or as the written fallback elsewhere.

`local_time(at, zone)` writes the mark with its fallback already in `zone` (the reader's own
zone, named), so a surface without markup (console, SMS) still shows the right hour. The epoch
is written in base 36, so no run of digits in the mark looks like a phone number to a masker.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

_MARK = re.compile(r"⟦time:([0-9a-z]+)\|([^⟧]*)⟧")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def local_time(at: datetime, zone: str) -> str:
    """The mark for `at`, its fallback written in `zone` with the zone named."""
    return f"⟦time:{_base36(int(at.timestamp()))}|{written(at, zone)}⟧"


def written(at: datetime, zone: str) -> str:
    """`Sun Nov 1, 5:00 PM CST`: the time in `zone`, for surfaces without markup."""
    local = at.astimezone(ZoneInfo(zone))
    hour = local.strftime("%I:%M %p").lstrip("0")
    return f"{local:%a %b} {local.day}, {hour} {local.tzname()}"


def render_times(text: str, markup: Callable[[datetime, str], str]) -> str:
    """Every mark in `text` replaced by `markup(moment, fallback)`."""
    return _MARK.sub(lambda m: markup(_moment(m.group(1)), m.group(2)), text)


def plain_times(text: str) -> str:
    """Every mark replaced by its written fallback (console, SMS, logs)."""
    return _MARK.sub(lambda m: m.group(2), text)


def slack_time(at: datetime, fallback: str) -> str:
    """Slack's date formatting: shown in each reader's own zone, `fallback` where it cannot."""
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}}, {{time}}|{fallback}>"


def discord_time(at: datetime, fallback: str) -> str:
    """Discord's timestamp markup, shown in each reader's own zone, then the time as Phonebank
    wrote it (the zone it guessed for the reader, named), since Discord has no fallback text."""
    return f"<t:{int(at.timestamp())}:f> ({fallback})"


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _DIGITS[rest] + digits
        if number == 0:
            return digits


def _moment(encoded: str) -> datetime:
    return datetime.fromtimestamp(int(encoded, 36), UTC)
