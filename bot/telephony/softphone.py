"""The browser softphone: a volunteer takes Phonebank's calls in a web page instead of a phone.

`/phonebank softphone` (handlers/softphone.py) turns it on and hands the volunteer a personal
link signed here, valid for `LINK_LIFETIME`. The page (GET /softphone) posts the link back to
POST /softphone/token for a Twilio Voice access token (identity `volunteer_<id>`, incoming calls
only) and registers the browser with Twilio's Voice JavaScript SDK; the bridge then rings
`client:volunteer_<id>` instead of the phone, and the page's keypad sends the outcome keys.

The link rides in the URL's fragment, which browsers never send to a server, so it stays out of
access logs; it is signed with a key derived from the API key's secret, so it needs no secret of
its own and dies with the key. It carries the volunteer's `softphone_version`, which
`softphone off` bumps: a link handed out before is void for good, even once it is on again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from bot.settings import Settings
from handlers.context import Services
from handlers.softphone import softphone_identity
from storage.clock import Clock
from storage.db import read_session
from storage.models import Volunteer

LINK_LIFETIME = timedelta(hours=12)  # a day's calling; then `/phonebank softphone` again
TOKEN_TTL_S = 3600  # Twilio's access tokens; the page asks for a new one before it runs out
STATIC = Path(__file__).resolve().parent.parent / "static"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
NO_LINK = "This softphone link is not valid any more: ask for a new one with /phonebank softphone."


@dataclass(frozen=True)
class VoiceSdk:
    """Where the page loads Twilio's Voice JavaScript SDK from, and the file's SRI hash."""

    url: str = "https://cdn.jsdelivr.net/npm/@twilio/voice-sdk@2.18.5/dist/twilio.min.js"
    integrity: str | None = (
        "sha384-LUG7DmzDPWNKRYoqyGpV4d/IByMLiya/oUhMSc/4/6hi0wbzO/8PffM4lzeFEYS8"
    )


@dataclass(frozen=True)
class LinkHolder:
    """What a genuine link names: the volunteer, and their softphone version when it was made."""

    volunteer_id: int
    version: int


class SoftphoneLinks:
    """Signed, expiring links to the softphone page: `handlers.context.Softphone`."""

    def __init__(self, secret: str, public_base_url: str, clock: Clock) -> None:
        self._key = hmac.new(secret.encode(), b"phonebank softphone link", hashlib.sha256).digest()
        self._page = public_base_url.rstrip("/") + "/softphone"
        self._clock = clock

    def link_for(self, volunteer_id: int, version: int = 0) -> str:
        expires = int((self._clock.now() + LINK_LIFETIME).timestamp())
        payload = f"{volunteer_id}.{version}.{expires}"
        return f"{self._page}#{payload}.{self._signature(payload)}"

    def holder_of(self, link: str) -> LinkHolder | None:
        """Whom a link (or just its fragment) was made for, at which version; None if forged or
        expired."""
        parts = link.rpartition("#")[2].split(".")
        if len(parts) != 4 or not all(part.isdigit() for part in parts[:3]):
            return None
        volunteer, version, expires, signature = parts
        expected = self._signature(f"{volunteer}.{version}.{expires}")
        if not hmac.compare_digest(signature.encode(), expected.encode()):  # any characters
            return None
        if int(expires) <= self._clock.now().timestamp():
            return None
        return LinkHolder(int(volunteer), int(version))

    def volunteer_of(self, link: str) -> int | None:
        """The volunteer a link was made for; None if forged or expired."""
        holder = self.holder_of(link)
        return holder.volunteer_id if holder is not None else None

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def softphone_links(settings: Settings, clock: Clock) -> SoftphoneLinks | None:
    """The links, where the softphone is set up (Twilio and an API key); None otherwise."""
    if not settings.softphone_enabled or settings.twilio_api_key_secret is None:
        return None
    return SoftphoneLinks(settings.twilio_api_key_secret, settings.public_base_url, clock)


def routes_if_enabled(settings: Settings, services: Services) -> list[Route]:
    """The softphone's routes where it is set up; none otherwise."""
    links = softphone_links(settings, services.clock)
    return softphone_routes(settings, services, links) if links is not None else []


def access_token(settings: Settings, identity: str) -> str:
    """A Twilio Voice access token that lets the browser take calls to `identity`."""
    assert settings.twilio_account_sid and settings.twilio_api_key_sid
    assert settings.twilio_api_key_secret
    token = AccessToken(
        settings.twilio_account_sid,
        settings.twilio_api_key_sid,
        settings.twilio_api_key_secret,
        identity=identity,
        ttl=TOKEN_TTL_S,
    )
    token.add_grant(VoiceGrant(incoming_allow=True))
    return str(token.to_jwt())


# The page runs only our script and the SDK, talks only to us and Twilio, and plays Twilio's
# ringtones; inline styles are the one thing inlined.
_CSP = (
    "default-src 'self'; script-src 'self'{sdk_origin}; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self' https://*.twilio.com wss://*.twilio.com; "
    "media-src 'self' blob: https://*.twilio.com; img-src 'self' data:; frame-ancestors 'none'"
)


def softphone_routes(
    settings: Settings, services: Services, links: SoftphoneLinks, sdk: VoiceSdk = VoiceSdk()
) -> list[Route]:
    """GET /softphone (the page), its script, and POST /softphone/token."""
    page = _render_page(sdk)
    csp = _CSP.format(sdk_origin=_origin(sdk.url))

    async def softphone_page(request: Request) -> Response:
        headers = {"Content-Security-Policy": csp, "Cache-Control": "no-store"}
        return HTMLResponse(page, headers=headers)

    async def softphone_script(request: Request) -> Response:
        return FileResponse(STATIC / "softphone.js", media_type="text/javascript")

    async def softphone_token(request: Request) -> Response:
        link = await _posted_link(request)
        if link is None:
            return _json({"error": 'Send {"link": "<the link from chat>"} as JSON.'}, 400)
        holder = links.holder_of(link)
        if holder is None or not await asyncio.to_thread(_rings_browser, services, holder):
            return _json({"error": NO_LINK}, 403)
        identity = softphone_identity(holder.volunteer_id)
        token = access_token(settings, identity)
        return _json({"token": token, "identity": identity, "ttl": TOKEN_TTL_S}, 200)

    return [
        Route("/softphone", softphone_page, methods=["GET"]),
        Route("/softphone/softphone.js", softphone_script, methods=["GET"]),
        Route("/softphone/token", softphone_token, methods=["POST"]),
    ]


def _render_page(sdk: VoiceSdk) -> str:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"])
    )
    return environment.get_template("softphone.html").render(sdk=sdk)


def _origin(url: str) -> str:
    """The SDK's origin for the policy ("" when it is served from here)."""
    scheme, _, rest = url.partition("://")
    return f" {scheme}://{rest.split('/', 1)[0]}" if rest else ""


async def _posted_link(request: Request) -> str | None:
    try:
        body: Any = await request.json()
    except ValueError:
        return None
    link = body.get("link") if isinstance(body, dict) else None
    return link if isinstance(link, str) else None


def _rings_browser(services: Services, holder: LinkHolder) -> bool:
    """Whether the volunteer still takes calls in the browser on this link: `softphone off`
    voids their links for good (a token already issued lives out its hour)."""
    with read_session(services.engine) as session:
        volunteer = session.get(Volunteer, holder.volunteer_id)
        return (
            volunteer is not None
            and volunteer.softphone
            and volunteer.softphone_version == holder.version
        )


def _json(body: dict[str, Any], status: int) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
