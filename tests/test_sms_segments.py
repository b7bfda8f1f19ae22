"""Segments: 160 GSM-7 septets (extension characters count two) or 70 UCS-2 units a segment, and
long texts split at words into numbered parts that each fit one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.sms_segments import (
    Encoding,
    fits_one_segment,
    measure,
    split_for_sms,
)


@pytest.mark.parametrize(
    ("text", "encoding", "units"),
    [
        ("a" * 160, Encoding.GSM7, 160),
        ("a" * 161, Encoding.GSM7, 161),
        ("Señor, café, über, à", Encoding.GSM7, 20),  # ñ é ü à are in the GSM 03.38 basic set
        ("€[]{}", Encoding.GSM7, 10),  # the extension set costs two septets each
        ("mañana á", Encoding.UCS2, 8),  # á is not in GSM 03.38: the whole text goes UCS-2
        ("ok 😀", Encoding.UCS2, 5),  # an emoji is two UTF-16 units
        ("", Encoding.GSM7, 0),
    ],
)
def test_a_text_is_measured_in_its_encoding(text: str, encoding: Encoding, units: int) -> None:
    assert measure(text).encoding is encoding
    assert measure(text).units == units


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("a" * 160, True),
        ("a" * 161, False),
        ("€" * 80, True),  # 160 septets
        ("a" + "€" * 80, False),  # 161 septets in 81 characters
        ("á" * 70, True),
        ("á" * 71, False),
        ("😀" * 35, True),  # 70 UTF-16 units
        ("😀" * 35 + "a", False),
    ],
)
def test_one_segment_is_160_gsm7_or_70_ucs2(text: str, fits: bool) -> None:
    assert fits_one_segment(text) is fits


def test_a_text_that_fits_is_sent_as_it_is() -> None:
    assert split_for_sms("  Your shift starts at 6 PM.  ") == ["Your shift starts at 6 PM."]
    assert split_for_sms("a" * 160) == ["a" * 160]


def test_a_long_text_is_split_between_words_and_numbered() -> None:
    body = " ".join(f"word{n}" for n in range(40))  # 269 characters

    parts = split_for_sms(body)

    assert [part[:6] for part in parts] == ["(1/2) ", "(2/2) "]
    assert all(fits_one_segment(part) for part in parts)
    assert " ".join(part[6:] for part in parts) == body  # no word cut, none lost
    assert len(parts[0]) > 150  # the first part is filled, not split early


def test_a_ucs2_text_is_split_at_70_units() -> None:
    body = "Hola, ¿vienes mañana á las seis? " * 5  # á forces UCS-2

    parts = split_for_sms(body)

    assert len(parts) == 3
    assert all(measure(p).encoding is Encoding.UCS2 and measure(p).units <= 70 for p in parts)
    assert " ".join(p.split(" ", 1)[1] for p in parts) == body.strip()


def test_extension_characters_count_twice_when_splitting() -> None:
    body = " ".join(["{€}"] * 60)  # 6 septets a word

    parts = split_for_sms(body)

    assert all(measure(p).encoding is Encoding.GSM7 and measure(p).units <= 160 for p in parts)
    assert sum(part.count("€") for part in parts) == 60


def test_a_word_longer_than_a_segment_is_cut_inside() -> None:
    link = "https://example.org/" + "x" * 300

    parts = split_for_sms(f"Read {link} today")

    assert all(fits_one_segment(part) for part in parts)
    assert "".join(part.split(" ", 1)[1] for part in parts).replace(" ", "") == (f"Read{link}today")


def test_line_breaks_inside_a_part_survive() -> None:
    body = "Shift tonight\n" + "Bring a charger. " * 12

    assert split_for_sms(body)[0].startswith("(1/2) Shift tonight\nBring")


def test_ten_or_more_parts_are_numbered_with_room_for_two_digits() -> None:
    parts = split_for_sms("abcdefghi " * 160)

    assert len(parts) >= 10
    assert parts[0].startswith(f"(1/{len(parts)}) ") and parts[-1].startswith(
        f"({len(parts)}/{len(parts)}) "
    )
    assert all(fits_one_segment(part) for part in parts)


@given(st.text(alphabet=st.sampled_from("ab é€á😀\n"), max_size=900))
def test_every_part_fits_one_segment_and_keeps_every_character(body: str) -> None:
    parts = split_for_sms(body)

    assert all(fits_one_segment(part) for part in parts)
    if len(parts) > 1:
        kept = "".join(part.split(" ", 1)[1] for part in parts)
        assert "".join(kept.split()) == "".join(body.split())
