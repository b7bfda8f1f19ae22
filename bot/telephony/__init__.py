"""Telephony backends behind the `Telephony` port (handlers/context.py).

`telephony_for` picks one from the settings: Twilio when its three settings are present, else the
simulated one, which rings and connects on the clock (local mode, demos, tests).
"""

from __future__ import annotations

from bot.settings import Settings
from bot.telephony.simulated import SimulatedTelephony
from bot.telephony.twilio_backend import TwilioTelephony
from handlers.context import Telephony
from storage.clock import Clock


def telephony_for(settings: Settings, clock: Clock) -> Telephony:
    """Twilio when TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_CALLER_ID are set (sharing
    the process's call pacer), else the simulated backend on `clock`."""
    if settings.twilio_enabled:
        return TwilioTelephony.from_settings(settings)
    return SimulatedTelephony(clock)


__all__ = ["SimulatedTelephony", "TwilioTelephony", "telephony_for"]
