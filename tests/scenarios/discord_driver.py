"""The scenario driver for Discord: each step is an INTERACTION_CREATE dispatched into the real
discord.py client (tests/discord_support.py), and what the fake REST API then received for that
member comes back as the `Shown`.

A person on Discord opens a form from the button a message offers ("Open the form", "Continue",
"Fix answers"), so after each step the driver presses such a button when one appeared and no
modal opened; a `fill` submits the open modal, and keeps going through the form's further steps
with the answers it was given.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from bot.telephony.simulated import SimulatedTelephony
from handlers.identity import grant_role
from storage.models import Role
from tests.discord_support import (
    FORM_OPEN,
    WARNING,
    DiscordUser,
    ShownMessage,
    label_of,
    open_discord,
    user_id_of,
)
from tests.fakes.discord_api import GUILD_ID, FakeDiscordAPI
from tests.scenarios.driver import Answer, Driver, Shown, ShownForm
from tests.scenarios.world import World, run_scheduled_jobs

T = TypeVar("T")
MAX_STEPS = 10  # a form that keeps asking is a bug in the driver or the adapter


class DiscordDriver:
    """One Discord member."""

    def __init__(self, name: str, member: DiscordUser, surface: DiscordSurface) -> None:
        self.name = name
        self.member = member
        self.surface = surface
        self._typed: dict[str, Answer] = {}
        self._labels: dict[str, str] = {}  # a modal's label -> its input id

    def command(self, text: str) -> Shown:
        return self._step(self.member.command(text))

    def press(self, label: str, *, near: str | None = None, seen_by: Driver | None = None) -> Shown:
        if seen_by is None:
            return self._step(self.member.press(label, near=near))
        assert isinstance(seen_by, DiscordDriver), "a Discord member sees Discord buttons"
        seen_by.member.read_calls()
        message, _ = seen_by.member.find_button(label, near=near)
        return self._step(self.member.press(label, near=near, message=message))

    def fill(self, answers: Mapping[str, Answer]) -> Shown:
        assert self.member.modal is not None, f"{self.name} has no form open"
        self._typed |= dict(answers)
        pending = set(answers)  # typed now, not yet submitted on the step that holds them
        changed: list[ShownMessage] = []
        errors: dict[str, str] = {}
        for _ in range(MAX_STEPS):
            draft = _draft_of(self.member.modal)
            pending -= set(self._input_ids())
            self.surface.run(self.member.submit(self._typed))
            changed += self.member.changed
            # The problems of this submission, read before "Fix answers" reopens the form.
            errors = self._errors(self.member.changed)
            opened = self._open_offered_form()
            changed += self.member.changed
            self._learn_labels()
            if not opened or _draft_of(self.member.modal) != draft:
                break
            # A person fixing the form goes on while the step now open holds an answer they
            # typed and have not given yet; otherwise they read the problems first.
            if errors and not pending & set(self._input_ids()):
                break
        else:
            raise AssertionError("the form kept asking")
        if self.member.modal is None:
            self._typed = {}
        return self._shown(changed, opened=False, errors=errors)

    def inbox(self) -> Shown:
        self.surface.adapter_drained()
        self.member.changed = []
        self.member.read_calls()
        return self._shown(list(self.member.changed), opened=False)

    # --- helpers ------------------------------------------------------------------------------

    def _step(self, work: Coroutine[Any, Any, None]) -> Shown:
        modal_before = self.member.modal
        self.surface.run(work)
        changed = list(self.member.changed)
        if self.member.modal is None or self.member.modal is modal_before:
            self._open_offered_form()
            changed += self.member.changed
        opened = self.member.modal is not None and self.member.modal is not modal_before
        if opened:
            self._typed = {}
        return self._shown(changed, opened=opened)

    def _open_offered_form(self) -> bool:
        """Press the button that opens a form, if the last step offered one."""
        for message in reversed(self.member.changed):
            for button, _ in message.buttons():
                if str(button.get("custom_id", "")).startswith(FORM_OPEN):
                    before = self.member.modal
                    self.surface.run(self.member.press(label_of(button), message=message))
                    return self.member.modal is not None and self.member.modal is not before
        return False

    def _shown(
        self, changed: list[ShownMessage], *, opened: bool, errors: dict[str, str] | None = None
    ) -> Shown:
        unique = list(dict.fromkeys(changed))
        parts = [message.text for message in unique]
        modal = self.member.modal
        form = None
        if modal is not None:
            rows = self._learn_labels()
            form = ShownForm(modal["title"], tuple(r["component"]["custom_id"] for r in rows))
            if opened:
                parts += [str(r.get("content", "")) for r in modal["components"] if r["type"] == 10]
        errors = errors if errors is not None else self._errors(unique)
        buttons = tuple(
            label_of(button)
            for message in unique
            for button, _ in message.buttons()
            if not str(button.get("custom_id", "")).startswith(FORM_OPEN)
        )
        warned = any(message.text.startswith(WARNING) for message in unique)
        return Shown(
            text="\n".join(parts),
            buttons=buttons,
            form=form,
            errors=errors,
            refused=warned or bool(errors),
        )

    def _input_ids(self) -> list[str]:
        return [row["component"]["custom_id"] for row in self._learn_labels()]

    def _learn_labels(self) -> list[dict[str, Any]]:
        """The open modal's labelled rows; each label remembered with its input's id (a problem
        is named by its input's label, perhaps on a step shown earlier)."""
        modal = self.member.modal
        rows = [r for r in (modal or {}).get("components") or [] if r.get("type") == 18]
        self._labels |= {r["label"]: r["component"]["custom_id"] for r in rows}
        return rows

    def _errors(self, changed: list[ShownMessage]) -> dict[str, str]:
        """Problems by input id, from the fields of a message that offers "Fix answers"."""
        errors: dict[str, str] = {}
        for message in changed:
            body = message.body
            fixes = [b for b, _ in message.buttons() if label_of(b) == "Fix answers"]
            if not fixes:
                continue
            for embed in body.get("embeds") or []:
                for item in embed.get("fields") or []:
                    errors[self._labels.get(item["name"], item["name"])] = item["value"]
        return errors


def _draft_of(modal: Mapping[str, Any] | None) -> str | None:
    if modal is None:
        return None
    return str(modal["custom_id"]).rsplit(":", 1)[-1].partition(".")[0]


class DiscordSurface:
    """Members of one guild, sharing the real client, the database and the fake REST API."""

    def __init__(self, world: World, fake: FakeDiscordAPI, **settings: Any) -> None:
        self.world = world
        self.fake = fake
        self._runner = asyncio.Runner()
        self._open = open_discord(world.engine, world.clock, fake, **settings)
        self.adapter = self.run(self._open.__aenter__())
        self._hear_texts(world)
        self._users: dict[str, DiscordDriver] = {}

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(work)

    def close(self) -> None:
        try:
            self.run(self._open.__aexit__(None, None, None))
        finally:
            self._runner.close()

    def user(self, name: str, *, organizer: bool = False) -> DiscordDriver:
        self._admins_from(self.world)
        if name not in self._users:
            user_id = user_id_of(name)
            if organizer:
                world = self.world
                grant_role(
                    world.engine,
                    world.clock,
                    "discord",
                    user_id,
                    Role.ORGANIZER,
                    actor="scenario",
                    workspace=GUILD_ID,
                )
            member = DiscordUser(self.adapter, self.fake, user_id=user_id, name=name)
            member._seen = len(self.fake.calls())
            self._users[name] = DiscordDriver(name, member, self)
        return self._users[name]

    def mention(self, name: str) -> str:
        return f"<@{user_id_of(name)}>"

    def tick(self) -> dict[str, int]:
        # In a thread, with the client's loop running: the notifier sends on that loop.
        done = self.run(asyncio.to_thread(run_scheduled_jobs, self.world, self.adapter.services))
        self.adapter_drained()
        return done

    def adapter_drained(self) -> None:
        """What the notifier sends from other threads has reached the fake."""
        drain = getattr(self.adapter, "drain", None)
        if drain is not None:
            self.run(drain())

    def everything_shown(self) -> str:
        return "\n".join(json.dumps(call.body, ensure_ascii=False) for call in self.fake.calls())

    def _hear_texts(self, world: World) -> None:
        """Texts the telephony sends reach the world (where a scenario reads a texted code),
        when this version's world listens for them."""
        heard = getattr(world, "heard", None)
        telephony = self.adapter.services.telephony
        if heard is not None and isinstance(telephony, SimulatedTelephony):
            telephony.on_text(heard)

    def _admins_from(self, world: World) -> None:
        admins = frozenset(f"discord:{user_id_of(name)}" for name in world.admins)
        if self.adapter.services.admins != admins:
            self.adapter.services = dataclasses.replace(self.adapter.services, admins=admins)
