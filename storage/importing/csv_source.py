"""Reading an uploaded CSV: its encoding, its header, its rows, and a rejects file beside it.

Files come from spreadsheets and voter-file exports: UTF-8 with or without a BOM, sometimes
Latin-1, CRLF line ends, quoted fields holding commas and newlines. Rows stream one at a time,
so memory stays flat whatever the file's size.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from storage.spreadsheet import safe_row

_SCAN_BLOCK = 1 << 20
_PROGRESS_EVERY = 4096  # records
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")

ProgressCallback = Callable[[int, int], None]  # (bytes read, file size)

# Long notes fit; a runaway quote that swallows the rest of the file is stopped and reported.
FIELD_SIZE_LIMIT = 1 << 20


class ImportFailure(Exception):
    """The whole file cannot be imported (missing, empty, no usable header, bad mapping...)."""


def header_key(name: str) -> str:
    """How headers are compared: "Cell Phone", "cell_phone" and "CELLPHONE" are one."""
    return _NOT_ALNUM.sub("", name.casefold())


@dataclass
class CsvSource:
    """An input file, its encoding, and what reading it had to warn about."""

    path: Path
    encoding: str
    size: int
    warnings: list[str] = field(default_factory=list)
    has_nul: bool = False  # then every record is checked: databases refuse NUL in text

    @classmethod
    def open(cls, path: Path) -> CsvSource:
        """Check the file exists and find its encoding: UTF-8 (BOM or not), else Latin-1."""
        if not path.is_file():
            raise ImportFailure(f"{path}: no such file")
        size = path.stat().st_size
        bad_offset = _first_non_utf8_byte(path)
        source = cls(path, "utf-8-sig", size)
        if bad_offset is not None:
            source.encoding = "latin-1"
            source.warnings.append(f"{path.name} is not UTF-8 (byte {bad_offset}): read as Latin-1")
        source.has_nul = _contains_nul(path)
        return source

    def rows(self, on_progress: ProgressCallback | None = None) -> Iterator[list[str]]:
        """Every record, the header included; blank lines skipped."""
        with self.path.open(encoding=self.encoding, newline="") as handle:
            records = _records(handle, self.size, on_progress)
            yield from (_refuse_nul(records) if self.has_nul else records)

    def rejects_path(self) -> Path:
        """`voters.csv` -> `voters.rejects.csv`, beside the input."""
        return self.path.with_name(f"{self.path.stem}.rejects.csv")


def _first_non_utf8_byte(path: Path) -> int | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        while block := handle.read(_SCAN_BLOCK):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return offset + exc.start
            offset += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return offset + exc.start
    return None


def _contains_nul(path: Path) -> bool:
    with path.open("rb") as handle:
        return any(b"\x00" in block for block in iter(lambda: handle.read(_SCAN_BLOCK), b""))


def _refuse_nul(records: Iterator[list[str]]) -> Iterator[list[str]]:
    for row in records:
        if any("\x00" in value for value in row):
            yield UnreadableRow([value.replace("\x00", "") for value in row], "NUL character")
        else:
            yield row


def _records(
    handle: IO[str], size: int, on_progress: ProgressCallback | None
) -> Iterator[list[str]]:
    csv.field_size_limit(FIELD_SIZE_LIMIT)
    reader = csv.reader(handle)
    while True:
        try:
            for count, row in enumerate(reader, 1):
                if row:
                    yield row
                if on_progress is not None and not count % _PROGRESS_EVERY:
                    on_progress(handle.buffer.tell(), size)  # type: ignore[attr-defined]
            break
        except csv.Error as exc:  # e.g. a runaway quote: report it, read on
            yield UnreadableRow([], str(exc))
    if on_progress is not None:
        on_progress(size, size)


class UnreadableRow(list[str]):
    """A record that cannot be imported as read: what could be kept of it, and why."""

    def __init__(self, fields: list[str], problem: str) -> None:
        super().__init__(fields)
        self.problem = problem


def unreadable_reason(row: list[str]) -> str | None:
    """Why `row` could not be read, if it could not."""
    return f"unreadable row: {row.problem}" if isinstance(row, UnreadableRow) else None


class RejectsWriter:
    """Writes rejected rows, as they were read, plus a `reason` column; created on first use.
    A cell a spreadsheet would run as a formula is written with a leading `'` (storage/spreadsheet.py)."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.header = header
        self.count = 0
        self._handle: IO[str] | None = None
        self._csv: Any = None  # csv.writer's type is private
        path.unlink(missing_ok=True)  # a rejects file from an earlier run would mislead

    def reject(self, row: list[str], reason: str) -> None:
        """Record one rejected row."""
        if self._handle is None:
            self._handle = self.path.open("w", encoding="utf-8-sig", newline="")
            self._csv = csv.writer(self._handle)
            self._csv.writerow(safe_row([*self.header, "reason"]))
        self.count += 1
        # A ragged row keeps every field: short ones padded, extra ones after the reason, so
        # the reason always sits in its column.
        width = len(self.header)
        fields = row[:width] + [""] * (width - len(row))
        self._csv.writerow(safe_row([*fields, reason, *row[width:]]))

    def close(self) -> None:
        """Flush and close the file, if any row was rejected."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
