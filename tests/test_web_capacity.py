"""How much a web process does at once: the worker threads its requests share, and a database
pool that keeps a connection for each thread that may hold one, so connections are not closed
and reopened under load (both databases)."""

from __future__ import annotations

import os

import anyio
import anyio.to_thread
import pytest
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from bot.app import ACK_THREADS, DISCORD_ACK_THREADS, WORKER_THREADS, database_engine
from bot.later import DEFAULT_THREADS
from bot.outbox import THREADS as OUTBOX_THREADS
from bot.settings import load_settings
from bot.web import create_web_app
from storage.clock import FrozenClock
from tests.scenarios.world import make_services


def test_postgresql_keeps_a_connection_for_every_thread_that_may_use_one(db_url: str) -> None:
    engine = database_engine(load_settings(database_url=db_url))
    try:
        pool = engine.pool
        if engine.dialect.name == "postgresql":
            assert isinstance(pool, QueuePool)
            asyncio_workers = min(32, (os.cpu_count() or 1) + 4)
            # the outbox worker's threads: a row's lock, and its handler's own transactions
            outbox = 2 * OUTBOX_THREADS
            threads = WORKER_THREADS + asyncio_workers + ACK_THREADS + DEFAULT_THREADS + outbox
            threads += DISCORD_ACK_THREADS  # the request a Discord interaction owes
            assert pool.size() == threads
        else:  # SQLite writes take turns anyway: the engine's own pool
            assert engine.dialect.name == "sqlite"
        with engine.connect() as conn:  # and it works
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.anyio
async def test_the_app_runs_its_requests_on_its_own_number_of_worker_threads(
    engine: Engine, clock: FrozenClock
) -> None:
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = 40  # anyio's default, as a fresh process has it
    app = create_web_app(make_services(engine, clock))

    async with app.router.lifespan_context(app):
        assert limiter.total_tokens == WORKER_THREADS
