"""A small local fake of the Slack Web API: a real HTTP server on 127.0.0.1 in a thread.

Point the real `WebClient`/`AsyncWebClient` at `fake.base_url` (what `SLACK_API_URL` does) and
give requests `fake.response_url(...)` as their `response_url`. Every call is recorded with its
method and parsed body; `fake.rate_limit(method)` makes the next call(s) answer 429 with
`Retry-After`, as Slack does.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes import chat_payloads
from tests.fakes.local_server import origin_of, serve_in_thread, stop_server

TEAM_ID = "T0PHONEBK"
BOT_USER_ID = "U0BOT"
JSON_FIELDS = ("blocks", "view", "attachments")  # sent as JSON strings in form-encoded calls


@dataclass(frozen=True)
class SlackCall:
    method: str  # "chat.postMessage", ... or "response_url"
    body: dict[str, Any]
    token: str | None = None  # the bearer token the client sent
    path: str = ""


@dataclass
class _RateLimit:
    remaining: int
    retry_after: int


@dataclass
class FakeSlackAPI:
    """Answers the Web API methods Phonebank uses and records every call."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id -> users.info user
    socket_url: str | None = None  # what apps.connections.open hands out (see slack_socket.py)
    on_call: Callable[[SlackCall], None] | None = None  # told of every call (in a server thread)
    _calls: list[SlackCall] = field(default_factory=list)
    _limits: dict[str, _RateLimit] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeSlackAPI:
        fake = self

        class Handler(_Handler):
            api = fake

        self._server = serve_in_thread(Handler)
        return self

    def stop(self) -> None:
        stop_server(self._server)

    def __enter__(self) -> FakeSlackAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        return origin_of(self._server)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/"

    def response_url(self, name: str) -> str:
        """A response_url for one interaction; posts to it are recorded as `response_url`."""
        return f"{self.origin}/response/{name}"

    # --- what tests ask -----------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[SlackCall]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 and `Retry-After`."""
        with self._lock:
            self._limits[method] = _RateLimit(times, retry_after)

    # --- answering ----------------------------------------------------------------------------

    def _take_rate_limit(self, method: str) -> int | None:
        with self._lock:
            limit = self._limits.get(method)
            if not limit or limit.remaining <= 0:
                return None
            limit.remaining -= 1
            return limit.retry_after

    def _record(self, call: SlackCall) -> None:
        with self._lock:
            self._calls.append(call)
        chat_payloads.record("slack", call.method, call.body)
        if self.on_call is not None:
            self.on_call(call)

    def _next_ts(self) -> str:
        return f"1790000000.{next(self._ts):06d}"

    def answer(self, method: str, body: dict[str, Any], token: str = "") -> dict[str, Any]:
        """The JSON Slack would answer `method` with."""
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://phonebank-test.slack.com/",
                "team": "Phonebank test",
                "team_id": TEAM_ID,
                "user": "phonebank",
                "user_id": BOT_USER_ID,
                "bot_id": "B0BOT",
            }
        if method == "chat.postMessage":
            ts = self._next_ts()
            return {"ok": True, "channel": body.get("channel"), "ts": ts, "message": body}
        if method == "chat.update":
            return {"ok": True, "channel": body.get("channel"), "ts": body.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method in ("views.open", "views.publish", "views.update", "views.push"):
            view = dict(body.get("view") or {})
            return {"ok": True, "view": view | {"id": body.get("view_id") or "V0VIEW"}}
        if method == "conversations.open":
            users = str(body.get("users", ""))
            return {"ok": True, "channel": {"id": "D" + users.split(",")[0]}}
        if method == "apps.connections.open":
            if not token.startswith("xapp-"):
                return {"ok": False, "error": "not_allowed_token_type"}
            if not self.socket_url:
                return {"ok": False, "error": "socket_mode_not_enabled"}
            return {"ok": True, "url": self.socket_url}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):08d}"
            return {"ok": True, "upload_url": f"{self.origin}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = json.loads(str(body.get("files") or "[]"))
            return {
                "ok": True,
                "files": [{"id": f.get("id"), "title": f.get("title")} for f in files],
            }
        if method == "users.info":
            user_id = str(body.get("user", ""))
            user = self.users.get(user_id)
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": user}
        return {"ok": False, "error": "unknown_method"}


class _Handler(BaseHTTPRequestHandler):
    api: FakeSlackAPI

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # quiet: the calls are recorded instead

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._serve(dict(parse_qsl(urlsplit(self.path).query)))

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        if urlsplit(self.path).path.startswith("/upload/"):  # a file's bytes (files_upload_v2)
            data = self.rfile.read(length)
            self.api._record(
                SlackCall(
                    "file_upload", {"size": len(data), "head": data[:8].hex()}, None, self.path
                )
            )
            self._send(200, b"OK", "text/plain")
            return
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        query = dict(parse_qsl(urlsplit(self.path).query))
        self._serve(query | _parse_body(raw, self.headers.get("Content-Type", "")))

    def _serve(self, body: dict[str, Any]) -> None:
        path = urlsplit(self.path).path
        token = _bearer(self.headers.get("Authorization")) or body.pop("token", None)
        if path.startswith("/response/"):
            self.api._record(SlackCall("response_url", body, None, path))
            self._send(200, b"ok", "text/plain")
            return
        if not path.startswith("/api/"):
            self._send(404, b"not found", "text/plain")
            return
        method = path.removeprefix("/api/")
        self.api._record(SlackCall(method, body, token, path))
        retry_after = self.api._take_rate_limit(method)
        if retry_after is not None:
            payload = json.dumps({"ok": False, "error": "ratelimited"}).encode()
            self._send(429, payload, "application/json", {"Retry-After": str(retry_after)})
            return
        if not token:
            answer: dict[str, Any] = {"ok": False, "error": "not_authed"}
        else:
            answer = self.api.answer(method, body, token)
        self._send(200, json.dumps(answer).encode(), "application/json")

    def _send(
        self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:]
    return None


def _parse_body(raw: str, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        parsed = json.loads(raw)
        return parsed if isinstance(parsed, dict) else {"body": parsed}
    body: dict[str, Any] = dict(parse_qsl(raw, keep_blank_values=True))
    for name in JSON_FIELDS:
        if isinstance(body.get(name), str):
            body[name] = json.loads(body[name])
    return body
