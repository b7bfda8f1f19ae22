"""Times in replies (the neutral mark, Slack's markup, the plain fallback) and a shift's calendar
file, served by the web app."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from icalendar import Calendar
from sqlalchemy import Engine
from starlette.applications import Starlette

from bot.calendar import calendar_routes
from bot.slack.privacy import mask_phone_numbers
from bot.slack.render import safe_text
from handlers.times import discord_time, local_time, plain_times, render_times
from storage.clock import FrozenClock
from storage.db import session_scope
from tests.factories import make_campaign, make_shift
from tests.scenarios.world import make_services

AT = datetime(2026, 11, 4, 23, 0, tzinfo=UTC)


def test_a_time_reads_in_the_zone_it_is_written_for() -> None:
    assert plain_times(f"at {local_time(AT, 'America/Chicago')}.") == "at Wed Nov 4, 5:00 PM CST."
    assert plain_times(local_time(AT, "America/Los_Angeles")) == "Wed Nov 4, 3:00 PM PST"


def test_slack_gets_its_date_markup_with_the_fallback() -> None:
    shown = safe_text(f"Starts {local_time(AT, 'America/Chicago')} <b>")
    epoch = int(AT.timestamp())
    assert shown == (
        f"Starts <!date^{epoch}^{{date_short_pretty}}, {{time}}|Wed Nov 4, 5:00 PM CST> &lt;b&gt;"
    )


def test_discord_markup_and_a_mark_no_phone_masker_touches() -> None:
    mark = local_time(AT, "America/Chicago")
    for hours in range(0, 24 * 365 * 10, 37):  # ten years of marks: the epoch is base 36
        later = local_time(AT + timedelta(hours=hours), "America/Chicago")
        assert mask_phone_numbers(later) == later
    assert render_times(mark, discord_time) == (
        f"<t:{int(AT.timestamp())}:f> (Wed Nov 4, 5:00 PM CST)"
    )


def test_the_calendar_file_of_a_shift(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    with session_scope(engine) as session:
        campaign = make_campaign(session, clock=clock)
        shift = make_shift(session, campaign, AT, clock=clock, title="Evening calls")
        gone = make_shift(session, campaign, AT, cancelled_at=clock.now())
    app = Starlette(routes=calendar_routes(services))

    async def fetch(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)

    def get(path: str) -> httpx.Response:
        return asyncio.run(fetch(path))

    answer = get(f"/calendar/shift-{shift.id}.ics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/calendar")
    [event] = Calendar.from_ical(answer.content).walk("VEVENT")
    assert str(event["summary"]) == "Evening calls"
    assert event.decoded("dtstart") == AT and event.decoded("dtend") == AT + timedelta(hours=3)

    assert get(f"/calendar/shift-{gone.id}.ics").status_code == 404
    assert get("/calendar/shift-999999.ics").status_code == 404
    assert get("/calendar/shift-x.ics").status_code == 404
