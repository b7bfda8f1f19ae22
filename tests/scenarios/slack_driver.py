"""The scenario driver for Slack: each step is a signed request to the real Bolt app in the web
app, as Slack would send it (a slash command, a button press, a modal submission), and what the
fake Web API then received for that user comes back as the `Shown`.

The driver is synchronous like the scenarios; the app and its async Slack clients run on one
event loop that the surface keeps between steps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import httpx

from bot.slack.app import SlackAdapter
from bot.telephony.simulated import SimulatedTelephony
from handlers.identity import grant_role
from storage.models import Role
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.scenarios.driver import Answer, Driver, Shown, ShownForm
from tests.scenarios.world import World
from tests.slack_support import SlackWorkspace, open_app, unescape

T = TypeVar("T")
WARNING = ":warning: "


def user_id_of(name: str) -> str:
    """A Slack-looking user id for a scenario's user name: ana -> U0ANA."""
    return "U0" + re.sub(r"[^A-Z0-9]", "", name.upper())


class SlackDriver:
    """One Slack user."""

    def __init__(self, name: str, workspace: SlackWorkspace, surface: SlackSurface) -> None:
        self.name = name
        self.workspace = workspace
        self.surface = surface

    def command(self, text: str) -> Shown:
        return self._step(self.workspace.command(text))

    def press(self, label: str, *, near: str | None = None, seen_by: Driver | None = None) -> Shown:
        if seen_by is None:
            return self._step(self.workspace.press(label, near=near))
        assert isinstance(seen_by, SlackDriver), "a Slack user sees Slack buttons"
        seen_by.workspace.read_calls()
        message, _, _ = seen_by.workspace.find_button(label, near=near)
        return self._step(self.workspace.press(label, near=near, message=message))

    def fill(self, answers: Mapping[str, Answer]) -> Shown:
        return self._step(self.workspace.submit(answers))

    def look(self) -> Shown:
        self.workspace.changed = []
        self.workspace.read_calls()
        return self._shown(opened=False)

    def _step(self, request: Coroutine[Any, Any, httpx.Response]) -> Shown:
        modal_before = self.workspace.modal
        response = self.surface.run(request)
        assert response.status_code == 200, (response.status_code, response.text)
        return self._shown(opened=self.workspace.modal is not modal_before)

    def _shown(self, *, opened: bool) -> Shown:
        workspace = self.workspace
        parts = [message.text for message in workspace.changed]
        modal = workspace.modal
        form = None
        if modal is not None:
            inputs = tuple(b["block_id"] for b in modal["blocks"] if b["type"] == "input")
            form = ShownForm(modal["title"]["text"], inputs)
            if opened:
                parts += [unescape(b["text"]["text"]) for b in modal["blocks"] if "text" in b]
        parts += list(workspace.errors.values())
        buttons = tuple(
            button["text"]["text"]
            for message in workspace.changed
            for _, button, _ in message.buttons()
        )
        warned = any(message.text.startswith(WARNING.strip()) for message in workspace.changed)
        return Shown(
            text="\n".join(parts),
            buttons=buttons,
            form=form,
            errors=dict(workspace.errors),
            refused=warned or bool(workspace.errors),
        )


class SlackSurface:
    """Slack users of one workspace, sharing the web app, the database and the fake Web API."""

    def __init__(self, world: World, fake: FakeSlackAPI) -> None:
        self.world = world
        self.fake = fake
        self._runner = asyncio.Runner()
        self._app = open_app(world.engine, world.clock, fake)
        self.http, self.adapter = self.run(self._app.__aenter__())
        telephony = self.adapter.services.telephony
        assert isinstance(telephony, SimulatedTelephony)
        telephony.on_text(world.heard)
        self._users: dict[str, SlackDriver] = {}

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run a step on the app's event loop."""
        return self._runner.run(work)

    def close(self) -> None:
        try:
            self.run(self._app.__aexit__(None, None, None))
        finally:
            self._runner.close()

    def user(self, name: str, *, organizer: bool = False) -> SlackDriver:
        self._admins_from(self.world)
        if name not in self._users:
            user_id = user_id_of(name)
            if organizer:
                world = self.world
                grant_role(
                    world.engine,
                    world.clock,
                    "slack",
                    user_id,
                    Role.ORGANIZER,
                    actor="scenario",
                    workspace=TEAM_ID,
                )
            workspace = SlackWorkspace(
                self.http, self.adapter, self.fake, user_id=user_id, user_name=name
            )
            workspace._seen = len(self.fake.calls())
            self._users[name] = SlackDriver(name, workspace, self)
        return self._users[name]

    def mention(self, name: str) -> str:
        """How Slack writes a mention in a command's text (escaped, with the name)."""
        return f"<@{user_id_of(name)}|{name}>"

    def everything_shown(self) -> str:
        return "\n".join(json.dumps(call.body, ensure_ascii=False) for call in self.fake.calls())

    def _admins_from(self, world: World) -> None:
        """PHONEBANK_ADMINS as the scenario has it now (it may add an admin as it goes)."""
        admins = frozenset(f"slack:{user_id_of(name)}" for name in world.admins)
        adapter: SlackAdapter = self.adapter
        if adapter.services.admins != admins:
            adapter.services = dataclasses.replace(adapter.services, admins=admins)
