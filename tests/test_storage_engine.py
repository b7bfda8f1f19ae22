"""The engine factory: the same guarantees on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import IntegrityError, InternalError, OperationalError
from sqlmodel import select

from storage.db import create_schema, make_engine, read_session, session_scope
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


def test_a_read_session_does_not_block_writers_on_sqlite(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    create_schema(engine)
    now = datetime.now(UTC)
    with read_session(engine) as reader:
        assert reader.exec(select(Campaign)).all() == []
        # A writer with no busy wait at all gets the lock while the read is open.
        writer = make_engine(f"sqlite:///{tmp_path / 'x.db'}", connect_args={"timeout": 0})
        with session_scope(writer) as session:
            session.add(_campaign(now))
        writer.dispose()
        assert reader.exec(select(Campaign)).all() == []  # its snapshot is stable
    with read_session(engine) as reader:
        assert len(reader.exec(select(Campaign)).all()) == 1


def test_a_write_transaction_holds_the_sqlite_write_lock(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    create_schema(engine)
    with session_scope(engine) as holder:
        holder.exec(select(Campaign)).all()
        writer = make_engine(f"sqlite:///{tmp_path / 'x.db'}", connect_args={"timeout": 0})
        with pytest.raises(OperationalError, match="locked"), session_scope(writer) as session:
            session.add(_campaign(datetime.now(UTC)))
        writer.dispose()


def test_objects_read_in_a_read_session_stay_readable_after_it(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(_campaign(datetime.now(UTC)))
    with read_session(engine) as reader:
        campaign = reader.exec(select(Campaign)).one()
    assert (campaign.id, campaign.slug) == (1, "c")


def test_a_read_session_writes_nothing_changed_on_its_objects(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(_campaign(datetime.now(UTC)))
    with read_session(engine) as reader:
        campaign = reader.exec(select(Campaign)).one()
        campaign.name = "changed while reading"
        added = _campaign(datetime.now(UTC))
        added.slug = "added while reading"
        reader.add(added)
        reader.exec(select(Campaign)).all()  # a query does not flush them either
    with read_session(engine) as reader:
        assert [(c.slug, c.name) for c in reader.exec(select(Campaign)).all()] == [("c", "C")]


def test_a_read_session_keeps_the_statements_postgresql_prepared(postgres_url: URL) -> None:
    single = make_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        for _ in range(8):  # psycopg prepares a statement from its 5th run on a connection
            with read_session(single) as reader:
                reader.exec(select(Campaign)).all()
        with single.connect() as conn:
            prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements")
            assert prepared.scalar_one() >= 1  # a ROLLBACK would have deallocated them all
    finally:
        single.dispose()


def test_a_read_session_cannot_write_on_postgresql(postgres_url: URL) -> None:
    reading = make_engine(postgres_url)
    try:
        refused = pytest.raises(InternalError, match="read-only transaction")
        with refused, read_session(reading) as reader:
            reader.exec(text("DELETE FROM campaign"))  # type: ignore[call-overload]
    finally:
        reading.dispose()
