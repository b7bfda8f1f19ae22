"""`GET /calendar/shift-ID.ics`: a shift's calendar file (handlers/calendar.py), for the link the
signup answer gives."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from handlers.calendar import shift_calendar
from handlers.context import Services
from storage.db import read_session

CALENDAR_TYPE = "text/calendar; charset=utf-8"


def calendar_routes(services: Services) -> list[Route]:
    """The calendar file route."""

    async def shift_file(request: Request) -> Response:
        raw = str(request.path_params["shift_id"])
        if not raw.isdigit() or len(raw) > 12:
            return Response("no such shift", status_code=404)
        body = await asyncio.to_thread(_file, services, int(raw))
        if body is None:
            return Response("no such shift", status_code=404)
        headers = {"Content-Disposition": f'attachment; filename="shift-{raw}.ics"'}
        return Response(body, media_type=CALENDAR_TYPE, headers=headers)

    return [Route("/calendar/shift-{shift_id}.ics", shift_file, methods=["GET"])]


def _file(services: Services, shift_id: int) -> bytes | None:
    with read_session(services.engine) as session:
        return shift_calendar(session, shift_id)
