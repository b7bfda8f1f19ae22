"""The tables matching works on, as SQLAlchemy Core tables (the claim path skips the ORM)."""

from __future__ import annotations

from sqlalchemy import Table
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
