"""Twilio's voice webhooks: the edge of a calling session (the core is handlers/voice.py).

Every request's `X-Twilio-Signature` is checked first (`TwilioSignatureCheck`): a missing or bad
one gets 403 and changes nothing. The ids come from the query string of the URL Twilio was
given (`WebhookUrls`, part of what is signed); ids that are not numbers get 400. The core is
synchronous, so each request's work runs in a worker thread; answers are TwiML.

Acknowledged means done (DESIGN.md): every answer here is given after the work whose loss
would change the truth is committed (a dial, an outcome, a session's end and the voters it
returns, a leg's last report); only card redraws and a voter leg's progress reports, which
later reports repeat, run after the answer, in memory (`Services.after_request`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.telephony.signature import TwilioSignatureCheck
from bot.telephony.twiml import empty, render
from bot.telephony.urls import VOICE, WebhookUrls
from handlers import voice
from handlers.context import Services
from handlers.dialing import ENDED
from handlers.voice import DialResult, LegEvent, Plan

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
TWIML = "text/xml"
SORRY: Plan = (voice.Say("Sorry, something went wrong on our side. Goodbye."), voice.Hangup())

EMPTY = empty()  # the answer to a status callback: always the same document
Params = Mapping[str, str]
Work = Callable[[Request, Params, dict[str, int]], str]


def voice_routes(services: Services, check: TwilioSignatureCheck, urls: WebhookUrls) -> list[Route]:
    """The POST routes under /twilio/voice/."""
    both = ("session", "attempt")
    queued = services.later is not None  # progress reports are only queued: no worker thread

    def plan_route(path: str, ids: tuple[str, ...], make: Callable[..., Plan]) -> Route:
        def work(request: Request, params: Params, found: dict[str, int]) -> str:
            try:
                return render(make(request, params, **found), urls)
            except Exception:
                log.exception("voice webhook %s failed", path)
                return render(SORRY, urls)

        return Route(f"{VOICE}/{path}", _endpoint(check, ids, work), methods=["POST"])

    def status_route(path: str, ids: tuple[str, ...], apply: Callable[..., None]) -> Route:
        # The volunteer's leg: its last report ends the session and returns the voters nobody
        # called, which is the truth, so it is committed before the 200 (DESIGN.md,
        # "Acknowledged means done"): a 200 is never sent again, while a request that got no
        # answer is retried. Each report is keyed and applied once, forward only.
        def work(request: Request, params: Params, found: dict[str, int]) -> str:
            apply(_leg_event(request, params), params, **found)
            return EMPTY

        return Route(f"{VOICE}/{path}", _endpoint(check, ids, work), methods=["POST"])

    def merged_status_route(path: str, apply: Callable[[int, int, list[LegEvent]], None]) -> Route:
        # The voter's leg. Its last report (completed, busy, ...) is committed before the 200,
        # with the leg's reports still waiting. The progress reports before it (initiated,
        # ringing, in-progress) only move the card along, and their facts come again in the
        # last report and in `<Dial action>` (answered synchronously): losing them in a crash
        # delays a redraw, so they are applied after the answer (at once where the process has
        # no `later`), and those of one leg still waiting when the next arrives together, in
        # one transaction (a call sends four in a few seconds).
        waiting = WaitingReports()

        def work(request: Request, params: Params, found: dict[str, int]) -> str:
            leg = (found["session"], found["attempt"])
            event = _leg_event(request, params)
            waiting.add(leg, event)
            if event.status in ENDED:
                _apply_waiting(waiting, leg, apply)
            else:
                key = f"twilio:voter-leg:{leg[0]}:{leg[1]}"
                services.after_request(key, lambda: _apply_waiting(waiting, leg, apply))
            return EMPTY

        def quick(params: Params) -> bool:  # only queues: answered on the event loop
            return queued and params.get("CallStatus", "") not in ENDED

        return Route(f"{VOICE}/{path}", _endpoint(check, both, work, quick), methods=["POST"])

    return [
        plan_route(
            "answer",
            both,
            lambda r, p, session, attempt: voice.volunteer_answered(
                services, session, attempt, p.get("CallSid", "")
            ),
        ),
        plan_route(
            "next",
            both,
            lambda r, p, session, attempt: voice.session_redirected(services, session, attempt),
        ),
        plan_route(
            "dialed",
            both,
            lambda r, p, session, attempt: voice.voter_leg_ended(
                services, session, attempt, _dial_result(p)
            ),
        ),
        plan_route(
            "keypad",
            both,
            lambda r, p, session, attempt: voice.key_pressed(
                services, session, attempt, p.get("Digits", "")
            ),
        ),
        plan_route("notice", both, lambda r, p, session, attempt: voice.recording_notice()),
        status_route(
            "status",
            ("session",),
            lambda event, p, session: voice.volunteer_leg_status(services, session, event),
        ),
        merged_status_route(
            "voter-status",
            lambda session, attempt, events: voice.voter_leg_statuses(
                services, session, attempt, events
            ),
        ),
    ]


class WaitingReports:
    """Status reports received and not applied yet, per leg, in the order they came."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._legs: dict[tuple[int, int], list[LegEvent]] = {}

    def add(self, leg: tuple[int, int], event: LegEvent) -> None:
        with self._lock:
            self._legs.setdefault(leg, []).append(event)

    def take(self, leg: tuple[int, int]) -> list[LegEvent]:
        """Every report of `leg` waiting now (none when a later run took them already)."""
        with self._lock:
            return self._legs.pop(leg, [])


def _apply_waiting(
    waiting: WaitingReports,
    leg: tuple[int, int],
    apply: Callable[[int, int, list[LegEvent]], None],
) -> None:
    events = waiting.take(leg)
    if events:
        apply(leg[0], leg[1], events)


def _endpoint(
    check: TwilioSignatureCheck,
    ids: tuple[str, ...],
    work: Work,
    quick: Callable[[Params], bool] | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """The route's endpoint: the signature, the ids, then `work` in a worker thread (it may
    wait on the database), or on the event loop when the request is `quick` (it only queues
    work)."""

    async def endpoint(request: Request) -> Response:
        params = await check.verified_params(request)
        if params is None:
            return PlainTextResponse("invalid Twilio signature", status_code=403)
        found = _ids(request, ids)
        if found is None:
            return PlainTextResponse("bad or missing ids", status_code=400)
        if quick is not None and quick(params):
            body = work(request, params, found)
        else:
            body = await run_in_threadpool(work, request, params, found)
        return Response(body, media_type=TWIML)

    return endpoint


def _ids(request: Request, names: tuple[str, ...]) -> dict[str, int] | None:
    """The query's ids as positive integers, or None when one is missing or malformed."""
    found = {}
    for name in names:
        value = request.query_params.get(name, "")
        if not value.isdigit() or int(value) < 1:
            return None
        found[name] = int(value)
    return found


def _leg_event(request: Request, params: Params) -> LegEvent:
    """A status callback; its key is Twilio's idempotency token, else the call and status."""
    sid, status = params.get("CallSid", ""), params.get("CallStatus", "")
    key = request.headers.get(IDEMPOTENCY_HEADER) or f"{sid}:{status}"
    return LegEvent(
        key=key[:200],
        call_sid=sid,
        status=status,
        duration_s=_int(params.get("CallDuration")),
        error_code=_int(params.get("ErrorCode")),
    )


def _dial_result(params: Params) -> DialResult:
    return DialResult(
        status=params.get("DialCallStatus", ""),
        call_sid=params.get("DialCallSid") or None,
        duration_s=_int(params.get("DialCallDuration")),
        error_code=_int(params.get("ErrorCode")),
    )


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
