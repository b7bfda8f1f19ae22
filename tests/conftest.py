"""Shared fixtures. Every database test runs twice: on SQLite and on PostgreSQL.

PostgreSQL comes from PHONEBANK_TEST_POSTGRES_URL (default: the local server's `test`
database). The suite creates a database of its own for the run and drops it afterwards, so runs
never see each other's rows; there is no skip when PostgreSQL is missing: the tests fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, Engine
from sqlmodel import SQLModel

from storage.clock import FrozenClock
from storage.db import create_schema, make_engine, normalize_url
from tests.fakes import chat_payloads
from tests.fakes.discord_api import FakeDiscordAPI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.time import FakeTime
from tests.fakes.twilio_api import FakeTwilioAPI

POSTGRES_ADMIN_URL = os.environ.get(
    "PHONEBANK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
DATABASES = ["sqlite", "postgresql"]


class PostgresServer:
    """Makes and drops throwaway databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = normalize_url(admin_url)
        self._admin = make_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self._created: list[str] = []

    def create_database(self) -> URL:
        name = f"phonebank_test_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self._created.append(name)
        return self.admin_url.set(database=name)

    def drop_database(self, url: URL) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        self._created.remove(str(url.database))

    def close(self) -> None:
        for name in list(self._created):
            self.drop_database(self.admin_url.set(database=name))
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer(POSTGRES_ADMIN_URL)
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> Iterator[URL]:
    """The run's own PostgreSQL database, with the schema created from the models."""
    url = postgres_server.create_database()
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    yield url


@pytest.fixture(params=DATABASES)
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_db_url(db_kind: str, tmp_path: Path, postgres_server: PostgresServer) -> Iterator[URL]:
    """A brand-new empty database (no tables), for migration tests."""
    if db_kind == "sqlite":
        yield normalize_url(f"sqlite:///{tmp_path / 'empty.db'}")
        return
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def engine(db_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine on a database whose tables exist and are empty."""
    if db_kind == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'phonebank.db'}")
        create_schema(eng)
        yield eng
        eng.dispose()
        return
    url: URL = request.getfixturevalue("postgres_url")
    eng = make_engine(url)
    yield eng
    _truncate_all(eng)
    eng.dispose()


@pytest.fixture
def db_url(engine: Engine) -> str:
    """The URL of `engine`'s database, as a string for settings and the CLI."""
    return engine.url.render_as_string(hide_password=False)


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        # A test that leaks an open transaction holding row locks would make TRUNCATE wait
        # forever; fail the teardown instead, naming the cause.
        conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, as the app does."""
    return "asyncio"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlackAPI]:
    """The local fake of Slack's Web API (tests/fakes/slack_api.py), recording every call."""
    with FakeSlackAPI() as fake:
        yield fake


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscordAPI]:
    """The local fake of Discord's REST API (tests/fakes/discord_api.py), recording every call."""
    with FakeDiscordAPI() as fake:
        yield fake


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioAPI]:
    """The local fake of Twilio's REST API (tests/fakes/twilio_api.py), recording every request."""
    with FakeTwilioAPI() as fake:
        yield fake


@pytest.fixture
def fake_time() -> FakeTime:
    """Recorded time for pacers: moves only when slept on."""
    return FakeTime()


@pytest.fixture
def clock() -> FrozenClock:
    """Tuesday 2026-11-03 15:00 UTC (10:00 in New York): inside calling hours everywhere in the US."""
    return FrozenClock(datetime(2026, 11, 3, 15, 0, tzinfo=UTC))


@pytest.fixture(scope="session", autouse=True)
def no_voter_phone_reached_a_chat() -> Iterator[None]:
    """After the whole run: no payload a fake chat API received holds a voter's phone number.

    The fakes record every payload (tests/fakes/chat_payloads.py); tests that seed voters
    register their phones. Checked in E.164 and in the usual written forms.
    """
    yield
    found = chat_payloads.voter_phones_in_payloads()
    assert not found, "voter phones sent to a chat: " + "; ".join(
        f"{payload.platform} {payload.method}: {phone}" for payload, phone in found[:10]
    )
