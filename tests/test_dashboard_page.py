"""The coordinators' dashboard in headless Chromium (Debian's, driven by Playwright), with the
Slack app in front: a coordinator asks for the dashboard, the link comes in the DM the Slack
fake recorded, the browser opens it (no JavaScript), sees the goal numbers that are in the
database, downloads the results export (audited); the link is refused on second use, after it
expires, when forged, and when it belongs to a volunteer. A screenshot is kept as an artifact
(PHONEBANK_TEST_ARTIFACTS, default test-artifacts/)."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, sync_playwright
from sqlalchemy import Engine

from bot.dashboard import COOKIE, dashboard_routes
from bot.web import create_web_app
from handlers.dashboard import token_hash
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import DashboardLink
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.scenarios.conversations import ANA_PHONE, sign_up
from tests.scenarios.slack_driver import SlackDriver, SlackSurface, user_id_of
from tests.scenarios.standings_conversations import call_and_log
from tests.scenarios.world import World, make_services, phones_in, voter
from tests.test_softphone_page import CHROMIUM

ARTIFACTS = Path(
    os.environ.get("PHONEBANK_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
)
CARLA_PHONE = "(512) 555-0177"
T = TypeVar("T")


def serve(app: object) -> tuple[str, uvicorn.Server, threading.Thread]:
    """Serve `app` on a loopback socket that is listening before this returns; uvicorn leaves
    the logging configuration alone (its own would stop `uvicorn.access` reaching later
    tests' log capture)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    config = uvicorn.Config(app, log_config=None, access_log=False)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    host, port = sock.getsockname()
    return f"http://{host}:{port}", server, thread


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


class SlackThread:
    """The Slack side runs its own event loop; Playwright's sync API holds one in the test's
    thread, so every Slack step runs in this one other thread."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)

    def __call__(self, work: Callable[[], T]) -> T:
        return self.pool.submit(work).result()


@dataclass
class Site:
    origin: str
    world: World
    surface: SlackSurface
    fake: FakeSlackAPI
    carla: SlackDriver  # a coordinator
    ana: SlackDriver  # a volunteer with one logged contact
    slack: SlackThread

    def dashboard_link(self) -> str:
        """Ask for the dashboard in Slack; the link from the newest DM the fake recorded."""
        asked = self.slack(lambda: self.carla.command("dashboard"))
        assert asked.has("sent you a one-time dashboard link"), asked.text
        posted = [json.dumps(c.body) for c in self.fake.calls("chat.postMessage")]
        links = [
            m
            for body in posted
            for m in re.findall(r"https?://[^\s\"|>]+/dashboard/login/[\w-]+", body)
        ]
        assert links, "no dashboard link in any DM"
        return links[-1]


@pytest.fixture
def site(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    services = make_services(engine, clock)  # the web process serving the pages
    app = create_web_app(services, routes=dashboard_routes(services, "http://127.0.0.1"))
    origin, server, thread = serve(app)
    monkeypatch.setenv("PUBLIC_BASE_URL", origin)  # where the Slack side's links point
    world = World(engine, clock)
    world.campaign([voter("Maria", 1, area_code="512"), voter("Dave", 2, area_code="512")])
    slack = SlackThread()
    surface = slack(lambda: SlackSurface(world, fake_slack))

    def before() -> tuple[SlackDriver, SlackDriver]:
        root, carla, ana = surface.user("root"), surface.user("carla"), surface.user("ana")
        sign_up(world, carla, CARLA_PHONE)
        assert root.command(f"role grant {surface.mention('carla')} coordinator").has("coordinator")
        assert carla.command("goal set contacts 10 --by 2026-11-09").has("Set the goal")
        sign_up(world, ana, ANA_PHONE)
        batch = ana.command("batch")
        call_and_log(ana, "Maria" if batch.has("Maria") else "Dave")
        return carla, ana

    try:
        carla, ana = slack(before)
        yield Site(origin, world, surface, fake_slack, carla, ana, slack)
    finally:
        slack(surface.close)
        slack.pool.shutdown()
        server.should_exit = True
        thread.join()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(java_script_enabled=False, accept_downloads=True)
    yield context
    context.close()


def test_a_coordinator_opens_the_dashboard_from_the_dm(site: Site, context: BrowserContext) -> None:
    link = site.dashboard_link()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(link)
    assert page.url == f"{site.origin}/dashboard"
    [done_in_db] = site.world.rows("SELECT sum(contacts) AS n FROM call_rollup")
    assert done_in_db.n == 1
    goal = page.locator("[data-goal='campaign:contacts']")
    assert goal.locator(".done").inner_text() == f"{done_in_db.n} of 10"
    assert "█░░░░░░░░░ 10%" in goal.inner_text()
    assert goal.locator("svg").count() == 1  # the burn-up, drawn on the server
    assert "1 calls, 1 contacts so far today" in page.locator("#today").inner_text()
    assert "Ana" in page.locator("#leaderboards").inner_text()
    assert all(url.startswith(site.origin) for url in requested), requested
    assert phones_in(page.content(), site.world.voter_phones()) == []
    assert "0201" not in page.content() and "0202" not in page.content()  # not even in part

    [cookie] = context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (
        COOKIE,
        True,
        "Lax",
        False,  # http here; Secure when PUBLIC_BASE_URL is https
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    with page.expect_download() as download_info:
        page.click("text=Results CSV")
    csv_text = Path(download_info.value.path()).read_text()
    assert csv_text.startswith("VanID,FirstName") and "Talked to voter" in csv_text
    [audit] = site.world.rows("SELECT * FROM audit_log WHERE action = 'dashboard.export'")
    assert audit.actor == f"slack:{user_id_of('carla')}"

    again = context.new_page()
    refused = again.goto(link)
    assert refused is not None and refused.status == 403
    assert "does not open" in again.inner_text("#refused")


def test_an_expired_link_is_refused(site: Site, context: BrowserContext) -> None:
    link = site.dashboard_link()
    site.world.clock.advance(timedelta(minutes=10, seconds=1))
    page = context.new_page()
    response = page.goto(link)
    assert response is not None and response.status == 403
    assert page.goto(f"{site.origin}/dashboard") is not None
    assert "Open the dashboard with a link" in page.inner_text("#refused")


def test_a_forged_link_is_refused(site: Site, context: BrowserContext) -> None:
    link = site.dashboard_link()
    token = link.rsplit("/", 1)[1]
    forged = link[: -len(token)] + ("A" if token[0] != "A" else "B") + token[1:]
    page = context.new_page()
    response = page.goto(forged)
    assert response is not None and response.status == 403
    response = page.goto(link)  # the real one still works: the forgery spent nothing
    assert response is not None and response.status == 200


def test_a_volunteers_link_is_refused(site: Site, context: BrowserContext) -> None:
    """A volunteer cannot ask for a link, and a link for one (here, written straight into the
    table) does not open; nor does a coordinator's after the role is revoked."""
    assert site.slack(lambda: site.ana.command("dashboard")).has("Only coordinators")
    token = "volunteer-link-token-0123456789abcdefghijkl"
    now = site.world.clock.now()
    with session_scope(site.world.engine) as session:
        session.add(
            DashboardLink(
                token_hash=token_hash(token),
                platform="slack",
                workspace=TEAM_ID,
                user_id=user_id_of("ana"),
                campaign_id=site.world.campaign_ids[0],
                created_at=now,
                expires_at=now + timedelta(minutes=10),
            )
        )
    page = context.new_page()
    response = page.goto(f"{site.origin}/dashboard/login/{token}")
    assert response is not None and response.status == 403

    link = site.dashboard_link()
    revoke = f"role revoke {site.surface.mention('carla')} coordinator"
    assert site.slack(lambda: site.surface.user("root").command(revoke)).has("no longer")
    response = page.goto(link)
    assert response is not None and response.status == 403
