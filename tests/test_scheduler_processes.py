"""Real `phonebank scheduler` processes against one PostgreSQL database and the local Slack
fake: two of them send each reminder exactly once, and when the leader is killed with SIGKILL
the other takes over, losing and doubling nothing. Waits are polls with a deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine

from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import ChatIdentity
from tests.conftest import PostgresServer
from tests.factories import make_campaign, make_shift, make_signup, make_volunteer
from tests.fakes.slack_api import FakeSlackAPI

DEADLINE_S = 60.0
PHONEBANK = str(Path(sys.executable).with_name("phonebank"))


@pytest.fixture
def migrated(postgres_server: PostgresServer) -> Iterator[Engine]:
    """A PostgreSQL database of its own, migrated as `phonebank db upgrade` would."""
    url: URL = postgres_server.create_database()
    migrate.upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    postgres_server.drop_database(url)


def _start(
    engine: Engine, fake: FakeSlackAPI, tmp_path: Path, name: str
) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "secret",
        "SLACK_API_URL": fake.base_url,
    }
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [PHONEBANK, "scheduler"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )


def _seed(engine: Engine, count: int, first: int = 0) -> None:
    """`count` volunteers on Slack, each signed up for a shift whose 1 h reminder is due."""
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        campaign = make_campaign(session)
        shift = make_shift(session, campaign, now + timedelta(minutes=30))
        for n in range(first, first + count):
            volunteer = make_volunteer(session, sms_consent=False)
            make_signup(session, shift, volunteer)
            session.add(
                ChatIdentity(
                    platform="slack",
                    workspace="T0PHONEBK",
                    user_id=f"U{n:05d}",
                    volunteer_id=volunteer.id,
                    created_at=now,
                )
            )


def _reminded(fake: FakeSlackAPI) -> Counter[str]:
    """Reminder DMs per Slack user (conversations.open names the user, in order)."""
    opened = [call.body.get("users") for call in fake.calls("conversations.open")]
    posts = [call.body for call in fake.calls("chat.postMessage")]
    return Counter(
        str(user)
        for user, post in zip(opened, posts, strict=False)
        if "Reminder" in str(post.get("text", ""))
    )


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S} s: {what}")
        time.sleep(0.1)  # polling the condition, not waiting out a duration


def _leader(processes: dict[str, subprocess.Popen[bytes]], tmp_path: Path) -> str | None:
    for name in processes:
        if b"is the leader now" in (tmp_path / f"{name}.log").read_bytes():
            return name
    return None


@pytest.mark.parametrize("db_kind", ["postgresql"])
def test_two_schedulers_send_each_reminder_once_and_survive_a_killed_leader(
    db_kind: str, migrated: Engine, fake_slack: FakeSlackAPI, tmp_path: Path
) -> None:
    _seed(migrated, 20)
    processes = {name: _start(migrated, fake_slack, tmp_path, name) for name in ("a", "b")}
    try:
        _wait_for(lambda: len(_reminded(fake_slack)) == 20, "20 reminders")
        leader = _leader(processes, tmp_path)
        assert leader is not None
        processes[leader].send_signal(signal.SIGKILL)
        processes[leader].wait(timeout=DEADLINE_S)

        _seed(migrated, 20, first=20)  # due after the leader died
        _wait_for(lambda: len(_reminded(fake_slack)) == 40, "the survivor's 20 reminders")
        survivor = next(name for name in processes if name != leader)
        assert b"is the leader now" in (tmp_path / f"{survivor}.log").read_bytes()
        assert set(_reminded(fake_slack).values()) == {1}  # nobody twice
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=DEADLINE_S)
