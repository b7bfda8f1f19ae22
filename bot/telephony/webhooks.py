"""Every Twilio webhook of the web app, each behind the signature check: the voice routes of a
calling session (voice_webhooks.py) and the SMS routes (sms_webhook.py). None without Twilio."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bot.settings import Settings
from bot.telephony.signature import TwilioSignatureCheck
from bot.telephony.sms_webhook import sms_routes
from bot.telephony.urls import WebhookUrls
from bot.telephony.voice_webhooks import voice_routes
from handlers.context import Services


def twilio_routes(settings: Settings, services: Services) -> list[BaseRoute]:
    """The /twilio/ routes when Twilio is configured; none otherwise (Twilio is not calling)."""
    if not settings.twilio_enabled or settings.twilio_auth_token is None:
        return []
    check = TwilioSignatureCheck(settings.twilio_auth_token, settings.public_base_url)
    urls = WebhookUrls(settings.public_base_url)
    return [*voice_routes(services, check, urls), *sms_routes(services, check)]
