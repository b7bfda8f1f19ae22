"""Request bodies are capped while they stream in (bot/body_limit.py).

The attack: one 64 MiB POST with a forged Twilio signature grew the server by hundreds of MiB
before its 403, since the check reads the whole body first. Here a real uvicorn process serves
the app, and its resident memory is read from /proc before and after such posts, declared
(Content-Length) and streamed (chunked). In-process, the real Bolt app and the Twilio routes
still take real payloads, and a body one byte over the cap is refused on every endpoint.
"""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import Engine
from twilio.request_validator import RequestValidator

from bot.body_limit import MAX_BODY_BYTES, BodyLimit
from bot.telephony.signature import SIGNATURE_HEADER
from storage.clock import FrozenClock
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack_support import open_workspace
from tests.web_server import PUBLIC, TOKEN

ROOT = Path(__file__).resolve().parents[1]
HUGE = 64 * 1024 * 1024
PIECE = 64 * 1024
GREW_AT_MOST = 16 * 1024 * 1024  # a quarter of the body: the server kept none of it
ANA = "+15125550142"
WAIT_S = 120  # for the server to start and answer on a busy machine: a bound, not a timing


# --- a real server, measured from outside -----------------------------------------------------


@pytest.fixture
def server(db_url: str) -> Iterator[tuple[int, int]]:
    """(port, pid) of `python -m tests.web_server` on a socket bound here."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    port = listener.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.web_server", str(listener.fileno()), db_url],
        cwd=ROOT,
        pass_fds=[listener.fileno()],
    )
    listener.close()
    try:
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def rss(pid: int) -> int:
    """The process's resident memory in bytes, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def signed_text(body: str, sid: str) -> tuple[bytes, str]:
    params = {"MessageSid": sid, "From": ANA, "To": "+15125550100", "Body": body}
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/twilio/sms", params)
    return urlencode(params).encode(), signature


def post(port: int, path: str, body: bytes, **headers: str) -> tuple[int, bytes]:
    """A whole request over a fresh connection; (status, body)."""
    url = f"http://127.0.0.1:{port}{path}"
    response = httpx.post(url, content=body, headers=headers, timeout=WAIT_S)
    return response.status_code, response.content


def post_huge(port: int, path: str, size: int, *, chunked: bool) -> tuple[int, int]:
    """POST `size` bytes (declared, or chunked without a length) until the server answers;
    (its status, how many body bytes it was sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n{SIGNATURE_HEADER}: forged\r\n\r\n"
    )
    sock.sendall(head.encode())
    sent, piece = 0, b"a" * PIECE
    with sock:
        while sent < size and not _answered(sock):
            data = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break  # the server stopped reading: its answer is waiting
            sent += len(piece)
        if chunked and sent >= size:
            sock.sendall(b"0\r\n\r\n")
        return _status(sock), sent


def _answered(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def _status(sock: socket.socket) -> int:
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the connection without answering"
        head += chunk
    return int(head.split(b" ", 2)[1])


def test_a_64_mib_body_is_refused_before_it_is_read(server: tuple[int, int]) -> None:
    port, pid = server
    body, signature = signed_text("START", "SM" + "1" * 32)
    assert post(port, "/twilio/sms", body, **{SIGNATURE_HEADER: signature})[0] == 200
    before = rss(pid)

    declared = post_huge(port, "/twilio/sms", HUGE, chunked=False)
    streamed = post_huge(port, "/twilio/sms", HUGE, chunked=True)

    grew = rss(pid) - before
    print(f"server RSS {before / 2**20:.1f} MiB, grew {grew / 2**20:.1f} MiB over two posts")
    assert (declared[0], streamed[0]) == (413, 413)
    assert declared[1] < HUGE and streamed[1] < HUGE
    assert grew < GREW_AT_MOST
    # and the server still answers real webhooks
    body, signature = signed_text("HELP", "SM" + "2" * 32)
    assert post(port, "/twilio/sms", body, **{SIGNATURE_HEADER: signature})[0] == 200


# --- in-process: every endpoint, real payloads --------------------------------------------------


@pytest.mark.anyio
async def test_slack_takes_a_real_command_and_refuses_a_body_over_the_cap(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    async with open_workspace(engine, clock, fake_slack) as sam:
        assert (await sam.command("help")).status_code == 200
        assert "/phonebank" in sam.latest().text

        padded = sam.command_body("help " + "x" * MAX_BODY_BYTES)
        response = await sam.post(padded, "application/x-www-form-urlencoded")

        assert response.status_code == 413
        assert len(sam.fake.calls("response_url")) == 1  # only the first command was answered


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/slack/events", "/twilio/sms", "/healthz", "/nowhere"])
async def test_one_byte_over_the_cap_is_refused_on_every_path(path: str) -> None:
    reached: list[str] = []

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        reached.append(scope["path"])
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read it all"})

    transport = httpx.ASGITransport(app=BodyLimit(app, max_bytes=1000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        at_cap = await http.post(path, content=b"a" * 1000)
        over = await http.post(path, content=b"a" * 1001)
        streamed = await http.post(path, content=_pieces(b"a" * 300, 4))  # no length: chunked

    assert at_cap.status_code == 200 and at_cap.content == b"read it all"
    assert over.status_code == 413 and over.headers["connection"] == "close"
    assert reached == [path, path]  # the declared one never reached the app
    assert streamed.status_code == 413
    assert "larger than 1000 bytes" in json.loads(streamed.content)["error"]


async def _pieces(piece: bytes, count: int):  # type: ignore[no-untyped-def]
    for _ in range(count):
        yield piece
