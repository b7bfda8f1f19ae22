"""`phonebank import volunteers`: a recruiting list (name, phone, email, languages).

A volunteer is the one with the row's phone, else the one with its email; new ones start as
applicants, known ones keep their status and get the row's details. Lists are hundreds of rows,
not millions, so each row is looked up on its own, in file order: later rows see earlier ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Engine

from matching.phones import InvalidPhone, normalize_phone
from storage.clock import Clock
from storage.importing.common import (
    ImportSummary,
    RowRejected,
    chunked,
    clean_language,
    clean_text,
)
from storage.importing.csv_source import (
    CsvSource,
    ImportFailure,
    ProgressCallback,
    RejectsWriter,
    header_key,
    unreadable_reason,
)
from storage.models import Volunteer, VolunteerStatus

VOLUNTEERS = Volunteer.__table__  # type: ignore[attr-defined]
VOLUNTEER_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name", "fullname", "volunteername"),
    "first_name": ("firstname", "first"),
    "last_name": ("lastname", "last"),
    "phone": ("phone", "cellphone", "cell", "mobile", "phonenumber", "homephone"),
    "email": ("email", "emailaddress", "mail"),
    "languages": ("languages", "language", "langs", "speaks", "languagesspoken"),
}
_LANGUAGE_SEPARATORS = re.compile(r"[;,/]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_COMPARED = ("name", "phone", "email", "area_code", "languages")


@dataclass(frozen=True)
class VolunteerRow:
    name: str
    phone: str | None
    email: str | None
    area_code: str | None
    languages: list[str]

    def values(self) -> dict[str, Any]:
        """The columns this row sets."""
        return {field: getattr(self, field) for field in _COMPARED}


def import_volunteers(
    engine: Engine,
    path: Path,
    clock: Clock,
    *,
    default_region: str = "US",
    on_progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Load a recruiting list; see the module docstring."""
    source = CsvSource.open(path)
    summary = ImportSummary(kind="volunteers", warnings=list(source.warnings))
    rows = source.rows(on_progress)
    first = next(rows, None)
    if first is None:
        raise ImportFailure(f"{path.name} is empty: expected a header row")
    header = [name.strip() for name in first]
    positions = _positions(header)
    rejects = RejectsWriter(source.rejects_path(), header)
    now = clock.now()
    try:
        for chunk in chunked(rows):
            with engine.begin() as conn:
                for row in chunk:
                    summary.read += 1
                    try:
                        volunteer = _parse(row, positions, len(header), default_region)
                        _upsert(conn, volunteer, now, summary)
                    except RowRejected as exc:
                        rejects.reject(row, str(exc))
    finally:
        rejects.close()
    return summary.finish(rejects.path, rejects.count)


def _positions(header: list[str]) -> dict[str, int]:
    keys = [header_key(name) for name in header]
    positions: dict[str, int] = {}
    for field, aliases in VOLUNTEER_FIELDS.items():
        found = next((keys.index(alias) for alias in aliases if alias in keys), None)
        if found is not None:
            positions[field] = found
    if "name" not in positions and "first_name" not in positions:
        raise ImportFailure("no name column: expected Name, or FirstName and LastName")
    if "phone" not in positions and "email" not in positions:
        raise ImportFailure("no phone or email column")
    return positions


def _parse(row: list[str], positions: dict[str, int], width: int, region: str) -> VolunteerRow:
    unreadable = unreadable_reason(row)
    if unreadable:
        raise RowRejected(unreadable)
    if len(row) != width:
        raise RowRejected(f"ragged row: {len(row)} fields, the header has {width}")

    def get(field: str) -> str:
        return row[positions[field]].strip() if field in positions else ""

    name = get("name") or " ".join(part for part in (get("first_name"), get("last_name")) if part)
    name = clean_text(name, "name", 200)
    if not name:
        raise RowRejected("no name")
    phone = _phone(get("phone"), region)
    email = _email(get("email"))
    if phone is None and email is None:
        raise RowRejected("no phone and no email")
    return VolunteerRow(
        name=name,
        phone=phone.e164 if phone else None,
        email=email,
        area_code=phone.area_code if phone else None,
        languages=_languages(get("languages")),
    )


def _phone(raw: str, region: str) -> Any:
    if not raw:
        return None
    try:
        return normalize_phone(raw, region)
    except InvalidPhone as exc:
        raise RowRejected(f"bad phone {raw!r}: {exc.reason}") from None


def _email(raw: str) -> str | None:
    if not raw:
        return None
    if not _EMAIL.fullmatch(raw) or len(raw) > 320:
        raise RowRejected(f"bad email {raw!r}")
    return raw.lower()


def _languages(raw: str) -> list[str]:
    codes: list[str] = []
    for part in _LANGUAGE_SEPARATORS.split(raw):
        if part.strip() and (code := clean_language(part)) not in codes:
            codes.append(code)
    return codes or ["en"]


def _upsert(conn: Connection, row: VolunteerRow, now: datetime, summary: ImportSummary) -> None:
    by_phone = _find(conn, "phone", row.phone)
    by_email = _find(conn, "email", row.email)
    existing = by_phone or by_email
    if by_phone and by_email and by_phone["id"] != by_email["id"]:
        raise RowRejected(f"email {row.email} belongs to another volunteer")
    if existing is None:
        conn.execute(
            insert(VOLUNTEERS),
            row.values()
            | {"status": VolunteerStatus.APPLICANT.value, "created_at": now, "updated_at": now},
        )
        summary.imported += 1
        return
    merged = {k: v for k, v in row.values().items() if v is not None}
    if all(existing[k] == v for k, v in merged.items()):
        summary.unchanged += 1
        return
    conn.execute(
        update(VOLUNTEERS)
        .where(VOLUNTEERS.c.id == existing["id"])
        .values(merged | _new_phone_resets(existing, merged) | {"updated_at": now})
    )
    summary.updated += 1


def _new_phone_resets(existing: Any, merged: dict[str, Any]) -> dict[str, Any]:
    """A different phone is unverified until its owner enters the texted code, and what was
    learned about the old one (cannot take texts) no longer applies."""
    if "phone" not in merged or merged["phone"] == existing["phone"]:
        return {}
    return {"phone_verified_at": None, "sms_undeliverable": None}


def _find(conn: Connection, column: str, value: str | None) -> Any:
    if value is None:
        return None
    query = select(VOLUNTEERS).where(VOLUNTEERS.c[column] == value)
    return conn.execute(query).mappings().first()
