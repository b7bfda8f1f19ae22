"""The scenario driver for the console: each step is typed into a `ConsoleSession` as a person
would type it (a command, a button's key, one answer per prompt), and what it printed comes
back as the `Shown`."""

from __future__ import annotations

from collections.abc import Mapping

from bot.app import FanOutNotifier, build_services
from bot.console import ConsoleNotifier, ConsoleSession
from bot.console.render import Choice
from bot.settings import load_settings
from bot.telephony.simulated import SimulatedTelephony
from handlers.context import Platform, Services
from handlers.replies import Input, InputKind, Tone
from tests.scenarios.driver import Answer, Driver, Shown, ShownForm
from tests.scenarios.world import World

MAX_PROMPTS = 50  # a fill that keeps being asked again is a bug in the driver or the console


class ConsoleDriver:
    """One console user."""

    def __init__(self, name: str, session: ConsoleSession, transcript: list[str]) -> None:
        self.name = name
        self.session = session
        self._transcript = transcript

    def command(self, text: str) -> Shown:
        return self._type([f"/phonebank {text}"])

    def press(self, label: str, *, near: str | None = None, seen_by: Driver | None = None) -> Shown:
        if seen_by is None:
            return self._type([self._choice(self.session, label, near).key])
        assert isinstance(seen_by, ConsoleDriver), "a console user sees console buttons"
        choice = self._choice(seen_by.session, label, near)
        return self._shown(self._record(self.session.press(choice.button)))

    def look(self) -> Shown:
        return self._shown(self._record(self.session.take_notifications()))

    def fill(self, answers: Mapping[str, Answer]) -> Shown:
        state = self.session.form
        assert state is not None, f"{self.name} has no form open"
        output: list[str] = []
        console_errors: dict[str, str] = {}
        submitted = self.session.submissions
        for _ in range(MAX_PROMPTS):
            item = self.session.current_input
            if self.session.form is not state or item is None:
                break
            output.append(self.session.feed(typed(item, answers.get(item.id))))
            if self.session.submissions > submitted:
                break  # submitted: done, or sent back with the core's errors
            if self.session.current_input is item:
                console_errors[item.id] = output[-1]  # the console refused what was typed
                break
        else:
            raise AssertionError(f"the form kept asking: {output[-3:]}")
        shown = self._shown(self._record("\n".join(output)))
        if console_errors:
            return Shown(shown.text, shown.buttons, shown.form, console_errors, refused=True)
        return shown

    # --- helpers ------------------------------------------------------------------------------

    def _type(self, lines: list[str]) -> Shown:
        output = [self.session.feed(line) for line in lines]
        return self._shown(self._record("\n".join(output)))

    def _record(self, text: str) -> str:
        self._transcript.append(text)
        return text

    def _shown(self, text: str) -> Shown:
        reply = self.session.last_reply
        state = self.session.form
        form = None
        if state is not None:
            form = ShownForm(state.form.title, tuple(item.id for item in state.form.inputs))
        buttons: tuple[str, ...] = ()
        if reply is not None:
            labels = [b.label for s in reply.sections for b in s.buttons]
            buttons = (*labels, *(b.label for b in reply.buttons))
        errors = dict(state.errors) if state is not None else {}
        refused = reply is not None and reply.tone is Tone.WARNING
        return Shown(text=text, buttons=buttons, form=form, errors=errors, refused=refused)

    @staticmethod
    def _choice(session: ConsoleSession, label: str, near: str | None) -> Choice:
        found = [
            c
            for c in session.choices
            if c.button.label == label and (near is None or near in c.section)
        ]
        shown = [(c.key, c.button.label) for c in session.choices]
        assert found, f"no button {label!r}" + (f" near {near!r}" if near else "") + f": {shown}"
        return found[0]


def typed(item: Input, answer: Answer | None) -> str:
    """What a person types at the console to give `answer` to `item`."""
    if answer is None:
        return ""
    if isinstance(answer, bool):
        return "y" if answer else "n"
    if item.kind in (InputKind.CHOICE, InputKind.CHOICES):
        labels = [answer] if isinstance(answer, str) else answer
        return ",".join(_option_number(item, label) for label in labels)
    return answer if isinstance(answer, str) else ", ".join(answer)


def _option_number(item: Input, label: str) -> str:
    for number, option in enumerate(item.options, start=1):
        if option.label == label:
            return str(number)
    return label  # not an option: typed as is, for the console to refuse


class ConsoleSurface:
    """Console users sharing one database and one set of services."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.notifier = ConsoleNotifier()
        self.services = self._services(world)
        self._users: dict[str, ConsoleDriver] = {}
        self._transcript: list[str] = []

    def user(self, name: str, *, organizer: bool = False) -> ConsoleDriver:
        if name not in self._users:
            session = ConsoleSession(self.services, name, display_name=name, organizer=organizer)
            self.notifier.add(session)
            self._record(session.start())
            self._users[name] = ConsoleDriver(name, session, self._transcript)
        return self._users[name]

    def mention(self, name: str) -> str:
        return f"@{name}"

    def everything_shown(self) -> str:
        notified = [user.session.take_notifications() for user in self._users.values()]
        self._transcript.extend(notified)
        return "\n".join(self._transcript)

    def _record(self, text: str) -> None:
        self._transcript.append(text)

    def _services(self, world: World) -> Services:
        settings = load_settings(
            database_url=world.engine.url.render_as_string(hide_password=False),
            phonebank_admins=",".join(f"console:{name}" for name in sorted(world.admins)),
        )
        fan_out = FanOutNotifier()
        fan_out.register(Platform.CONSOLE, self.notifier)
        services = build_services(
            settings, engine=world.engine, clock=world.clock, notifier=fan_out
        )
        assert isinstance(services.telephony, SimulatedTelephony)
        services.telephony.on_text(world.heard)
        return services
