"""What an interaction says about who asks, from which guild, with which Discord roles.

The workspace of a Discord user is the guild. A button pressed in a DM (a card the Notifier sent)
has no guild: the user's guild is the one Phonebank knows them from. A guild outside
`DISCORD_GUILD_IDS` (when set) is not served. Roles named in `DISCORD_ROLE_MAP` add Phonebank
roles for as long as the member holds them. The request key is the interaction's id, unique to
it, so a side effect stored under it happens once.

Mapped roles are also remembered (`handlers.identity.remember_mapped_roles`, at each interaction
from the guild, where the member's roles travel with it) so that organizer alerts, which read
stored roles, reach a member who is an organizer only through the map. Why this and not asking
Discord when an alert goes out: listing a guild's members by role needs the privileged
GUILD_MEMBERS intent, and asking for each known member one by one is a REST call per volunteer
in the alert's path. Why not a stored grant: a grant outlives the Discord role and could not be
told from an organizer's own `role grant`; the remembered role is marked, grants nothing, and is
replaced by what the next interaction shows (a member whose role was taken away stops getting
alerts at their next interaction from the guild).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import discord
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from handlers.context import Platform
from handlers.replies import Reply, problem
from storage.db import read_session
from storage.models import ChatIdentity, Role

log = logging.getLogger(__name__)

ROLE_NAMES_TTL_S = 300.0
NOT_SERVED = (
    "Phonebank is not set up for this server. An admin adds its id to DISCORD_GUILD_IDS"
    " to turn it on."
)
UNKNOWN_USER = "Use `/phonebank help` in your server first, so Phonebank knows where you call from."


@dataclass(frozen=True)
class DiscordRequest:
    guild_id: str
    user_id: str
    request_key: str
    user_name: str = ""
    channel_id: str | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)
    roles_known: bool = False  # from a guild whose role names were read: `roles` is the truth


class RoleNames:
    """A guild's role names by id (from the gateway's cache, else `GET /guilds/{id}/roles`,
    remembered a few minutes), and the Phonebank roles that DISCORD_ROLE_MAP gives them."""

    def __init__(self, client: discord.Client, role_map: tuple[tuple[str, str], ...]) -> None:
        self.client = client
        self.by_name = {name.casefold(): Role(role) for role, name in role_map}
        self._fetched: dict[int, tuple[float, dict[int, str]]] = {}

    async def roles_of(self, guild_id: int, role_ids: list[int]) -> frozenset[Role] | None:
        """The mapped roles among the member's; None when the guild's role names are unknown."""
        if not self.by_name or not role_ids:
            return frozenset()
        names = await self._names(guild_id)
        if names is None:
            return None
        return frozenset(
            self.by_name[name.casefold()]
            for role_id in role_ids
            if (name := names.get(role_id)) and name.casefold() in self.by_name
        )

    async def _names(self, guild_id: int) -> dict[int, str] | None:
        guild = self.client.get_guild(guild_id)
        if guild is not None and guild.roles:
            return {role.id: role.name for role in guild.roles}
        cached = self._fetched.get(guild_id)
        if cached and time.monotonic() - cached[0] < ROLE_NAMES_TTL_S:
            return cached[1]
        try:
            roles = await self.client.http.get_roles(guild_id)
        except discord.HTTPException as exc:
            log.warning("Could not read the roles of guild %s (%s)", guild_id, exc.status)
            return None
        names = {int(role["id"]): str(role["name"]) for role in roles}
        self._fetched[guild_id] = (time.monotonic(), names)
        return names


async def request_of(
    interaction: discord.Interaction[Any],
    engine: Engine,
    role_names: RoleNames,
    served: tuple[str, ...] = (),
) -> DiscordRequest | Reply:
    """The request, or the refusal for a guild outside `served` (when that is not empty)."""
    user = interaction.user
    user_id = str(user.id)
    guild_id = str(interaction.guild_id) if interaction.guild_id else None
    if guild_id is None:
        guild_id = await asyncio.to_thread(home_guild, engine, user_id)
        if guild_id is None:
            return problem(UNKNOWN_USER)
    if served and guild_id not in served:
        return problem(NOT_SERVED)
    role_ids = [int(r) for r in getattr(user, "_roles", [])]
    roles = await role_names.roles_of(int(guild_id), role_ids) if role_ids else frozenset()
    mapped_here = interaction.guild_id is not None and bool(role_names.by_name)
    return DiscordRequest(
        guild_id=guild_id,
        user_id=user_id,
        request_key=f"discord:{interaction.id}",
        user_name=getattr(user, "display_name", "") or user.name,
        channel_id=str(interaction.channel_id) if interaction.channel_id else None,
        roles=roles or frozenset(),
        roles_known=mapped_here and roles is not None,
    )


def home_guild(engine: Engine, user_id: str) -> str | None:
    """The guild Phonebank first knew this Discord user in."""
    with read_session(engine) as session:
        return session.exec(
            select(ChatIdentity.workspace)
            .where(
                col(ChatIdentity.platform) == Platform.DISCORD.value,
                col(ChatIdentity.user_id) == user_id,
            )
            .order_by(col(ChatIdentity.id))
        ).first()
