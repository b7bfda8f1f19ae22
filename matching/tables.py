"""The tables matching works on, as SQLAlchemy Core tables (the claim path skips the ORM)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, any_, bindparam
from sqlalchemy.dialects import postgresql
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


VOTER = _table("voter")
VOLUNTEER = _table("volunteer")
CAMPAIGN = _table("campaign")
BATCH = _table("batch")
CARD = _table("batch_card")
ITEM = _table("batch_item")
DNC = _table("dnc_entry")
ATTEMPT = _table("call_attempt")
SESSION = _table("call_session")


def one_of(column: Any, values: Sequence[Any], dialect: str) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `column = ANY(:array)`, one parameter whatever the count.

    One array parameter keeps the SQL text the same for every list length, so psycopg parses it
    once and the server prepares it once (psycopg re-parses any statement over 50 parameters or
    4 kB on every execution, which cost a claim milliseconds).
    """
    if dialect == "postgresql":
        return cast(
            ColumnElement[bool],
            column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type))),
        )
    return cast(ColumnElement[bool], column.in_(list(values)))


def one_of_param(column: Any, name: str, dialect: str) -> ColumnElement[bool]:
    """`one_of` with the list bound later, as parameter `name`, for statements built once."""
    if dialect == "postgresql":
        array = bindparam(name, type_=postgresql.ARRAY(column.type))
        return cast(ColumnElement[bool], column == any_(array))
    return cast(ColumnElement[bool], column.in_(bindparam(name, expanding=True)))
