"""The engine factory: the same guarantees on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from storage.db import make_engine, session_scope
from storage.models import Campaign, Voter


def _campaign(now: datetime) -> Campaign:
    return Campaign(slug="c", name="C", config={}, config_source="", created_at=now, updated_at=now)


def test_timestamps_come_back_as_aware_utc(engine: Engine) -> None:
    eastern = timezone(timedelta(hours=-5))
    written = datetime(2026, 11, 3, 10, 0, tzinfo=eastern)
    with session_scope(engine) as session:
        session.add(_campaign(written))
    with session_scope(engine) as session:
        stored = session.exec(select(Campaign)).one()
    assert stored.created_at == written
    assert stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), session_scope(engine) as session:
        session.add(_campaign(datetime(2026, 11, 3, 10, 0)))


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    now = datetime.now(UTC)
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(
            Voter(
                campaign_id=999,
                dedupe_key="id:1",
                phone="+15125550123",
                row_hash="x",
                created_at=now,
                updated_at=now,
            )
        )


def test_sqlite_runs_in_wal_with_a_busy_timeout(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_postgres_urls_use_psycopg3() -> None:
    engine = make_engine("postgres://postgres@127.0.0.1:5432/test")
    assert engine.url.drivername == "postgresql+psycopg"
    with engine.connect() as conn:
        assert conn.execute(text("select 1")).scalar() == 1
    engine.dispose()
