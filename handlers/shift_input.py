"""Reading `/phonebank shift add 2026-11-01 17:00-20:00 --capacity 20 --channel #phones
[--tz America/Chicago] [--language es] [--title Words…]`: each problem said plainly."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handlers.refusal import Refusal

ADD_USAGE = (
    "`shift add YYYY-MM-DD HH:MM-HH:MM [--capacity N] [--channel #channel] [--tz Area/City]"
    " [--language xx] [--title Words]`"
)
MAX_CAPACITY = 1000
MAX_TITLE = 200
OPTIONS = ("--capacity", "--channel", "--tz", "--language", "--title")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
# A channel as the platforms write it: Slack `<#C123|name>`, Discord `<#123>`, or `#name`.
_CHANNEL = re.compile(r"^<#([A-Za-z0-9]+)(?:\|[^>]*)?>$|^#?([a-z0-9][a-z0-9_-]{0,79})$")


@dataclass(frozen=True)
class ShiftInput:
    """What the organizer typed; None: not given (an edit keeps the old value)."""

    day: date | None = None
    span: tuple[time, time] | None = None
    capacity: int | None = None
    channel: str | None = None
    time_zone: str | None = None
    language: str | None = None
    title: str | None = None


def read_shift_input(args: list[str]) -> ShiftInput:
    """The date, the span and the options in `args`, or a refusal naming what is wrong."""
    positional, options = _split(args)
    day = span = None
    for word in positional:
        if _DATE.match(word):
            day = _day(word)
        elif "-" in word and ":" in word:
            span = _span(word)
        else:
            raise Refusal(f"I don't understand {word!r}. Use {ADD_USAGE}.")
    return ShiftInput(
        day=day,
        span=span,
        capacity=_capacity(options["--capacity"]) if "--capacity" in options else None,
        channel=_channel(options["--channel"]) if "--channel" in options else None,
        time_zone=_zone(options["--tz"]) if "--tz" in options else None,
        language=_language(options["--language"]) if "--language" in options else None,
        title=_title(options["--title"]) if "--title" in options else None,
    )


def _split(args: list[str]) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    options: dict[str, list[str]] = {}
    current: list[str] | None = None
    many = False  # the title takes every word up to the next option; the others take one
    for word in args:
        if word.startswith("--"):
            name = word.lower()
            if name not in OPTIONS:
                raise Refusal(f"There is no option {word!r}. Use {ADD_USAGE}.")
            current, many = options.setdefault(name, []), name == "--title"
        elif current is not None and (many or not current):
            current.append(word)
        else:
            positional.append(word)
    missing = [name for name, words in options.items() if not words]
    if missing:
        raise Refusal(f"{missing[0]} needs a value. Use {ADD_USAGE}.")
    return positional, {name: " ".join(words) for name, words in options.items()}


def _day(word: str) -> date:
    try:
        return date.fromisoformat(word)
    except ValueError:
        raise Refusal(f"{word!r} is not a date; write it as YYYY-MM-DD.") from None


def _span(word: str) -> tuple[time, time]:
    found = _SPAN.match(word)
    if found is None:
        raise Refusal(f"{word!r} is not a time span; write it as 17:00-20:00.")
    try:
        start = time(int(found[1]), int(found[2]))
        end = time(int(found[3]), int(found[4]))
    except ValueError:
        raise Refusal(f"{word!r} is not a time span; hours go 0-23, minutes 0-59.") from None
    if end <= start:
        raise Refusal(f"The shift ends ({end:%H:%M}) before it starts ({start:%H:%M}).")
    return start, end


def _capacity(value: str) -> int:
    if not value.isdigit():
        raise Refusal(f"The capacity must be a whole number, not {value!r}.")
    number = int(value)
    if not 1 <= number <= MAX_CAPACITY:
        raise Refusal(f"The capacity must be between 1 and {MAX_CAPACITY}.")
    return number


def _channel(value: str) -> str:
    found = _CHANNEL.match(value.strip())
    if found is None:
        raise Refusal(f"{value!r} is not a channel; mention it, like #phones.")
    return found[1] or f"#{found[2]}"


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Refusal(
            f"I don't know the time zone {value!r}; use a name like America/Chicago."
        ) from None
    return value


def _language(value: str) -> str:
    if not _LANGUAGE.match(value.lower()):
        raise Refusal(f"{value!r} is not a language code; use one like es or en.")
    return value.lower()


def _title(value: str) -> str:
    if len(value) > MAX_TITLE:
        raise Refusal(f"The title is too long (at most {MAX_TITLE} characters).")
    return value


def combine(day: date, at: time, zone: str) -> datetime:
    """`day` at `at` in `zone`, as an aware time."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone))
