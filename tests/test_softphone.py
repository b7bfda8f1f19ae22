"""The browser softphone: signed links, the Twilio access token they buy, the page, the chat
command, and the bridge ringing the browser instead of the phone (both databases)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette

from bot.settings import Settings, load_settings
from bot.telephony.softphone import (
    LINK_LIFETIME,
    TOKEN_TTL_S,
    SoftphoneLinks,
    VoiceSdk,
    routes_if_enabled,
    softphone_links,
    softphone_routes,
)
from bot.web import create_web_app
from handlers.context import Platform, Services
from handlers.identity import context_for
from handlers.replies import Tone
from handlers.router import handle_action, handle_command
from handlers.softphone import NOT_SET_UP
from storage.clock import FrozenClock
from storage.db import read_session
from storage.models import Volunteer
from tests.fakes.slack_api import FakeSlackAPI
from tests.scenarios.world import World, make_services, signed_up_context, voter
from tests.slack_support import SlackWorkspace, open_workspace
from tests.voice_support import LegTelephony, buttons

BASE = "https://phonebank.example.org"
KEY_SECRET = "api-key-secret-of-at-least-32-bytes"


def softphone_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "twilio_account_sid": "AC0123",
        "twilio_auth_token": "auth-token",
        "twilio_caller_id": "+15125550100",
        "twilio_api_key_sid": "SK0123",
        "twilio_api_key_secret": KEY_SECRET,
        "public_base_url": BASE,
    }
    return load_settings(**(values | overrides))


def with_softphone(services: Services, settings: Settings | None = None) -> Services:
    links = softphone_links(settings or softphone_settings(), services.clock)
    return dataclasses.replace(services, softphone=links)


class Browser:
    """Requests to the app in-process, as the softphone page makes them."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def get(self, path: str) -> httpx.Response:
        return self.send("GET", path)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.send("POST", path, **kwargs)

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())


def fragment(link: str) -> str:
    assert link.startswith(f"{BASE}/softphone#")
    return link.partition("#")[2]


# ---- links ---------------------------------------------------------------------------------


def test_a_link_names_its_volunteer_until_it_expires(clock: FrozenClock) -> None:
    links = SoftphoneLinks(KEY_SECRET, BASE, clock)
    link = links.link_for(42)

    assert links.volunteer_of(link) == 42
    assert links.volunteer_of(fragment(link)) == 42  # what the page posts
    clock.advance(LINK_LIFETIME - timedelta(seconds=1))
    assert links.volunteer_of(link) == 42
    clock.advance(timedelta(seconds=1))
    assert links.volunteer_of(link) is None


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token.replace("42.", "43.", 1),  # another volunteer
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature
        lambda token: ".".join(token.split(".")[:3]),  # no signature
        lambda token: token.replace("42.0.", "42.1.", 1),  # another version
        lambda token: "",
        lambda token: "not a link at all",
        lambda token: "42.0.99999999999." + token.split(".")[3],  # a longer life
        lambda token: token[:-1] + "é",  # not even ASCII
    ],
    ids=[
        "volunteer",
        "signature",
        "unsigned",
        "version",
        "empty",
        "garbage",
        "expiry",
        "non-ascii",
    ],
)
def test_a_forged_link_names_nobody(clock: FrozenClock, forge: Any) -> None:
    links = SoftphoneLinks(KEY_SECRET, BASE, clock)
    assert links.volunteer_of(forge(fragment(links.link_for(42)))) is None


def test_a_link_signed_with_another_key_names_nobody(clock: FrozenClock) -> None:
    link = SoftphoneLinks("another secret", BASE, clock).link_for(42)
    assert SoftphoneLinks(KEY_SECRET, BASE, clock).volunteer_of(link) is None


def test_the_softphone_is_off_without_an_api_key(clock: FrozenClock) -> None:
    assert softphone_links(softphone_settings(twilio_api_key_secret=None), clock) is None
    assert softphone_links(softphone_settings(twilio_auth_token=None), clock) is None
    assert not softphone_settings(twilio_api_key_sid="").softphone_enabled


# ---- the web side --------------------------------------------------------------------------


@pytest.fixture
def web(engine: Engine, clock: FrozenClock) -> tuple[Browser, Services, int]:
    services = with_softphone(make_services(engine, clock))
    ana = signed_up_context(services)
    assert ana.volunteer_id is not None
    assert handle_command(ana, "softphone").tone is Tone.SUCCESS
    links = softphone_links(softphone_settings(), clock)
    assert links is not None
    app = create_web_app(services, routes=softphone_routes(softphone_settings(), services, links))
    return Browser(app), services, ana.volunteer_id


def test_a_valid_link_buys_a_token_for_incoming_calls_only(
    web: tuple[Browser, Services, int],
) -> None:
    client, services, volunteer_id = web
    assert services.softphone is not None
    link = services.softphone.link_for(volunteer_id)

    response = client.post("/softphone/token", json={"link": fragment(link)})

    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["identity"] == f"volunteer_{volunteer_id}" and body["ttl"] == TOKEN_TTL_S
    claims = jwt.decode(body["token"], KEY_SECRET, algorithms=["HS256"])
    assert (claims["iss"], claims["sub"]) == ("SK0123", "AC0123")
    assert claims["exp"] - claims["nbf"] == TOKEN_TTL_S
    assert claims["grants"]["identity"] == f"volunteer_{volunteer_id}"
    assert claims["grants"]["voice"] == {"incoming": {"allow": True}}  # no outgoing calls


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"link": "1.0.99999999999.forged"}, 403),
        ({"link": "1.99999999999.forged"}, 403),  # the form of links before versions
        ({"link": 12}, 400),
        ({"nothing": "here"}, 400),
        (["a", "list"], 400),
    ],
)
def test_a_bad_request_gets_no_token(
    web: tuple[Browser, Services, int], payload: Any, status: int
) -> None:
    client, _, _ = web
    response = client.post("/softphone/token", json=payload)
    assert response.status_code == status and "token" not in response.json()


def test_a_body_that_is_not_json_gets_no_token(web: tuple[Browser, Services, int]) -> None:
    client, _, _ = web
    response = client.post("/softphone/token", content=b"link=1.2.3")
    assert response.status_code == 400


def test_an_expired_link_or_an_unknown_volunteer_gets_no_token(
    web: tuple[Browser, Services, int], clock: FrozenClock
) -> None:
    client, services, volunteer_id = web
    assert services.softphone is not None
    stranger = services.softphone.link_for(volunteer_id + 1000)
    old = services.softphone.link_for(volunteer_id)
    clock.advance(LINK_LIFETIME)

    for link in (stranger, old):
        response = client.post("/softphone/token", json={"link": fragment(link)})
        assert response.status_code == 403
        assert "/phonebank softphone" in response.json()["error"]


def test_turning_the_softphone_off_voids_its_links(
    web: tuple[Browser, Services, int], engine: Engine, clock: FrozenClock
) -> None:
    client, services, volunteer_id = web
    assert services.softphone is not None
    link = fragment(services.softphone.link_for(volunteer_id))
    assert client.post("/softphone/token", json={"link": link}).status_code == 200
    ana = context_for(services, Platform.SLACK, "T1", "U1")  # the volunteer, asking again

    handle_command(ana, "softphone off")

    assert client.post("/softphone/token", json={"link": link}).status_code == 403


def test_the_page_loads_the_pinned_sdk_under_a_strict_policy(
    web: tuple[Browser, Services, int],
) -> None:
    client, _, _ = web
    page = client.get("/softphone")
    script = client.get("/softphone/softphone.js")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    sdk = VoiceSdk()
    assert f'src="{sdk.url}" integrity="{sdk.integrity}"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' https://cdn.jsdelivr.net;" in policy
    assert "connect-src 'self' https://*.twilio.com wss://*.twilio.com" in policy
    assert script.status_code == 200 and "Twilio.Device" in script.text
    assert script.headers["content-type"].startswith("text/javascript")


def test_without_an_api_key_there_is_no_softphone_page(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    assert routes_if_enabled(softphone_settings(twilio_api_key_sid=None), services) == []
    assert len(routes_if_enabled(softphone_settings(), services)) == 3


# ---- the chat command and the bridge --------------------------------------------------------


def rings_browser(engine: Engine, volunteer_id: int) -> bool:
    with read_session(engine) as session:
        volunteer = session.get(Volunteer, volunteer_id)
        assert volunteer is not None
        return volunteer.softphone


def test_the_command_hands_out_the_link_and_off_rings_the_phone_again(
    engine: Engine, clock: FrozenClock
) -> None:
    services = with_softphone(make_services(engine, clock))
    ana = signed_up_context(services)
    assert ana.volunteer_id is not None and services.softphone is not None

    on = handle_command(ana, "softphone")
    link = next(word for word in on.text.split() if word.startswith(BASE))
    assert on.tone is Tone.SUCCESS and on.ephemeral
    assert services.softphone.volunteer_of(link) == ana.volunteer_id
    assert rings_browser(engine, ana.volunteer_id)

    off = handle_command(ana, "softphone OFF")
    assert off.text == "Calls ring your phone again." and BASE not in off.text
    assert not rings_browser(engine, ana.volunteer_id)


def test_the_command_explains_what_is_missing(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)  # no API key: no softphone
    ana = signed_up_context(services)
    assert ana.volunteer_id is not None

    not_set_up = handle_command(ana, "softphone")
    unknown = handle_command(ana, "softphone louder")

    assert not_set_up.tone is Tone.WARNING and not_set_up.text == NOT_SET_UP
    assert unknown.tone is Tone.WARNING and "softphone off" in unknown.text
    assert not rings_browser(engine, ana.volunteer_id)
    assert handle_command(ana, "softphone off").tone is Tone.SUCCESS  # off always works


def test_the_command_asks_a_stranger_to_sign_up(engine: Engine, clock: FrozenClock) -> None:
    services = with_softphone(make_services(engine, clock))
    stranger = context_for(services, Platform.SLACK, "T1", "U9", display_name="U9")

    reply = handle_command(stranger, "softphone")

    assert "Sign up first" in reply.text and BASE not in reply.text


def test_call_rings_the_browser_and_the_voter_sees_the_campaign(world: World) -> None:
    world.campaign([voter("Maria", 1)])
    telephony = LegTelephony()
    services = with_softphone(make_services(world.engine, world.clock, telephony=telephony))
    ana = signed_up_context(services)
    handle_command(ana, "softphone")
    batch = handle_command(ana, "batch")

    [(action_id, value)] = buttons(batch, "Call", "Maria")
    handle_action(ana, action_id, value)

    [request] = telephony.placed
    assert request.volunteer_phone == f"client:volunteer_{ana.volunteer_id}"
    assert request.caller_id == "+15125550100"


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> World:
    return World(engine, clock)


@pytest.mark.anyio
async def test_turning_the_softphone_off_and_on_revives_no_earlier_link(
    engine: Engine, clock: FrozenClock, fake_slack: FakeSlackAPI
) -> None:
    """The attack: a link leaked yesterday (a shared screen, a forwarded message) still bought
    tokens once its owner turned the softphone off and on again. Through the real Bolt app."""
    async with open_workspace(engine, clock, fake_slack, **SOFTPHONE) as sam:
        await sam.command("signup")
        await sam.submit({"name": "Sam Rivera", "phone": "(737) 555-0178", "languages": ["en"]})
        services = sam.adapter.services
        links = services.softphone
        assert links is not None
        routes = softphone_routes(softphone_settings(), services, links)
        browser = create_web_app(services, routes=routes)

        leaked = await _link_from(sam, "softphone")
        assert await _token_status(browser, leaked) == 200
        await sam.command("softphone off")
        assert await _token_status(browser, leaked) == 403
        fresh = await _link_from(sam, "softphone")

        assert await _token_status(browser, leaked) == 403  # on again: the old link stays void
        assert await _token_status(browser, fresh) == 200
        await sam.command("softphone")  # on while on: the fresh link keeps working
        assert await _token_status(browser, fresh) == 200


SOFTPHONE = {
    "twilio_account_sid": "AC0123",
    "twilio_auth_token": "auth-token",
    "twilio_caller_id": "+15125550100",
    "twilio_api_key_sid": "SK0123",
    "twilio_api_key_secret": KEY_SECRET,
    "public_base_url": BASE,
}


async def _link_from(sam: SlackWorkspace, command: str) -> str:
    await sam.command(command)
    return next(word for word in sam.latest().text.split() if word.startswith(BASE))


async def _token_status(app: Starlette, link: str) -> int:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        response = await client.post("/softphone/token", json={"link": fragment(link)})
        return response.status_code
