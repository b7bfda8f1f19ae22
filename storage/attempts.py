"""When a call attempt counts: a voter counted as dialed is a voter who was rung.

An attempt row is written before the call is handed to Twilio (its request key makes a retried
press find it). One that never reached Twilio (the answer carrying its `<Dial>` was lost, the
process died before the REST call, the session ended first, the dial was refused at that
moment) has no call sid, no status from Twilio and no outcome: it is not counted, its card is
not skipped as called, and it is not exported as an empty result.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_

# Statuses only Twilio (or the simulated backend) reports: the voter's phone was reached for.
REACHED = ("initiated", "ringing", "in-progress", "completed", "busy", "no-answer")
# An attempt known never to have reached Twilio: its session ended before the voter's leg said
# anything, or the process died before the call was handed over. (A dial refused at that moment,
# do-not-call or calling hours, is "canceled": not rung either, but its card is skipped.)
NOT_PLACED = "not-placed"


def may_have_rung(call_status: Any) -> ColumnElement[bool]:
    """SQL: the attempt's card counts as called on its batch (rung, being rung, or refused),
    unless the attempt is known never to have reached Twilio."""
    return or_(call_status.is_(None), call_status != NOT_PLACED)


def was_rung(call_sid: Any, call_status: Any, result_code: Any) -> ColumnElement[bool]:
    """SQL: the attempt reached the phone network (a sid, a status from it) or has an outcome."""
    return or_(call_sid.is_not(None), call_status.in_(REACHED), result_code.is_not(None))
