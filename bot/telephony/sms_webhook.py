"""Twilio's SMS webhooks: texts coming in (POST /twilio/sms) and delivery reports of texts we
sent (POST /twilio/sms/status).

Both check `X-Twilio-Signature` first: a missing or bad signature is answered 403 and nothing
is stored. An incoming text goes to `handlers.sms`, and its answer comes back as TwiML
(`<Response/>` when there is nothing to say, else one `<Message>` per one-segment part). A
delivery report that failed with 21610, 21614, 21635 or 21211 marks the volunteer as a failed
send would; setting a flag twice changes nothing, so a repeated report is harmless.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.twiml.messaging_response import MessagingResponse

from bot.telephony.signature import TwilioSignatureCheck
from bot.telephony.urls import WebhookUrls
from handlers.context import Services
from handlers.sms import IncomingText, receive_text
from handlers.sms_segments import split_for_sms
from handlers.texting import delivery_failed

log = logging.getLogger(__name__)

_PATHS = WebhookUrls("")  # the paths alone: "" as the base
FAILED_STATUSES = frozenset({"failed", "undelivered"})
TWIML = "application/xml"


def sms_routes(services: Services, check: TwilioSignatureCheck) -> list[Route]:
    """The two SMS routes, bound to `services` and checked by `check`."""

    async def incoming(request: Request) -> Response:
        params = await check.verified_params(request)
        if params is None:
            return _forbidden()
        text = _incoming_text(params)
        if text is None:
            return Response("MessageSid and From are required", status_code=400)
        answer = await asyncio.to_thread(receive_text, services, text)
        return twiml_reply(answer.reply)

    async def status(request: Request) -> Response:
        params = await check.verified_params(request)
        if params is None:
            return _forbidden()
        code = _error_code(params)
        to = params.get("To", "").strip()
        if params.get("MessageStatus") in FAILED_STATUSES and code is not None and to:
            changed = await asyncio.to_thread(delivery_failed, services, to, code)
            log.info("SMS delivery report: error %s (%s)", code, "applied" if changed else "known")
        return Response(status_code=204)

    return [
        Route(_PATHS.sms_incoming(), incoming, methods=["POST"]),
        Route(_PATHS.sms_status(), status, methods=["POST"]),
    ]


def twiml_reply(reply: str | None) -> Response:
    """`<Response/>`, or a `<Message>` per one-segment part of `reply`."""
    response = MessagingResponse()
    for part in split_for_sms(reply) if reply else []:
        response.message(part)
    return Response(response.to_xml(), media_type=TWIML)


def _incoming_text(params: dict[str, str]) -> IncomingText | None:
    sid, sender = params.get("MessageSid", "").strip(), params.get("From", "").strip()
    if not sid or not sender or len(sid) > 64:
        return None
    return IncomingText(message_sid=sid, from_phone=sender, body=params.get("Body", ""))


def _error_code(params: dict[str, str]) -> int | None:
    raw = params.get("ErrorCode", "").strip()
    return int(raw) if raw.isdigit() else None


def _forbidden() -> Response:
    return Response("invalid Twilio signature", status_code=403)
