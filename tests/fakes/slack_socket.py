"""A small local fake of Slack's Socket Mode websocket, on 127.0.0.1 in a thread of its own.

`FakeSlackAPI.socket_url` hands its URL out from `apps.connections.open`; the real Socket Mode
client connects, gets `hello`, and the test pushes envelopes (a slash command, a button) and
awaits the client's acknowledgement of each, as Slack does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes import chat_payloads


class FakeSocketMode:
    """One Socket Mode endpoint; one client at a time."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._socket: web.WebSocketResponse | None = None
        self._connected: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._acks: dict[str, concurrent.futures.Future[dict[str, Any]]] = {}
        self.port = 0

    def __enter__(self) -> FakeSocketMode:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link"

    async def connected(self) -> None:
        """Wait until the client has connected and been greeted."""
        await asyncio.wrap_future(self._connected)

    async def deliver(self, kind: str, payload: dict[str, Any], envelope_id: str) -> dict[str, Any]:
        """Push an envelope (`slash_commands`, `interactive`, `events_api`); the client's ack."""
        self._acks[envelope_id] = concurrent.futures.Future()
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": 0,
            "retry_reason": "",
        }
        send = asyncio.run_coroutine_threadsafe(self._send(envelope), self._loop)
        await asyncio.wrap_future(send)
        return await asyncio.wrap_future(self._acks[envelope_id])

    # --- the server, on its own loop ----------------------------------------------------------

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _send(self, envelope: dict[str, Any]) -> None:
        assert self._socket is not None, "no Socket Mode client is connected"
        await self._socket.send_str(json.dumps(envelope))

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0PHONEBK"}}
        await socket.send_str(json.dumps(hello))
        if not self._connected.done():
            self._connected.set_result(None)
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self._received(json.loads(message.data))
        return socket

    def _received(self, message: dict[str, Any]) -> None:
        chat_payloads.record("slack", "socket_mode_ack", message)
        waiting = self._acks.get(str(message.get("envelope_id")))
        if waiting is not None and not waiting.done():
            waiting.set_result(message)
