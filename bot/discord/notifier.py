"""The `Notifier` port on Discord: what the core says unasked (card updates, alerts, broadcasts).

Synchronous like every service (handlers, the scheduler and `Later` call it from worker
threads): the sending happens on the client's event loop, and the caller waits for it. A keyed
reply still on screen (live.py) is edited in place, through the interaction that showed it while
its token lasts, else in the DM that holds it; anything else goes to the volunteer's DMs or to a
channel. An id that belongs to a Discord user Phonebank knows (or a bootstrap admin) is a DM:
alerts to organizers arrive as `to_channel(discord, <user id>)`, as on Slack.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from handlers.context import Platform
from handlers.identity import chat_addresses
from handlers.replies import Reply
from storage.db import read_session
from storage.models import ChatIdentity

if TYPE_CHECKING:
    from bot.discord.app import DiscordAdapter

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 30.0


class DiscordNotifier:
    """Delivers replies to Discord users' DMs and to Discord channels."""

    def __init__(self, adapter: DiscordAdapter, timeout_s: float = SEND_TIMEOUT_S) -> None:
        self.adapter = adapter
        self.timeout_s = timeout_s

    def to_volunteer(self, volunteer_id: int, reply: Reply) -> None:
        """Edit the reply where the volunteer sees it, else message them directly."""
        users = [
            a.user_id
            for a in chat_addresses(self.adapter.services.engine, volunteer_id)
            if a.platform is Platform.DISCORD
        ]
        if users:
            self._run(self._to_users(users, reply))

    def to_channel(self, platform: Platform, channel: str, reply: Reply) -> None:
        """Post to a Discord channel (or a Discord user's DMs); other platforms are not ours."""
        if platform is not Platform.DISCORD or not channel.isdigit():
            return
        delivery = self.adapter.delivery
        if self._is_user(channel):
            self._run(delivery.to_user(channel, reply))
        else:
            self._run(delivery.to_channel(channel, reply))

    async def _to_users(self, users: list[str], reply: Reply) -> None:
        delivery = self.adapter.delivery
        if await delivery.edit_via_interaction(reply):
            return
        for user_id in users:
            await delivery.to_user(user_id, reply)

    def _is_user(self, some_id: str) -> bool:
        if f"discord:{some_id}" in self.adapter.services.admins:
            return True
        with read_session(self.adapter.services.engine) as session:
            found = session.exec(
                select(ChatIdentity.id).where(
                    col(ChatIdentity.platform) == Platform.DISCORD.value,
                    col(ChatIdentity.user_id) == some_id,
                )
            ).first()
        return found is not None

    def _run(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` on the client's loop; wait for it unless called from that loop. Called
        while the client is still logging in (the outbox worker resuming requests at start-up),
        it waits for the login first."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is None or running is not self.adapter.loop:  # never block the client's
            self.adapter.logged_in.wait(self.timeout_s)
        loop = self.adapter.loop
        if loop is None or loop.is_closed():
            work.close()
            log.warning("Discord is not connected; a message was not delivered")
            return
        if running is loop:
            task = loop.create_task(work)
            task.add_done_callback(_log_failure)
            return
        future = asyncio.run_coroutine_threadsafe(work, loop)
        try:
            future.result(self.timeout_s)
        except Exception:
            log.exception("Could not deliver a message on Discord")


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Could not deliver a message on Discord", exc_info=task.exception())
