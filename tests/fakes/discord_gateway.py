"""A small fake of the Discord gateway: a real websocket (aiohttp) on 127.0.0.1, in a thread.

Enough of the protocol for discord.py to connect and stay connected: HELLO, IDENTIFY (checked
for the bot token), READY (no guilds, and this address as `resume_gateway_url`), heartbeats
acknowledged. `dispatch(payload)` then sends an INTERACTION_CREATE to every connected client,
as Discord does. Frames are sent as text, which discord.py reads as is even when it asked for
zlib-stream compression.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_api import APPLICATION_ID, BOT_USER

HELLO, IDENTIFY, HEARTBEAT, HEARTBEAT_ACK, DISPATCH = 10, 2, 1, 11, 0


class FakeDiscordGateway:
    """Serves the gateway; records IDENTIFY payloads; pushes dispatches."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.identified = threading.Event()
        self.identifies: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._sockets: list[web.WebSocketResponse] = []
        self._sequence = 0
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def start(self) -> FakeDiscordGateway:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> FakeDiscordGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a dispatch (op 0) to every connected client."""
        asyncio.run_coroutine_threadsafe(self._dispatch(event, data), self._loop).result(10)

    def dispatch_soon(self, event: str, data: dict[str, Any]) -> concurrent.futures.Future[None]:
        """Send a dispatch without waiting (from another event loop: `asyncio.wrap_future`)."""
        return asyncio.run_coroutine_threadsafe(self._dispatch(event, data), self._loop)

    async def _close(self) -> None:
        """Close the clients' sockets (code 1001, going away), then stop serving."""
        for socket in list(self._sockets):
            await socket.close(code=1001)
        assert self._runner is not None
        await self._runner.cleanup()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_str(json.dumps({"op": HELLO, "d": {"heartbeat_interval": 41250}}))
        async for message in socket:
            if message.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(message.data)
            if payload.get("op") == HEARTBEAT:
                await socket.send_str(json.dumps({"op": HEARTBEAT_ACK}))
            elif payload.get("op") == IDENTIFY:
                await self._identify(socket, payload.get("d") or {})
        if socket in self._sockets:
            self._sockets.remove(socket)
        return socket

    async def _identify(self, socket: web.WebSocketResponse, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        if data.get("token") != self.token:
            await socket.close(code=4004, message=b"Authentication failed.")
            return
        self._sockets.append(socket)
        ready = {
            "v": 10,
            "user": BOT_USER,
            "guilds": [],
            "session_id": "fake-session",
            "resume_gateway_url": self.url,
            "application": {"id": APPLICATION_ID, "flags": 0},
        }
        await self._send(socket, "READY", ready)
        self.identified.set()

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        for socket in list(self._sockets):
            await self._send(socket, event, data)

    async def _send(self, socket: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        self._sequence += 1
        frame = {"op": DISPATCH, "t": event, "s": self._sequence, "d": data}
        await socket.send_str(json.dumps(frame))
