"""Help: the commands the asker may use here, each described by its handler's docstring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from handlers.context import Context
from handlers.replies import Button, ButtonStyle, Reply, Section, Tone

SLASH = "/phonebank"


@dataclass(frozen=True)
class HelpEntry:
    usage: str  # "campaign use SLUG"
    summary: str  # the first line of the handler's docstring


def help_reply(ctx: Context, entries: Sequence[HelpEntry], intro: str = "") -> Reply:
    """The list of commands, and a first step for someone who has not signed up."""
    lines = [f"`{SLASH} {entry.usage}`: {entry.summary}" for entry in entries]
    text = intro or "Here is what you can do:"
    if ctx.volunteer_id is None:
        first = Button("Sign up", "pb:signup:open", style=ButtonStyle.PRIMARY)
        text += " Start by signing up."
    else:
        first = Button("Get a batch", "pb:batch:claim", style=ButtonStyle.PRIMARY)
    tone = Tone.WARNING if intro else Tone.INFO
    return Reply(text=text, tone=tone, sections=(Section("\n".join(lines)),), buttons=(first,))


def summary_of(doc: str | None) -> str:
    """A docstring's first line."""
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""
