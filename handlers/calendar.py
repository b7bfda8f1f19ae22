"""A shift as an iCalendar file (RFC 5545, made with `icalendar`), and the link to it.

The file holds only what the shift list shows anyone (title, times, where it is announced),
never who signed up, so its link needs no secret: `{PUBLIC_BASE_URL}/calendar/shift-ID.ics`.
"""

from __future__ import annotations

from icalendar import Calendar, Event
from sqlmodel import Session

from handlers.context import Services
from storage.models import Shift

PRODUCT = "-//Phonebank//Shifts//EN"


def calendar_link(services: Services, shift_id: int) -> str | None:
    """Where the shift's calendar file is served; None when the web app's address is unknown."""
    base = services.public_base_url
    return f"{base.rstrip('/')}/calendar/shift-{shift_id}.ics" if base else None


def shift_calendar(session: Session, shift_id: int) -> bytes | None:
    """The shift's .ics file; None for a shift that does not exist or was cancelled."""
    shift = session.get(Shift, shift_id)
    if shift is None or shift.cancelled_at is not None:
        return None
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    event = Event()
    event.add("uid", f"shift-{shift.id}@phonebank")
    event.add("dtstamp", shift.created_at)
    event.add("dtstart", shift.starts_at)
    event.add("dtend", shift.ends_at)
    event.add("summary", shift.title)
    where = f"{shift.channel} (chat)" if shift.channel else "Phonebank, in chat"
    event.add("location", where)
    event.add("description", "Take a batch with /phonebank batch when the shift starts.")
    calendar.add_component(event)
    return bytes(calendar.to_ical())
