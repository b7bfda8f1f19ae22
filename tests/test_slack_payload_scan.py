"""The suite-wide scan for voter phones in chat payloads finds every written form of a number."""

from __future__ import annotations

import pytest

from tests.fakes.chat_payloads import RecordedPayload, phones_in_payloads, written_forms

PHONE = "+15125550123"


def payload(text: str) -> RecordedPayload:
    return RecordedPayload("slack", "chat.postMessage", {"blocks": [{"text": {"text": text}}]})


@pytest.mark.parametrize(
    "written",
    [
        "+15125550123",
        "15125550123",
        "5125550123",
        "(512) 555-0123",
        "512-555-0123",
        "512.555.0123",
        "512 555 0123",
        "+1 512-555-0123",
    ],
)
def test_every_written_form_of_a_voter_phone_is_found(written: str) -> None:
    found = phones_in_payloads([payload(f"call {written} now")], [PHONE])

    assert [form for _, form in found]


@pytest.mark.parametrize(
    "shown", ["(512) •••-••23", "512", "555-0124", "+15125550124", "Dials: 12"]
)
def test_masked_numbers_and_other_numbers_are_not_flagged(shown: str) -> None:
    assert phones_in_payloads([payload(shown)], [PHONE]) == []


def test_written_forms_of_a_number() -> None:
    assert written_forms(PHONE) >= {"+15125550123", "(512) 555-0123", "512-555-0123"}
