"""Sending a Reply back to the person who asked, from the async Bolt side.

Where an answer goes: to the request's `response_url` when it has one (ephemeral, or in the
channel for a public reply; a reply with an `update_key` to a button on a message replaces that
page of the message), else to the person's direct messages with the bot (the App Home has no
response_url). A reply with a form opens a modal. Where a keyed reply ended up is kept in
`LiveMessages`, so that the Notifier's later updates replace it in place. Posts to one channel are spaced a second apart and a 429's
`Retry-After` is waited out, with an injectable sleep so tests never wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack.incoming import SlackRequest
from bot.slack.live import LiveMessages, Posted
from bot.slack.modals import render_modal
from bot.slack.notifier import CHANNEL_INTERVAL_S
from bot.slack.render import Message, Page, render_messages
from handlers.replies import Reply

Sleep = Callable[[float], Awaitable[None]]


class RetryAfter(AsyncRetryHandler):
    """On a 429, wait what `Retry-After` says (Slack's own handler adds jitter and real sleeps)."""

    def __init__(self, sleep: Sleep = asyncio.sleep, max_retry_count: int = 4) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.sleep = sleep

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code == 429

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        await self.sleep(_retry_after_seconds(response))
        state.increment_current_attempt()


def _retry_after_seconds(response: HttpResponse | None) -> float:
    headers = {k.lower(): v for k, v in (response.headers if response else {}).items()}
    values = headers.get("retry-after") or ["1"]
    try:
        return max(float(values[0]), 0.0)
    except ValueError:
        return 1.0


def retry_handlers(sleep: Sleep = asyncio.sleep) -> list[AsyncRetryHandler]:
    """What every async Slack client here retries: dropped connections and 429s."""
    return [AsyncConnectionErrorRetryHandler(), RetryAfter(sleep)]


class AsyncChannelPacer:
    """At most one message a second to each channel, for the async side."""

    def __init__(
        self,
        interval: float = CHANNEL_INTERVAL_S,
        *,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._sleep = sleep
        self._monotonic = monotonic
        self._locks: dict[str, asyncio.Lock] = {}
        self._next_at: dict[str, float] = {}

    async def send(self, channel: str, send: Callable[[], Awaitable[Any]]) -> Any:
        """Run `send` when `channel` may take the next message."""
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            wait = self._next_at.get(channel, 0.0) - self._monotonic()
            if wait > 0:
                await self._sleep(wait)
            try:
                return await send()
            finally:
                self._next_at[channel] = self._monotonic() + self.interval


@dataclass(frozen=True)
class Rendered:
    """A reply's messages as one request gets them; `replacing`: the first replaces the message
    whose button was pressed."""

    messages: list[Message]
    replacing: bool


def rendered_for(request: SlackRequest, reply: Reply) -> Rendered:
    """The reply's messages for this request: CPU work only, so it may run in a worker thread
    (a batch of 20 cards is many blocks, every text masked) and leave the event loop to acks."""
    page = request.page
    replacing = (
        request.from_message
        and bool(reply.update_key)
        and (page is None or page.update_key == reply.update_key)
    )
    return Rendered(render_messages(reply, page if replacing else None), replacing)


class Outbox:
    """The Web API calls and response_url posts that answer a request."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        live: LiveMessages | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.client = client
        self.live = live or LiveMessages()
        self.sleep = sleep
        self.pacer = AsyncChannelPacer(sleep=sleep)

    async def deliver(
        self, request: SlackRequest, reply: Reply, rendered: Rendered | None = None
    ) -> None:
        """Answer the request with the reply: a modal, a response_url message or a DM (its
        messages as `rendered` already, or rendered here)."""
        if reply.form is not None and request.trigger_id:
            view = render_modal(reply.form, intro=reply.text, metadata=request.modal_metadata())
            await self.client.views_open(trigger_id=request.trigger_id, view=view)
            return
        rendered = rendered or rendered_for(request, reply)
        messages, replacing = rendered.messages, rendered.replacing
        if request.response_url:
            await self._respond(reply, request.response_url, messages, replacing=replacing)
            self._remember_response_url(reply, request.response_url, messages)
        else:
            await self._direct(request.user_id, reply, messages)
        if reply.image_file:
            public = not reply.ephemeral and request.channel_id
            channel = request.channel_id if public else await self.direct_channel(request.user_id)
            await self.upload(str(channel), reply.image_file, reply.text)

    async def upload(self, channel: str, path: str, title: str) -> None:
        """A chart file shared in the channel (files_upload_v2: the bytes go to Slack, not a
        link to this server)."""
        await self.client.files_upload_v2(
            channel=channel, file=path, title=title[:250], alt_txt=title[:1000]
        )

    def _remember_response_url(self, reply: Reply, url: str, messages: list[Message]) -> None:
        """A keyed reply's first message can be replaced later through this response_url."""
        if reply.update_key and messages:
            first = messages[0]
            page = Page(reply.update_key, first.first, first.last, len(reply.sections))
            self.live.shown_via_response_url(reply.update_key, url, page, used=len(messages))

    async def _direct(self, user_id: str, reply: Reply, messages: list[Message]) -> None:
        """In the user's direct messages; a keyed reply already there is edited in place."""
        channel = await self.direct_channel(user_id)
        key = reply.update_key
        earlier = [p for p in self.live.posts(key) if p.channel == channel] if key else []
        posts = []
        for index, message in enumerate(messages):
            if index < len(earlier):
                await self.client.chat_update(
                    channel=channel, ts=earlier[index].ts, **message.payload()
                )
                posts.append(earlier[index])
            else:
                answer = await self.post(channel, message)
                posts.append(Posted(channel, str(answer["ts"])))
        if key:
            self.live.shown_as_posts(key, posts)

    async def _respond(
        self, reply: Reply, response_url: str, messages: list[Message], *, replacing: bool
    ) -> None:
        """Post to the response_url; the first message replaces the pressed one if `replacing`."""
        webhook = AsyncWebhookClient(
            response_url, session=self.client.session, retry_handlers=retry_handlers(self.sleep)
        )
        for index, message in enumerate(messages):
            body = message.payload()
            if index == 0 and replacing:
                body["replace_original"] = True
            else:
                body["response_type"] = "ephemeral" if reply.ephemeral else "in_channel"
            await webhook.send_dict(body)

    async def direct_channel(self, user_id: str) -> str:
        """The direct-message channel between the bot and the user."""
        answer = await self.client.conversations_open(users=user_id)
        return str(answer["channel"]["id"])

    async def post(self, channel: str, message: Message) -> Any:
        """chat.postMessage, paced per channel."""
        return await self.pacer.send(
            channel, lambda: self.client.chat_postMessage(channel=channel, **message.payload())
        )
