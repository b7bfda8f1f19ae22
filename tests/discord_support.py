"""Discord as the tests see it: interactions dispatched into the real discord.py client the way
the gateway delivers them, answers read off the fake REST API.

`open_discord` logs the real client in against `FakeDiscordAPI` (users/@me, the application,
command sync) without a gateway; `DiscordUser` plays one member's Discord client: it builds
`INTERACTION_CREATE` payloads in Discord's shapes (a slash command, a button on a message, a
modal submission), hands them to the client's connection state (`parse_interaction_create`, as
the gateway's dispatch does), waits for the answer, and rebuilds what that member sees from the
recorded calls: messages (ephemeral, in DMs, replaced in place), the open modal.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.app import build_services
from bot.discord.app import DiscordAdapter, discord_for
from bot.settings import load_settings
from bot.telephony.simulated import SimulatedTelephony
from storage.clock import Clock
from tests.discord_limits import discord_problems
from tests.fakes.chat_payloads import register_voter_phones
from tests.fakes.discord_api import (
    APPLICATION_ID,
    CHANNEL_ID,
    DEFERRED_MESSAGE,
    EPHEMERAL,
    GUILD_ID,
    MESSAGE,
    MODAL,
    UPDATE,
    DiscordCall,
    FakeDiscordAPI,
    Interaction,
)

BOT_TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMg.Gx1234.fake-discord-bot-token-for-tests"
ANSWER_TIMEOUT_S = 20.0
WARNING = "⚠️"
FORM_OPEN = "pb:form:open"
NUMBERED = re.compile(r"^\d+\. ")
Answer = str | list[str] | bool | None
# Interaction types: 2 application command, 3 message component, 5 modal submit.
COMMAND, COMPONENT, MODAL_SUBMIT = 2, 3, 5

_tokens = itertools.count(1)


def user_id_of(name: str) -> str:
    """A Discord-looking user id for a name (stable within a run)."""
    return str(1_400_000_000_000_000_000 + sum(ord(c) * 31**i for i, c in enumerate(name)) % 10**15)


@dataclass(eq=False)
class ShownMessage:
    """A message as its reader sees it (the fake keeps its latest state)."""

    id: str
    fake: FakeDiscordAPI

    @property
    def body(self) -> dict[str, Any]:
        return self.fake.message(self.id)

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.body.get("flags") or 0) & EPHEMERAL)

    @property
    def text(self) -> str:
        return "\n".join(texts_of(self.body))

    def buttons(self) -> list[tuple[dict[str, Any], str]]:
        """(button, text of the section it belongs to), in order."""
        body = self.body
        embeds = body.get("embeds") or []
        numbered = {
            e["title"].rstrip("."): "\n".join(texts_of({"embeds": [e]}))
            for e in embeds
            if re.fullmatch(r"\d+\.", str(e.get("title", "")))
        }
        everything = "\n".join(texts_of(body))
        found = []
        for row in body.get("components") or []:
            for button in row.get("components") or []:
                label = str(button.get("label", ""))
                number = label.split(".", 1)[0] if NUMBERED.match(label) else None
                section = numbered.get(number or "", everything)
                found.append((button, section))
        return found


def _channel(channel_id: str, dm: bool, user: dict[str, Any]) -> dict[str, Any]:
    """The partial channel an interaction carries."""
    if dm:
        return {
            "id": channel_id,
            "type": 1,
            "recipients": [user],
            "flags": 0,
            "last_message_id": None,
        }
    return {
        "id": channel_id,
        "type": 0,
        "name": "calls",
        "position": 0,
        "parent_id": None,
        "topic": None,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "flags": 0,
        "permission_overwrites": [],
    }


def texts_of(body: Mapping[str, Any]) -> list[str]:
    parts = [str(body.get("content") or "")]
    for embed in body.get("embeds") or []:
        parts += [str(embed.get("title", "")), str(embed.get("description", ""))]
        parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields") or []]
    return [p for p in parts if p]


def label_of(button: Mapping[str, Any]) -> str:
    """A button's label without the section number a busy message gives it."""
    return NUMBERED.sub("", str(button.get("label", "")))


@dataclass
class DiscordUser:
    """One member of the guild talking to Phonebank."""

    adapter: DiscordAdapter
    fake: FakeDiscordAPI
    user_id: str = "1400000000000000001"
    name: str = "sam"
    guild_id: str | None = GUILD_ID
    channel_id: str = CHANNEL_ID
    role_ids: list[str] = field(default_factory=list)
    messages: dict[str, ShownMessage] = field(default_factory=dict)
    modal: dict[str, Any] | None = None  # the open modal, as the bot sent it
    modal_message: dict[str, Any] | None = None  # the message whose button opened it
    changed: list[ShownMessage] = field(default_factory=list)  # by the last step
    callbacks: list[dict[str, Any]] = field(default_factory=list)  # bodies, by the last step
    _tokens: set[str] = field(default_factory=set)
    _seen: int = 0

    # --- what Discord sends -----------------------------------------------------------------

    async def command(self, text_typed: str) -> None:
        """`/phonebank <text>`, as the options of the synced subcommand."""
        await self.dispatch(COMMAND, command_data(self.synced_group(), text_typed))

    async def press(
        self, label: str, *, near: str | None = None, message: ShownMessage | None = None
    ) -> None:
        """Press the button labelled `label` on the latest message with one, or on `message`."""
        shown, button = self.find_button(label, near=near, message=message)
        data = {"custom_id": button["custom_id"], "component_type": 2}
        await self.dispatch(COMPONENT, data, message=shown.body)

    async def press_on(self, body: dict[str, Any], label: str) -> None:
        """Press a button on a message as it once was (a stale client, an old message)."""
        button = next(
            b
            for row in body.get("components") or []
            for b in row["components"]
            if label_of(b) == label
        )
        data = {"custom_id": button["custom_id"], "component_type": 2}
        await self.dispatch(COMPONENT, data, message=body)

    async def submit(self, answers: Mapping[str, Answer]) -> None:
        """Submit the open modal with these answers (by input id); others keep their default."""
        assert self.modal is not None, f"{self.name} has no modal open"
        modal, origin = self.modal, self.modal_message
        self.modal = None
        data = {"custom_id": modal["custom_id"], "components": submitted(modal, answers)}
        await self.dispatch(MODAL_SUBMIT, data, message=origin)

    async def dispatch(
        self, kind: int, data: dict[str, Any], *, message: dict[str, Any] | None = None
    ) -> Interaction:
        """Deliver an INTERACTION_CREATE and wait until it is answered and its work done."""
        self.changed, self.callbacks = [], []
        interaction = Interaction(
            id=self.fake.new_id(),
            token=f"aW50ZXJhY3Rpb24{next(_tokens)}",
            user_id=self.user_id,
            channel_id=str(message["channel_id"]) if message else self.channel_id,
            message_id=str(message["id"]) if message else None,
        )
        self._tokens.add(interaction.token)
        self.fake.expect_interaction(interaction)
        payload = self.payload(interaction, kind, data, message)
        answered = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_call(call: DiscordCall) -> None:
            if interaction.token in call.path:
                loop.call_soon_threadsafe(answered.set)

        self.fake.on_call = on_call
        try:
            self.adapter.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
            await asyncio.wait_for(answered.wait(), ANSWER_TIMEOUT_S)
            await self.adapter.drain()
        finally:
            self.fake.on_call = None
        self.read_calls()
        return interaction

    def payload(
        self,
        interaction: Interaction,
        kind: int,
        data: dict[str, Any],
        message: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE payload with the fields Discord sends."""
        dm = message is not None and self.fake.dm_channel(self.user_id) == str(
            message["channel_id"]
        )
        return interaction_payload(
            interaction,
            kind,
            data,
            message,
            user_id=self.user_id,
            name=self.name,
            guild_id=None if dm else self.guild_id,
            role_ids=self.role_ids,
        )

    def synced_group(self) -> dict[str, Any]:
        synced = [c for call in self.fake.calls("commands.sync") for c in call.body or []]
        groups = [c for c in synced if c["name"] == "phonebank"]
        assert groups, "the commands were never synced"
        return dict(groups[-1])

    # --- what Discord shows -----------------------------------------------------------------

    def read_calls(self) -> None:
        """Apply the fake's calls that reached this user since the last read."""
        calls = self.fake.calls()
        dm = self.fake.dm_channel(self.user_id)
        for call in calls[self._seen :]:
            assert discord_problems(call.body) == [], (call.route, discord_problems(call.body))
            mine = any(token in call.path for token in self._tokens)
            if call.route == "interaction.callback" and mine:
                self._callback(call)
            elif call.route in ("webhook.send", "webhook.message") and mine and call.message_id:
                self._show(call.message_id)
            elif call.route in ("channel.send", "channel.edit") and dm and f"/{dm}/" in call.path:
                self._show(call.message_id or "")
        self._seen = len(calls)

    def _callback(self, call: DiscordCall) -> None:
        self.callbacks.append(call.body)
        kind = int(call.body.get("type", 0))
        if kind == MODAL:
            self.modal = call.body["data"]
            token = call.path.split("/")[3]
            found = self.fake.interaction(token)
            self.modal_message = (
                self.fake.message(found.message_id) if found and found.message_id else None
            )
        elif kind in (MESSAGE, DEFERRED_MESSAGE, UPDATE) and call.message_id:
            self._show(call.message_id)

    def _show(self, message_id: str) -> None:
        if not message_id:
            return
        shown = self.messages.get(message_id)
        if shown is None:
            shown = self.messages[message_id] = ShownMessage(message_id, self.fake)
        if shown not in self.changed:
            self.changed.append(shown)

    def latest(self) -> ShownMessage:
        assert self.messages, "nothing was said"
        return list(self.messages.values())[-1]

    def find_button(
        self, label: str, *, near: str | None = None, message: ShownMessage | None = None
    ) -> tuple[ShownMessage, dict[str, Any]]:
        candidates = [message] if message else list(reversed(self.messages.values()))
        for candidate in candidates:
            for button, section in candidate.buttons():
                if label_of(button) == label and (near is None or near in section):
                    return candidate, button
        shown = [m.text for m in candidates]
        raise AssertionError(f"no button {label!r} near {near!r} in {shown}")


def interaction_payload(
    interaction: Interaction,
    kind: int,
    data: dict[str, Any],
    message: dict[str, Any] | None = None,
    *,
    user_id: str,
    name: str,
    guild_id: str | None = GUILD_ID,
    role_ids: list[str] | None = None,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload with the fields Discord sends: from a guild member, or
    from a user in a DM (`guild_id` None)."""
    user = {
        "id": user_id,
        "username": name,
        "discriminator": "0",
        "global_name": name.title(),
        "avatar": None,
    }
    payload: dict[str, Any] = {
        "id": interaction.id,
        "application_id": APPLICATION_ID,
        "type": kind,
        "data": data,
        "token": interaction.token,
        "version": 1,
        "channel_id": interaction.channel_id,
        "channel": _channel(interaction.channel_id, guild_id is None, user),
        "locale": "en-US",
        "app_permissions": "2248473465835073",
        "entitlements": [],
        "attachment_size_limit": 26214400,
    }
    if guild_id is not None:
        payload["guild_id"] = guild_id
        payload["guild_locale"] = "en-US"
        payload["channel"]["guild_id"] = guild_id
        payload["channel"]["permissions"] = "2248473465835073"
        payload["authorizing_integration_owners"] = {"0": guild_id}
        payload["context"] = 0
        payload["member"] = {
            "user": user,
            "roles": list(role_ids or []),
            "permissions": "2248473465835073",
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "avatar": None,
            "pending": False,
            "premium_since": None,
        }
    else:
        payload["user"] = user
        payload["context"] = 1
        payload["authorizing_integration_owners"] = {"1": user_id}
    if message is not None:
        payload["message"] = message
    return payload


def command_data(group: Mapping[str, Any], typed: str) -> dict[str, Any]:
    """The application command data a Discord client sends for `/phonebank <typed>`: the first
    word picks the subcommand, a next word that is one of its `action` choices fills `action`,
    the rest `arguments`. A subcommand Phonebank did not sync is sent as is (a stale client)."""
    words = typed.split()
    assert words, "type a subcommand"
    name, rest = words[0], words[1:]
    sub = next((o for o in group.get("options") or [] if o["name"] == name), None)
    options: list[dict[str, Any]] = []
    if sub is not None:
        params = {o["name"]: o for o in sub.get("options") or []}
        choices = [c["value"] for c in params.get("action", {}).get("choices") or []]
        if rest and rest[0] in choices:
            options.append({"name": "action", "type": 3, "value": rest.pop(0)})
        if rest:
            assert "arguments" in params, f"/phonebank {name} takes no arguments: {typed!r}"
            options.append({"name": "arguments", "type": 3, "value": " ".join(rest)})
    elif rest:  # a stale client's subcommand, with what it once took
        options.append({"name": "arguments", "type": 3, "value": " ".join(rest)})
    return {
        "id": group.get("id", "1"),
        "name": "phonebank",
        "type": 1,
        "guild_id": group.get("guild_id"),
        "options": [{"name": name, "type": 1, "options": options}],
    }


def submitted(modal: Mapping[str, Any], answers: Mapping[str, Answer]) -> list[dict[str, Any]]:
    """A modal's components as Discord submits them: answers by input id (a choice by its
    option's label or value, a checkbox as True/False); the rest keep their defaults."""
    rows = []
    for row in modal.get("components") or []:
        if row.get("type") != 18:
            continue
        component = row["component"]
        custom_id = component["custom_id"]
        given = answers.get(custom_id, _DEFAULT)
        rows.append({"type": 18, "component": _value(component, given)})
    return rows


_DEFAULT: Any = object()


def _value(component: Mapping[str, Any], answer: Any) -> dict[str, Any]:
    kind, custom_id = component["type"], component["custom_id"]
    if kind == 4:  # text input
        value = component.get("value") if answer is _DEFAULT else answer
        return {"type": 4, "custom_id": custom_id, "value": value or ""}
    if kind == 23:  # checkbox
        value = bool(component.get("default")) if answer is _DEFAULT else bool(answer)
        return {"type": 23, "custom_id": custom_id, "value": value}
    options = component.get("options") or []
    if answer is _DEFAULT:
        values = [o["value"] for o in options if o.get("default")]
    else:
        chosen = [answer] if isinstance(answer, str) else list(answer or [])
        by_name = {o["label"]: o["value"] for o in options} | {
            o["value"]: o["value"] for o in options
        }
        values = [by_name[c] for c in chosen if c]
    return {"type": 3, "custom_id": custom_id, "values": values}


@contextlib.asynccontextmanager
async def open_discord(
    engine: Engine, clock: Clock, fake: FakeDiscordAPI, **settings: Any
) -> AsyncIterator[DiscordAdapter]:
    """The real discord.py client, logged in against `fake` (no gateway), on this loop.

    Afterwards the voters' phones are registered for the suite-wide scan of every payload the
    fake received (tests/conftest.py).
    """
    config = load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        discord_bot_token=BOT_TOKEN,
        discord_api_url=fake.base_url,
        **settings,
    )
    telephony = SimulatedTelephony(clock)
    services = build_services(config, engine=engine, clock=clock, telephony=telephony)
    adapter = discord_for(config, services)
    assert adapter is not None
    try:
        await adapter.login()
        yield adapter
        await adapter.close()
    finally:
        with engine.connect() as connection:
            register_voter_phones(connection.execute(text("SELECT phone FROM voter")).scalars())
