"""Where each keyed reply (`update_key`) is on Discord, so that later updates replace it there.

A reply shown in answer to an interaction can be edited through that interaction's token for 15
minutes (Discord's limit; a margin is kept); a reply posted in a DM can be edited at any time by
its channel and message id. The Notifier looks here first and edits in place instead of posting
a second copy. Kept in the gateway process's memory: after a restart an update posts a new DM.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TOKEN_LIFETIME_S = 14 * 60  # Discord's 15 minutes, with a margin
MESSAGES_KEPT = 4096
REPLIES_KEPT = 4096  # keyed replies remembered; the oldest half is forgotten past it


@dataclass(frozen=True)
class Posted:
    """A message in a channel (a DM): what an edit needs."""

    channel_id: int
    message_id: int


@dataclass(frozen=True)
class ViaInteraction:
    """A message shown in answer to an interaction: editable through its token for a while."""

    interaction: Any  # discord.Interaction (kept untyped: this module imports no discord)
    message_id: int | None  # None: the interaction's original response
    since: float


@dataclass
class _Shown:
    via: ViaInteraction | None = None
    posts: list[Posted] = field(default_factory=list)


class LiveMessages:
    """update_key -> where that reply is shown; message id -> the key it shows."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._shown: dict[str, _Shown] = {}
        self._keys: dict[int, str] = {}

    def shown_via_interaction(self, key: str, interaction: Any, message_id: int | None) -> None:
        with self._lock:
            self._prune()
            self._shown.setdefault(key, _Shown()).via = ViaInteraction(
                interaction, message_id, self._monotonic()
            )
            if message_id is not None:
                self._remember(message_id, key)

    def shown_as_posts(self, key: str, posts: list[Posted]) -> None:
        with self._lock:
            self._prune()
            self._shown.setdefault(key, _Shown()).posts = list(posts)
            for post in posts:
                self._remember(post.message_id, key)

    def showing(self, message_id: int, key: str) -> None:
        """The message `message_id` now shows the reply under `key`."""
        with self._lock:
            self._remember(message_id, key)

    def key_of(self, message_id: int) -> str | None:
        """The key of the reply a message shows, if this process knows it."""
        with self._lock:
            return self._keys.get(message_id)

    def fresh_interaction(self, key: str) -> ViaInteraction | None:
        """The interaction that may still edit the reply's message, if its token is fresh."""
        with self._lock:
            shown = self._shown.get(key)
            via = shown.via if shown else None
        if via is None or self._monotonic() - via.since >= TOKEN_LIFETIME_S:
            return None
        return via

    def posts(self, key: str) -> list[Posted]:
        with self._lock:
            shown = self._shown.get(key)
            return list(shown.posts) if shown else []

    def forget_interaction(self, key: str) -> None:
        with self._lock:
            shown = self._shown.get(key)
            if shown is not None:
                shown.via = None

    def _prune(self) -> None:
        if len(self._shown) >= REPLIES_KEPT:
            for old in list(self._shown)[: REPLIES_KEPT // 2]:
                del self._shown[old]

    def _remember(self, message_id: int, key: str) -> None:
        if len(self._keys) >= MESSAGES_KEPT:
            for old in list(self._keys)[: MESSAGES_KEPT // 2]:
                del self._keys[old]
        self._keys[message_id] = key
