"""Chat requests acknowledged before their work runs: owed to the outbox before the ack.

Slack wants an answer within 3 seconds, so a click, a slash command or a modal is acknowledged
first and worked on after (bot/slack/app.py); Discord's deferred interactions are the same. A
process that died in between would lose the click silently. So the adapter owes the request
(`owe_request`) before it acknowledges it: one outbox row, due `RESUME_AFTER` later. The process
that acknowledged it then does the work and answers as usual, and marks the row finished
(`handlers.outbox.finished`). If it dies first, the row comes due and an outbox worker (of the
restarted process, or of another replica) runs the same conversation again under the same
request key, which the side effects are stored under (a claim, a call attempt, an outcome): it
gets the first run's result, or does the work once, and the volunteer is told the answer in a
direct message (the response_url of the first process may have expired). Nothing in it is one
platform's: the roles a platform vouched for at the request (Discord's DISCORD_ROLE_MAP, which
is not stored as a grant) travel in the row, and the answer goes through the Notifier, which
reaches the volunteer on the platform they asked from.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from handlers import router
from handlers.context import Context, Platform, Services
from handlers.identity import context_for, find_identity
from handlers.outbox import Task, outbox_handler, owe
from handlers.replies import Reply
from storage.models import Role

log = logging.getLogger(__name__)

CHAT_REQUEST = "chat.request"
# What the acknowledging process has to finish a request before another one takes it over: far
# longer than a conversation takes (telephony's own timeout is 10 s), short enough that a
# volunteer whose click was lost in a crash is answered soon after the restart.
RESUME_AFTER = timedelta(seconds=20)
RESUMED = "(Phonebank restarted while working on your last request; here is its answer.)"


@dataclass(frozen=True)
class ChatRequest:
    """What a conversation needs to run again: who asked, where, and what they asked."""

    platform: str
    workspace: str
    user_id: str
    request_key: str
    kind: str  # "command" (its text in `name`), "action" or "form" (an action id in `name`)
    name: str
    value: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    display_name: str = ""
    channel: str | None = None
    roles: list[str] = field(default_factory=list)  # vouched for by the platform, not stored


def owe_request(services: Services, request: ChatRequest) -> int | None:
    """Write the request to the outbox, due `RESUME_AFTER` from now, before it is acknowledged;
    the row's id (None when this request was owed before: a platform's retry)."""
    now = services.clock.now()
    payload = dataclasses.asdict(request)
    with services.engine.begin() as conn:
        return owe(
            conn,
            CHAT_REQUEST,
            payload,
            key=f"{CHAT_REQUEST}:{request.request_key}",
            now=now,
            due_at=now + RESUME_AFTER,
        )


def answer(ctx: Context, request: ChatRequest) -> Reply:
    """Run the request's conversation."""
    if request.kind == "command":
        return router.handle_command(ctx, request.name)
    if request.kind == "form":
        return router.handle_form(ctx, request.name, request.value, request.answers)
    return router.handle_action(ctx, request.name, request.value)


@outbox_handler(CHAT_REQUEST)
def resume_request(services: Services, task: Task) -> None:
    """A request whose acknowledging process died before answering: run it again (its request
    key makes its side effects happen once) and tell the volunteer the answer directly."""
    request = ChatRequest(**task.payload)
    ctx = context_for(
        services,
        Platform(request.platform),
        request.workspace,
        request.user_id,
        display_name=request.display_name,
        channel=request.channel,
        request_key=request.request_key,
    )
    vouched = {Role(role) for role in request.roles if role in Role.__members__.values()}
    if vouched - ctx.roles:
        ctx = dataclasses.replace(ctx, roles=ctx.roles | vouched)
    reply = answer(ctx, request)
    volunteer_id = ctx.volunteer_id or _volunteer_now(services, request)  # a signup links one
    if volunteer_id is None:
        log.info("A resumed %s request has nobody to answer (not signed up)", request.platform)
        return
    text = f"{RESUMED}\n{reply.text}" if reply.text else RESUMED
    services.notifier.to_volunteer(volunteer_id, dataclasses.replace(reply, text=text))


def _volunteer_now(services: Services, request: ChatRequest) -> int | None:
    known = find_identity(services.engine, request.platform, request.workspace, request.user_id)
    return known.volunteer_id if known is not None else None
