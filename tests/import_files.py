"""Small factories for the CSV files the import tests feed in."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from storage.db import session_scope
from storage.models import Voter
from tests.factories import campaign_config, make_campaign

VAN_HEADER = [
    "VanID", "FirstName", "LastName", "CellPhone", "HomePhone", "Language", "State", "Zip5",
    "Precinct", "Party",
]  # fmt: skip
_van_ids = itertools.count(100_001)
_lines = itertools.count(100)


def voter_row(**overrides: str) -> dict[str, str]:
    """One VAN-style row with a fresh VanID and cell phone; override any column."""
    van_id = next(_van_ids)
    row = {
        "VanID": str(van_id),
        "FirstName": "Ana",
        "LastName": f"Voter{van_id}",
        "CellPhone": f"(512) 555-{next(_lines) % 10_000:04d}",
        "HomePhone": "",
        "Language": "English",
        "State": "TX",
        "Zip5": "78701",
        "Precinct": "P-12",
        "Party": "D",
    }
    row.update(overrides)
    return row


def write_csv(
    path: Path,
    rows: list[dict[str, str]] | list[list[str]],
    header: list[str] | None = None,
    *,
    encoding: str = "utf-8",
    newline: str = "\n",
) -> Path:
    """Write `rows` (dicts keyed by `header`, default VAN_HEADER, or raw lists) as CSV."""
    header = header if header is not None else VAN_HEADER
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    if header:
        writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header] if isinstance(row, dict) else row)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def read_rejects(path: Path) -> list[dict[str, str]]:
    """The rows of a rejects file."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def new_campaign(engine: Engine, slug: str = "import-test") -> str:
    """A campaign to import into; returns its slug."""
    with session_scope(engine) as session:
        make_campaign(session, campaign_config(slug=slug))
    return slug


def voters_in(engine: Engine) -> list[dict[str, Any]]:
    """Every voter row as a dict, by id: compares whole tables before and after."""
    table = Voter.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(table).order_by(table.c.id)).mappings()]
