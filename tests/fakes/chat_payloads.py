"""Every payload the fake chat APIs received in this test run, and the voter phones to look for.

The fakes append what they receive; tests that seed voters register their phones. At the end of
the session (tests/conftest.py) every recorded payload is scanned for every registered voter
phone, in E.164 and in the usual written forms: none may appear in anything sent to a chat.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import phonenumbers


@dataclass(frozen=True)
class RecordedPayload:
    platform: str  # slack | discord
    method: str  # chat.postMessage, views.open, response_url, ...
    body: Any


_lock = threading.Lock()
_payloads: list[RecordedPayload] = []
_voter_phones: set[str] = set()


def record(platform: str, method: str, body: Any) -> None:
    """Keep a payload a fake chat API received."""
    with _lock:
        _payloads.append(RecordedPayload(platform, method, body))


def register_voter_phones(phones: Iterable[str]) -> None:
    """Phones (E.164) that must never reach a chat."""
    with _lock:
        _voter_phones.update(phones)


def recorded() -> list[RecordedPayload]:
    with _lock:
        return list(_payloads)


def written_forms(e164: str) -> set[str]:
    """The ways a number may be written: +15125550123, 5125550123, (512) 555-0123, 512-555-0123 ..."""
    number = phonenumbers.parse(e164, None)
    national = str(number.national_number)
    forms = {
        e164,
        e164.lstrip("+"),
        national,
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
    }
    if len(national) == 10:
        area, exchange, line = national[:3], national[3:6], national[6:]
        forms |= {
            f"{area}-{exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"{area} {exchange} {line}",
        }
    return forms


def voter_phones_in_payloads() -> list[tuple[RecordedPayload, str]]:
    """Each (payload, written phone) where a registered voter phone appears in a recorded one."""
    with _lock:
        payloads, phones = list(_payloads), set(_voter_phones)
    return phones_in_payloads(payloads, phones)


def phones_in_payloads(
    payloads: Iterable[RecordedPayload], phones: Iterable[str]
) -> list[tuple[RecordedPayload, str]]:
    """Each (payload, written form) where one of `phones` appears in one of `payloads`."""
    needles = {form for phone in phones for form in written_forms(phone)}
    found = []
    for payload in payloads:
        text = json.dumps(payload.body, ensure_ascii=False)
        found += [(payload, needle) for needle in sorted(needles) if needle in text]
    return found


def summary() -> tuple[int, int]:
    """(payloads recorded, voter phones registered)."""
    with _lock:
        return len(_payloads), len(_voter_phones)
