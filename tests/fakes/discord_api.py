"""A small local fake of the Discord REST API: a real HTTP server on 127.0.0.1 in a thread.

Point discord.py at `fake.base_url` (what `DISCORD_API_URL` does). It answers what Phonebank
uses: the login (`users/@me`, `oauth2/applications/@me`), `gateway/bot`, command sync, interaction
callbacks, follow-ups and edits through the interaction webhook, DMs, channel messages and
edits, a guild's roles. Every call is recorded with its route and JSON body (and fed to the
suite-wide voter-phone scan). JSON answers carry `Content-Type: application/json` exactly, which
discord.py needs to decode them. `refuse_dms(user_id)` makes DMs to a user fail with 403
(50007), as Discord does when a user closed them.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes import chat_payloads
from tests.fakes.local_server import origin_of, serve_in_thread, stop_server

API = "/api/v10"
APPLICATION_ID = "1100000000000000001"
BOT_USER_ID = "1100000000000000002"
GUILD_ID = "1200000000000000001"
CHANNEL_ID = "1200000000000000002"
BOT_USER = {
    "id": BOT_USER_ID,
    "username": "phonebank",
    "discriminator": "0",
    "global_name": "Phonebank",
    "avatar": None,
    "bot": True,
}
EPHEMERAL = 1 << 6
# Callback types: 4 message, 5 deferred message (thinking), 6 deferred update, 7 update, 9 modal.
MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, MODAL = 4, 5, 6, 7, 9


@dataclass(frozen=True)
class DiscordCall:
    method: str  # GET, POST, PATCH, PUT, DELETE
    route: str  # "interaction.callback", "webhook.send", "channel.send", ...
    path: str  # after /api/v10
    body: Any
    token: str | None = None  # the Authorization header's bot token, if any
    params: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None  # the message this call created or changed, if any


@dataclass
class Interaction:
    """What the fake knows of an interaction a test dispatched: where its answers land."""

    id: str
    token: str
    user_id: str
    channel_id: str
    message_id: str | None = None  # the message a component sat on
    original: str | None = None  # the message of the original response, once there is one
    loading: bool = False  # deferred with "thinking": the first follow-up replaces it


@dataclass
class _Limit:
    remaining: int
    retry_after: float


@dataclass
class FakeDiscordAPI:
    """Answers the REST routes Phonebank uses and records every call."""

    gateway_url: str = "ws://127.0.0.1:9/"  # what gateway/bot hands out (see discord_gateway.py)
    roles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # guild id -> roles
    on_call: Callable[[DiscordCall], None] | None = None  # told of every call (server thread)
    # Accept interactions nobody announced when their token says where they happened
    # (`bench.<id>.<message id or 0>.<channel id>`): a fake in another process than the test.
    trust_tokens: bool = False
    _calls: list[DiscordCall] = field(default_factory=list)
    _interactions: dict[str, Interaction] = field(default_factory=dict)  # by token
    _messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    _dm_channels: dict[str, str] = field(default_factory=dict)  # user id -> channel id
    _refused: set[str] = field(default_factory=set)
    _limits: dict[str, _Limit] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeDiscordAPI:
        fake = self

        class Handler(_Handler):
            api = fake

        self._server = serve_in_thread(Handler)
        return self

    def stop(self) -> None:
        stop_server(self._server)

    def __enter__(self) -> FakeDiscordAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"{origin_of(self._server)}{API}"

    # --- what tests arrange and ask -----------------------------------------------------------

    def new_id(self) -> str:
        """A fresh snowflake (ids of interactions, messages, channels)."""
        return str(1_300_000_000_000_000_000 + next(self._ids))

    def expect_interaction(self, interaction: Interaction) -> None:
        """An interaction about to be dispatched: its callbacks and webhooks are answered."""
        with self._lock:
            self._interactions[interaction.token] = interaction

    def interaction(self, token: str) -> Interaction | None:
        with self._lock:
            found = self._interactions.get(token)
            if found is None and self.trust_tokens:
                found = _announced_by(token)
                if found is not None:
                    self._interactions[token] = found
            return found

    def add_message(self, message: dict[str, Any]) -> None:
        """A message that exists already (a test's own, or one posted before a restart)."""
        with self._lock:
            self._messages[str(message["id"])] = message

    def message(self, message_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._messages[message_id])

    def dm_channel(self, user_id: str) -> str | None:
        with self._lock:
            return self._dm_channels.get(user_id)

    def refuse_dms(self, user_id: str) -> None:
        with self._lock:
            self._refused.add(user_id)

    def rate_limit(self, route: str, *, times: int = 1, retry_after: float = 0.01) -> None:
        """Answer the next `times` calls of `route` with 429 and `retry_after`."""
        with self._lock:
            self._limits[route] = _Limit(times, retry_after)

    def calls(self, route: str | None = None) -> list[DiscordCall]:
        with self._lock:
            return [c for c in self._calls if route is None or c.route == route]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    # --- answering ----------------------------------------------------------------------------

    def _record(self, call: DiscordCall) -> None:
        with self._lock:
            self._calls.append(call)
        if call.body:
            chat_payloads.record("discord", call.route, call.body)
        if self.on_call is not None:
            self.on_call(call)

    def _take_limit(self, route: str) -> float | None:
        with self._lock:
            limit = self._limits.get(route)
            if not limit or limit.remaining <= 0:
                return None
            limit.remaining -= 1
            return limit.retry_after

    def _message(
        self, channel_id: str, body: dict[str, Any], message_id: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Create or replace a message from a send or edit body."""
        with self._lock:
            earlier = self._messages.get(message_id or "", {})
        message = {
            "id": message_id or self.new_id(),
            "channel_id": channel_id,
            "type": 0,
            "content": "",
            "embeds": [],
            "components": [],
            "flags": 0,
            "author": BOT_USER,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "pinned": False,
        }
        message |= {k: v for k, v in earlier.items() if k in message}
        for name in ("content", "embeds", "components", "flags"):
            if name in body and body[name] is not None:
                message[name] = body[name]
        if message_id:
            message["edited_timestamp"] = datetime.now(UTC).isoformat()
        message |= extra
        with self._lock:
            self._messages[str(message["id"])] = message
        return message

    def answer(
        self, method: str, path: str, body: Any, params: dict[str, str]
    ) -> tuple[int, Any, str | None]:
        """(status, JSON body, the message id made or changed) for one call."""
        for pattern, handler in self._routes():
            match = pattern.fullmatch(f"{method} {path}")
            if match:
                return handler(body, params, **match.groupdict())
        return 404, {"message": "404: Not Found", "code": 0}, None

    def _routes(self) -> list[tuple[re.Pattern[str], Callable[..., tuple[int, Any, str | None]]]]:
        return [
            (re.compile(r"GET /users/@me"), lambda b, p: (200, BOT_USER, None)),
            (re.compile(r"GET /oauth2/applications/@me"), lambda b, p: (200, _application(), None)),
            (re.compile(r"GET /gateway/bot"), self._gateway),
            (
                re.compile(r"PUT /applications/(?P<app>\d+)(?:/guilds/(?P<guild>\d+))?/commands"),
                self._sync,
            ),
            (
                re.compile(r"POST /interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback"),
                self._callback,
            ),
            (re.compile(r"POST /webhooks/(?P<app>\d+)/(?P<token>[^/]+)"), self._follow_up),
            (
                re.compile(
                    r"(?P<verb>PATCH|GET|DELETE) /webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)"
                ),
                self._webhook_message,
            ),
            (re.compile(r"POST /users/@me/channels"), self._open_dm),
            (re.compile(r"POST /channels/(?P<cid>\d+)/messages"), self._channel_send),
            (re.compile(r"PATCH /channels/(?P<cid>\d+)/messages/(?P<mid>\d+)"), self._channel_edit),
            (re.compile(r"GET /guilds/(?P<gid>\d+)/roles"), self._roles),
        ]

    def _gateway(self, body: Any, params: dict[str, str]) -> tuple[int, Any, None]:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return 200, {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}, None

    def _sync(
        self, body: Any, params: dict[str, str], app: str, guild: str | None
    ) -> tuple[int, Any, None]:
        synced = []
        for command in body or []:
            synced.append(
                {
                    "type": 1,
                    "default_member_permissions": None,
                    "dm_permission": True,
                    "nsfw": False,
                    **command,
                    "id": self.new_id(),
                    "application_id": app,
                    "version": self.new_id(),
                    **({"guild_id": guild} if guild else {}),
                }
            )
        return 200, synced, None

    def _callback(
        self, body: Any, params: dict[str, str], iid: str, token: str
    ) -> tuple[int, Any, str | None]:
        found = self.interaction(token)
        if found is None or found.id != iid:
            return 404, {"message": "Unknown interaction", "code": 10062}, None
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        if found.original is not None or (
            kind in (UPDATE, DEFERRED_UPDATE) and not found.message_id
        ):
            return (
                400,
                {"message": "Interaction has already been acknowledged.", "code": 40060},
                None,
            )
        answer: dict[str, Any] = {"id": iid, "type": 2}
        message_id: str | None = None
        resource: dict[str, Any] = {"type": kind}
        if kind in (MESSAGE, DEFERRED_MESSAGE):
            flags = int(data.get("flags") or 0)
            content = data if kind == MESSAGE else {"content": "", "flags": flags | (1 << 7)}
            message = self._message(found.channel_id, content, webhook_id=APPLICATION_ID)
            message_id = str(message["id"])
            found.loading = kind == DEFERRED_MESSAGE
            answer |= {"response_message_id": message_id, "response_message_loading": found.loading}
            answer["response_message_ephemeral"] = bool(flags & EPHEMERAL)
            resource["message"] = message
        elif kind in (UPDATE, DEFERRED_UPDATE):
            message_id = found.message_id
            if kind == UPDATE:
                with self._lock:
                    channel = self._messages.get(message_id or "", {}).get(
                        "channel_id", found.channel_id
                    )
                resource["message"] = self._message(channel, data, message_id)
        found.original = message_id or "modal"
        return 200, {"interaction": answer, "resource": resource}, message_id

    def _follow_up(
        self, body: Any, params: dict[str, str], app: str, token: str
    ) -> tuple[int, Any, str | None]:
        found = self.interaction(token)
        if found is None or found.original is None:
            return 404, {"message": "Unknown Webhook", "code": 10015}, None
        if found.loading:  # the first follow-up after "thinking" replaces the loading message
            found.loading = False
            message = self._message(
                found.channel_id, body | {"flags": int(body.get("flags") or 0)}, found.original
            )
        else:
            message = self._message(found.channel_id, body, webhook_id=app)
        return 200, message, str(message["id"])

    def _webhook_message(
        self, body: Any, params: dict[str, str], verb: str, app: str, token: str, mid: str
    ) -> tuple[int, Any, str | None]:
        found = self.interaction(token)
        if found is None:
            return 404, {"message": "Unknown Webhook", "code": 10015}, None
        message_id: str | None = mid
        if mid == "@original":  # the response's message, or the message a component sat on
            message_id = found.original if found.original not in (None, "modal") else None
        with self._lock:
            exists = message_id in self._messages
        if not message_id or not exists:
            return 404, {"message": "Unknown Message", "code": 10008}, None
        if verb == "GET":
            return 200, self.message(message_id), None
        if verb == "DELETE":
            return 204, None, message_id
        found.loading = False
        channel = self.message(message_id)["channel_id"]
        return 200, self._message(channel, body or {}, message_id), message_id

    def _open_dm(self, body: Any, params: dict[str, str]) -> tuple[int, Any, None]:
        user_id = str((body or {}).get("recipient_id", ""))
        with self._lock:
            channel = self._dm_channels.setdefault(user_id, self.new_id())
        recipient = {
            "id": user_id,
            "username": f"user{user_id[-4:]}",
            "discriminator": "0",
            "avatar": None,
        }
        return (
            200,
            {"id": channel, "type": 1, "recipients": [recipient], "last_message_id": None},
            None,
        )

    def _channel_send(
        self, body: Any, params: dict[str, str], cid: str
    ) -> tuple[int, Any, str | None]:
        with self._lock:
            refused = any(self._dm_channels.get(user) == cid for user in self._refused)
        if refused:
            return 403, {"message": "Cannot send messages to this user", "code": 50007}, None
        message = self._message(cid, body or {})
        return 200, message, str(message["id"])

    def _channel_edit(
        self, body: Any, params: dict[str, str], cid: str, mid: str
    ) -> tuple[int, Any, str | None]:
        with self._lock:
            exists = mid in self._messages
        if not exists:
            return 404, {"message": "Unknown Message", "code": 10008}, None
        return 200, self._message(cid, body or {}, mid), mid

    def _roles(self, body: Any, params: dict[str, str], gid: str) -> tuple[int, Any, None]:
        return 200, self.roles.get(gid, []), None


def _announced_by(token: str) -> Interaction | None:
    """The interaction a `bench.<id>.<message id or 0>.<channel id>` token describes."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != "bench" or not all(p.isdigit() for p in parts[1:]):
        return None
    _, interaction_id, message_id, channel_id = parts
    message = None if message_id == "0" else message_id
    return Interaction(interaction_id, token, "", channel_id, message_id=message)


def _application() -> dict[str, Any]:
    owner = {"id": "1100000000000000009", "username": "owner", "discriminator": "0", "avatar": None}
    return {
        "id": APPLICATION_ID,
        "name": "Phonebank",
        "description": "",
        "icon": None,
        "rpc_origins": [],
        "bot_public": False,
        "bot_require_code_grant": False,
        "owner": owner,
        "team": None,
        "verify_key": "0" * 64,
        "flags": 0,
        "summary": "",
        "interactions_endpoint_url": None,
        "bot": BOT_USER,
    }


ROUTE_NAMES = {
    "_gateway": "gateway.bot",
    "_sync": "commands.sync",
    "_callback": "interaction.callback",
    "_follow_up": "webhook.send",
    "_webhook_message": "webhook.message",
    "_open_dm": "dm.open",
    "_channel_send": "channel.send",
    "_channel_edit": "channel.edit",
    "_roles": "guild.roles",
}


class _Handler(BaseHTTPRequestHandler):
    api: FakeDiscordAPI

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        if not parts.path.startswith(API):
            self._send(404, {"message": "404: Not Found", "code": 0})
            return
        path = parts.path.removeprefix(API)
        params = dict(parse_qsl(parts.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = _parse(raw, self.headers.get("Content-Type", ""))
        auth = self.headers.get("Authorization") or ""
        token = auth.removeprefix("Bot ") if auth.startswith("Bot ") else None
        route = _route_name(self.api, method, path)
        retry_after = self.api._take_limit(route)
        if retry_after is not None:
            self.api._record(DiscordCall(method, route, path, body, token, params))
            limited = {
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": False,
            }
            # Discord's own 429s come through its proxy (`Via`); discord.py takes one without it
            # for a Cloudflare ban and gives up.
            headers = {
                "Retry-After": str(retry_after),
                "X-RateLimit-Scope": "user",
                "Via": "1.1 google",
            }
            self._send(429, limited, headers)
            return
        needs_token = not path.startswith(("/interactions/", "/webhooks/"))
        if needs_token and not token:
            self.api._record(DiscordCall(method, route, path, body, token, params))
            self._send(401, {"message": "401: Unauthorized", "code": 0})
            return
        status, answer, message_id = self.api.answer(method, path, body, params)
        self.api._record(DiscordCall(method, route, path, body, token, params, message_id))
        self._send(status, answer)

    def _send(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
        payload = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        if answer is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _route_name(api: FakeDiscordAPI, method: str, path: str) -> str:
    for pattern, handler in api._routes():
        if pattern.fullmatch(f"{method} {path}"):
            name = getattr(handler, "__name__", "")
            return ROUTE_NAMES.get(name, f"{method} {path}")
    return f"{method} {path}"


def _parse(raw: bytes, content_type: str) -> Any:
    if not raw:
        return {}
    if content_type.startswith("multipart/form-data"):
        match = re.search(rb'name="payload_json"\r\n(?:[^\r\n]*\r\n)*\r\n(.*?)\r\n--', raw, re.S)
        return json.loads(match.group(1)) if match else {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return {"raw": raw.decode("utf-8", "replace")}
