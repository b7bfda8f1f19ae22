"""The voter importer's three statements per chunk, at driver speed.

A million rows through SQLAlchemy's per-row parameter processing costs more than the database
work itself, so rows arrive here as tuples already in column form (the attributes as JSON text)
and go to the driver as they are: `executemany` on SQLite, `COPY` on PostgreSQL. The constant
values (timestamps) are converted once, by the columns' own types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect

from storage.importing.common import in_list, list_param
from storage.models import EPOCH, Voter, VoterStatus

VOTERS = Voter.__table__  # type: ignore[attr-defined]
# The columns a voter file sets, in the order of `VoterRecord.values`.
IMPORTED_COLUMNS = (
    "external_id", "first_name", "last_name", "phone", "area_code", "phone_region", "state",
    "zip", "time_zones", "language", "priority", "attributes",
)  # fmt: skip
PHONE_AT = IMPORTED_COLUMNS.index("phone")
_INSERTED = (
    "campaign_id", "dedupe_key", "row_hash", *IMPORTED_COLUMNS, "status", "attempts",
    "available_at", "created_at", "updated_at",
)  # fmt: skip


class VoterWriter:
    """Finds, inserts and updates the voters of one campaign, a chunk at a time."""

    def __init__(self, dialect: Dialect, campaign_id: int, now: datetime) -> None:
        self.campaign_id = campaign_id
        self.dialect = dialect.name
        self.postgres = dialect.name == "postgresql"
        mark = "%s" if self.postgres else "?"
        json_mark = "%s::jsonb" if self.postgres else "?"
        marks = [json_mark if c == "attributes" else mark for c in IMPORTED_COLUMNS]
        self._now = _bound(dialect, "updated_at", now)
        self._tail = (VoterStatus.READY.value, 0, _bound(dialect, "available_at", EPOCH))
        columns = ", ".join(_INSERTED)
        self._existing_sql = (
            "SELECT dedupe_key, row_hash, id FROM voter "
            f"WHERE campaign_id = {mark} AND {in_list(dialect.name, 'dedupe_key')}"
        )
        self._copy_sql = f"COPY voter ({columns}) FROM STDIN"
        self._insert_sql = (
            f"INSERT INTO voter ({columns}) VALUES ({', '.join([mark] * 3 + marks + [mark] * 5)})"
        )
        assignments = ", ".join(f"{c} = {m}" for c, m in zip(IMPORTED_COLUMNS, marks, strict=True))
        # The phone, state or ZIP may have moved: the claim resolves the calling zone again.
        self._update_sql = (
            f"UPDATE voter SET {assignments}, row_hash = {mark}, updated_at = {mark}, "
            f"calling_zone_key = NULL WHERE id = {mark}"
        )

    def existing(self, conn: Connection, keys: list[str]) -> dict[str, tuple[str, int]]:
        """key -> (row_hash, id) of the voters already stored under `keys`."""
        found = conn.exec_driver_sql(
            self._existing_sql, (self.campaign_id, list_param(self.dialect, keys))
        )
        return {key: (row_hash, voter_id) for key, row_hash, voter_id in found}

    def insert(self, conn: Connection, records: list[tuple[str, str, tuple[Any, ...]]]) -> None:
        """Insert new voters given as (key, row_hash, values)."""
        head, tail = self.campaign_id, (*self._tail, self._now, self._now)
        rows = [(head, key, row_hash, *values, *tail) for key, row_hash, values in records]
        if not self.postgres:
            conn.exec_driver_sql(self._insert_sql, rows)  # type: ignore[arg-type]
            return
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(self._copy_sql) as copy:
            for row in rows:
                copy.write_row(row)

    def update(self, conn: Connection, records: list[tuple[int, str, tuple[Any, ...]]]) -> None:
        """Overwrite the imported fields of voters given as (id, row_hash, values)."""
        rows = [(*values, row_hash, self._now, voter_id) for voter_id, row_hash, values in records]
        conn.exec_driver_sql(self._update_sql, rows)  # type: ignore[arg-type]


def _bound(dialect: Dialect, column: str, value: Any) -> Any:
    """`value` as the column's type hands it to this dialect's driver."""
    column_type = VOTERS.c[column].type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process else value
