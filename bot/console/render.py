"""A `Reply` as terminal text: buttons become numbered choices, forms become prompts."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.replies import Button, Input, InputKind, Reply, Section, Tone
from handlers.times import plain_times

TONE_MARK = {Tone.INFO: "", Tone.SUCCESS: "✓ ", Tone.WARNING: "! "}
INDENT = "    "


@dataclass(frozen=True)
class Choice:
    """A button the user presses by typing its key: `3` alone, or `3a`, `3b` in a row of several."""

    key: str
    button: Button
    section: str  # the text of the section it belongs to ("" for the reply's own buttons)


@dataclass(frozen=True)
class Rendered:
    """A reply as text: the header, each section's block, and the keys of its buttons."""

    header: str
    blocks: tuple[str, ...]
    footer: str
    choices: tuple[Choice, ...]

    def text(self, only: set[int] | None = None) -> str:
        """Everything, or the header, footer and only the blocks numbered in `only`."""
        blocks = [b for i, b in enumerate(self.blocks) if only is None or i in only]
        return "\n\n".join(part for part in (self.header, *blocks, self.footer) if part)


def render_reply(reply: Reply, updated: bool = False) -> Rendered:
    """The reply as text; each row of buttons is numbered by its position in the reply, so a
    card keeps its number while the message is updated in place."""
    choices: list[Choice] = []
    header = ("(updated) " if updated else "") + TONE_MARK[reply.tone] + reply.text
    blocks = tuple(
        _section(section, number, choices) for number, section in enumerate(reply.sections, start=1)
    )
    footer = []
    if reply.buttons:
        # After the cards' rows when there are cards with buttons (keys stay put as cards close).
        row = len(reply.sections) + 1 if choices else 1
        footer.append(_buttons(reply.buttons, row, "", choices))
    if reply.image_url:
        footer.append(f"[image: {reply.image_url}]")
    if reply.image_file:
        footer.append(f"[chart: {reply.image_file}]")
    footer.extend(f"! {input_id}: {message}" for input_id, message in reply.errors.items())
    blocks = tuple(plain_times(block) for block in blocks)
    return Rendered(plain_times(header), blocks, "\n".join(footer), tuple(choices))


def render_question(item: Input, error: str | None = None) -> str:
    """How a form input is asked: its label, hint, options and what blank means."""
    lines = [f"! {error}"] if error else []
    lines.append(item.label + ("" if item.required else " (optional)"))
    if item.hint:
        lines.append(f"{INDENT}{item.hint}")
    if item.kind in (InputKind.CHOICE, InputKind.CHOICES):
        initial = _initial_values(item)
        for number, option in enumerate(item.options, start=1):
            mark = " *" if option.value in initial else ""
            lines.append(f"{INDENT}{number}) {option.label}{mark}")
        several = "numbers separated by commas" if item.kind is InputKind.CHOICES else "a number"
        lines.append(f"{INDENT}Type {several}" + (", or Enter to keep *" if initial else "") + ".")
    elif item.kind is InputKind.CHECKBOX:
        current = "yes" if item.initial in ("yes", "true", ("yes",)) else "no"
        lines.append(f"{INDENT}Type y or n (Enter: {current}).")
    elif isinstance(item.initial, str) and item.initial:
        lines.append(f"{INDENT}Enter keeps: {item.initial}")
    return "\n".join(lines)


def _section(section: Section, number: int, choices: list[Choice]) -> str:
    lines = section.text.splitlines()
    if section.facts or section.buttons:  # a card: its name, then its body set in
        lines = lines[:1] + [INDENT + line if line else "" for line in lines[1:]]
    if section.facts:
        facts = " · ".join(f"{fact.label}: {fact.value}" for fact in section.facts)
        lines.append(INDENT + facts)
    if section.buttons:
        lines.append(INDENT + _buttons(section.buttons, number, section.text, choices))
    return "\n".join(lines)


def _buttons(buttons: tuple[Button, ...], row: int, section: str, choices: list[Choice]) -> str:
    shown = []
    for index, button in enumerate(buttons):
        key = str(row) if len(buttons) == 1 else f"{row}{chr(ord('a') + index)}"
        choices.append(Choice(key, button, section))
        shown.append(f"[{key}] {button.label}")
    return "   ".join(shown)


def _initial_values(item: Input) -> set[str]:
    if item.initial is None:
        return set()
    return {item.initial} if isinstance(item.initial, str) else set(item.initial)
