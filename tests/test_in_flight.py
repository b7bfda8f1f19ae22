"""Requests under way go first (bot/in_flight.py): the middleware counts them, and work after
the answer (bot/later.py) waits for a quiet moment, for a bounded time, before it runs."""

from __future__ import annotations

import threading

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bot.in_flight import CountInFlight, InFlight
from bot.later import LaterWork

WAIT_S = 10  # an upper bound for a thread to get going; never reached when things work


def test_the_middleware_counts_a_request_until_it_is_answered() -> None:
    in_flight = InFlight()
    seen: list[int] = []

    async def answer(request: Request) -> PlainTextResponse:
        seen.append(in_flight.count)
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", answer)], middleware=[Middleware(CountInFlight, in_flight=in_flight)]
    )
    with TestClient(app) as client:
        assert client.get("/").text == "ok"
        assert client.get("/missing").status_code == 404
    assert seen == [1]
    assert in_flight.count == 0  # the 404 left too


def test_wait_quiet_returns_at_once_when_nothing_is_under_way_and_gives_up_otherwise() -> None:
    in_flight = InFlight()
    assert in_flight.wait_quiet(WAIT_S)
    in_flight.enter()
    assert not in_flight.wait_quiet(0.01)  # bounded: a redraw runs anyway in the end
    in_flight.leave()
    assert in_flight.wait_quiet(0)


def test_work_after_the_answer_waits_while_a_request_is_under_way() -> None:
    in_flight = InFlight()
    waiting = threading.Event()

    def wait_quiet() -> None:
        waiting.set()
        in_flight.wait_quiet(WAIT_S)

    later = LaterWork(threads=1, wait_quiet=wait_quiet)
    ran: list[str] = []
    in_flight.enter()
    later.submit("card:1", lambda: ran.append("redraw"))
    assert waiting.wait(WAIT_S)
    assert not later.wait_idle(0.05)  # still held back by the request under way
    assert ran == []
    in_flight.leave()
    assert later.wait_idle(WAIT_S)
    later.close(WAIT_S)
    assert ran == ["redraw"]
