"""A small local fake of the Twilio REST API: a real HTTP server on 127.0.0.1 in a thread.

The real `twilio` client talks to it when `TWILIO_API_URL` is `fake.base_url` (see
`fake.settings()`). It checks HTTP basic auth, answers call create / update / fetch and message
create with Twilio-shaped JSON, and records every request with its path and form parameters.
Tests script failures with `fail_next(...)` (a Twilio error JSON with any status and code, or a
503 outage) and read what was asked with `calls_created()`, `calls_updated()` and
`messages_created()`. `closed_origin()` gives a URL nothing listens on (connection refused).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.local_server import origin_of, serve_in_thread, stop_server

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fa4e70ken0fa4e70ken0fa4e70ken00"
CALLER_ID = "+15125550100"
API_VERSION = "2010-04-01"

# Form keys the client sends once per item; recorded as a list even when there is one item.
LIST_PARAMS = frozenset({"StatusCallbackEvent", "RecordingStatusCallbackEvent"})
# Call statuses after which Twilio refuses a redirect (error 21220).
ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})

CALLS_CREATE = "calls.create"
CALLS_UPDATE = "calls.update"
CALLS_FETCH = "calls.fetch"
MESSAGES_CREATE = "messages.create"
KINDS = (CALLS_CREATE, CALLS_UPDATE, CALLS_FETCH, MESSAGES_CREATE)

_ROUTES = (
    (re.compile(rf"/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls\.json"), "calls", "POST"),
    (
        re.compile(rf"/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls/(?P<sid>[^/]+)\.json"),
        "call",
        None,
    ),
    (re.compile(rf"/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json"), "messages", "POST"),
)

# GSM 03.38: the basic set costs one septet, the extension set two; anything else means UCS-2.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = "^{}\\[~]|€\f"


@dataclass(frozen=True)
class TwilioRequest:
    """One request the fake received."""

    kind: str  # calls.create | calls.update | calls.fetch | messages.create | unknown
    method: str  # HTTP method
    path: str
    params: dict[str, Any]  # form parameters; repeated keys (StatusCallbackEvent) as lists
    account_sid: str | None  # from the URL
    username: str | None  # from basic auth
    status: int  # what the fake answered
    sid: str | None = None  # the call or message it created or addressed


@dataclass
class _Failure:
    remaining: int
    status: int
    code: int | None
    message: str


@dataclass
class FakeTwilioAPI:
    """Answers the REST calls Phonebank makes and records every request."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    on_request: Callable[[TwilioRequest], None] | None = None  # told of each (in a server thread)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # sid -> call or message
    _requests: list[TwilioRequest] = field(default_factory=list)
    _failures: dict[str, _Failure] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seconds: itertools.count[int] = field(default_factory=itertools.count)
    _server: ThreadingHTTPServer | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeTwilioAPI:
        fake = self

        class Handler(_Handler):
            api = fake

        self._server = serve_in_thread(Handler)
        return self

    def stop(self) -> None:
        stop_server(self._server)

    def __enter__(self) -> FakeTwilioAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What `TWILIO_API_URL` is set to."""
        return origin_of(self._server)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for `bot.settings.load_settings` that point Twilio at this fake."""
        return {
            "twilio_account_sid": self.account_sid,
            "twilio_auth_token": self.auth_token,
            "twilio_caller_id": CALLER_ID,
            "twilio_api_url": self.base_url,
        } | overrides

    # --- what tests ask -----------------------------------------------------------------------

    def requests(self, kind: str | None = None) -> list[TwilioRequest]:
        """Every request received (of one kind), in order, failed ones included."""
        with self._lock:
            return [r for r in self._requests if kind is None or r.kind == kind]

    def calls_created(self) -> list[TwilioRequest]:
        """Calls the fake created (answered 201)."""
        return [r for r in self.requests(CALLS_CREATE) if r.status == 201]

    def calls_updated(self, call_sid: str | None = None) -> list[TwilioRequest]:
        """Updates (redirects, hang-ups) the fake applied, of one call or all."""
        return [
            r
            for r in self.requests(CALLS_UPDATE)
            if r.status == 200 and (call_sid is None or r.sid == call_sid)
        ]

    def messages_created(self) -> list[TwilioRequest]:
        """Messages the fake accepted (answered 201)."""
        return [r for r in self.requests(MESSAGES_CREATE) if r.status == 201]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def fail_next(
        self,
        kind: str,
        *,
        status: int = 400,
        code: int | None = 21211,
        message: str = "The 'To' number is not a valid phone number.",
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests of `kind` with a Twilio error instead."""
        assert kind in KINDS, f"kind is one of {KINDS}"
        with self._lock:
            self._failures[kind] = _Failure(times, status, code, message)

    def outage(self, kind: str, *, times: int = 1) -> None:
        """Answer the next `times` requests of `kind` with 503 Service Unavailable."""
        self.fail_next(kind, status=503, code=20503, message="Service Unavailable", times=times)

    def set_call_status(self, call_sid: str, status: str) -> None:
        """Move a created call on (ringing, in-progress, completed ...), as the network would."""
        with self._lock:
            self.resources[call_sid]["status"] = status

    def call(self, call_sid: str) -> dict[str, Any]:
        """The call resource as the fake holds it now."""
        with self._lock:
            return dict(self.resources[call_sid])

    # --- answering (server threads) -----------------------------------------------------------

    def _take_failure(self, kind: str) -> _Failure | None:
        with self._lock:
            failure = self._failures.get(kind)
            if not failure or failure.remaining <= 0:
                return None
            failure.remaining -= 1
            return failure

    def _record(self, request: TwilioRequest) -> None:
        with self._lock:
            self._requests.append(request)
        if self.on_request is not None:
            self.on_request(request)

    def _now(self) -> str:
        """RFC 2822 dates as Twilio writes them; each resource a second later than the last."""
        moment = datetime(2026, 11, 3, 15, 0, tzinfo=UTC) + timedelta(seconds=next(self._seconds))
        return format_datetime(moment, usegmt=True)

    def _create_call(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        sid = "CA" + secrets.token_hex(16)
        now = self._now()
        call = {
            "sid": sid,
            "account_sid": account,
            "to": params.get("To"),
            "to_formatted": params.get("To"),
            "from": params.get("From"),
            "from_formatted": params.get("From"),
            "status": "queued",
            "direction": "outbound-api",
            "parent_call_sid": None,
            "phone_number_sid": None,
            "date_created": now,
            "date_updated": now,
            "start_time": None,
            "end_time": None,
            "duration": None,
            "price": None,
            "price_unit": "USD",
            "answered_by": None,
            "caller_name": None,
            "group_sid": None,
            "forwarded_from": None,
            "queue_time": "0",
            "trunk_sid": None,
            "api_version": API_VERSION,
            "annotation": None,
            "uri": f"/{API_VERSION}/Accounts/{account}/Calls/{sid}.json",
            "subresource_uris": {},
        }
        with self._lock:
            self.resources[sid] = call
        return dict(call)

    def _update_call(self, sid: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            call = self.resources.get(sid)
            if call is None or not sid.startswith("CA"):
                return 404, _error(404, 20404, f"The requested resource {sid} was not found")
            redirect = "Url" in params or "Twiml" in params
            if redirect and call["status"] in ENDED:
                return 400, _error(400, 21220, "Call is not in-progress. Cannot redirect.")
            if params.get("Status") in ("completed", "canceled"):
                call["status"] = params["Status"]
            return 200, dict(call)

    def _fetch_call(self, sid: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            call = self.resources.get(sid)
        if call is None:
            return 404, _error(404, 20404, f"The requested resource {sid} was not found")
        return 200, dict(call)

    def _create_message(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = self._now()
        body = str(params.get("Body", ""))
        message = {
            "sid": sid,
            "account_sid": account,
            "to": params.get("To"),
            "from": params.get("From"),
            "messaging_service_sid": params.get("MessagingServiceSid"),
            "body": body,
            "status": "queued",
            "num_segments": str(segments(body)),
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": API_VERSION,
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "uri": f"/{API_VERSION}/Accounts/{account}/Messages/{sid}.json",
            "subresource_uris": {},
        }
        with self._lock:
            self.resources[sid] = message
        return dict(message)

    def answer(
        self, http_method: str, path: str, params: dict[str, Any], auth: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
        """The status and JSON Twilio would answer with; records the request."""
        kind, account, sid = _route(http_method, path)
        status, payload = self._answer(kind, account, sid, params, auth)
        created_sid = payload.get("sid") if status < 300 else None
        self._record(
            TwilioRequest(
                kind=kind,
                method=http_method,
                path=path,
                params=params,
                account_sid=account,
                username=auth[0] if auth else None,
                status=status,
                sid=created_sid or sid,
            )
        )
        return status, payload

    def _answer(
        self,
        kind: str,
        account: str | None,
        sid: str | None,
        params: dict[str, Any],
        auth: tuple[str, str] | None,
    ) -> tuple[int, dict[str, Any]]:
        if auth != (self.account_sid, self.auth_token) or account != self.account_sid:
            return 401, _error(401, 20003, "Authenticate")
        if kind == "unknown" or account is None:
            return 404, _error(404, 20404, "The requested resource was not found")
        failure = self._take_failure(kind)
        if failure is not None:
            return failure.status, _error(failure.status, failure.code, failure.message)
        if kind == CALLS_CREATE:
            return 201, self._create_call(account, params)
        if kind == MESSAGES_CREATE:
            return 201, self._create_message(account, params)
        assert sid is not None
        if kind == CALLS_UPDATE:
            return self._update_call(sid, params)
        return self._fetch_call(sid)


class _Handler(BaseHTTPRequestHandler):
    api: FakeTwilioAPI

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # quiet: the requests are recorded instead

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._serve("GET", {})

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        self._serve("POST", form_params(raw))

    def _serve(self, http_method: str, params: dict[str, Any]) -> None:
        path = urlsplit(self.path).path
        auth = _basic_auth(self.headers.get("Authorization"))
        status, payload = self.api.answer(http_method, path, params, auth)
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
        self.end_headers()
        self.wfile.write(body)


def form_params(raw: str) -> dict[str, Any]:
    """Form parameters: a key sent once is a string, a repeated one (or a list key) a list."""
    parsed = parse_qs(raw, keep_blank_values=True)
    return {
        key: values if len(values) > 1 or key in LIST_PARAMS else values[0]
        for key, values in parsed.items()
    }


def segments(body: str) -> int:
    """How many SMS segments `body` takes: 160 GSM-7 septets (153 when split) or 70 UCS-2
    characters (67 when split)."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in body):
        size = sum(2 if char in _GSM_EXTENDED else 1 for char in body)
        single, part = 160, 153
    else:
        size = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if size <= single else -(-size // part)


def closed_origin() -> str:
    """An http origin on 127.0.0.1 where nothing listens: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _route(http_method: str, path: str) -> tuple[str, str | None, str | None]:
    """(kind, account sid, resource sid) of a request path."""
    for pattern, resource, allowed in _ROUTES:
        match = pattern.fullmatch(path)
        if not match:
            continue
        account = match.group("account")
        if resource == "calls" and http_method == allowed:
            return CALLS_CREATE, account, None
        if resource == "messages" and http_method == allowed:
            return MESSAGES_CREATE, account, None
        if resource == "call":
            kind = CALLS_UPDATE if http_method == "POST" else CALLS_FETCH
            return kind, account, match.group("sid")
        return "unknown", account, None
    return "unknown", None, None


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:]).decode("utf-8")
    except ValueError:
        return None
    username, _, password = decoded.partition(":")
    return username, password


def _error(status: int, code: int | None, message: str) -> dict[str, Any]:
    """Twilio's error JSON."""
    more_info = f"https://www.twilio.com/docs/errors/{code}" if code else None
    return {"code": code, "message": message, "more_info": more_info, "status": status}
