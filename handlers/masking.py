"""Voter phone numbers never leave in chat: `(512) •••-••23` on a card, and scrubbing for text
that organizers or imports wrote (scripts, notes)."""

from __future__ import annotations

import re

import phonenumbers

BULLET = "•"


def mask_phone(e164: str) -> str:
    """'+15125550123' -> '(512) •••-••23'; elsewhere '+44 •••••••••23'."""
    digits = re.sub(r"\D", "", e164)
    if e164.startswith("+1") and len(digits) == 11:
        return f"({digits[1:4]}) {BULLET * 3}-{BULLET * 2}{digits[-2:]}"
    try:
        number = phonenumbers.parse(e164, None)
        country, national = str(number.country_code), str(number.national_number)
    except phonenumbers.NumberParseException:
        country, national = "", digits
    shown = national[-2:] if len(national) > 4 else ""
    prefix = f"+{country} " if country else ""
    return prefix + BULLET * max(len(national) - len(shown), 3) + shown


def scrub_phone(text: str, e164: str) -> str:
    """`text` with `e164` masked wherever it appears, however it is punctuated."""
    digits = re.sub(r"\D", "", e164)
    national = digits[1:] if e164.startswith("+1") and len(digits) == 11 else digits
    if len(national) < 7:
        return text
    separators = r"[\s().\-]*"
    pattern = (
        r"(?<!\d)(?:\+?1"
        + separators
        + r")?"
        + separators.join(map(re.escape, national))
        + r"(?!\d)"
    )
    return re.sub(pattern, mask_phone(e164), text)
