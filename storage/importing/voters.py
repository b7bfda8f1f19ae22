"""`phonebank import voters`: a voter file into one campaign, streamed in chunks.

Each chunk of rows costs three statements, whatever its size: one SELECT for the voters its
keys already name, one bulk INSERT of the new ones, one bulk UPDATE of the changed ones (plus
one do-not-call lookup). A voter's key is its external id, else its name and phone, so a
household sharing one landline keeps one voter per person. `row_hash` over the imported
fields tells an unchanged row (nothing written) from an updated one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.engine import Engine

from matching.phones import InvalidPhone, normalize_phone
from storage.clock import Clock
from storage.importing.common import (
    ImportSummary,
    RowRejected,
    chunked,
    clean_language,
    clean_state,
    clean_text,
    fewer_gc_passes,
)
from storage.importing.csv_source import (
    CsvSource,
    ImportFailure,
    ProgressCallback,
    RejectsWriter,
    unreadable_reason,
)
from storage.importing.dnc import phones_on_dnc
from storage.importing.voter_columns import VoterColumns, map_voter_columns, parse_map_options
from storage.importing.voter_writer import PHONE_AT, VoterWriter
from storage.models import Campaign

_MAX_ZONES_TEXT = 200  # Voter.time_zones; toll-free numbers list ~40 zones and never fit


@dataclass(slots=True)
class VoterRecord:
    """One parsed row: its upsert key, the hash of its fields, the values of IMPORTED_COLUMNS."""

    key: str
    row_hash: str
    values: tuple[Any, ...]

    @property
    def phone(self) -> str:
        return str(self.values[PHONE_AT])


def import_voters(
    engine: Engine,
    path: Path,
    campaign_slug: str,
    clock: Clock,
    *,
    column_map: list[str] | None = None,
    default_region: str = "US",
    on_progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Import a voter file into the campaign `campaign_slug`; see the module docstring."""
    overrides = parse_map_options(column_map or [])
    source = CsvSource.open(path)
    campaign_id = _campaign_id(engine, campaign_slug)
    summary = ImportSummary(kind="voters", warnings=list(source.warnings))
    rows = source.rows(on_progress)
    header = _header(rows, path)
    parser = VoterRowParser(map_voter_columns(header, overrides), default_region)
    rejects = RejectsWriter(source.rejects_path(), header)
    writer = VoterWriter(engine.dialect, campaign_id, clock.now())
    try:
        with fewer_gc_passes():
            for chunk in chunked(rows):
                records = _parse_chunk(chunk, parser, rejects, summary)
                with engine.begin() as conn:
                    _write_chunk(conn, writer, records, summary)
    finally:
        rejects.close()
    return summary.finish(rejects.path, rejects.count)


def _campaign_id(engine: Engine, slug: str) -> int:
    campaigns = Campaign.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        found = conn.execute(select(campaigns.c.id).where(campaigns.c.slug == slug)).scalar()
    if found is None:
        raise ImportFailure(f"no campaign {slug!r}: load one first with `phonebank campaign load`")
    return int(found)


def _header(rows: Any, path: Path) -> list[str]:
    first = next(rows, None)
    if first is None:
        raise ImportFailure(f"{path.name} is empty: expected a header row")
    header = first
    if unreadable_reason(header):
        raise ImportFailure(f"{path.name}: the header row cannot be read")
    return [name.strip() for name in header]


def _parse_chunk(
    chunk: list[list[str]],
    parser: VoterRowParser,
    rejects: RejectsWriter,
    summary: ImportSummary,
) -> dict[str, VoterRecord]:
    """The chunk's valid rows by key. A repeated key is unchanged or, if different, updated."""
    records: dict[str, VoterRecord] = {}
    for row in chunk:
        summary.read += 1
        try:
            record = parser.parse(row)
        except RowRejected as exc:
            rejects.reject(row, str(exc))
            continue
        earlier = records.get(record.key)
        if earlier is None:
            records[record.key] = record
        elif earlier.row_hash == record.row_hash:
            summary.unchanged += 1
        else:
            summary.updated += 1
            records[record.key] = record  # last wins
    return records


class VoterRowParser:
    """Turns one CSV row into a `VoterRecord`, or raises `RowRejected` with the reason."""

    def __init__(self, columns: VoterColumns, default_region: str) -> None:
        self.columns = columns
        self.width = len(columns.header)
        self.region = default_region
        self._external_id = columns.position("external_id")
        self._first = columns.position("first_name")
        self._last = columns.position("last_name")
        self._language = columns.position("language")
        self._state = columns.position("state")
        self._zip = columns.position("zip")
        self._priority = columns.position("priority")

    def parse(self, row: list[str]) -> VoterRecord:
        """The record for `row`."""
        unreadable = unreadable_reason(row)
        if unreadable:
            raise RowRejected(unreadable)
        if len(row) != self.width:
            raise RowRejected(f"ragged row: {len(row)} fields, the header has {self.width}")
        phone, attributes = self._phone_and_attributes(row)
        external_id = clean_text(self._get(row, self._external_id), "external id", 64) or None
        first = clean_text(self._get(row, self._first), "first name", 100)
        last = clean_text(self._get(row, self._last), "last name", 100)
        if external_id is None and not (first or last):
            raise RowRejected("no external id and no name")
        zones = " ".join(phone.time_zones)
        if len(zones) > _MAX_ZONES_TEXT:
            raise RowRejected(f"phone {phone.e164} is not geographic (toll-free?)")
        values = (
            external_id,
            first,
            last,
            phone.e164,
            phone.area_code,
            phone.region,
            clean_state(self._get(row, self._state)),
            _clean_zip(self._get(row, self._zip)),
            zones,
            clean_language(self._get(row, self._language)),
            _clean_priority(self._get(row, self._priority)),
            _to_json(attributes),
        )
        if external_id is not None:
            key = f"id:{external_id}"
        else:
            key = f"np:{_name_key(first)}|{_name_key(last)}|{phone.e164}"
        return VoterRecord(key, _row_hash(values), values)

    @staticmethod
    def _get(row: list[str], position: int | None) -> str:
        return row[position] if position is not None else ""

    def _phone_and_attributes(self, row: list[str]) -> tuple[Any, dict[str, str]]:
        """The first valid phone by preference; the other phone columns join the attributes."""
        attributes = {name: row[p] for p, name in self.columns.attributes if row[p]}
        chosen = None
        first_problem = None
        for position, name in self.columns.phones:
            raw = row[position].strip()
            if not raw:
                continue
            if chosen is None:
                try:
                    chosen = normalize_phone(raw, self.region)
                    continue
                except InvalidPhone as exc:
                    first_problem = first_problem or f"bad phone {raw!r}: {exc.reason}"
            attributes[name] = raw
        if chosen is None:
            raise RowRejected(first_problem or "no phone")
        return chosen, attributes


def _name_key(name: str) -> str:
    return " ".join(name.casefold().split())


def _clean_zip(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    if text.isdigit() and 3 <= len(text) < 5:  # a spreadsheet dropped the leading zeros
        text = text.zfill(5)
    if len(text) > 10:
        raise RowRejected(f"zip {value!r} longer than 10 characters")
    return text


def _clean_priority(value: str) -> int:
    text = value.strip()
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        raise RowRejected(f"priority {value!r} is not a whole number") from None


# One encoder for every row (json.dumps with options builds a new one per call); sorted keys so
# that reordered columns hash the same.
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def _row_hash(values: tuple[Any, ...]) -> str:
    text = "\x1f".join(map(str, values))  # None hashes as "None", never a real value here
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _write_chunk(
    conn: Connection,
    writer: VoterWriter,
    records: dict[str, VoterRecord],
    summary: ImportSummary,
) -> None:
    if not records:
        return
    existing = writer.existing(conn, list(records))
    new: list[tuple[str, str, tuple[Any, ...]]] = []
    changed: list[tuple[int, str, tuple[Any, ...]]] = []
    written: list[str] = []
    for key, record in records.items():
        found = existing.get(key)
        if found is None:
            new.append((key, record.row_hash, record.values))
        elif found[0] != record.row_hash:
            changed.append((found[1], record.row_hash, record.values))
        else:
            summary.unchanged += 1
            continue
        written.append(record.phone)
    if new:
        writer.insert(conn, new)
    if changed:
        writer.update(conn, changed)
    summary.imported += len(new)
    summary.updated += len(changed)
    if written:
        blocked = phones_on_dnc(conn, written)
        summary.on_dnc += sum(1 for phone in written if phone in blocked)
