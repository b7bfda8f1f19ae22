"""Twilio's webhook signature, checked before a webhook may change anything.

Twilio signs each request with HMAC-SHA1 over the URL it called plus the POST parameters
sorted by name, keyed by the account's auth token (`X-Twilio-Signature`). Behind a proxy or load
balancer the URL this app sees is not the one Twilio called, so the check rebuilds it from
`PUBLIC_BASE_URL` and the request's path and query.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


class TwilioSignatureCheck:
    """`verified_params(request)`: the form parameters when the signature holds, else None."""

    def __init__(self, auth_token: str, public_base_url: str) -> None:
        self._validator = RequestValidator(auth_token)
        self._base = public_base_url.rstrip("/")

    def public_url(self, request: Request) -> str:
        """The URL Twilio called: the configured public base, this request's path and query."""
        query = request.url.query
        return f"{self._base}{request.url.path}" + (f"?{query}" if query else "")

    async def verified_params(self, request: Request) -> dict[str, str] | None:
        """The POST parameters of a correctly signed request; None for a missing or bad one."""
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return None
        # Twilio posts application/x-www-form-urlencoded; parsed here, it needs no multipart parser.
        body = (await request.body()).decode("utf-8", errors="replace")
        params = dict(parse_qsl(body, keep_blank_values=True))
        if not self._validator.validate(self.public_url(request), params, signature):
            return None
        return params
