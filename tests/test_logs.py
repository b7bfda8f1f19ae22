"""Logs: every record goes through one redaction (phones, tokens, secrets, one-time links) and
is one JSON object off a terminal. The log scan runs whole conversations on the console and
on Slack, at DEBUG (Bolt then logs whole request bodies), on both databases."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from bot.logs import configure_logging
from bot.slack.privacy import redact
from storage.clock import FrozenClock
from tests.fakes.slack_api import FakeSlackAPI
from tests.scenarios.console_driver import ConsoleSurface
from tests.scenarios.conversations import (
    ANA_PHONE,
    BOB_PHONE,
    a_manual_dial_result_waits_for_an_organizer,
    a_volunteer_signs_up_calls_and_logs_an_outcome,
    an_admin_grants_the_organizer_role,
)
from tests.scenarios.slack_driver import SlackSurface
from tests.scenarios.world import World, phones_in
from tests.slack_support import BOT_TOKEN, SIGNING_SECRET

FLOWS = [
    a_volunteer_signs_up_calls_and_logs_an_outcome,
    a_manual_dial_result_waits_for_an_organizer,
    an_admin_grants_the_organizer_role,
]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_each_record_is_one_json_object() -> None:
    stream = io.StringIO()
    undo = configure_logging(stream=stream)
    try:
        logging.getLogger("phonebank.test").warning("rang %s", "+15125550142")
        try:
            raise ValueError("token xoxb-1-2-abc")
        except ValueError:
            logging.getLogger("phonebank.test").exception("failed")
    finally:
        undo()

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING" and first["logger"] == "phonebank.test"
    assert first["message"] == "rang (512) •••-••42"
    assert "xoxb-1-2-abc" not in second["exception"] and "ValueError" in second["exception"]


def test_on_a_terminal_records_are_readable_lines() -> None:
    stream = Terminal()
    undo = configure_logging(stream=stream)
    try:
        logging.getLogger("phonebank.test").info("ready")
    finally:
        undo()

    assert re.search(r" INFO phonebank\.test: ready$", stream.getvalue().strip())


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("https://pb.example.org/softphone#12.0.1767225600.q1w2-e3_r4", "q1w2-e3_r4"),
        ("answer at https://hooks.slack.com/actions/T01/123/AbCdEf", "AbCdEf"),
        ("GET /softphone/token?token=eyJhbGciOi.x.y HTTP/1.1", "eyJhbGciOi"),
        ("recording?sig=deadbeef&id=3", "deadbeef"),
    ],
)
def test_one_time_links_are_redacted(text: str, hidden: str) -> None:
    redacted = redact(text)

    assert hidden not in redacted
    assert "[redacted link]" in redacted


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.__name__)
@pytest.mark.parametrize("surface_name", ["console", "slack"])
def test_the_logs_of_whole_conversations_carry_no_phone_or_secret(
    flow: Callable[..., None],
    surface_name: str,
    engine: Engine,
    clock: FrozenClock,
    fake_slack: FakeSlackAPI,
) -> None:
    stream = io.StringIO()
    undo = configure_logging([BOT_TOKEN, SIGNING_SECRET], stream=stream, level=logging.DEBUG)
    world = World(engine, clock)
    slack = SlackSurface(world, fake_slack) if surface_name == "slack" else None
    try:
        flow(world, slack or ConsoleSurface(world))
    finally:
        if slack is not None:
            slack.close()
        undo()
    logs = stream.getvalue()

    assert surface_name == "console" or len(logs.splitlines()) > 10  # Bolt logs at DEBUG
    assert phones_in(logs, world.voter_phones()) == []
    assert phones_in(logs, [re.sub(r"\D", "", p) for p in (ANA_PHONE, BOB_PHONE)]) == []
    assert BOT_TOKEN not in logs and SIGNING_SECRET not in logs
