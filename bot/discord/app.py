"""The discord.py client wired to the neutral conversations: `/phonebank`, buttons and modals.

Every interaction is answered within Discord's 3 seconds: the conversation runs in a worker
thread (services are synchronous) and is given `answer_budget_s` from the interaction's
arrival; when it takes longer the interaction is deferred and the answer follows. On a busy
process (`BUSY_AT` answers under way) the deferral goes out at once, before the conversation:
there the event loop itself runs late, and a deferral sent after the budget could miss
Discord's 3 seconds (the cost: a form then opens from a button instead of at once). Before the
first response, the interaction is owed to the durable outbox (handlers/requests.py), on threads
of its own so that it never waits behind other interactions' conversations, and it is marked
answered once the answer is out: a process that dies in between leaves the row, and the outbox
worker of a web process runs it again and answers by DM. Only what changes the truth is owed: a
command, a button for the router, a form's last step (with the answers of all its steps); not a
button that only opens a modal, nor a form's earlier step (its answers live in this process and
die with it), nor a refusal. Buttons carry
their action in their custom id (`pb:<capability>:<verb>:<value>`) and are dispatched by a
`DynamicItem` registered at start-up, so buttons on old messages still work after a restart.

The REST base is `DISCORD_API_URL` (interaction callbacks and webhooks included), and the
gateway's address comes from `GET /gateway/bot` on it: a plain client would dial a built-in
host, so `connect` asks first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import discord
import discord.http
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bot.app import DISCORD_ACK_THREADS, FanOutNotifier
from bot.discord import forms
from bot.discord.commands import phonebank_group, suggestions_for, text_of
from bot.discord.delivery import Delivery
from bot.discord.incoming import DiscordRequest, RoleNames, request_of
from bot.discord.live import LiveMessages
from bot.discord.notifier import DiscordNotifier
from bot.discord.render import CUSTOM_ID_PATTERN, parse_custom_id
from bot.settings import Settings
from handlers import router
from handlers.context import Context, Platform, Services
from handlers.identity import context_for, remember_mapped_roles
from handlers.outbox import finished
from handlers.replies import Button, ButtonStyle, Fact, Reply, Section, Tone, problem
from handlers.requests import ChatRequest, owe_request

log = logging.getLogger(__name__)

ANSWER_BUDGET_S = 1.5  # of Discord's 3 s, for the conversation before the interaction is deferred
BUSY_AT = 8  # answers under way from which an interaction is deferred at once
# Threads that run conversations: few, so that on a busy process the event loop (which sends
# the deferrals that keep Discord's 3 s) still gets its turn at the interpreter.
CONVERSATION_THREADS = 3
FAILED = "Something went wrong on our side. Please try again in a moment."
EXPIRED_FORM = "That form has expired (or Phonebank restarted); please open it again."

Conversation = Callable[[Context], Reply]


@dataclass(frozen=True)
class Asked:
    """What an interaction asks, as the outbox keeps it to ask again (`ChatRequest`)."""

    kind: str  # "command" (its text in `name`), "action" or "form" (an action id in `name`)
    name: str
    value: str = ""
    answers: Mapping[str, Any] = field(default_factory=dict)

    def run(self, ctx: Context) -> Reply:
        """A command's or a button's conversation (a form's is its last step's)."""
        if self.kind == "command":
            return router.handle_command(ctx, self.name)
        return router.handle_action(ctx, self.name, self.value)


class PhonebankClient(discord.Client):
    """A `discord.Client` that asks the REST base for its gateway and registers our buttons."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # guilds and their roles (DISCORD_ROLE_MAP); not privileged
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none())
        self.adapter = adapter
        self.tree: app_commands.CommandTree[PhonebankClient] = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        """At every start: our persistent buttons, then (in the gateway's process) the commands."""
        self.add_dynamic_items(PhonebankButton)
        if self.adapter.sync_on_login:
            await self.adapter.sync_commands()

    async def connect(self, *, reconnect: bool = True) -> None:
        """Connect to the gateway that `GET /gateway/bot` names (reconnects reuse it)."""
        _, url, _ = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        log.info("Discord gateway: %s", url)
        await super().connect(reconnect=reconnect)

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Modal submissions are ours to route (buttons and commands are dispatched already)."""
        if interaction.type is discord.InteractionType.modal_submit:
            custom_id = str(raw_data(interaction).get("custom_id", ""))
            if custom_id.startswith(forms.SUBMIT + ":"):
                await self.adapter.on_modal_submit(interaction, custom_id)


class PhonebankButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID_PATTERN):
    """Any `pb:*` button, on any message, old or new."""

    def __init__(self, button: discord.ui.Button[Any]) -> None:
        super().__init__(button)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any, /
    ) -> PhonebankButton:
        assert isinstance(item, discord.ui.Button)
        return cls(item)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        parsed = parse_custom_id(str(self.item.custom_id))
        client = interaction.client
        if parsed is not None and isinstance(client, PhonebankClient):
            await client.adapter.on_button(interaction, *parsed)


class DiscordAdapter:
    """The client, its command tree, and the way from an interaction to a handler and back."""

    def __init__(
        self,
        services: Services,
        *,
        token: str,
        api_url: str = "https://discord.com/api/v10",
        guild_ids: tuple[str, ...] = (),
        role_map: tuple[tuple[str, str], ...] = (),
        answer_budget_s: float = ANSWER_BUDGET_S,
    ) -> None:
        discord.http.Route.BASE = api_url.rstrip("/")
        self.services = services
        self.token = token
        self.guild_ids = guild_ids
        self.answer_budget_s = answer_budget_s
        self.client = PhonebankClient(self)
        self.tree = self.client.tree
        self.tree.add_command(phonebank_group(self.on_command, suggestions_for(services.engine)))
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]
        self.live = LiveMessages()
        self.drafts = forms.Drafts()
        self.role_names = RoleNames(self.client, role_map)
        self.delivery = Delivery(self.client, self.live, self.drafts)
        self.synced: list[app_commands.AppCommand] = []
        self.sync_on_login = True
        self.loop: asyncio.AbstractEventLoop | None = None
        self.logged_in = threading.Event()  # set once `login` has finished, well or not
        self._tasks: set[asyncio.Future[Any]] = set()
        self._workers = ThreadPoolExecutor(CONVERSATION_THREADS, "phonebank-discord")
        self._acks = ThreadPoolExecutor(DISCORD_ACK_THREADS, "phonebank-discord-ack")

    # --- lifecycle ----------------------------------------------------------------------------

    async def login(self, *, sync_commands: bool = True) -> None:
        """Log in over REST (users/@me, the application), add our buttons, sync the commands."""
        self.loop = asyncio.get_running_loop()
        self.sync_on_login = sync_commands
        try:
            await self.client.login(self.token)
        finally:  # logged in or not, the Notifier stops waiting (notifier.py)
            self.logged_in.set()

    async def run_rest_only(self) -> None:
        """Log in for REST alone (the Notifier's DMs and posts from a web replica), no gateway
        and no command sync, until cancelled."""
        await self.login(sync_commands=False)
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def run_gateway(self) -> None:
        """Log in and receive interactions over the gateway until cancelled (reconnects are
        discord.py's)."""
        if self.loop is None:
            await self.login()
        try:
            await self.client.connect(reconnect=True)
        finally:
            await self.close()

    async def sync_commands(self) -> None:
        """`/phonebank` to the configured guilds at once, else globally."""
        if self.guild_ids:
            for guild_id in self.guild_ids:
                guild = discord.Object(id=int(guild_id))
                self.tree.copy_global_to(guild=guild)
                self.synced = await self.tree.sync(guild=guild)
            self.tree.clear_commands(guild=None)
            await self.tree.sync()  # no global copy besides the guilds' (a switch from global)
            return
        self.synced = await self.tree.sync()

    async def drain(self) -> None:
        """Wait for every answer under way (tests; a graceful shutdown)."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        if not self.client.is_closed():
            await self.client.close()
        self._workers.shutdown(wait=False)
        self._acks.shutdown(wait=False)

    # --- what arrives -------------------------------------------------------------------------

    async def on_command(self, interaction: discord.Interaction[Any], text: str) -> None:
        """`/phonebank <subcommand ...>`."""
        asked = Asked("command", text)
        await self._answer(interaction, asked.run, asked)

    async def on_button(
        self, interaction: discord.Interaction[Any], action_id: str, value: str
    ) -> None:
        """A `pb:*` button: a step of a form, or an action for the router."""
        if action_id == forms.OPEN:
            await self._track(self._open_form_step(interaction, value))
            return
        asked = Asked("action", action_id, value)
        await self._answer(interaction, asked.run, asked)

    async def on_modal_submit(self, interaction: discord.Interaction[Any], custom_id: str) -> None:
        """A submitted step of a form: the next step, or the whole form to its handler."""
        reference = forms.step_reference(custom_id.removeprefix(forms.SUBMIT + ":"))
        draft = None
        if reference is not None:
            draft = self.drafts.get(reference[0], str(interaction.user.id))
        if draft is None or reference is None or reference[1] >= len(draft.steps):
            await self._track(self.delivery.respond(interaction, problem(EXPIRED_FORM)))
            return
        step = reference[1]
        components = raw_data(interaction).get("components") or []
        answers = forms.submitted_answers(components, draft.steps[step])
        asked = None
        if not set(range(len(draft.steps))) - draft.submitted - {step}:  # the last step
            form = draft.form
            asked = Asked("form", form.submit_action, form.value, draft.answers | answers)
        await self._answer(
            interaction, lambda ctx: self._submit_step(ctx, draft, step, answers), asked
        )

    async def _on_tree_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """A subcommand this version does not have (a stale client), or one that failed."""
        if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
            text = text_of(raw_data(interaction))
            asked = Asked("command", text)
            await self._answer(interaction, asked.run, asked)
            return
        log.error("Discord command failed", exc_info=error)
        if not interaction.response.is_done():
            await self.delivery.respond(interaction, problem(FAILED))

    # --- answering ----------------------------------------------------------------------------

    async def _answer(
        self,
        interaction: discord.Interaction[Any],
        conversation: Conversation,
        asked: Asked | None = None,
    ) -> None:
        arrived = time.monotonic()
        await self._track(self._answer_now(interaction, conversation, arrived, asked))

    async def _answer_now(
        self,
        interaction: discord.Interaction[Any],
        conversation: Conversation,
        arrived: float,
        asked: Asked | None = None,
    ) -> None:
        """The conversation within the budget (else a deferral and a follow-up), owed to the
        outbox before the first response leaves and marked answered after the answer."""
        request = await request_of(
            interaction, self.services.engine, self.role_names, self.guild_ids
        )
        if isinstance(request, Reply):  # refused before any handler: nothing changes
            await self.delivery.respond(interaction, request)
            return
        # The row is written while the conversation runs; no response leaves before it is.
        owing = asyncio.ensure_future(self._owe(request, asked))
        work = asyncio.ensure_future(self._run(request, conversation))
        if self.busy():
            await owing
            await self.delivery.defer(interaction)
        left = self.answer_budget_s - (time.monotonic() - arrived)
        done, _ = await asyncio.wait({work}, timeout=max(left, 0.0))
        owed = await owing
        if not done:
            await self.delivery.defer(interaction)
        reply = await work
        await self.delivery.respond(interaction, reply, arrived=arrived)
        await self._settle(owed)

    async def _owe(self, request: DiscordRequest, asked: Asked | None) -> int | None:
        """Owe the interaction to the outbox (on the ack threads) before its first response;
        the row's id (None: nothing to owe, or it could not be written)."""
        if asked is None:
            return None
        owed = ChatRequest(
            platform=Platform.DISCORD,
            workspace=request.guild_id,
            user_id=request.user_id,
            request_key=request.request_key,
            kind=asked.kind,
            name=asked.name,
            value=asked.value,
            answers=dict(asked.answers),
            display_name=request.user_name,
            channel=request.channel_id,
            roles=sorted(str(role) for role in request.roles),
        )
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._acks, owe_request, self.services, owed)
        except Exception:  # the database is away: the conversation will say so; answer anyway
            log.exception("Could not owe Discord interaction %s", request.request_key)
            return None

    async def _settle(self, owed: int | None) -> None:
        """The owed interaction is answered: the outbox has nothing left to do for it."""
        if owed is None:
            return
        try:
            await asyncio.to_thread(finished, self.services, owed)
        except Exception:  # left owed: answered again after RESUME_AFTER (its key dedupes)
            log.exception("Could not mark an owed Discord interaction answered")

    def busy(self) -> bool:
        """Whether so many answers are under way that a new one is deferred at once."""
        return sum(1 for task in self._tasks if not task.done()) > BUSY_AT

    async def _run(self, request: DiscordRequest, conversation: Conversation) -> Reply:
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._workers, self._in_context, request, conversation
            )
        except Exception:
            log.exception("Discord interaction %s failed", request.request_key)
            return problem(FAILED)

    def _in_context(self, request: DiscordRequest, conversation: Conversation) -> Reply:
        ctx = context_for(
            self.services,
            Platform.DISCORD,
            request.guild_id,
            request.user_id,
            display_name=request.user_name,
            channel=request.channel_id,
            request_key=request.request_key,
        )
        if request.roles_known:
            remember_mapped_roles(
                self.services.engine, Platform.DISCORD, ctx.workspace, ctx.user_id, request.roles
            )
        if request.roles - ctx.roles:
            ctx = dataclasses.replace(ctx, roles=ctx.roles | request.roles)
        return conversation(ctx)

    def _submit_step(
        self, ctx: Context, draft: forms.Draft, step: int, answers: forms.Answers
    ) -> Reply:
        """Keep a step's answers; after the last step, the whole form goes to its handler."""
        draft.answers.update(answers)
        draft.submitted.add(step)
        following = draft.next_step()
        if following is not None:
            total = len(draft.steps)
            return Reply(
                text=f"Step {step + 1} of {total} saved.",
                buttons=(_open_button("Continue", draft, following),),
            )
        form = draft.form
        reply = router.handle_form(ctx, form.submit_action, form.value, draft.answers)
        if not reply.errors:
            self.drafts.close(draft)
            return reply
        draft.errors = dict(reply.errors)
        return _errors_reply(draft, reply)

    async def _open_form_step(self, interaction: discord.Interaction[Any], value: str) -> None:
        reference = forms.step_reference(value)
        draft = None
        if reference is not None:
            draft = self.drafts.get(reference[0], str(interaction.user.id))
        if draft is None or reference is None or reference[1] >= len(draft.steps):
            await self.delivery.respond(interaction, problem(EXPIRED_FORM))
            return
        await interaction.response.send_modal(forms.modal_for(draft, reference[1]))

    async def _track(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as a task the adapter can drain; interactions are answered from it."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            await task
        except Exception:
            log.exception("Could not answer a Discord interaction")


def raw_data(interaction: discord.Interaction[Any]) -> dict[str, Any]:
    """The interaction's `data` as Discord sent it."""
    data: Any = interaction.data or {}
    return dict(data)


def _open_button(label: str, draft: forms.Draft, step: int) -> Button:
    return Button(label, forms.OPEN, f"{draft.id}.{step}", ButtonStyle.PRIMARY)


def _errors_reply(draft: forms.Draft, reply: Reply) -> Reply:
    """The problems by input (labelled as on the form) and a button that reopens it."""
    labels = {item.id: forms.label_of(item) for item in draft.form.inputs}
    facts = tuple(Fact(labels.get(key, "Form"), message) for key, message in reply.errors.items())
    return Reply(
        text=reply.text or "Please fix the marked answers.",
        tone=Tone.WARNING,
        sections=(Section("", facts=facts),),
        buttons=(_open_button("Fix answers", draft, draft.step_with_error()),),
    )


def discord_for(settings: Settings, services: Services) -> DiscordAdapter | None:
    """The Discord adapter when a bot token is set; its Notifier joins the services' fan-out."""
    if not settings.discord_bot_token:
        return None
    adapter = DiscordAdapter(
        services,
        token=settings.discord_bot_token,
        api_url=settings.discord_api_url,
        guild_ids=settings.discord_guild_ids,
        role_map=settings.discord_role_map,
    )
    if isinstance(services.notifier, FanOutNotifier):
        services.notifier.register(Platform.DISCORD, DiscordNotifier(adapter))
    return adapter
