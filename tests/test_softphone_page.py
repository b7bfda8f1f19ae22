"""The softphone page in headless Chromium (Debian's, driven by Playwright): it buys a token with
the link in its fragment, registers, rings, answers, sends keypad digits, mutes, hangs up, and
renews its token; and it says what is wrong when the link or the SDK is not right. Twilio's
Voice SDK is replaced by tests/fakes/voice_sdk.js, served by the app under test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from bot.telephony.softphone import VoiceSdk, softphone_links, softphone_routes
from bot.web import create_web_app
from handlers.replies import Tone
from handlers.router import handle_command
from storage.clock import FrozenClock
from tests.scenarios.world import make_services, signed_up_context
from tests.test_softphone import KEY_SECRET, fragment, softphone_settings, with_softphone

CHROMIUM = "/usr/bin/chromium"
FAKE_SDK = Path(__file__).parent / "fakes" / "voice_sdk.js"
FAKE_SDK_PATH = "/test/voice-sdk.js"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@dataclass
class Site:
    origin: str
    link: str  # the volunteer's softphone link
    volunteer_id: int


def serve(app: object) -> tuple[str, uvicorn.Server, threading.Thread]:
    """Serve `app` on a loopback socket that is listening before this returns."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    host, port = sock.getsockname()
    return f"http://{host}:{port}", server, thread


@contextmanager
def site_with(engine: Engine, clock: FrozenClock, sdk: VoiceSdk) -> Iterator[Site]:
    settings = softphone_settings()
    links = softphone_links(settings, clock)
    assert links is not None
    services = with_softphone(make_services(engine, clock), settings)
    volunteer = signed_up_context(services)
    assert volunteer.volunteer_id is not None
    assert handle_command(volunteer, "softphone").tone is Tone.SUCCESS
    volunteer_id = volunteer.volunteer_id

    async def fake_sdk(request: Request) -> Response:
        return FileResponse(FAKE_SDK, media_type="text/javascript")

    routes = [*softphone_routes(settings, services, links, sdk), Route(FAKE_SDK_PATH, fake_sdk)]
    origin, server, thread = serve(create_web_app(services, routes=routes))
    try:
        yield Site(origin, links.link_for(volunteer_id), volunteer_id)
    finally:
        server.should_exit = True
        thread.join()


@pytest.fixture
def site(engine: Engine, clock: FrozenClock) -> Iterator[Site]:
    with site_with(engine, clock, VoiceSdk(FAKE_SDK_PATH, integrity=None)) as site:
        yield site


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def open_softphone(page: Page, site: Site, link_fragment: str | None = None) -> None:
    page.goto(f"{site.origin}/softphone#{link_fragment or fragment(site.link)}")


def test_a_call_rings_is_answered_keyed_muted_and_hung_up(page: Page, site: Site) -> None:
    open_softphone(page, site)
    status = page.locator("#status")
    expect(status).to_contain_text("Ready")
    token = page.evaluate("fakeTwilio.device.token")
    identity = jwt.decode(token, KEY_SECRET, algorithms=["HS256"])["grants"]["identity"]
    assert identity == f"volunteer_{site.volunteer_id}"
    expect(page.locator("#answer")).to_be_disabled()

    page.evaluate("fakeTwilio.ring()")
    expect(status).to_contain_text("Phonebank is calling")
    expect(page.locator("#answer")).to_be_enabled()
    expect(page.locator(".key").first).to_be_disabled()  # no digits before answering

    page.click("#answer")
    expect(status).to_contain_text("On the call")
    page.click(".key[data-key='2']")
    page.click(".key[data-key='#']")
    page.click("#mute")
    expect(page.locator("#mute")).to_have_text("Unmute")
    assert page.evaluate("[fakeTwilio.calls[0].digits, fakeTwilio.calls[0].isMuted()]") == [
        "2#",
        True,
    ]

    page.click("#hangup")
    expect(status).to_contain_text("Call ended. Ready")
    assert page.evaluate("fakeTwilio.calls[0].status()") == "closed"
    expect(page.locator("#hangup")).to_be_disabled()


def test_a_ringing_call_can_be_declined(page: Page, site: Site) -> None:
    open_softphone(page, site)
    expect(page.locator("#status")).to_contain_text("Ready")
    page.evaluate("fakeTwilio.ring()")

    page.click("#hangup")

    expect(page.locator("#status")).to_contain_text("Call ended")
    assert page.evaluate("fakeTwilio.calls[0].status()") == "closed"


def test_the_token_is_renewed_before_it_expires(page: Page, site: Site) -> None:
    open_softphone(page, site)
    expect(page.locator("#status")).to_contain_text("Ready")

    page.evaluate("fakeTwilio.device.emit('tokenWillExpire')")

    expect(page.locator("html")).to_have_attribute("data-renewed-tokens", "1")
    renewed = page.evaluate("fakeTwilio.renewed[0]")
    assert jwt.decode(renewed, KEY_SECRET, algorithms=["HS256"])["grants"]["identity"] == (
        f"volunteer_{site.volunteer_id}"
    )


@pytest.mark.parametrize(
    ("link_fragment", "says"),
    [
        ("", "Open the personal link"),
        ("1.99999999999.forged", "not valid any more"),
    ],
    ids=["no link", "forged link"],
)
def test_a_missing_or_bad_link_is_explained(
    page: Page, site: Site, link_fragment: str, says: str
) -> None:
    page.goto(f"{site.origin}/softphone#{link_fragment}")

    expect(page.locator("#status")).to_contain_text(says)
    assert page.evaluate("fakeTwilio.device") is None  # nothing registered
    assert page.evaluate("document.body.dataset.state") == "error"


def test_an_sdk_that_does_not_load_is_explained(
    page: Page, engine: Engine, clock: FrozenClock
) -> None:
    with site_with(engine, clock, VoiceSdk("/test/no-such-sdk.js", integrity=None)) as site:
        open_softphone(page, site)
        expect(page.locator("#status")).to_contain_text("calling library did not load")
