"""The HTTP server under every local fake: 127.0.0.1, a free port, served from a thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve_in_thread(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """Start serving `handler` on a free loopback port; stop it with `stop_server`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    # A short poll interval: shutdown() returns within 10 ms instead of half a second.
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    return server


def stop_server(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def origin_of(server: ThreadingHTTPServer | None) -> str:
    """`http://127.0.0.1:PORT` of a started server."""
    assert server is not None, "start() the fake first"
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"
