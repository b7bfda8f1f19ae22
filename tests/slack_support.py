"""Slack as the tests see it: signed requests into the real Bolt app, answers read off the fake.

`SlackWorkspace` plays the Slack client of one user: it signs and posts slash commands, button
presses, modal submissions and events to the ASGI app (signed with
`SignatureVerifier(secret).generate_signature`, as Slack signs them), and rebuilds what that user
would see from the calls the fake Web API recorded: messages (replaced in place when a
response_url says so), the open modal and its errors, the App Home tab. Several workspaces can
share one app and one fake: each reads only the calls addressed to its user.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.app import build_services
from bot.settings import load_settings
from bot.slack.app import SlackAdapter, slack_for
from bot.telephony.simulated import SimulatedTelephony
from bot.web import create_web_app
from storage.clock import Clock
from tests.fakes.chat_payloads import register_voter_phones
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI, SlackCall
from tests.scenarios.world import last_code
from tests.slack_blockkit import block_kit_problems

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
CHANNEL = "C0CALLS"
FORM = "application/x-www-form-urlencoded"
Answer = str | list[str] | bool | None

_ids = itertools.count(1)


def signed_headers(
    body: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    """The headers Slack sends: a timestamp and `v0=` HMAC-SHA256 of `v0:{ts}:{body}`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


@dataclass(eq=False)
class ShownMessage:
    """A message as its reader sees it (the body is replaced when the message is)."""

    id: int
    body: dict[str, Any]
    ephemeral: bool

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(self.body.get("blocks") or [])

    @property
    def text(self) -> str:
        """The message as plain text: `*Label*\\nvalue` fields read `Label: value`."""
        return "\n".join(texts(self.blocks))

    def buttons(self) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
        """(actions block, button, text of the section it belongs to), in order."""
        found, section = [], ""
        for block in self.blocks:
            if block["type"] == "section" and "text" in block:
                section = unescape(block["text"]["text"])
            elif block["type"] == "divider":
                section = ""
            elif block["type"] == "actions":
                found += [(block, element, section) for element in block["elements"]]
        return found


def unescape(value: str) -> str:
    return value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def texts(blocks: list[dict[str, Any]]) -> Iterator[str]:
    for block in blocks:
        if isinstance(block.get("text"), dict):
            yield unescape(block["text"]["text"])
        for item in block.get("fields") or []:
            label, _, value = item["text"].partition("\n")
            yield unescape(f"{label.strip('*')}: {value}")
        if block["type"] == "context":
            yield from (unescape(e.get("text", "")) for e in block.get("elements") or [])


@dataclass
class SlackWorkspace:
    """One Slack user talking to Phonebank through the web app."""

    http: httpx.AsyncClient
    adapter: SlackAdapter
    fake: FakeSlackAPI
    user_id: str = "U0SAM"
    user_name: str = "sam"
    channel: str = CHANNEL
    messages: list[ShownMessage] = field(default_factory=list)
    modal: dict[str, Any] | None = None  # the open modal view
    errors: dict[str, str] = field(default_factory=dict)  # shown on the modal by the last submit
    changed: list[ShownMessage] = field(default_factory=list)  # by the last step
    _typed: dict[str, Answer] = field(default_factory=dict)  # kept in the open modal
    _seen: int = 0  # fake calls already read
    _origin: dict[str, ShownMessage | None] = field(default_factory=dict)  # response path -> msg
    _triggers: set[str] = field(default_factory=set)

    # --- what Slack sends -------------------------------------------------------------------

    async def post(self, body: str, content_type: str, **headers: str) -> httpx.Response:
        """POST a signed body to /slack/events (extra headers override the signed ones)."""
        all_headers = {"Content-Type": content_type, **signed_headers(body), **headers}
        return await self.http.post("/slack/events", content=body, headers=all_headers)

    async def command(self, text: str, **headers: str) -> httpx.Response:
        """Type `/phonebank <text>`; returns once the answer has been sent."""
        return await self.send(self.command_body(text), **headers)

    async def press(
        self, label: str, *, near: str | None = None, message: ShownMessage | None = None
    ) -> httpx.Response:
        """Press the button labelled `label` (in the card mentioning `near`) on the latest
        message that has one, or on `message` (which may be another user's)."""
        shown, block, button = self.find_button(label, near=near, message=message)
        return await self.send(self.action_body(shown, block, button))

    async def submit(self, answers: Mapping[str, Answer], **headers: str) -> httpx.Response:
        """Fill the open modal (answers by input id or label) and submit it."""
        return await self.send(self.submission_body(answers), **headers)

    async def sign_up(self, phone: str, name: str = "Sam", **answers: Answer) -> None:
        """Sign up through the form, then verify the phone with the code texted to it (calls
        ring only a proven phone)."""
        await self.command("signup")
        await self.submit({"name": name, "phone": phone, "languages": ["en"]} | answers)
        assert self.errors == {}, self.errors
        await self.command(f"verify {last_code(self.adapter.services.telephony)}")

    async def open_home(self) -> httpx.Response:
        """Open the App Home tab (an app_home_opened event)."""
        return await self.send(self.home_opened_body(), content_type="application/json")

    async def press_on_home(self, label: str) -> httpx.Response:
        """Press a button on the App Home tab."""
        return await self.send(self.home_action_body(label))

    async def send(self, body: str, *, content_type: str = FORM, **headers: str) -> httpx.Response:
        """Post a body, wait for the work after the ack, and read what came back."""
        self.changed = []
        response = await self.post(body, content_type, **headers)
        await self.adapter.drain()
        if _interaction_type(body) == "view_submission" and response.status_code == 200:
            self._after_submission(response)
        self.read_calls()
        return response

    # --- payloads ---------------------------------------------------------------------------

    def command_body(self, text: str) -> str:
        name = self._new_response_url(None)
        return urlencode(
            {
                "token": "legacy",
                "team_id": TEAM_ID,
                "team_domain": "phonebank-test",
                "channel_id": self.channel,
                "channel_name": "calls",
                "user_id": self.user_id,
                "user_name": self.user_name,
                "command": "/phonebank",
                "text": text,
                "api_app_id": "A0PHONEBK",
                "response_url": self.fake.response_url(name),
                "trigger_id": self._new_trigger(),
            }
        )

    def action_body(
        self, message: ShownMessage, block: Mapping[str, Any], button: Mapping[str, Any]
    ) -> str:
        """The block_actions payload for pressing `button` on `message`."""
        name = self._new_response_url(message)
        action = {
            "action_id": button["action_id"],
            "block_id": block.get("block_id", ""),
            "text": button["text"],
            "value": button.get("value", ""),
            "type": "button",
            "action_ts": f"1790000001.{next(_ids):06d}",
        }
        payload = self._interaction("block_actions") | {
            "container": {
                "type": "message",
                "message_ts": f"1790000000.{message.id:06d}",
                "channel_id": self.channel,
                "is_ephemeral": message.ephemeral,
            },
            "channel": {"id": self.channel, "name": "calls"},
            "response_url": self.fake.response_url(name),
            "actions": [action],
        }
        return urlencode({"payload": json.dumps(payload)})

    def submission_body(self, answers: Mapping[str, Answer]) -> str:
        """The view_submission payload for the open modal; earlier answers stay typed."""
        assert self.modal is not None, f"{self.user_name} has no modal open"
        self._typed |= dict(answers)
        view = self.modal | {
            "id": self.modal_id,
            "hash": f"h{next(_ids)}",
            "state": {"values": state_values(self.modal, self._typed)},
        }
        payload = self._interaction("view_submission") | {"view": view}
        return urlencode({"payload": json.dumps(payload)})

    def home_opened_body(self) -> str:
        event = {
            "type": "app_home_opened",
            "user": self.user_id,
            "channel": "D0HOME",
            "tab": "home",
            "event_ts": "1790000000.1",
        }
        return json.dumps(
            {
                "token": "legacy",
                "team_id": TEAM_ID,
                "api_app_id": "A0PHONEBK",
                "type": "event_callback",
                "event_id": f"Ev{next(_ids):08d}",
                "event_time": int(time.time()),
                "event": event,
            }
        )

    def home_action_body(self, label: str) -> str:
        view = self.home()
        block, button = next(
            (b, e)
            for b in view["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["text"]["text"] == label
        )
        action = {
            "action_id": button["action_id"],
            "block_id": block.get("block_id", ""),
            "type": "button",
            "action_ts": f"1790000002.{next(_ids):06d}",
        }
        payload = self._interaction("block_actions") | {
            "container": {"type": "view", "view_id": "V0HOME"},
            "view": view | {"id": "V0HOME"},
            "actions": [action],
        }
        return urlencode({"payload": json.dumps(payload)})

    def _interaction(self, kind: str) -> dict[str, Any]:
        return {
            "type": kind,
            "team": {"id": TEAM_ID, "domain": "phonebank-test"},
            "user": {"id": self.user_id, "username": self.user_name, "team_id": TEAM_ID},
            "api_app_id": "A0PHONEBK",
            "token": "legacy",
            "trigger_id": self._new_trigger(),
        }

    def _new_trigger(self) -> str:
        trigger = f"{next(_ids)}.1.{self.user_id}"
        self._triggers.add(trigger)
        return trigger

    def _new_response_url(self, origin: ShownMessage | None) -> str:
        name = f"{self.user_id}-{next(_ids)}"
        self._origin[f"/response/{name}"] = origin
        return name

    # --- what Slack shows -------------------------------------------------------------------

    def _after_submission(self, response: httpx.Response) -> None:
        """A submission's ack: errors keep the modal open, an update replaces it, else it closes."""
        ack = response.json() if response.content else {}
        self.errors = dict(ack.get("errors") or {})
        if ack.get("response_action") == "update":
            self.modal, self._typed = ack["view"], {}
        elif ack.get("response_action") != "errors":
            self.modal, self._typed = None, {}

    def read_calls(self) -> None:
        """Apply the fake's calls addressed to this user since the last read."""
        calls = self.fake.calls()
        for call in calls[self._seen :]:
            self._apply(call)
        self._seen = len(calls)

    def _apply(self, call: SlackCall) -> None:
        assert block_kit_problems(call.body) == [], (call.method, block_kit_problems(call.body))
        if call.method == "views.open" and call.body.get("trigger_id") in self._triggers:
            self.modal, self._typed, self.errors = call.body["view"], {}, {}
        elif call.method == "views.update" and call.body.get("view_id") == self.modal_id:
            self.modal, self._typed = call.body["view"], {}
        elif call.method == "response_url" and call.path in self._origin:
            self._show_response(call)
        elif call.method == "chat.postMessage" and call.body.get("channel") == f"D{self.user_id}":
            self._add(call.body, ephemeral=False)

    def _show_response(self, call: SlackCall) -> None:
        origin = self._origin[call.path]
        if call.body.get("replace_original") and origin is not None:
            origin.body = call.body
            self.changed.append(origin)
            return
        self._add(call.body, ephemeral=call.body.get("response_type") != "in_channel")

    def _add(self, body: dict[str, Any], *, ephemeral: bool) -> None:
        shown = ShownMessage(next(_ids), body, ephemeral)
        self.messages.append(shown)
        self.changed.append(shown)

    @property
    def modal_id(self) -> str:
        """The id Slack gives this user's open modal."""
        return f"V0{self.user_id}"

    def latest(self) -> ShownMessage:
        assert self.messages, "nothing was said"
        return self.messages[-1]

    def home(self) -> dict[str, Any]:
        published = [
            c for c in self.fake.calls("views.publish") if c.body.get("user_id") == self.user_id
        ]
        assert published, "the App Home was never published"
        return dict(published[-1].body["view"])

    def find_button(
        self, label: str, *, near: str | None = None, message: ShownMessage | None = None
    ) -> tuple[ShownMessage, dict[str, Any], dict[str, Any]]:
        for candidate in [message] if message else reversed(self.messages):
            for block, button, section in candidate.buttons():
                if button["text"]["text"] == label and (near is None or near in section):
                    return candidate, block, button
        shown = [m.text for m in ([message] if message else self.messages)]
        raise AssertionError(f"no button {label!r} near {near!r} in {shown}")


def _interaction_type(body: str) -> str | None:
    payload = parse_qs(body).get("payload")
    return json.loads(payload[0]).get("type") if payload else None


def state_values(view: Mapping[str, Any], answers: Mapping[str, Answer]) -> dict[str, Any]:
    """A modal's `state.values` as Slack sends it: answers by input id or label (a choice by
    its option's label or value, a consent box as True/False); others keep their initial value."""
    values: dict[str, Any] = {}
    for block in view.get("blocks", []):
        if block["type"] == "input":
            key, label = block["block_id"], block["label"]["text"]
            element = block["element"]
            given = answers.get(key, answers.get(label, _INITIAL))
            values[key] = {element["action_id"]: _element_state(element, given)}
    return values


_INITIAL: Any = object()  # "not answered: keep what the modal started with"


def _element_state(element: Mapping[str, Any], answer: Any) -> dict[str, Any]:
    kind = element["type"]
    if kind == "plain_text_input":
        value = element.get("initial_value") if answer is _INITIAL else answer
        return {"type": kind, "value": value or None}
    options = element.get("options") or [
        o for g in element.get("option_groups", []) for o in g["options"]
    ]
    by_name = {o["value"]: o for o in options} | {o["text"]["text"]: o for o in options}
    if kind == "static_select":
        if answer is _INITIAL:
            return {"type": kind, "selected_option": element.get("initial_option")}
        return {"type": kind, "selected_option": by_name[answer] if answer else None}
    if answer is _INITIAL:
        return {"type": kind, "selected_options": element.get("initial_options") or []}
    if isinstance(answer, bool):  # a consent box: its one option is "Yes"
        return {"type": kind, "selected_options": options[:1] if answer else []}
    chosen = [answer] if isinstance(answer, str) else list(answer or [])
    return {"type": kind, "selected_options": [by_name[c] for c in chosen]}


@contextlib.asynccontextmanager
async def open_app(
    engine: Engine,
    clock: Clock,
    fake: FakeSlackAPI,
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    **settings: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, SlackAdapter]]:
    """The web app with Slack on and its clients pointed at `fake`, and an HTTP client to it.

    Afterwards the voters' phones are registered for the suite-wide scan of every payload the
    fake received (tests/conftest.py).
    """
    config = load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake.base_url,
        **settings,
    )
    telephony = SimulatedTelephony(clock)
    services = build_services(config, engine=engine, clock=clock, telephony=telephony)
    adapter = slack_for(config, services, sleep=sleep or _no_real_sleep)
    assert adapter is not None
    transport = httpx.ASGITransport(app=create_web_app(services, slack=adapter))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, adapter
        await adapter.close()
    finally:
        with engine.connect() as connection:
            register_voter_phones(connection.execute(text("SELECT phone FROM voter")).scalars())


@contextlib.asynccontextmanager
async def open_workspace(
    engine: Engine,
    clock: Clock,
    fake: FakeSlackAPI,
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    **settings: Any,
) -> AsyncIterator[SlackWorkspace]:
    """One user (Sam) talking to the web app with Slack on."""
    async with open_app(engine, clock, fake, sleep=sleep, **settings) as (http, adapter):
        yield SlackWorkspace(http, adapter, fake)


async def _no_real_sleep(seconds: float) -> None:
    raise AssertionError(f"the Slack adapter tried to sleep {seconds}s in a test")
