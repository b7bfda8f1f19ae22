"""The console's conversation, one typed line at a time: commands, button numbers, form answers.

A thin adapter, like every edge: a line becomes `handle_command`, `handle_action` or
`handle_form` (handlers/router.py), and the `Reply` becomes text. Every request gets its own
idempotency key, as a platform's would. With `organizer`, the console user also holds the
organizer role (locally, for demos; nothing is stored).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass, field

from bot.console.render import Choice, render_question, render_reply
from handlers.context import Context, Platform, Services
from handlers.identity import CONSOLE_WORKSPACE, context_for, find_identity
from handlers.replies import Button, Form, Input, InputKind, Reply
from handlers.router import handle_action, handle_command, handle_form
from storage.models import Role

_CHOICE_KEY = re.compile(r"\d+[a-zA-Z]?")
QUIT_WORDS = frozenset({"quit", "exit", ":q"})
CANCEL_WORDS = frozenset({"cancel", ":c"})
YES, NO = frozenset({"y", "yes", "true", "1"}), frozenset({"n", "no", "false", "0"})


@dataclass
class FormState:
    """A form being filled in: what is answered, what is still to ask, and the last errors."""

    form: Form
    pending: list[Input]
    answers: dict[str, str | list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class BadAnswer(ValueError):
    """A typed answer that does not fit the input; the message says what would."""


class ConsoleSession:
    """One person chatting with Phonebank in a terminal."""

    def __init__(
        self,
        services: Services,
        user_id: str,
        *,
        display_name: str = "",
        organizer: bool = False,
        workspace: str = CONSOLE_WORKSPACE,
    ) -> None:
        self.services = services
        self.user_id = user_id
        self.display_name = display_name or user_id
        self.organizer = organizer
        self.workspace = workspace
        self.choices: list[Choice] = []
        self.form: FormState | None = None
        self.last_reply: Reply | None = None
        self.done = False
        self.submissions = 0  # forms submitted so far
        self._shown: dict[str, tuple[str, ...]] = {}  # update_key -> the blocks last shown
        self._notifications: list[str] = []

    # --- the loop's interface -------------------------------------------------------------

    def start(self) -> str:
        """The greeting, with help for this user."""
        role = "an organizer" if self.organizer else "a volunteer"
        greeting = (
            f"Phonebank console: you are {self.display_name}, {role}. Type a command"
            " (help, signup, batch, stats), a button's [number] to press it, or quit."
        )
        return greeting + "\n\n" + self._show(handle_command(self.context(), "help"))

    @property
    def prompt(self) -> str:
        return "  answer> " if self.form else "phonebank> "

    @property
    def current_input(self) -> Input | None:
        """The form input being asked, if a form is open."""
        return self.form.pending[0] if self.form and self.form.pending else None

    def feed(self, line: str) -> str:
        """Handle one typed line; what to print."""
        text = line.strip()
        if self.form is not None:
            return self._answer(text)
        if not text:
            return ""
        if text.lower() in QUIT_WORDS:
            self.done = True
            return "Bye! Thanks for calling."
        if _CHOICE_KEY.fullmatch(text):
            return self._press_key(text.lower())
        command = text.removeprefix("/phonebank").strip()
        return self._show(handle_command(self.context(), command))

    def press(self, button: Button) -> str:
        """Press a button directly (one the user was shown, or another's: the core decides)."""
        return self._show(handle_action(self.context(), button.action_id, button.value))

    def deliver(self, reply: Reply) -> None:
        """A message the core sends unasked (the Notifier): shown before the next prompt."""
        self._notifications.append(self._show(reply))

    def take_notifications(self) -> str:
        """The unasked messages since the last call, as text."""
        shown, self._notifications = self._notifications, []
        return "\n\n".join(shown)

    def volunteer_id(self) -> int | None:
        """The volunteer this console user is linked to, if they signed up."""
        known = find_identity(self.services.engine, Platform.CONSOLE, self.workspace, self.user_id)
        return known.volunteer_id if known else None

    def context(self) -> Context:
        """The Context of a new request from this user."""
        ctx = context_for(
            self.services,
            Platform.CONSOLE,
            self.workspace,
            self.user_id,
            display_name=self.display_name,
            request_key=f"console:{uuid.uuid4().hex}",
        )
        if self.organizer:
            ctx = dataclasses.replace(ctx, roles=ctx.roles | {Role.ORGANIZER})
        return ctx

    # --- buttons and replies ----------------------------------------------------------------

    def _press_key(self, key: str) -> str:
        choice = next((c for c in self.choices if c.key == key), None)
        if choice is None:
            return f"There is no button [{key}] on the last message."
        return self.press(choice.button)

    def _show(self, reply: Reply) -> str:
        """The reply as text; a message updated in place shows only the cards that changed."""
        self.last_reply = reply
        earlier = self._shown.get(reply.update_key or "")
        rendered = render_reply(reply, updated=earlier is not None)
        if reply.update_key:
            self._shown[reply.update_key] = rendered.blocks
        changed = None
        if earlier is not None and len(earlier) == len(rendered.blocks):
            changed = {i for i, block in enumerate(rendered.blocks) if block != earlier[i]}
        text = rendered.text(changed)
        if rendered.choices:
            self.choices = list(rendered.choices)
        if reply.form is not None:
            self.form = FormState(reply.form, list(reply.form.inputs))
            text += f"\n\n== {reply.form.title} == (type cancel to stop)\n" + self._ask()
        return text

    # --- forms ------------------------------------------------------------------------------

    def _ask(self) -> str:
        item = self.current_input
        assert self.form is not None and item is not None
        return render_question(item, self.form.errors.get(item.id))

    def _answer(self, text: str) -> str:
        assert self.form is not None
        if text.lower() in CANCEL_WORDS:
            self.form = None
            return "Cancelled."
        item = self.form.pending[0]
        try:
            self.form.answers[item.id] = parse_answer(item, text)
        except BadAnswer as exc:
            return f"! {exc}\n" + render_question(item)
        self.form.errors.pop(item.id, None)
        self.form.pending.pop(0)
        if self.form.pending:
            return self._ask()
        return self._submit()

    def _submit(self) -> str:
        state = self.form
        assert state is not None
        self.submissions += 1
        reply = handle_form(
            self.context(), state.form.submit_action, state.form.value, state.answers
        )
        if reply.errors:
            state.errors = dict(reply.errors)
            state.pending = [item for item in state.form.inputs if item.id in reply.errors]
            if state.pending:
                self.last_reply = reply
                return reply.text + "\n" + self._ask()
        self.form = None
        return self._show(reply)


def parse_answer(item: Input, text: str) -> str | list[str]:
    """A typed answer as the handlers take it, or `BadAnswer` saying what fits."""
    if item.kind is InputKind.CHECKBOX:
        return _yes_no(item, text)
    if item.kind in (InputKind.CHOICE, InputKind.CHOICES):
        return _choice(item, text)
    if not text:
        if isinstance(item.initial, str) and item.initial:
            return item.initial
        if item.required:
            raise BadAnswer("This one is required.")
    return text


def _yes_no(item: Input, text: str) -> str:
    if not text:
        return "yes" if item.initial in ("yes", "true", ("yes",)) else "no"
    if text.lower() in YES:
        return "yes"
    if text.lower() in NO:
        return "no"
    raise BadAnswer("Type y or n.")


def _choice(item: Input, text: str) -> str | list[str]:
    many = item.kind is InputKind.CHOICES
    if not text:
        initial = item.initial
        if isinstance(initial, str) and initial:
            return [initial] if many else initial
        if initial:
            return list(initial) if many else initial[0]
        if item.required:
            raise BadAnswer("This one is required: type a number.")
        return [] if many else ""
    parts = [part.strip() for part in text.split(",")] if many else [text]
    values = [_option_value(item, part) for part in parts if part]
    return values if many else values[0]


def _option_value(item: Input, typed: str) -> str:
    if typed.isdigit() and 1 <= int(typed) <= len(item.options):
        return item.options[int(typed) - 1].value
    for option in item.options:
        if typed.lower() in (option.label.lower(), option.value.lower()):
            return option.value
    raise BadAnswer(f"{typed!r} is not one of the numbers shown.")
