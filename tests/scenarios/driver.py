"""The small interface every chat surface implements so that one list of conversations runs on
all of them (tests/scenarios/conversations.py): the console now, Slack and Discord next.

A scenario is a plain function `scenario(world, surface)`. It asks the surface for users
(`surface.user("ana")`) and talks as them:

- `command(text)`: type `/phonebank <text>`;
- `press(label, near=...)`: press the button with that label on the last message, in the card
  (section) whose text contains `near`; with `seen_by=other`, a button shown to another user
  (a forwarded or public message: the core, not the surface, must refuse it);
- `look()`: read what reached this user unasked since their last step (a DM, a message of
  theirs edited in place, such as a batch redrawn by someone else's broadcast);
- `fill(answers)`: submit the form that is open. Answers go by input id; a choice is given by
  its option's *label*, as a person picks it (the driver turns it into the value), several
  choices as a list of labels, a consent box as True/False, text as text. Inputs left out keep
  their initial value or stay empty. When the core finds problems, `errors` holds them by input
  id and the form stays open for the next `fill`.

Each call returns what came back as a `Shown`, the same on every surface. Anything the surface
cannot express (a button that does not exist) is a failed assertion in the driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

Answer = str | list[str] | bool


@dataclass(frozen=True)
class ShownForm:
    title: str
    inputs: tuple[str, ...]  # input ids, in order


@dataclass(frozen=True)
class Shown:
    """What a user sees after one step, independent of the surface."""

    text: str  # all the text that came back, as one string
    buttons: tuple[str, ...] = ()  # labels of the buttons one can press now
    form: ShownForm | None = None  # a form waiting to be filled
    errors: Mapping[str, str] = field(default_factory=dict)  # input id -> what is wrong
    refused: bool = False  # a warning: refused, invalid or failed

    def has(self, *fragments: str) -> bool:
        """Whether every fragment appears in the text (case-insensitive)."""
        lowered = self.text.lower()
        return all(fragment.lower() in lowered for fragment in fragments)


class Driver(Protocol):
    """One user on one surface."""

    name: str

    def command(self, text: str) -> Shown: ...

    def press(
        self, label: str, *, near: str | None = None, seen_by: Driver | None = None
    ) -> Shown: ...

    def fill(self, answers: Mapping[str, Answer]) -> Shown: ...

    def look(self) -> Shown: ...


class Surface(Protocol):
    """A chat platform with its users. Admins are the names in `World.admins`."""

    def user(self, name: str, *, organizer: bool = False) -> Driver:
        """The user called `name` (the same object on every call with that name)."""

    def mention(self, name: str) -> str:
        """How that user is mentioned in a command on this platform (`@ana`, `<@U0ANA>`)."""

    def everything_shown(self) -> str:
        """Every piece of text the surface showed or sent, for the privacy check."""
