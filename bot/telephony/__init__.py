"""Telephony backends behind the `Telephony` port (handlers/context.py).

`telephony_for` picks one from the settings: Twilio when its three settings are present (the
Twilio issue adds that backend), else the simulated one, which rings and connects on the clock.
"""

from __future__ import annotations

import logging

from bot.settings import Settings
from bot.telephony.simulated import SimulatedTelephony
from handlers.context import Telephony
from storage.clock import Clock

log = logging.getLogger(__name__)


def telephony_for(settings: Settings, clock: Clock) -> Telephony:
    """The backend the settings ask for; simulated until Twilio is configured and built."""
    if settings.twilio_enabled:
        # The Twilio backend is its own issue; until it lands, say so instead of failing.
        log.warning("Twilio is configured, but this version only has simulated calls")
    return SimulatedTelephony(clock)


__all__ = ["SimulatedTelephony", "telephony_for"]
