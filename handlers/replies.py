"""What a conversation says back, independent of the platform that renders it.

Adapters turn a `Reply` into Block Kit, a Discord embed with a View, console text or SMS.
Action ids have the form `pb:<capability>:<verb>`; a button's `value` is an opaque string the
handler gave it (never a voter's phone number).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from handlers.markdown import RichText


class ButtonStyle(StrEnum):
    DEFAULT = "default"
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str  # pb:<capability>:<verb>
    value: str = ""
    style: ButtonStyle = ButtonStyle.DEFAULT


@dataclass(frozen=True)
class Fact:
    """A labelled value shown beside a section's text (Slack fields, embed fields)."""

    label: str
    value: str


@dataclass(frozen=True)
class Section:
    """One block of a reply: a call card, a help entry, a stats table."""

    text: str
    facts: tuple[Fact, ...] = ()
    buttons: tuple[Button, ...] = ()
    # Formatted text (training pages) for adapters that render it; `text` is its plain fallback.
    rich: RichText | None = None


class InputKind(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    CHOICE = "choice"  # pick one of `options`
    CHOICES = "choices"  # pick any of `options`
    CHECKBOX = "checkbox"  # a yes/no consent


@dataclass(frozen=True)
class Option:
    label: str
    value: str


@dataclass(frozen=True)
class Input:
    id: str
    label: str
    kind: InputKind = InputKind.TEXT
    options: tuple[Option, ...] = ()
    required: bool = True
    initial: str | tuple[str, ...] | None = None
    hint: str | None = None


@dataclass(frozen=True)
class Form:
    """A form to fill in (a Slack modal, a Discord modal or select, console prompts).

    Submitting it calls the handler of `submit_action` with the answers by input id, and
    `value` handed back unchanged (e.g. which attempt the outcome belongs to).
    """

    title: str
    submit_action: str
    inputs: tuple[Input, ...]
    value: str = ""
    submit_label: str = "Submit"


class Tone(StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"  # refused or failed: the text says why and what to do instead


@dataclass(frozen=True)
class Reply:
    text: str
    tone: Tone = Tone.INFO
    sections: tuple[Section, ...] = ()
    buttons: tuple[Button, ...] = ()  # actions for the reply as a whole
    image_url: str | None = None
    # A chart on this server's disk (PNG) sent with the reply: Slack uploads it, Discord attaches
    # it, the console prints the path.
    image_file: str | None = None
    ephemeral: bool = True  # only the asker sees it
    update_key: str | None = None  # replaces the earlier message with the same key, in place
    form: Form | None = None  # open this form instead of (or after) showing the text
    errors: dict[str, str] = field(default_factory=dict)  # form input id -> what is wrong

    @property
    def ok(self) -> bool:
        return not self.errors


def problem(message: str) -> Reply:
    """A reply that says what went wrong and what to do instead."""
    return Reply(text=message, tone=Tone.WARNING)
