"""The coordinators' dashboard pages (DESIGN.md, Dashboard): server-rendered with Jinja2, charts
drawn on the server as inline SVG, no script at all, nothing loaded from another host.

GET /dashboard/login/TOKEN exchanges a one-time link (handlers/dashboard.py) for a session
cookie (HttpOnly, SameSite=Lax so the redirect from the chat app carries it, Secure when
PUBLIC_BASE_URL is https, scoped to /dashboard); GET /dashboard shows the goals with burn-up
charts, today's calls by hour and the week's leaderboards; GET /dashboard/export.csv downloads
the results export, and the audit log notes who did. Voter phones appear on no page.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from handlers.charts import burn_up_svg, hourly_svg
from handlers.context import Services
from handlers.dashboard import (
    LINK_LIFETIME,
    SESSION_LIFETIME,
    DashboardData,
    Viewer,
    dashboard_data,
    exchange_link,
    record_download,
    viewer_of,
)
from handlers.goals import describe_scope, progress_bar
from storage.campaign_store import campaign_config
from storage.db import read_session
from storage.export import write_results
from storage.models import Campaign

COOKIE = "pb_dashboard"
TEMPLATES = Path(__file__).resolve().parent / "templates"
# No script, no frame, nothing from another host; the charts are inline SVG, styles inline.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
REFUSED = (
    "This dashboard link does not open: it was used already, it is more than"
    f" {int(LINK_LIFETIME.total_seconds() // 60)} minutes old, it is not a real link, or it is"
    " not for a coordinator. Ask for a new one with /phonebank dashboard."
)
SIGNED_OUT = "Open the dashboard with a link from /phonebank dashboard."

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"])
)


def dashboard_routes(services: Services, public_base_url: str) -> list[Route]:
    """GET /dashboard, /dashboard/login/TOKEN and /dashboard/export.csv."""
    secure = public_base_url.lower().startswith("https://")

    async def login(request: Request) -> Response:
        exchanged = await asyncio.to_thread(exchange_link, services, request.path_params["token"])
        if exchanged is None:
            return _page("dashboard_refused.html", 403, message=REFUSED)
        session_token, _ = exchanged
        response = RedirectResponse("/dashboard", status_code=303, headers=HEADERS)
        response.set_cookie(
            COOKIE,
            session_token,
            max_age=int(SESSION_LIFETIME.total_seconds()),
            path="/dashboard",
            httponly=True,
            samesite="lax",
            secure=secure,
        )
        return response

    async def home(request: Request) -> Response:
        viewer = await asyncio.to_thread(viewer_of, services, request.cookies.get(COOKIE))
        if viewer is None:
            return _page("dashboard_refused.html", 403, message=SIGNED_OUT)
        data = await asyncio.to_thread(dashboard_data, services, viewer.campaign_id)
        if data is None:
            return _page("dashboard_refused.html", 404, message="That campaign is gone.")
        return _page("dashboard.html", 200, **_context(data, viewer))

    async def export(request: Request) -> Response:
        viewer = await asyncio.to_thread(viewer_of, services, request.cookies.get(COOKIE))
        if viewer is None:
            return _page("dashboard_refused.html", 403, message=SIGNED_OUT)
        body, rows, slug = await asyncio.to_thread(_export, services, viewer)
        headers = dict(HEADERS) | {
            "Content-Disposition": f'attachment; filename="{slug}-results.csv"'
        }
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)

    return [
        Route("/dashboard", home, methods=["GET"]),
        Route("/dashboard/login/{token}", login, methods=["GET"]),
        Route("/dashboard/export.csv", export, methods=["GET"]),
    ]


def _export(services: Services, viewer: Viewer) -> tuple[str, int, str]:
    """The results CSV (storage/export.py, cells made safe) and its audit row."""
    out = io.StringIO(newline="")
    with read_session(services.engine) as session:
        campaign = session.get(Campaign, viewer.campaign_id)
        assert campaign is not None
        rows = write_results(session, campaign, campaign_config(campaign), out)
        slug = campaign.slug
    record_download(services, viewer, "results.csv", rows)
    return out.getvalue(), rows, slug


def _context(data: DashboardData, viewer: Viewer) -> dict[str, object]:
    goals = [
        {
            "title": f"{g.progress.metric.title()} for {describe_scope(g.progress.scope)}",
            "p": g.progress,
            "bar": progress_bar(g.progress.share),
            "chart": burn_up_svg("", g.days, g.cumulative, g.progress.target, g.progress.deadline)
            if g.progress.goal_id
            else "",
        }
        for g in data.goals
    ]
    return {
        "data": data,
        "viewer": viewer.identity,
        "goals": goals,
        "hourly": hourly_svg("", data.hours, data.dials_by_hour, data.contacts_by_hour),
        "dials_today": sum(data.dials_by_hour),
        "contacts_today": sum(data.contacts_by_hour),
    }


def _page(name: str, status: int, **context: object) -> HTMLResponse:
    html = _environment.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


__all__ = ["COOKIE", "dashboard_routes"]
