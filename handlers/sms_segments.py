"""How many SMS segments a text costs, and splitting a long text into parts of one segment each.

A segment holds 160 characters of the GSM 03.38 alphabet (GSM-7; the extension characters such
as `€ [ ] { }` take two) or 70 UTF-16 code units when any character is outside it (UCS-2: an
emoji, or `á`, which GSM-7 lacks while it has `é` and `ñ`). The `gsm0338` codec knows the
alphabet: a text it can encode is GSM-7, and the bytes it gives are the septets it costs.

A long text is not left to the carrier to concatenate (153/67 characters a segment, reassembled
or not by the phone): it is split here at word boundaries into separate texts of one segment,
numbered "(1/3) ", so each arrives readable on its own.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM7_SEGMENT = 160
UCS2_SEGMENT = 70
_CODEC = codecs.lookup("gsm03.38")
_WORD = re.compile(r"\S+\s*")

Prefix = Callable[[int], str]  # the numbering put before part n


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class Measure:
    """What one text costs: its encoding and its length in that encoding's units."""

    encoding: Encoding
    units: int  # GSM-7 septets or UTF-16 code units

    @property
    def limit(self) -> int:
        """The most units one segment holds in this encoding."""
        return GSM7_SEGMENT if self.encoding is Encoding.GSM7 else UCS2_SEGMENT

    @property
    def fits_one_segment(self) -> bool:
        return self.units <= self.limit


def measure(text: str) -> Measure:
    """The encoding a text goes out in and how many units it takes."""
    try:
        septets, _ = _CODEC.encode(text)
    except UnicodeEncodeError:
        return Measure(Encoding.UCS2, len(text.encode("utf-16-le")) // 2)
    return Measure(Encoding.GSM7, len(septets))


def fits_one_segment(text: str) -> bool:
    return measure(text).fits_one_segment


def split_for_sms(body: str) -> list[str]:
    """`body` as it should be sent: itself when it fits one segment, else numbered parts that
    each fit one, broken between words (a word longer than a segment is broken inside)."""
    body = body.strip()
    if fits_one_segment(body):
        return [body]
    words = _words(body)
    digits = 1
    while True:
        # Pack as if the total had `digits` digits; the real total's numbering is no longer.
        parts = _pack(words, _numbering("9" * digits))
        if len(str(len(parts))) <= digits:
            total = len(parts)
            return [f"({n}/{total}) {part}" for n, part in enumerate(parts, start=1)]
        digits += 1


def _numbering(total: str) -> Prefix:
    return lambda n: f"({n}/{total}) "


def _words(body: str) -> list[str]:
    """Each word with the whitespace after it (so line breaks inside the body survive)."""
    return _WORD.findall(body)


def _pack(words: list[str], prefix: Prefix) -> list[str]:
    """Greedily fill parts, each of which with its prefix fits one segment."""
    parts: list[str] = []
    current = ""
    for word in words:
        candidate = current + word
        if fits_one_segment(prefix(len(parts) + 1) + candidate.rstrip()):
            current = candidate
            continue
        if current:
            parts.append(current.rstrip())
            current = ""
        current = _fill_with_long_word(word, parts, prefix)
    if current.strip():
        parts.append(current.rstrip())
    return parts


def _fill_with_long_word(word: str, parts: list[str], prefix: Prefix) -> str:
    """Start a new part with `word`; a word too long for one part is cut into pieces that fit
    (the last piece stays open for the next words)."""
    rest = word
    while not fits_one_segment(prefix(len(parts) + 1) + rest.rstrip()):
        cut = _longest_fitting_prefix(rest, prefix(len(parts) + 1))
        parts.append(rest[:cut])
        rest = rest[cut:]
    return rest


def _longest_fitting_prefix(text: str, prefix: str) -> int:
    """How many leading characters of `text` fit one segment after `prefix` (at least one)."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if fits_one_segment(prefix + text[:middle]):
            low = middle
        else:
            high = middle - 1
    return low
