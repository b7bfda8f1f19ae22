"""The router: commands by their words, role checks in one place, help from docstrings, stale
buttons and forms, and an unexpected failure answered with an apology, not a stack trace."""

from __future__ import annotations

import dataclasses
import logging
import re

import pytest
from sqlalchemy import Engine

import handlers.router
from handlers.context import Context, Platform
from handlers.identity import context_for
from handlers.replies import Tone
from handlers.router import (
    ACTIONS,
    COMMANDS,
    FORMS,
    SORRY,
    Command,
    find_command,
    handle_command,
    handle_form,
)
from storage.clock import FrozenClock
from storage.models import Role
from tests.scenarios.world import make_services

ACTION_ID = re.compile(r"pb:[a-z]+:[a-z]+")


@pytest.fixture
def volunteer(engine: Engine, clock: FrozenClock) -> Context:
    return context_for(make_services(engine, clock), Platform.SLACK, "T1", "U1")


def test_action_ids_have_the_documented_shape() -> None:
    for action_id in [*ACTIONS, *FORMS]:
        assert ACTION_ID.fullmatch(action_id) and len(action_id) <= 255


def test_every_command_has_a_summary_for_help() -> None:
    for command in COMMANDS:
        assert command.help.summary, command.name


@pytest.mark.parametrize(
    ("words", "name"),
    [
        (["batch"], "batch"),
        (["BATCH", "now"], "batch"),
        (["campaign"], "campaign"),
        (["campaign", "use", "demo"], "campaign use"),
        (["role", "grant", "@ana", "organizer"], "role grant"),
        (["role"], None),
        (["dance"], None),
    ],
)
def test_the_longest_command_name_wins(words: list[str], name: str | None) -> None:
    found = find_command(words)
    assert (found.name if found else None) == name


def test_help_lists_what_each_role_may_do(volunteer: Context) -> None:
    def usages(ctx: Context) -> str:
        return handle_command(ctx, "help").sections[0].text

    assert "campaign use" not in usages(volunteer)
    organizer = dataclasses.replace(volunteer, roles=frozenset({Role.ORGANIZER}))
    assert "campaign use SLUG" in usages(organizer) and "role grant" not in usages(organizer)
    admin = dataclasses.replace(volunteer, roles=frozenset({Role.ADMIN}))
    assert "role grant @someone ROLE" in usages(admin)
    assert handle_command(volunteer, "").sections == handle_command(volunteer, "help").sections


def test_an_unknown_command_is_named_and_help_follows(volunteer: Context) -> None:
    reply = handle_command(volunteer, "  dance  now ")
    assert reply.tone is Tone.WARNING and "`dance  now`" in reply.text
    assert "/phonebank batch" in reply.sections[0].text
    assert [b.label for b in reply.buttons] == ["Sign up"]


def test_role_checks_refuse_before_the_handler_runs(
    volunteer: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    def use(ctx: Context, args: list[str]) -> None:
        ran.append("use")

    guarded = tuple(
        dataclasses.replace(c, run=use) if c.name == "campaign use" else c for c in COMMANDS
    )
    monkeypatch.setattr(handlers.router, "COMMANDS", guarded)
    reply = handle_command(volunteer, "campaign use demo")
    assert reply.tone is Tone.WARNING and reply.text == "Only organizers can use `campaign use`."
    assert ran == []


def test_an_unknown_form_is_refused(volunteer: Context) -> None:
    reply = handle_form(volunteer, "pb:nothing:submit", "", {})
    assert reply.tone is Tone.WARNING and "older version" in reply.text


def test_an_unexpected_failure_is_logged_and_apologised_for(
    volunteer: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(ctx: Context, args: list[str]) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(
        handlers.router, "COMMANDS", (Command(("stats",), broken),) + handlers.router.COMMANDS
    )
    with caplog.at_level(logging.ERROR, logger="handlers.router"):
        reply = handle_command(volunteer, "stats")
    assert reply.tone is Tone.WARNING and reply.text == SORRY
    assert "stats failed for slack:U1" in caplog.text and "went away" in caplog.text
