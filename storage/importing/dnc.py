"""`phonebank import dnc`: phones nobody in any campaign may call.

The file is either a CSV with a phone column (and optionally a reason column), or one number
a line with no header. Importing a number already on the list changes nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, insert
from sqlalchemy.engine import Engine

from matching.phones import InvalidPhone, normalize_phone
from storage.clock import Clock
from storage.importing.common import ImportSummary, chunked, in_list, list_param
from storage.importing.csv_source import (
    CsvSource,
    ImportFailure,
    ProgressCallback,
    RejectsWriter,
    header_key,
    unreadable_reason,
)
from storage.models import DncEntry

DNC = DncEntry.__table__  # type: ignore[attr-defined]
PHONE_HEADERS = ("phone", "phonenumber", "number", "cellphone", "cell", "mobile", "homephone")
REASON_HEADERS = ("reason", "note", "notes")


def phones_on_dnc(conn: Connection, phones: Iterable[str]) -> set[str]:
    """Which of `phones` (E.164) are on the do-not-call list: one query."""
    wanted = list(set(phones))
    if not wanted:
        return set()
    dialect = conn.dialect.name
    query = f"SELECT phone FROM dnc_entry WHERE {in_list(dialect, 'phone')}"
    return {phone for (phone,) in conn.exec_driver_sql(query, (list_param(dialect, wanted),))}


def import_dnc(
    engine: Engine,
    path: Path,
    clock: Clock,
    *,
    default_region: str = "US",
    on_progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Add every valid number of the file to the do-not-call list; see the module docstring."""
    source = CsvSource.open(path)
    summary = ImportSummary(kind="dnc", warnings=list(source.warnings))
    rows = source.rows(on_progress)
    first = next(rows, None)
    if first is None:
        raise ImportFailure(f"{path.name} is empty")
    header, phone_at, reason_at, rows = _layout(first, rows)
    rejects = RejectsWriter(source.rejects_path(), header)
    origin = f"import:{path.name}"[:64]
    now = clock.now()
    try:
        for chunk in chunked(rows):
            entries: dict[str, str | None] = {}
            for row in chunk:
                summary.read += 1
                problem = _problem(row, phone_at, reason_at, default_region)
                if isinstance(problem, str):
                    rejects.reject(row, problem)
                elif problem[0] in entries:
                    summary.unchanged += 1
                else:
                    entries[problem[0]] = problem[1]
            with engine.begin() as conn:
                _write(conn, entries, origin, now, summary)
    finally:
        rejects.close()
    return summary.finish(rejects.path, rejects.count)


def _layout(
    first: list[str], rows: Iterator[list[str]]
) -> tuple[list[str], int, int | None, Iterator[list[str]]]:
    """(header, phone position, reason position, data rows): a header row, or none at all."""
    keys = [header_key(name) for name in first]
    phone_at = next((keys.index(k) for k in PHONE_HEADERS if k in keys), None)
    if phone_at is not None:
        reason_at = next((keys.index(k) for k in REASON_HEADERS if k in keys), None)
        return [name.strip() for name in first], phone_at, reason_at, rows
    if len(first) == 1 and not any(ch.isdigit() for ch in first[0]):
        raise ImportFailure(
            f"no phone column: expected a header naming one of {', '.join(PHONE_HEADERS)}, "
            "or one number a line"
        )
    if len(first) > 1:
        raise ImportFailure(f"no phone column among: {', '.join(first)}")
    return ["phone"], 0, None, itertools.chain([first], rows)


def _problem(
    row: list[str], phone_at: int, reason_at: int | None, region: str
) -> str | tuple[str, str | None]:
    """The reason to reject `row`, or its (E.164 phone, reason) entry."""
    unreadable = unreadable_reason(row)
    if unreadable:
        return unreadable
    if len(row) <= phone_at or (reason_at is not None and len(row) <= reason_at):
        return f"ragged row: {len(row)} fields"
    raw = row[phone_at].strip()
    if not raw:
        return "no phone"
    try:
        e164 = normalize_phone(raw, region).e164
    except InvalidPhone as exc:
        return f"bad phone {raw!r}: {exc.reason}"
    reason = row[reason_at].strip()[:200] if reason_at is not None else ""
    return e164, reason or None


def _write(
    conn: Connection,
    entries: dict[str, str | None],
    origin: str,
    now: datetime,
    summary: ImportSummary,
) -> None:
    if not entries:
        return
    known = phones_on_dnc(conn, entries)
    new = [
        {"phone": phone, "source": origin, "reason": reason, "created_at": now}
        for phone, reason in entries.items()
        if phone not in known
    ]
    if new:
        conn.execute(insert(DNC), new)
    summary.imported += len(new)
    summary.unchanged += len(known)
