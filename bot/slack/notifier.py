"""The `Notifier` port on Slack: what the core says unasked (reminders, broadcasts, card updates).

Synchronous, like every service (the scheduler and handlers call it from worker threads). Slack
allows about one message a second per channel and answers 429 with `Retry-After` past that:
posts to one channel are spaced a second apart here, and a 429 waits the time Slack asks for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.slack.render import render_messages
from handlers.context import Platform
from handlers.replies import Reply
from storage.models import ChatIdentity

log = logging.getLogger(__name__)

CHANNEL_INTERVAL_S = 1.0
MAX_RATE_LIMITED_TRIES = 5


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str


class ChannelPacer:
    """At most one message per `interval` seconds to each channel; callers wait their turn."""

    def __init__(
        self,
        interval: float = CHANNEL_INTERVAL_S,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._next_at: dict[str, float] = {}
        self._channel_locks: dict[str, threading.Lock] = {}

    def channel_lock(self, channel: str) -> threading.Lock:
        """Held while posting to `channel`, so two threads never post to it at once."""
        with self._lock:
            return self._channel_locks.setdefault(channel, threading.Lock())

    def wait_turn(self, channel: str) -> None:
        """Sleep until `channel` may receive the next message (call with its lock held)."""
        wait = self._next_at.get(channel, 0.0) - self._monotonic()
        if wait > 0:
            self._sleep(wait)

    def sent(self, channel: str, *, extra_wait: float = 0.0) -> None:
        """Record a message (or a 429 asking for `extra_wait` seconds) on `channel`."""
        self._next_at[channel] = self._monotonic() + max(self.interval, extra_wait)

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)


class SlackNotifier:
    """Posts replies to Slack channels and to volunteers' direct messages with the bot."""

    def __init__(
        self,
        client: WebClient,
        engine: Engine,
        *,
        pacer: ChannelPacer | None = None,
        max_tries: int = MAX_RATE_LIMITED_TRIES,
    ) -> None:
        self.client = client
        self.engine = engine
        self.pacer = pacer or ChannelPacer()
        self.max_tries = max_tries
        self._keyed: dict[str, list[Posted]] = {}  # update_key -> its pages, to edit in place
        self._keyed_lock = threading.Lock()

    def to_volunteer(self, volunteer_id: int, reply: Reply) -> None:
        """Message the volunteer in their direct-message channel with the bot, if they use Slack."""
        for user_id in self._slack_users(volunteer_id):
            channel = self._call("conversations.open", None, {"users": user_id})["channel"]["id"]
            self.post(str(channel), reply)

    def to_channel(self, platform: Platform, channel: str, reply: Reply) -> None:
        """Post to a Slack channel; channels of other platforms are not ours to post to."""
        if platform is Platform.SLACK:
            self.post(channel, reply)

    def post(self, channel: str, reply: Reply) -> list[Posted]:
        """Post every page of the reply; for a known `update_key`, edit its pages in place."""
        with self.pacer.channel_lock(channel):
            earlier = [p for p in self._earlier(reply.update_key) if p.channel == channel]
            posted = []
            for index, message in enumerate(render_messages(reply)):
                if index < len(earlier):
                    edit = {"channel": channel, "ts": earlier[index].ts, **message.payload()}
                    self._call("chat.update", channel, edit)
                    posted.append(earlier[index])
                    continue
                new = {"channel": channel, **message.payload()}
                answer = self._call("chat.postMessage", channel, new)
                posted.append(Posted(channel, str(answer["ts"])))
            self._remember(reply.update_key, posted)
            return posted

    def _call(self, method: str, channel: str | None, arguments: dict[str, Any]) -> Any:
        """One Web API call, paced on `channel` (if any) and retried after a 429's Retry-After."""
        for attempt in range(1, self.max_tries + 1):
            if channel:
                self.pacer.wait_turn(channel)
            try:
                answer = self.client.api_call(method, json=arguments)
            except SlackApiError as exc:
                retry_after = _retry_after(exc)
                if retry_after is None or attempt == self.max_tries:
                    raise
                log.info("Slack rate-limited %s; retrying after %ss", method, retry_after)
                if channel:
                    self.pacer.sent(channel, extra_wait=retry_after)
                else:
                    self.pacer.sleep(retry_after)
                continue
            if channel:
                self.pacer.sent(channel)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _slack_users(self, volunteer_id: int) -> list[str]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(ChatIdentity.user_id).where(
                    ChatIdentity.volunteer_id == volunteer_id,
                    ChatIdentity.platform == Platform.SLACK.value,
                )
            )
            return list(rows)

    def _earlier(self, key: str | None) -> list[Posted]:
        if key is None:
            return []
        with self._keyed_lock:
            return self._keyed.get(key, [])

    def _remember(self, key: str | None, posted: list[Posted]) -> None:
        if key is not None:
            with self._keyed_lock:
                self._keyed[key] = posted


def _retry_after(exc: SlackApiError) -> float | None:
    """Seconds Slack asked us to wait, when the error is a 429."""
    response = exc.response
    if getattr(response, "status_code", None) != 429:
        return None
    headers = {str(k).lower(): v for k, v in (getattr(response, "headers", None) or {}).items()}
    value = headers.get("retry-after", "1")
    try:
        return max(float(value if isinstance(value, str) else value[0]), 0.0)
    except (TypeError, ValueError, IndexError):
        return 1.0
