"""The Bolt app: `/phonebank`, buttons, modals and the App Home, each acknowledged at once.

Every listener acks first (Slack wants an answer within 3 seconds) and hands the work to a task
that runs the synchronous handlers in a worker thread, then answers through the Web API. Before
the ack, the request is owed to the durable outbox (handlers/requests.py), and marked answered
after: a process that dies in between leaves it to be answered after the restart. The
one exception is a modal submission: Slack shows input errors natively only when they travel in
the ack, so on a quiet server the handler gets up to `form_budget_s` (a tenth of a second)
before it; when it is slower, or the server busy, the ack turns the modal to "Saving…" and the
answer updates it (errors under the inputs, answers kept) once ready.

Request verification (signature and timestamp) is Bolt's: a bad one is a 401 and runs nothing.
A replay of a signed request within its five minutes runs nothing either (bot/slack/replay.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import ACK_THREADS, FanOutNotifier
from bot.settings import Settings
from bot.slack.delivery import Outbox, Rendered, Sleep, rendered_for, retry_handlers
from bot.slack.home import STATUS_COMMAND, TRAINING_COMMAND, home_view
from bot.slack.incoming import (
    SlackRequest,
    action_request,
    command_request,
    event_request,
    view_request,
)
from bot.slack.live import LiveMessages
from bot.slack.modals import (
    done_view,
    modal_answers,
    modal_metadata,
    render_modal,
    saving_view,
    view_with_errors,
)
from bot.slack.notifier import SlackNotifier
from bot.slack.render import action_id_of
from bot.slack.replay import replay_middleware
from handlers import router
from handlers.context import Platform, Services
from handlers.identity import context_for
from handlers.outbox import finished
from handlers.replies import Reply, problem
from handlers.requests import ChatRequest, owe_request

log = logging.getLogger(__name__)
T = TypeVar("T")
bolt_log = logging.getLogger("bot.slack.bolt")


class _SameTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that it is unused next to our client (which
    holds that same token): not worth a warning at every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


bolt_log.addFilter(_SameTokenWarning())

COMMAND = "/phonebank"
OURS = re.compile(r"^pb:")  # action ids and modal callback ids: pb:<capability>:<verb>
# What a modal submission may spend before its ack: enough for a quiet server to show errors
# natively; under load the ack shows "Saving…" and the answer updates the modal after.
FORM_BUDGET_S = 0.1
QUIET_BELOW = 4  # answers under way: at this many or more, a submission is acked at once
FAILED = "Something went wrong on our side. Please try again in a moment."

Conversation = Callable[..., Reply]  # called with the request's Context


class OneWorkspace(AsyncAuthorize):
    """Bolt's authorization for the one workspace of our bot token: Slack's `auth.test` is asked
    once, at warm-up (or by the first request, if warm-up could not reach Slack), and every
    request after shares the answer. Bolt's own single-workspace authorization calls `auth.test`
    from every request until one call has answered, so on a server just started each ack of the
    first wave waited for a round trip to Slack while the batches of the first acks took the CPU
    (a burst of 50 slash commands: ack p99 2.9 s; with the answer kept from start-up, 0.3 s)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client  # holds the bot token
        self._result: AuthorizeResult | None = None
        self._asking: asyncio.Lock | None = None

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        return await self.result()

    async def result(self) -> AuthorizeResult:
        """The workspace's authorization, asking Slack only if nobody has yet."""
        if self._result is None:
            self._asking = self._asking or asyncio.Lock()
            async with self._asking:  # the first wave waits for one call, not one call each
                if self._result is None:
                    answer = await self.client.auth_test()
                    self._result = AuthorizeResult.from_auth_test_response(
                        auth_test_response=answer, bot_token=self.client.token
                    )
        return self._result


class SlackAdapter:
    """The Bolt `AsyncApp` wired to the platform-neutral conversations."""

    def __init__(
        self,
        services: Services,
        *,
        token: str,
        signing_secret: str,
        api_url: str = "https://slack.com/api/",
        sleep: Sleep = asyncio.sleep,
        form_budget_s: float = FORM_BUDGET_S,
    ) -> None:
        self.services = services
        self.client = AsyncWebClient(
            token=token, base_url=api_url, retry_handlers=retry_handlers(sleep)
        )
        self.live = LiveMessages()  # shared with the Notifier (see slack_for)
        self.outbox = Outbox(self.client, live=self.live, sleep=sleep)
        self.form_budget_s = form_budget_s
        self.authorization = OneWorkspace(self.client)
        self.app = AsyncApp(
            # Bolt's per-request clients get the token from `authorize`; a client holding the
            # token would make Bolt use its own authorization instead (see OneWorkspace).
            client=AsyncWebClient(base_url=api_url, retry_handlers=retry_handlers(sleep)),
            authorize=self.authorization,  # type: ignore[arg-type]  # Bolt takes an AsyncAuthorize as it is
            signing_secret=signing_secret,
            logger=bolt_log,
            # Our listeners only ack and hand the work to a task, so Bolt may wait for them: the
            # work is then always under way (and drainable) before the response leaves.
            process_before_response=True,
        )
        # The database work an ack waits for runs on threads of its own (bot.app.ACK_THREADS).
        self._acks = ThreadPoolExecutor(ACK_THREADS, thread_name_prefix="phonebank-slack-ack")
        # A replayed request runs nothing.
        self.app.middleware(replay_middleware(services, before_ack=self.before_ack))
        self.app.command(COMMAND)(self.on_command)
        self.app.action(OURS)(self.on_action)
        self.app.view(OURS)(self.on_view_submission)
        self.app.event("app_home_opened")(self.on_home_opened)
        self._tasks: set[asyncio.Future[None]] = set()

    # --- listeners: ack, then work --------------------------------------------------------

    async def on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """`/phonebank <subcommand ...>`."""
        request = command_request(body)
        text = str(body.get("text") or "")
        owed = await self._owe(request, "command", text)
        await ack()
        self._spawn(self._answer(request, lambda ctx: router.handle_command(ctx, text), owed))

    async def on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """A `pb:*` button (or select) on a message or the App Home."""
        request = action_request(body)
        action = (body.get("actions") or [{}])[0]
        action_id, value = action_id_of(str(action.get("action_id", ""))), _action_value(action)
        owed = await self._owe(request, "action", action_id, value)
        await ack()
        answer = self._answer(request, lambda c: router.handle_action(c, action_id, value), owed)
        self._spawn(answer)

    async def on_view_submission(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """A submitted `pb:*` modal: errors go back in the ack, everything else after it."""
        request = view_request(body)
        view = body.get("view") or {}
        action_id = str(view.get("callback_id", ""))
        value = str(modal_metadata(view).get("value", ""))
        answers = modal_answers(view)
        owed = await self._owe(request, "form", action_id, value, answers)
        work = asyncio.ensure_future(
            self._run(request, lambda ctx: router.handle_form(ctx, action_id, value, answers))
        )
        budget = self._form_budget()
        # Busy: not even one turn of the loop before the ack (a turn is slow when busy).
        done = (await asyncio.wait({work}, timeout=budget))[0] if budget else set()
        if not done:
            await ack(response_action="update", view=saving_view(view))
            self._spawn(self._finish_slow_form(request, view, work, owed))
            return
        reply = work.result()
        if reply.errors:
            await ack(response_action="errors", errors=errors_on(view, reply.errors))
            await self._settle(owed)
        elif reply.form is not None:
            metadata = request.modal_metadata()
            next_view = render_modal(reply.form, intro=reply.text, metadata=metadata)
            await ack(response_action="update", view=next_view)
            await self._settle(owed)
        else:
            await ack()
            self._spawn(self._deliver(request, reply, owed=owed))

    def _form_budget(self) -> float:
        """How long a submission may wait for its answer before the ack: only while the server
        is quiet, since on a busy one the wait itself would hold the ack back."""
        return self.form_budget_s if len(self._tasks) < QUIET_BELOW else 0.0

    async def on_home_opened(self, body: dict[str, Any]) -> None:
        """Someone opened the App Home tab: show their status (events are acked by Bolt)."""
        request = event_request(body)
        if request.from_home:
            self._spawn(self.publish_home(request))

    # --- the work after the ack -----------------------------------------------------------

    async def _owe(
        self,
        request: SlackRequest,
        kind: str,
        name: str,
        value: str = "",
        answers: dict[str, Any] | None = None,
    ) -> int | None:
        """Owe the request to the outbox before acknowledging it (handlers/requests.py): a
        process that dies before answering leaves it to be answered after the restart."""
        owed = ChatRequest(
            platform=Platform.SLACK,
            workspace=request.team_id,
            user_id=request.user_id,
            request_key=request.request_key,
            kind=kind,
            name=name,
            value=value,
            answers=dict(answers or {}),
            display_name=request.user_name,
            channel=request.channel_id,
        )
        try:
            return await self.before_ack(owe_request, self.services, owed)
        except Exception:  # the database is away: the work will say so; answer anyway
            log.exception("Could not owe Slack request %s", request.request_key)
            return None

    async def before_ack(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` on the ack threads: never queued behind other requests' conversations."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._acks, functools.partial(work, *args))

    async def _settle(self, owed: int | None) -> None:
        """The owed request is answered: the outbox has nothing left to do for it."""
        if owed is None:
            return
        try:
            await asyncio.to_thread(finished, self.services, owed)
        except Exception:  # left owed: answered again after RESUME_AFTER (its key dedupes)
            log.exception("Could not mark an owed Slack request answered")

    async def _answer(
        self, request: SlackRequest, conversation: Conversation, owed: int | None = None
    ) -> None:
        try:
            reply, rendered = await asyncio.to_thread(self._reply_rendered, request, conversation)
        except Exception:
            log.exception("Slack request %s failed", request.request_key)
            reply, rendered = problem(FAILED), None
        await self._deliver(request, reply, rendered, owed=owed)

    def _reply_rendered(
        self, request: SlackRequest, conversation: Conversation
    ) -> tuple[Reply, Rendered | None]:
        """The conversation and its messages, both in the worker thread: rendering is CPU work
        too (a batch is 20 cards of blocks, every text masked), and on the event loop it would
        hold up the acks of everyone else's requests."""
        reply = self._in_context(request, conversation)
        return reply, (rendered_for(request, reply) if reply.form is None else None)

    async def _run(self, request: SlackRequest, conversation: Conversation) -> Reply:
        """The conversation, in a worker thread (services are synchronous)."""
        try:
            return await asyncio.to_thread(self._in_context, request, conversation)
        except Exception:
            log.exception("Slack request %s failed", request.request_key)
            return problem(FAILED)

    def _in_context(self, request: SlackRequest, conversation: Conversation) -> Reply:
        ctx = context_for(
            self.services,
            Platform.SLACK,
            request.team_id,
            request.user_id,
            display_name=request.user_name,
            channel=request.channel_id,
            request_key=request.request_key,
        )
        return conversation(ctx)

    async def _deliver(
        self,
        request: SlackRequest,
        reply: Reply,
        rendered: Rendered | None = None,
        *,
        owed: int | None = None,
    ) -> None:
        try:
            await self.outbox.deliver(request, reply, rendered)
            if request.from_home:
                await self.publish_home(request)
        except Exception:
            log.exception("Could not answer Slack request %s", request.request_key)
        await self._settle(owed)

    async def _finish_slow_form(
        self,
        request: SlackRequest,
        view: Mapping[str, Any],
        work: asyncio.Future[Reply],
        owed: int | None = None,
    ) -> None:
        """The answer to a submission acked before it was ready: the modal shows it."""
        reply = await work
        if reply.errors:
            updated = view_with_errors(view, reply.errors)
        elif reply.form is not None:
            metadata = request.modal_metadata()
            updated = render_modal(reply.form, intro=reply.text, metadata=metadata)
        else:
            updated = done_view(view, reply)
        try:
            await self.client.views_update(view_id=view.get("id"), view=updated)
        except Exception:  # closed meanwhile: say it in a message instead
            log.info("Could not update modal %s; answering in a message", view.get("id"))
            if reply.errors:
                problems = "\n".join(f"• {message}" for message in reply.errors.values())
                reply = problem(f"{reply.text}\n{problems}".strip())
            await self._deliver(request, dataclasses.replace(reply, form=None), owed=owed)
            return
        if not reply.errors and reply.form is None:
            await self._deliver(request, reply, owed=owed)
        else:
            await self._settle(owed)

    async def publish_home(self, request: SlackRequest) -> None:
        """Publish the App Home tab with the user's current status."""
        reading = dataclasses.replace(request, request_key=f"{request.request_key}:home")
        status = await self._run(reading, lambda ctx: router.handle_command(ctx, STATUS_COMMAND))
        training = await self._run(
            dataclasses.replace(request, request_key=f"{request.request_key}:home-training"),
            lambda ctx: router.handle_command(ctx, TRAINING_COMMAND),
        )
        view = home_view(status, training)
        try:
            await self.client.views_publish(user_id=request.user_id, view=view)
        except Exception:
            log.exception("Could not publish the App Home")

    async def run_socket_mode(self, app_token: str) -> None:
        """Receive events over Socket Mode (no public URL needed) until cancelled."""
        handler = AsyncSocketModeHandler(self.app, app_token)
        await handler.connect_async()
        try:
            await asyncio.Event().wait()
        finally:
            await handler.close_async()

    async def warm_up(self) -> None:
        """Before the first request: ask Slack who we are (`auth.test`, which every ack needs)
        and open the HTTP session the answers use. Slack unreachable is logged, not fatal: the
        first request then asks again."""
        self._keep_session()
        try:
            await self.authorization.result()
        except Exception:
            log.warning("Warm-up: Slack's auth.test did not answer; the first request will ask")

    # --- tasks ----------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._keep_session()
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _keep_session(self) -> None:
        """One HTTP session (kept-alive connections) for every Web API call and response_url
        post, made on the running loop; without it each call would open a session of its own."""
        if self.client.session is None or self.client.session.closed:
            self.client.session = aiohttp.ClientSession()

    async def drain(self) -> None:
        """Wait for every answer still being worked on (tests; a graceful shutdown)."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        """Finish the answers under way, then close the HTTP session."""
        await self.drain()
        self._acks.shutdown(wait=False)
        if self.client.session is not None:
            await self.client.session.close()


def errors_on(view: Mapping[str, Any], errors: Mapping[str, str]) -> dict[str, str]:
    """The reply's errors keyed by the modal's input blocks (others go on the first input)."""
    inputs = [b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"]
    shown = {key: message for key, message in errors.items() if key in inputs}
    stray = [message for key, message in errors.items() if key not in inputs]
    if stray and inputs:
        first = inputs[0]
        shown[first] = " ".join([shown[first], *stray] if first in shown else stray)
    return shown


def _action_value(action: Mapping[str, Any]) -> str:
    """A button's value, or the value picked in a select."""
    if "value" in action:
        return str(action["value"] or "")
    selected = action.get("selected_option") or {}
    return str(selected.get("value", ""))


def slack_for(
    settings: Settings, services: Services, *, sleep: Sleep = asyncio.sleep
) -> SlackAdapter | None:
    """The Slack adapter when Slack has credentials; its Notifier joins the services' fan-out."""
    if not (settings.slack_bot_token and settings.slack_signing_secret):
        return None
    adapter = SlackAdapter(
        services,
        token=settings.slack_bot_token,
        signing_secret=settings.slack_signing_secret,
        api_url=settings.slack_api_url,
        sleep=sleep,
    )
    if isinstance(services.notifier, FanOutNotifier):
        client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        notifier = SlackNotifier(client, services.engine, live=adapter.live)
        services.notifier.register(Platform.SLACK, notifier)
    return adapter
