"""The `Notifier` port on Slack: what the core says unasked (reminders, broadcasts, card updates).

Synchronous, like every service (the scheduler and handlers call it from worker threads). An
update of a reply already on screen (same `update_key`, see live.py) replaces it there; anything
else goes to the volunteer's direct messages or to the channel. Slack allows about one message
a second per channel and answers 429 with `Retry-After` past that: posts to one channel are
spaced a second apart here, and a 429 waits the time Slack asks for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.slack.live import LiveMessages, Posted
from bot.slack.render import render_messages
from handlers.context import Platform
from handlers.replies import Reply
from storage.models import ChatIdentity

log = logging.getLogger(__name__)

CHANNEL_INTERVAL_S = 1.0
MAX_RATE_LIMITED_TRIES = 5


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
        live: LiveMessages | None = None,
        pacer: ChannelPacer | None = None,
        max_tries: int = MAX_RATE_LIMITED_TRIES,
    ) -> None:
        self.client = client
        self.engine = engine
        self.live = live or LiveMessages()
        self.pacer = pacer or ChannelPacer()
        self.max_tries = max_tries

    def to_volunteer(self, volunteer_id: int, reply: Reply) -> None:
        """Replace the reply where the volunteer sees it, else message them directly."""
        if self._replace_on_screen(reply):
            return
        for user_id in self._slack_users(volunteer_id):
            channel = self._call("conversations.open", None, {"users": user_id})["channel"]["id"]
            self.post(str(channel), reply)

    def to_channel(self, platform: Platform, channel: str, reply: Reply) -> None:
        """Post to a Slack channel; channels of other platforms are not ours to post to."""
        if platform is Platform.SLACK:
            self.post(channel, reply)

    def post(self, channel: str, reply: Reply) -> list[Posted]:
        """Post every page of the reply; for a known `update_key`, edit its pages in place."""
        key = reply.update_key
        with self.pacer.channel_lock(channel):
            earlier = [p for p in self.live.posts(key) if p.channel == channel] if key else []
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
            if key:
                self.live.shown_as_posts(key, posted)
            if reply.image_file:  # a chart: its bytes uploaded to Slack, shared in the channel
                title = reply.text[:250]
                self.client.files_upload_v2(channel=channel, file=reply.image_file, title=title)
            return posted

    def _replace_on_screen(self, reply: Reply) -> bool:
        """Replace the ephemeral message showing this reply, through its response_url."""
        taken = self.live.take_response_url(reply.update_key) if reply.update_key else None
        if taken is None:
            return False
        url, page = taken
        message = render_messages(reply, page)[0]  # a response_url replaces one message
        return self._respond(url, message.payload() | {"replace_original": True})

    def _respond(self, url: str, body: dict[str, Any]) -> bool:
        """Post to a response_url, waiting out 429s; whether Slack took it."""
        webhook = WebhookClient(url)
        for _ in range(self.max_tries):
            answer = webhook.send_dict(body)
            if answer.status_code != 429:
                return answer.status_code == 200
            self.pacer.sleep(
                _seconds(answer.headers.get("Retry-After") or answer.headers.get("retry-after"))
            )
        return False

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


def _retry_after(exc: SlackApiError) -> float | None:
    """Seconds Slack asked us to wait, when the error is a 429."""
    response = exc.response
    if getattr(response, "status_code", None) != 429:
        return None
    headers = {str(k).lower(): v for k, v in (getattr(response, "headers", None) or {}).items()}
    return _seconds(headers.get("retry-after"))


def _seconds(value: Any) -> float:
    """A Retry-After header's seconds (a string, or a list of them); 1 if unreadable."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return 1.0
