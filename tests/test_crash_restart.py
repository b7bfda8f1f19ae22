"""Acknowledged means done, with real processes on PostgreSQL: `phonebank web` is killed with
SIGKILL at the worst moments and started again on the same database, while the test plays
Twilio (signed webhooks, a retry of a request whose answer was lost) and Slack (a signed click),
the server's own clients talking to the local fakes. After the restart the truths hold:

(a) killed right after a volunteer's `completed` status callback got its 200: the session is
    ended and its uncalled voters are back in the pool; the volunteer is told after the restart;
(b) killed between a '#' commit and its answer: Twilio's retry reaches the restarted server and
    gets the same `<Dial>`, so the voter is rung once, and once the leg has started no retry
    dials again;
(c) killed right after a Slack Call click was acked: the call was placed once, and the
    volunteer is told it did not go through (the click's work is resumed from the outbox);
(d) killed with outbox rows pending: after the restart every row is done, exactly once.

The same sequences without a kill hold the same truths. Every wait polls a condition against
a deadline; nothing sleeps a fixed time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import Engine, text
from twilio.request_validator import RequestValidator

from bot.app import build_services
from bot.settings import load_settings
from handlers.context import Platform, Services
from handlers.dialing import owe_batch_notice
from handlers.identity import context_for, link_volunteer
from handlers.requests import RESUME_AFTER
from handlers.router import handle_action, handle_command
from matching.zones import calling_zone_key, key_verdict
from storage import migrate
from storage.db import make_engine, session_scope
from tests.conftest import PostgresServer
from tests.factories import make_campaign, make_volunteer, make_voter
from tests.fakes.chat_payloads import register_voter_phones
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioAPI, TwilioRequest
from tests.scenarios.world import scenario_config
from tests.slack_support import BOT_TOKEN, SIGNING_SECRET, signed_headers

PHONEBANK = Path(sys.executable).with_name("phonebank")
START_S = 60.0  # a cold start on a busy shared machine; reached only when something is wrong
DEADLINE_S = 30.0
USER = "U0ANA"
VOLUNTEER_PHONE = "+17375550142"
# Voters whose calling window is open now: some US zone, or London, is inside 08:00-21:00 at
# any hour, and the dial-time check runs on the server's real clock.
ZONES = [
    ("+1512555", "TX", "America/Chicago", "78701"),
    ("+1808555", "HI", "Pacific/Honolulu", "96813"),
    ("+1671555", "GU", "Pacific/Guam", "96910"),
    ("+4420794", None, "Europe/London", None),
]

pytestmark = pytest.mark.skipif(not PHONEBANK.exists(), reason="phonebank is not installed")


def wait_for(condition: Callable[[], Any], deadline_s: float = DEADLINE_S) -> Any:
    """Poll `condition` until it is truthy; its value. Fails after `deadline_s`."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        threading.Event().wait(0.05)


class Web:
    """`phonebank web` in a process of its own, started, killed with SIGKILL, started again."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [str(PHONEBANK), "web", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=self.log.parent, stdout=out, stderr=subprocess.STDOUT
            )
        wait_for(self._up, START_S)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(DEADLINE_S)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.kill()

    def _up(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        try:
            return httpx.get(f"{self.base}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class Desk:
    """The world the server runs on: its database, the fakes, the volunteer and their batch."""

    engine: Engine
    services: Services  # the test's own core on the same database (seeding, the first Call)
    web: Web
    twilio: FakeTwilioAPI
    slack: FakeSlackAPI
    volunteer_id: int
    voter_phones: list[str]

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def one(self, sql: str, **params: Any) -> Any:
        [row] = self.rows(sql, **params)
        return row

    def post_twilio(self, url: str, params: dict[str, str], token: str | None = None) -> Any:
        """A webhook as Twilio sends it, signed over the public URL; the response."""
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature}
        if token is not None:
            headers["I-Twilio-Idempotency-Token"] = token
        return httpx.post(url, data=params, headers=headers, timeout=DEADLINE_S)

    def twiml(self, url: str, params: dict[str, str], token: str | None = None) -> str:
        response = self.post_twilio(url, params, token)
        assert response.status_code == 200, response.text
        return response.text

    def card_id(self, voter_index: int) -> int:
        return int(
            self.one(
                "SELECT c.id FROM batch_card c JOIN batch b ON b.id = c.batch_id "
                "WHERE b.volunteer_id = :v AND b.closed_at IS NULL ORDER BY c.position, c.id "
                "LIMIT 1 OFFSET :n",
                v=self.volunteer_id,
                n=voter_index,
            ).id
        )

    def open_voters(self) -> list[str]:
        rows = self.rows(
            "SELECT v.first_name FROM batch_item i JOIN voter v ON v.id = i.voter_id "
            "WHERE i.released_at IS NULL ORDER BY v.id"
        )
        return [row.first_name for row in rows]

    def unfinished_outbox(self) -> int:
        return len(self.rows("SELECT id FROM outbox WHERE finished_at IS NULL"))

    def slack_texts(self) -> list[str]:
        return [json.dumps(call.body) for call in self.slack.calls()]


def voters_in_hours() -> tuple[str, str | None, str, str | None]:
    """A zone whose calling window stays open for the next quarter of an hour."""
    hours = scenario_config().calling_hours
    now = datetime.now(UTC)
    for prefix, state, zone, zip_code in ZONES:
        key = calling_zone_key(prefix + "0201", state, zone, zip_code)
        if all(key_verdict(key, now + timedelta(minutes=m), hours).ok for m in (0, 15)):
            return prefix, state, zone, zip_code
    raise AssertionError("no zone inside its calling window now")


@pytest.fixture
def desk(tmp_path: Path, postgres_server: PostgresServer) -> Iterator[Desk]:
    url = postgres_server.create_database()
    migrate.upgrade(url)
    database_url = url.render_as_string(hide_password=False)
    with FakeTwilioAPI() as twilio, FakeSlackAPI() as slack:
        port = _free_port()
        settings = {
            "database_url": database_url,
            "public_base_url": f"http://127.0.0.1:{port}",
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack.base_url,
            **twilio.settings(),
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SLACK_"))}
        env |= {name.upper(): str(value) for name, value in settings.items()}
        engine = make_engine(url)
        services = build_services(load_settings(**settings), engine=engine)
        web = Web(env, port, tmp_path / "web.log")
        try:
            volunteer_id, phones = _seed(engine, services)
            web.start()
            yield Desk(engine, services, web, twilio, slack, volunteer_id, phones)
        finally:
            web.stop()
            register_voter_phones(_phones(engine))
            engine.dispose()
            postgres_server.drop_database(url)


def _seed(engine: Engine, services: Services) -> tuple[int, list[str]]:
    """A campaign with three voters in their calling window, and Ana signed up on Slack with a
    batch of them."""
    prefix, state, zone, zip_code = voters_in_hours()
    phones = [f"{prefix}{201 + n:04d}" for n in range(3)]
    with session_scope(engine) as session:
        campaign = make_campaign(session, scenario_config())
        for name, phone in zip(("Maria", "Dave", "Eve"), phones, strict=True):
            area = phone[2:5] if phone.startswith("+1") else ""
            fields = {"area_code": area, "state": state, "zip": zip_code, "time_zones": zone}
            make_voter(session, campaign, first_name=name, phone=phone, **fields)
        volunteer_id = int(make_volunteer(session, phone=VOLUNTEER_PHONE).id or 0)
    ctx = context_for(services, Platform.SLACK, TEAM_ID, USER)
    with session_scope(engine) as session:
        link_volunteer(session, ctx, volunteer_id)
    handle_command(context_for(services, Platform.SLACK, TEAM_ID, USER, request_key="b1"), "batch")
    return volunteer_id, phones


def _phones(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT phone FROM voter")).scalars())


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- Twilio's side ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """The volunteer's leg as Twilio placed it: where it asks for TwiML and reports status."""

    sid: str
    answer_url: str
    status_url: str


def ring(desk: Desk) -> Call:
    """Ana presses Call on Maria's card (through the test's core): Twilio rings her."""
    ctx = context_for(desk.services, Platform.SLACK, TEAM_ID, USER, request_key="call-1")
    handle_action(ctx, "pb:card:call", str(desk.card_id(0)))
    created = desk.twilio.calls_created()[-1]
    return Call(str(created.sid), str(created.params["Url"]), str(created.params["StatusCallback"]))


def ids_of(url: str) -> dict[str, int]:
    return {k: int(v[0]) for k, v in parse_qs(urlsplit(url).query).items()}


def attr(twiml: str, tag: str, name: str) -> str:
    import xml.etree.ElementTree as ET

    element = ET.fromstring(twiml).find(f".//{tag}")
    assert element is not None, twiml
    return str(element.get(name))


def voter_leg(desk: Desk, dial_twiml: str, child: str, *statuses: str) -> None:
    """Twilio reports the voter's leg that `dial_twiml` dialed."""
    url = attr(dial_twiml, "Number", "statusCallback")
    for status in statuses:
        desk.twiml(url, {"AccountSid": ACCOUNT_SID, "CallSid": child, "CallStatus": status})


def call_maria(desk: Desk) -> tuple[Call, str]:
    """Ana answers, Maria is dialed and does not answer; the keypad logs it ("2"); the TwiML
    that asks what next."""
    call = ring(desk)
    common = {"AccountSid": ACCOUNT_SID, "CallSid": call.sid}
    dial = desk.twiml(call.answer_url, common | {"CallStatus": "in-progress"})
    voter_leg(desk, dial, "CAmaria", "initiated", "ringing", "no-answer")
    dialed = common | {"DialCallStatus": "no-answer", "DialCallSid": "CAmaria"}
    asked = desk.twiml(attr(dial, "Dial", "action"), dialed)
    logged = desk.twiml(attr(asked, "Gather", "action"), common | {"Digits": "2"})
    return call, logged


# --- (a) a hang-up that got its 200 ----------------------------------------------------------


@pytest.mark.parametrize("kill", [True, False], ids=["killed", "not-killed"])
def test_a_hang_up_that_got_its_200_ends_the_session_and_returns_the_voters(
    desk: Desk, kill: bool
) -> None:
    call, _ = call_maria(desk)

    hung_up = {"AccountSid": ACCOUNT_SID, "CallSid": call.sid, "CallStatus": "completed"}
    assert desk.post_twilio(call.status_url, hung_up).status_code == 200
    if kill:
        desk.web.kill()

    session = desk.one("SELECT ended_at, end_reason FROM call_session")
    assert session.ended_at is not None and session.end_reason == "hung_up"
    assert desk.open_voters() == []  # Maria: logged; Dave and Eve: returned with the end
    returned = desk.rows(
        "SELECT v.first_name FROM batch_item i JOIN voter v ON v.id = i.voter_id "
        "WHERE i.release_reason = 'released' ORDER BY v.id"
    )
    assert [row.first_name for row in returned] == ["Dave", "Eve"]
    assert desk.rows("SELECT id FROM voter WHERE batch_id IS NOT NULL") == []
    if kill:
        desk.web.start()
    wait_for(lambda: desk.unfinished_outbox() == 0)  # the notice, owed with the end
    told = [t for t in desk.slack_texts() if "2 voters not called went back" in t]
    assert len(told) == 1


# --- (b) a '#' committed, its answer lost, Twilio's retry -------------------------------------


@pytest.mark.parametrize("kill", [True, False], ids=["killed", "not-killed"])
def test_a_hash_whose_answer_was_lost_rings_its_voter_once_on_the_retry(
    desk: Desk, kill: bool
) -> None:
    call, logged = call_maria(desk)
    keypad = attr(logged, "Gather", "action")
    press = {"AccountSid": ACCOUNT_SID, "CallSid": call.sid, "Digits": "#"}
    token = "idem-hash-1"

    if kill:
        # The '#' is sent; the server is killed as soon as its attempt is committed, before
        # (or while) it answers: Twilio never gets that answer.
        sender = threading.Thread(target=_post_ignoring_errors, args=(desk, keypad, press, token))
        sender.start()
        wait_for(lambda: len(desk.rows("SELECT id FROM call_attempt")) == 2)
        desk.web.kill()
        sender.join(DEADLINE_S)
        desk.web.start()
    else:
        desk.twiml(keypad, press, token)  # answered, but the answer is lost on the way back

    retry = desk.twiml(keypad, press, token)  # Twilio's retry, same token

    dave = desk.one("SELECT id FROM call_attempt WHERE voter_id <> :m", m=_voter(desk, "Maria"))
    assert ids_of(attr(retry, "Dial", "action"))["attempt"] == dave.id
    assert attr(retry, "Number", "statusCallback")  # the same <Dial>: Dave is rung now, once
    voter_leg(desk, retry, "CAdave", "initiated", "ringing")
    again = desk.twiml(keypad, press, token)  # any later repeat: the leg started, no dial
    assert "<Dial" not in again
    attempts = desk.rows("SELECT voter_id, call_sid FROM call_attempt ORDER BY id")
    assert len(attempts) == 2 and attempts[1].call_sid == "CAdave"


def _post_ignoring_errors(desk: Desk, url: str, params: dict[str, str], token: str) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server died under it: no answer
        desk.post_twilio(url, params, token)


def _voter(desk: Desk, name: str) -> int:
    return int(desk.one("SELECT id FROM voter WHERE first_name = :n", n=name).id)


# --- (c) a Slack Call click acked, then the kill ---------------------------------------------


@pytest.mark.parametrize("kill", [True, False], ids=["killed", "not-killed"])
def test_a_call_click_acked_before_a_kill_is_placed_once_or_the_volunteer_told(
    desk: Desk, kill: bool
) -> None:
    placing = threading.Event()
    release = threading.Event()

    def hold(request: TwilioRequest) -> None:  # Twilio takes the call, the answer waits
        if kill and request.kind == "calls.create":
            placing.set()
            release.wait(DEADLINE_S)

    desk.twilio.on_request = hold
    body = click_body(desk.card_id(0))
    response = httpx.post(
        f"{desk.web.base}/slack/events",
        content=body,
        headers=signed_headers(body) | {"Content-Type": "application/x-www-form-urlencoded"},
        timeout=DEADLINE_S,
    )
    assert response.status_code == 200  # acked

    if kill:
        assert placing.wait(DEADLINE_S)
        desk.web.kill()
        release.set()
        desk.web.start()
        # The restarted server resumes the click once its first run had its chance.
        wait_for(lambda: desk.unfinished_outbox() == 0, RESUME_AFTER.total_seconds() + DEADLINE_S)
        told = [t for t in desk.slack_texts() if "did not go through" in t]
        assert len(told) == 1
        attempt = desk.one("SELECT call_status FROM call_attempt")
        assert attempt.call_status == "not-placed"  # not counted, the card not skipped
    else:
        wait_for(lambda: desk.unfinished_outbox() == 0)
        wait_for(lambda: desk.rows("SELECT id FROM call_session WHERE call_sid IS NOT NULL"))
    assert len(desk.twilio.calls_created()) == 1  # placed once, never twice


def click_body(card_id: int) -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "phonebank"},
        "user": {"id": USER, "username": "ana", "team_id": TEAM_ID},
        "api_app_id": "A0PHONEBK",
        "trigger_id": "1.click.crash",
        "container": {"type": "message", "message_ts": "1790000000.000001", "channel_id": "D0ANA"},
        "channel": {"id": "D0ANA", "name": "directmessage"},
        "response_url": "http://127.0.0.1:9/never",
        "actions": [
            {
                "action_id": "pb:card:call",
                "block_id": "card",
                "value": str(card_id),
                "type": "button",
                "action_ts": "1790000001.000001",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


# --- (d) outbox rows pending at the kill -----------------------------------------------------


@pytest.mark.parametrize("kill", [True, False], ids=["killed", "not-killed"])
def test_outbox_rows_pending_at_a_kill_are_each_done_once_after_the_restart(
    desk: Desk, kill: bool
) -> None:
    batch_id = int(desk.one("SELECT id FROM batch").id)
    now = desk.services.clock.now()
    with desk.engine.begin() as conn:  # owed, due in a moment: pending when the kill comes
        for n in range(3):
            text_n = f"Notice number {n} for Ana."
            owe_batch_notice(
                conn,
                now + timedelta(seconds=1),
                desk.volunteer_id,
                batch_id,
                text_n,
                key=f"crash-test:{n}",
            )
    if kill:
        desk.web.kill()
        assert desk.unfinished_outbox() == 3
        desk.web.start()

    wait_for(lambda: desk.unfinished_outbox() == 0)
    for n in range(3):
        sent = [t for t in desk.slack_texts() if f"Notice number {n} for Ana." in t]
        assert len(sent) == 1, f"notice {n} sent {len(sent)} times"
