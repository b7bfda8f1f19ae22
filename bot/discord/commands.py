"""`/phonebank` as one Discord application-command group, built from the router's command list.

Every command the router knows becomes a subcommand named by its first word (`batch`, `stats`,
`campaign`, `role` ...), described by its handler's docstring, the text Slack's help shows too.
Commands of more than one word take the rest as an `action` choice (`campaign use`, `role
grant`), and commands with arguments an `arguments` text (`SLUG`, `@someone ROLE`), so a command
another issue adds appears here without a change. A subcommand only rebuilds the text after
`/phonebank` and hands it to the router, which checks roles and arguments as on every surface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Optional  # noqa: UP035 - discord.py reads these annotations at runtime

import discord
from discord import app_commands

from handlers import router
from handlers.router import Command
from storage.campaign_store import list_campaigns
from storage.db import read_session

GROUP = "phonebank"
GROUP_DESCRIPTION = "Phone bank: sign up, get a batch of voters, call them, log what happened."
DESCRIPTION = 100
CHOICE_NAME = 100
AUTOCOMPLETE_CHOICES = 25

RunText = Callable[[discord.Interaction[Any], str], Awaitable[None]]
Suggest = Callable[[str, str], list[str]]  # (command, typed so far) -> suggestions


@dataclass(frozen=True)
class Subcommand:
    """Router commands that share a first word: `campaign` and `campaign use`."""

    name: str
    commands: tuple[Command, ...]

    @property
    def verbs(self) -> list[str]:
        return [" ".join(c.words[1:]) for c in self.commands if len(c.words) > 1]

    @property
    def bare(self) -> Command | None:
        return next((c for c in self.commands if len(c.words) == 1), None)

    @property
    def takes_arguments(self) -> bool:
        return any(c.arguments for c in self.commands)

    @property
    def description(self) -> str:
        parts = [
            (f"{' '.join(c.words[1:])}: " if len(c.words) > 1 else "") + c.help.summary
            for c in self.commands
        ]
        return _shorten("; ".join(p for p in parts if p.strip()) or self.name, DESCRIPTION)

    @property
    def usage(self) -> str:
        return _shorten(" | ".join(c.arguments for c in self.commands if c.arguments), DESCRIPTION)


def subcommands(commands: tuple[Command, ...] = router.COMMANDS) -> list[Subcommand]:
    """The router's commands grouped by first word, in the router's order."""
    grouped: dict[str, list[Command]] = {}
    for command in commands:
        grouped.setdefault(command.words[0], []).append(command)
    return [Subcommand(name, tuple(group)) for name, group in grouped.items()]


def command_text(name: str, action: str | None, arguments: str | None) -> str:
    """What the user asked for, as the text after `/phonebank`."""
    return " ".join(part.strip() for part in (name, action or "", arguments or "") if part.strip())


def phonebank_group(
    run: RunText, suggestions: Mapping[str, Suggest] | None = None
) -> app_commands.Group:
    """The `/phonebank` group; each subcommand calls `run(interaction, text)`. `suggestions`:
    autocomplete for a subcommand's arguments, by subcommand name."""
    group = app_commands.Group(name=GROUP, description=GROUP_DESCRIPTION, guild_only=True)
    for sub in subcommands():
        group.add_command(_subcommand(sub, run, (suggestions or {}).get(sub.name)))
    return group


def _subcommand(
    sub: Subcommand, run: RunText, suggest: Suggest | None
) -> app_commands.Command[Any, Any, None]:
    if not sub.verbs and not sub.takes_arguments:

        async def plain(interaction: discord.Interaction[Any]) -> None:
            await run(interaction, sub.name)

        return app_commands.Command(name=sub.name, description=sub.description, callback=plain)

    async def with_options(
        interaction: discord.Interaction[Any],
        action: Optional[str] = None,  # noqa: UP045 - resolved by discord.py at runtime
        arguments: Optional[str] = None,  # noqa: UP045
    ) -> None:
        await run(interaction, command_text(sub.name, action, arguments))

    command: app_commands.Command[Any, Any, None] = app_commands.Command(
        name=sub.name, description=sub.description, callback=with_options
    )
    params = command._params
    if sub.verbs:
        params["action"].description = "What to do"
        params["action"].choices = [
            app_commands.Choice(name=_shorten(v, CHOICE_NAME), value=v) for v in sub.verbs
        ]
        params["action"].required = sub.bare is None
    else:
        del params["action"]
    if sub.takes_arguments:
        params["arguments"].description = sub.usage or "Arguments"
        if suggest is not None:
            command.autocomplete("arguments")(_autocomplete(sub, suggest))  # type: ignore[arg-type]
    else:
        del params["arguments"]
    return command


def _autocomplete(
    sub: Subcommand, suggest: Suggest
) -> Callable[[discord.Interaction[Any], str], Awaitable[list[app_commands.Choice[str]]]]:
    async def complete(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        action = str(getattr(interaction.namespace, "action", "") or "")
        found = suggest(f"{sub.name} {action}".strip(), current)
        return [
            app_commands.Choice(name=_shorten(s, CHOICE_NAME), value=s)
            for s in found[:AUTOCOMPLETE_CHOICES]
        ]

    return complete


def suggestions_for(engine: Any) -> dict[str, Suggest]:
    """Autocomplete where it helps: campaign slugs for `campaign use`."""
    return {"campaign": campaign_slugs(engine)}


def campaign_slugs(engine: Any) -> Suggest:
    """Suggestions for `campaign use`: the campaigns' slugs that start with what was typed."""

    def suggest(command: str, current: str) -> list[str]:
        if command != "campaign use":
            return []
        with read_session(engine) as session:
            slugs = [c.slug for c in list_campaigns(session)]
        return [s for s in slugs if s.startswith(current.strip().lower())]

    return suggest


def text_of(data: dict[str, Any]) -> str:
    """The text after `/phonebank` from an application command's raw data (any subcommand,
    even one this version does not have: a stale client may still send it)."""
    options = data.get("options") or []
    if not options:
        return ""
    sub = options[0]
    values = {str(o.get("name")): str(o.get("value", "")) for o in sub.get("options") or []}
    rest = [v for k, v in values.items() if k not in ("action", "arguments")]
    return command_text(
        str(sub.get("name", "")),
        values.get("action"),
        " ".join([values.get("arguments", ""), *rest]),
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
