"""What a Slack payload says about who asks, from where, and how to answer them.

One small function per incoming payload type (slash command, button, modal submission, event).
The request key is Slack's own id for the request (its trigger id, or the event id), so a
retried or replayed request carries the same key and the handlers' unique constraints make its
side effects happen once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.slack.modals import modal_metadata
from bot.slack.render import Page, page_of


@dataclass(frozen=True)
class SlackRequest:
    team_id: str
    user_id: str
    request_key: str
    user_name: str = ""
    channel_id: str | None = None
    trigger_id: str | None = None
    response_url: str | None = None  # answers go here (ephemeral or in channel) when there is one
    from_message: bool = False  # a button on a message: a reply with an update_key replaces it
    from_home: bool = False  # the App Home tab: republish it after answering
    page: Page | None = None  # which reply and page the pressed button was on

    def modal_metadata(self) -> dict[str, Any]:
        """Where the answer to a modal opened from this request should go."""
        where: dict[str, Any] = {}
        if self.response_url:
            where["response_url"] = self.response_url
        if self.channel_id:
            where["channel"] = self.channel_id
        if self.from_message:
            where["message"] = True
        if self.from_home:
            where["home"] = True
        if self.page:
            page = self.page
            where["page"] = [page.update_key, page.first, page.last, page.total]
        return where


def command_request(body: Mapping[str, Any]) -> SlackRequest:
    """`/phonebank ...`: form-encoded, with a trigger id and a response_url."""
    team = str(body.get("team_id", ""))
    trigger = str(body.get("trigger_id", ""))
    return SlackRequest(
        team_id=team,
        user_id=str(body.get("user_id", "")),
        request_key=_key(team, trigger),
        user_name=str(body.get("user_name", "")),
        channel_id=body.get("channel_id"),
        trigger_id=trigger or None,
        response_url=body.get("response_url"),
    )


def action_request(body: Mapping[str, Any]) -> SlackRequest:
    """A button pressed on a message or on the App Home tab."""
    team = _team(body)
    container = body.get("container") or {}
    action = (body.get("actions") or [{}])[0]
    trigger = str(body.get("trigger_id", ""))
    fallback = (
        f"{container.get('message_ts') or container.get('view_id')}:{action.get('action_ts')}"
    )
    user = body.get("user") or {}
    return SlackRequest(
        team_id=team,
        user_id=str(user.get("id", "")),
        request_key=_key(team, trigger or fallback),
        user_name=str(user.get("username") or user.get("name") or ""),
        channel_id=(body.get("channel") or {}).get("id") or container.get("channel_id"),
        trigger_id=trigger or None,
        response_url=body.get("response_url"),
        from_message=container.get("type") == "message",
        from_home=(body.get("view") or {}).get("type") == "home",
        page=page_of(str(action.get("block_id", ""))),
    )


def view_request(body: Mapping[str, Any]) -> SlackRequest:
    """A submitted modal: where to answer comes from what the modal was opened from."""
    team = _team(body)
    view = body.get("view") or {}
    where = modal_metadata(view)
    trigger = str(body.get("trigger_id", ""))
    user = body.get("user") or {}
    return SlackRequest(
        team_id=team,
        user_id=str(user.get("id", "")),
        request_key=_key(team, trigger or f"view:{view.get('id')}:{view.get('hash')}"),
        user_name=str(user.get("username") or user.get("name") or ""),
        channel_id=where.get("channel"),
        trigger_id=trigger or None,
        response_url=where.get("response_url"),
        from_message=bool(where.get("message")),
        from_home=bool(where.get("home")),
        page=_stored_page(where.get("page")),
    )


def event_request(body: Mapping[str, Any]) -> SlackRequest:
    """An Events API event (app_home_opened): no trigger, no response_url."""
    team = _team(body)
    event = body.get("event") or {}
    return SlackRequest(
        team_id=team,
        user_id=str(event.get("user", "")),
        request_key=_key(team, str(body.get("event_id", ""))),
        from_home=event.get("tab") == "home",
    )


def _stored_page(stored: Any) -> Page | None:
    """The page kept in a modal's metadata, if it is well formed."""
    if not isinstance(stored, list) or len(stored) != 4:
        return None
    key, first, last, total = stored
    if not isinstance(key, str) or not all(isinstance(n, int) for n in (first, last, total)):
        return None
    return Page(key, first, last, total)


def _team(body: Mapping[str, Any]) -> str:
    team = body.get("team")
    if isinstance(team, Mapping):
        return str(team.get("id", ""))
    return str(body.get("team_id") or (body.get("user") or {}).get("team_id") or "")


def _key(team: str, slack_id: str) -> str:
    return f"slack:{team}:{slack_id}"
