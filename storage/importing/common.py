"""What the three importers share: the summary, value clean-up, and chunked reading."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from matching.phones import US_STATES

CHUNK_ROWS = 5_000

T = TypeVar("T")


@dataclass
class ImportSummary:
    """What an import did. Every row read is counted once: read = imported + updated +
    unchanged + rejected."""

    kind: str
    read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    on_dnc: int = 0
    rejects_file: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready values."""
        return asdict(self)

    def finish(self, rejects_path: Path, rejected: int) -> ImportSummary:
        """Record the rejects (counted by the writer) and check the invariant."""
        self.rejected = rejected
        self.rejects_file = str(rejects_path) if rejected else None
        accounted = self.imported + self.updated + self.unchanged + self.rejected
        assert self.read == accounted, f"read {self.read} but accounted for {accounted}"
        return self


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Run the cyclic garbage collector less often while millions of short-lived rows go by.

    The rows hold no reference cycles, yet each 700 allocations would trigger a collection
    that walks every row of the chunks alive: a tenth of an import's time.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], 200_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def chunked(items: Iterable[T], size: int | None = None) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` (default `CHUNK_ROWS`) items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size or CHUNK_ROWS)):
        yield chunk


def in_list(dialect_name: str, column: str) -> str:
    """SQL testing `column` against a list passed as one parameter (see `list_param`).

    One parameter whatever the list's length keeps the statement text constant: drivers cache
    prepared statements by text, and a cached `IN (?, ?, ... 4,873 times)` per distinct length
    costs hundreds of kilobytes each.
    """
    if dialect_name == "postgresql":
        return f"{column} = ANY(%s)"
    return f"{column} IN (SELECT value FROM json_each(?))"


def list_param(dialect_name: str, values: list[str]) -> Any:
    """The one parameter `in_list` expects: an array on PostgreSQL, JSON text on SQLite."""
    return values if dialect_name == "postgresql" else json.dumps(values)


class RowRejected(ValueError):
    """One row cannot be imported; the message is the reason written to the rejects file."""


_LANGUAGE_NAMES = {
    "english": "en", "spanish": "es", "espanol": "es", "español": "es", "vietnamese": "vi",
    "tiếng việt": "vi", "tieng viet": "vi", "chinese": "zh", "mandarin": "zh",
    "cantonese": "yue", "korean": "ko", "tagalog": "tl", "filipino": "tl", "arabic": "ar",
    "russian": "ru", "french": "fr", "haitian creole": "ht", "creole": "ht",
    "portuguese": "pt", "hindi": "hi", "somali": "so", "hmong": "hmn", "japanese": "ja",
    "german": "de", "polish": "pl", "italian": "it", "navajo": "nv", "ukrainian": "uk",
}  # fmt: skip
_STATE_BY_NAME = {name.casefold(): code for name, code in US_STATES.items()}
_STATE_CODES = frozenset(US_STATES.values()) | {"PR", "GU", "VI", "AS", "MP"}


def clean_language(value: str, default: str = "en") -> str:
    """ "Spanish", "es", "ES" -> "es"; empty -> the default."""
    text = value.strip().casefold()
    if not text:
        return default
    code = _LANGUAGE_NAMES.get(text, text)
    if len(code) > 16:
        raise RowRejected(f"language {value!r} is not a language code or name")
    return code


def clean_state(value: str) -> str | None:
    """ "TX", "tx", "Texas" -> "TX"; empty -> None; anything else is rejected."""
    text = value.strip()
    if not text:
        return None
    if text.upper() in _STATE_CODES:
        return text.upper()
    code = _STATE_BY_NAME.get(text.casefold())
    if code is None:
        raise RowRejected(f"state {value!r} is not a US state")
    return code


def clean_text(value: str, what: str, max_length: int) -> str:
    """Stripped text that fits its column."""
    text = value.strip()
    if len(text) > max_length:
        raise RowRejected(f"{what} longer than {max_length} characters")
    return text
