"""A `Form` as Discord modals, and a submitted modal back as answers by input id.

Discord refuses a whole modal that breaks a limit: at most 5 rows, labels of 45 characters
(descriptions 100), titles 45, 25 options a select, 100-character custom ids and option values.
Each input is one labelled row: a text input, a select (one choice or several), or a checkbox.
A form of more than five inputs is asked in steps of five: after a step, a message says so with
a Continue button that opens the next (a modal cannot answer a modal). Discord cannot show
errors on a modal, so a form the core sends back opens again from a "Fix answers" button with
the answers kept and each problem in its input's description.

The answers of a form being filled live in this process (`Drafts`): a form left open across a
restart asks to be opened again.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.discord.render import RenderError, safe_text, shorten
from handlers.replies import Form, Input, InputKind

MODAL_ROWS = 5
LABEL = 45
DESCRIPTION = 100
TITLE = 45
OPTIONS = 25
OPTION_TEXT = 100
TEXT_INPUT = 4000
TEXT_DISPLAY = 4000
CONSENT = "yes"
DRAFT_LIFETIME_S = 2 * 60 * 60
OPEN = "pb:form:open"  # a button: open step N of a draft (`<draft>.<step>`)
SUBMIT = "pb:form:submit"  # a modal's custom id prefix

Answers = dict[str, str | list[str]]


@dataclass
class Draft:
    """A form being filled by one user: the answers so far and the steps submitted."""

    id: str
    user_id: str
    form: Form
    since: float
    intro: str = ""  # the reply's text, shown atop the first step
    answers: Answers = field(default_factory=dict)
    submitted: set[int] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def steps(self) -> list[tuple[Input, ...]]:
        return steps_of(self.form, self.intro)

    def next_step(self) -> int | None:
        """The first step not submitted yet; None when every step was."""
        return next((n for n in range(len(self.steps)) if n not in self.submitted), None)

    def step_with_error(self) -> int:
        for number, inputs in enumerate(self.steps):
            if any(item.id in self.errors for item in inputs):
                return number
        return 0


class Drafts:
    """Forms being filled, by draft id (thread-safe; old drafts are forgotten)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._drafts: dict[str, Draft] = {}

    def open(self, user_id: str, form: Form, intro: str = "") -> Draft:
        now = self._monotonic()
        draft = Draft(secrets.token_hex(6), user_id, form, now, intro.strip())
        with self._lock:
            self._drafts = {
                k: d for k, d in self._drafts.items() if now - d.since < DRAFT_LIFETIME_S
            }
            self._drafts[draft.id] = draft
        return draft

    def get(self, draft_id: str, user_id: str) -> Draft | None:
        """The user's draft; None if unknown, expired or someone else's."""
        with self._lock:
            draft = self._drafts.get(draft_id)
        if draft is None or draft.user_id != user_id:
            return None
        if self._monotonic() - draft.since >= DRAFT_LIFETIME_S:
            return None
        return draft

    def close(self, draft: Draft) -> None:
        with self._lock:
            self._drafts.pop(draft.id, None)


def steps_of(form: Form, intro: str = "") -> list[tuple[Input, ...]]:
    """The form's inputs in modals of at most five rows (the intro takes one on the first,
    when that costs no extra step)."""
    inputs = form.inputs
    first = MODAL_ROWS - 1 if shows_intro(form, intro) else MODAL_ROWS
    rest = inputs[first:]
    later = [rest[i : i + MODAL_ROWS] for i in range(0, len(rest), MODAL_ROWS)]
    return [inputs[:first], *later]


def shows_intro(form: Form, intro: str) -> bool:
    """Whether the intro has a row of its own: only when the form needs no extra step for it."""
    count = len(form.inputs)
    return bool(intro) and -(-(count + 1) // MODAL_ROWS) == max(1, -(-count // MODAL_ROWS))


def step_reference(value: str) -> tuple[str, int] | None:
    """(draft id, step) from `<draft>.<step>`."""
    draft_id, _, step = value.partition(".")
    if not draft_id or not step.isdigit():
        return None
    return draft_id, int(step)


def label_of(item: Input) -> str:
    """An input's label as Discord shows it (45 characters at most)."""
    return shorten(safe_text(item.label), LABEL)


def modal_for(draft: Draft, step: int) -> discord.ui.Modal:
    """Step `step` of the draft's form as a modal; kept answers and errors filled in."""
    steps = draft.steps
    title = draft.form.title if len(steps) == 1 else f"{draft.form.title} ({step + 1}/{len(steps)})"
    modal = discord.ui.Modal(
        title=shorten(safe_text(title), TITLE),
        custom_id=f"{SUBMIT}:{draft.id}.{step}",
        timeout=DRAFT_LIFETIME_S,  # discord.py keeps an unsubmitted modal until then
    )
    if step == 0 and shows_intro(draft.form, draft.intro):
        modal.add_item(discord.ui.TextDisplay(shorten(safe_text(draft.intro), TEXT_DISPLAY)))
    for item in steps[step]:
        description = draft.errors.get(item.id) or item.hint or _rest_of_label(item)
        modal.add_item(
            discord.ui.Label(
                text=label_of(item),
                description=shorten(safe_text(description), DESCRIPTION) if description else None,
                component=_component(item, draft.answers.get(item.id, _initial(item))),
            )
        )
    return modal


def _rest_of_label(item: Input) -> str | None:
    """A label too long for Discord goes whole into the description."""
    return item.label if len(item.label) > LABEL else None


def _initial(item: Input) -> str | list[str] | None:
    if isinstance(item.initial, tuple):
        return list(item.initial)
    return item.initial


def _component(item: Input, answer: str | list[str] | None) -> discord.ui.Item[Any]:
    if len(item.id) > 100:
        raise RenderError(f"input id {item.id[:20]!r}… is longer than Discord's 100")
    if item.kind in (InputKind.TEXT, InputKind.LONG_TEXT):
        style = (
            discord.TextStyle.paragraph
            if item.kind is InputKind.LONG_TEXT
            else discord.TextStyle.short
        )
        default = answer if isinstance(answer, str) and answer else None
        return discord.ui.TextInput(
            custom_id=item.id,
            style=style,
            required=item.required,
            default=default,
            max_length=TEXT_INPUT,
        )
    if item.kind is InputKind.CHECKBOX:
        return discord.ui.Checkbox(custom_id=item.id, default=answer in (CONSENT, "true"))
    return _select(item, answer)


def _select(item: Input, answer: str | list[str] | None) -> discord.ui.Select[Any]:
    if not item.options:
        raise RenderError(f"input {item.id!r} is a {item.kind} without options")
    if len(item.options) > OPTIONS:
        raise RenderError(f"input {item.id!r} has {len(item.options)} options; Discord shows 25")
    chosen = {answer} if isinstance(answer, str) else set(answer or ())
    many = item.kind is InputKind.CHOICES
    options = [
        discord.SelectOption(
            label=shorten(safe_text(option.label), OPTION_TEXT),
            value=option.value,
            default=option.value in chosen,
        )
        for option in item.options
    ]
    if any(len(option.value) > OPTION_TEXT for option in item.options):
        raise RenderError(f"an option of {item.id!r} has a value longer than 100 characters")
    return discord.ui.Select(
        custom_id=item.id,
        options=options,
        min_values=1 if item.required else 0,
        max_values=len(options) if many else 1,
        required=item.required,
    )


# --- submitted modals -------------------------------------------------------------------------


def submitted_answers(
    components: Sequence[Mapping[str, Any]], form_inputs: Sequence[Input]
) -> Answers:
    """A modal submission's answers by input id, as the handlers take them."""
    kinds = {item.id: item.kind for item in form_inputs}
    answers: Answers = {}
    for component in _leaves(components):
        custom_id = str(component.get("custom_id", ""))
        if custom_id not in kinds:
            continue
        answers[custom_id] = _answer(component, kinds[custom_id])
    return answers


def _leaves(components: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for component in components:
        if "components" in component:
            found += _leaves(component["components"])
        elif "component" in component:
            found += _leaves([component["component"]])
        else:
            found.append(component)
    return found


def _answer(component: Mapping[str, Any], kind: InputKind) -> str | list[str]:
    if kind is InputKind.CHECKBOX:
        return CONSENT if component.get("value") is True else "no"
    if kind is InputKind.CHOICES:
        return [str(v) for v in component.get("values") or []]
    if kind is InputKind.CHOICE:
        values = component.get("values") or []
        return str(values[0]) if values else ""
    return str(component.get("value") or "")
