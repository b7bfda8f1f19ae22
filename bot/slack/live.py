"""Where each keyed reply (`update_key`) is on screen, so that later updates replace it there.

A batch shown in answer to a command or a button lives in an ephemeral message that only its
response_url can change (Slack: up to 5 posts within 30 minutes); a batch sent as a direct
message has a channel and ts that chat.update can change. When the core later pushes an update
unasked (a call rang, connected, ended), the Notifier looks here first and replaces the message
in place, instead of posting a second copy. Kept in this process's memory: another web worker
falls back to a direct message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.slack.render import Page

RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME_S = 29 * 60  # Slack's 30 minutes, with a margin


@dataclass(frozen=True)
class Posted:
    """A message posted with chat.postMessage: what chat.update needs to change it."""

    channel: str
    ts: str


@dataclass
class _ResponseUrl:
    url: str
    page: Page | None
    uses: int
    since: float


@dataclass
class _Shown:
    response_url: _ResponseUrl | None = None
    posts: list[Posted] = field(default_factory=list)


class LiveMessages:
    """update_key -> where that reply is shown (thread-safe: the Notifier runs in threads)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._shown: dict[str, _Shown] = {}

    def shown_via_response_url(self, key: str, url: str, page: Page | None, *, used: int) -> None:
        """The reply is on the message that `url` replaces (which `used` posts so far)."""
        with self._lock:
            shown = self._shown.setdefault(key, _Shown())
            shown.response_url = _ResponseUrl(url, page, used, self._monotonic())

    def shown_as_posts(self, key: str, posts: list[Posted]) -> None:
        """The reply was posted as these messages (one per page)."""
        with self._lock:
            self._shown.setdefault(key, _Shown()).posts = list(posts)

    def take_response_url(self, key: str) -> tuple[str, Page | None] | None:
        """A response_url that may still replace the reply's message, counting the use."""
        with self._lock:
            shown = self._shown.get(key)
            found = shown.response_url if shown else None
            if found is None:
                return None
            fresh = self._monotonic() - found.since < RESPONSE_URL_LIFETIME_S
            if not fresh or found.uses >= RESPONSE_URL_USES:
                return None
            found.uses += 1
            return found.url, found.page

    def posts(self, key: str) -> list[Posted]:
        with self._lock:
            shown = self._shown.get(key)
            return list(shown.posts) if shown else []
