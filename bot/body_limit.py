"""A cap on the size of every request body, enforced while it streams in.

The Slack adapter, the Twilio signature check and the softphone all read a whole body before
they can judge it, and uvicorn reads as much as it is sent. This ASGI middleware sits in front
of all of them: a request whose Content-Length is over the cap is answered 413 before a byte of
its body is read, and one that streams without a length (chunked) is answered 413 as soon as
its running total passes the cap. The app never sees the rest; uvicorn stops reading from the
socket once its small buffer is full, and the connection is closed after the answer.

Real payloads are small: a Slack modal submission or slash command, or a Twilio webhook, is a
few KiB, rarely tens of KiB. The compose file's proxy (docker-compose.yml) holds the same cap.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: room for the largest Slack view, and nothing near harm
TOO_LARGE = 413


class _TooLarge(Exception):
    """Raised into the app when its body passes the cap (the 413 has already been sent)."""


class BodyLimit:
    """ASGI middleware: requests with a body over `max_bytes` are refused with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, self.max_bytes)
            return
        await _Guarded(self.app, self.max_bytes, scope, receive, send).run()


class _Guarded:
    """One request: counts its body as it is received, and answers 413 when it passes the cap.
    Once the 413 is out, whatever the app still tries to send is dropped."""

    def __init__(self, app: ASGIApp, limit: int, scope: Scope, receive: Receive, send: Send):
        self.app, self.limit, self.scope = app, limit, scope
        self._receive, self._send = receive, send
        self.received = 0
        self.started = False  # the app's own answer has begun: too late for a 413
        self.refused = False

    async def run(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        except _TooLarge:
            pass  # answered already; the app was only stopped
        except Exception:
            if not self.refused:  # an error of the app's own, not its reaction to the cap
                raise

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                if not self.refused and not self.started:
                    await _refuse(self._send, self.limit)
                self.refused = True
                raise _TooLarge
        return message

    async def send(self, message: Message) -> None:
        if not self.refused:
            self.started = True
            await self._send(message)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # uvicorn refuses a malformed length before we see it
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"error": f"The request body is larger than {limit} bytes."}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": TOO_LARGE,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # the rest of the body is never read: the connection cannot be reused
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
