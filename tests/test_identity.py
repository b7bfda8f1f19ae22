"""Identity: a chat user is stored once (even when their first requests race), linked to one
volunteer, holds stored roles plus admin from PHONEBANK_ADMINS; grants and revocations, from
chat or from `phonebank role`, are audit-logged."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL
from typer.testing import CliRunner

import bot.cli.roles
from bot.cli import app
from handlers.context import Context, Platform
from handlers.identity import (
    UnknownUser,
    context_for,
    grant_role,
    parse_mention,
    revoke_role,
    role_holders,
)
from handlers.router import handle_command
from storage import migrate
from storage.clock import FrozenClock
from storage.models import Role
from tests.factories import FACTORY_TIME
from tests.scenarios.world import World as Rows
from tests.scenarios.world import make_services

runner = CliRunner()


def slack_user(engine: Engine, clock: FrozenClock, user: str, **admins: str) -> Context:
    services = make_services(engine, clock, admins=frozenset(admins.values()))
    return context_for(services, Platform.SLACK, "T1", user, display_name=user)


def test_a_new_user_is_stored_once_as_a_volunteer(engine: Engine, clock: FrozenClock) -> None:
    first = slack_user(engine, clock, "U1")
    again = slack_user(engine, clock, "U1")

    assert first.roles == again.roles == frozenset({Role.VOLUNTEER})
    assert first.volunteer_id is None
    assert len(Rows(engine, clock).rows("SELECT id FROM chat_identity")) == 1


def test_racing_first_requests_store_one_identity(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    contexts: list[Context] = []

    def first_contact() -> None:
        contexts.append(context_for(services, Platform.SLACK, "T1", "U1"))

    threads = [threading.Thread(target=first_contact) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(contexts) == 4
    assert len(Rows(engine, clock).rows("SELECT id FROM chat_identity")) == 1


def test_the_same_user_id_in_another_workspace_is_another_identity(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock)
    context_for(services, Platform.SLACK, "T1", "U1")
    context_for(services, Platform.SLACK, "T2", "U1")
    context_for(services, Platform.DISCORD, "T1", "U1")
    assert len(Rows(engine, clock).rows("SELECT id FROM chat_identity")) == 3


def test_bootstrap_admins_hold_every_role(engine: Engine, clock: FrozenClock) -> None:
    admin = slack_user(engine, clock, "U1", a="slack:U1")
    assert Role.ADMIN in admin.roles
    assert admin.has_role(Role.ORGANIZER) and admin.has_role(Role.COORDINATOR)
    assert not slack_user(engine, clock, "U2", a="slack:U1").has_role(Role.ORGANIZER)
    assert not slack_user(engine, clock, "U1", a="discord:U1").has_role(Role.ADMIN)


def test_grant_and_revoke_are_stored_and_audited(engine: Engine, clock: FrozenClock) -> None:
    slack_user(engine, clock, "U2")
    assert grant_role(engine, clock, "slack", "U2", Role.ORGANIZER, actor="slack:U1") == ["T1"]
    assert slack_user(engine, clock, "U2").has_role(Role.ORGANIZER)
    assert role_holders(engine)[0].roles == ("organizer",)

    revoke_role(engine, clock, "slack", "U2", Role.ORGANIZER, actor="cli")
    assert not slack_user(engine, clock, "U2").has_role(Role.ORGANIZER)
    assert role_holders(engine) == []
    audit = Rows(engine, clock).rows("SELECT actor, action, target FROM audit_log ORDER BY id")
    assert [tuple(row) for row in audit] == [
        ("slack:U1", "role.grant", "slack:U2"),
        ("cli", "role.revoke", "slack:U2"),
    ]


def test_a_grant_for_someone_unknown_needs_a_workspace(engine: Engine, clock: FrozenClock) -> None:
    with pytest.raises(UnknownUser, match="--workspace"):
        grant_role(engine, clock, "slack", "U9", Role.ORGANIZER, actor="cli")
    assert grant_role(engine, clock, "slack", "U9", Role.ORGANIZER, actor="cli", workspace="T1")
    assert slack_user(engine, clock, "U9").has_role(Role.ORGANIZER)
    # The console has one workspace, so no workspace is needed there.
    assert grant_role(engine, clock, "console", "ana", Role.ADMIN, actor="cli") == ["local"]


def test_chat_grants_are_for_admins_only(engine: Engine, clock: FrozenClock) -> None:
    volunteer = slack_user(engine, clock, "U2")
    refused = handle_command(volunteer, "role grant <@U3|carol> organizer")
    assert refused.tone == "warning" and "Only admins" in refused.text

    admin = slack_user(engine, clock, "U1", a="slack:U1")
    granted = handle_command(admin, "role grant <@U3|carol> organizer")
    assert granted.tone == "success", granted.text
    assert slack_user(engine, clock, "U3").has_role(Role.ORGANIZER)
    assert "not a role" in handle_command(admin, "role grant <@U3> boss").text
    assert "Say who" in handle_command(admin, "role grant <@U3>").text


@pytest.mark.parametrize(
    ("text", "user"),
    [
        ("<@U0123ABC|ana>", "U0123ABC"),
        ("<@U0123ABC>", "U0123ABC"),
        ("<@!80351110224678912>", "80351110224678912"),
        ("@ana", "ana"),
        ("ana.lopez", "ana.lopez"),
        ("<#C123|general>", None),
        ("two words", None),
    ],
)
def test_parse_mention(text: str, user: str | None) -> None:
    assert parse_mention(text) == user


# --- `phonebank role` -----------------------------------------------------------------------


@pytest.fixture
def migrated(empty_db_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> URL:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", empty_db_url.render_as_string(hide_password=False))
    monkeypatch.setattr(bot.cli.roles, "clock", FrozenClock(FACTORY_TIME))
    migrate.upgrade(empty_db_url)
    return empty_db_url


def test_cli_grant_list_revoke(migrated: URL) -> None:
    granted = runner.invoke(app, ["role", "grant", "console:ana", "organizer"])
    assert granted.exit_code == 0, granted.output
    assert "console:ana is now organizer in local" in granted.stdout

    listed = runner.invoke(app, ["role", "list"])
    assert "console:ana" in listed.stdout and "organizer" in listed.stdout

    revoked = runner.invoke(app, ["role", "revoke", "console:ana", "organizer"])
    assert revoked.exit_code == 0 and "no longer" in revoked.stdout
    assert "Nobody holds a role" in runner.invoke(app, ["role", "list"]).stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["grant", "ana", "organizer"], "not PLATFORM:USER_ID"),
        (["grant", "irc:ana", "organizer"], "not PLATFORM:USER_ID"),
        (["grant", "console:ana", "boss"], "not a role"),
        (["grant", "slack:U9", "organizer"], "--workspace"),
        (["revoke", "slack:U9", "organizer"], "no stored roles"),
    ],
)
def test_cli_bad_input_is_one_clear_line(migrated: URL, arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["role", *arguments])
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.count("\n") == 1
