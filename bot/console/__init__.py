"""The console: chat with Phonebank in a terminal, for local use and demos.

`run_console` reads lines and prints replies; `ConsoleSession` (session.py) is the adapter, and
`ConsoleNotifier` shows what the core says unasked (a call that connected) before the next
prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from bot.console.session import ConsoleSession
from handlers.context import Platform
from handlers.replies import Reply


class ConsoleNotifier:
    """The `Notifier` for the console's users (one in a terminal; tests may have several)."""

    def __init__(self, *sessions: ConsoleSession) -> None:
        self.sessions = list(sessions)

    def add(self, session: ConsoleSession) -> None:
        """Deliver to this session too."""
        self.sessions.append(session)

    def to_volunteer(self, volunteer_id: int, reply: Reply) -> None:
        """Shown to the console user who is that volunteer."""
        for session in self.sessions:
            if session.volunteer_id() == volunteer_id:
                session.deliver(reply)

    def to_channel(self, platform: Platform, channel: str, reply: Reply) -> None:
        """The console is one channel: console messages are shown to everyone on it."""
        if platform is Platform.CONSOLE:
            for session in self.sessions:
                session.deliver(reply)


def run_console(
    session: ConsoleSession,
    stdin: TextIO,
    stdout: TextIO,
    *,
    pump: Callable[[], object] | None = None,
) -> None:
    """Chat until quit or end of input; `pump` runs before each prompt (simulated calls move on)."""
    echo = not stdin.isatty()  # a scripted session reads like a transcript
    _write(stdout, session.start())
    while not session.done:
        if pump is not None:
            pump()
        waiting = session.take_notifications()
        if waiting:
            _write(stdout, waiting)
        stdout.write("\n" + session.prompt)
        stdout.flush()
        line = stdin.readline()
        if not line:
            stdout.write("\n")
            break
        if echo:
            stdout.write(line if line.endswith("\n") else line + "\n")
        output = session.feed(line)
        if output:
            _write(stdout, output)


def _write(stdout: TextIO, text: str) -> None:
    stdout.write(text + "\n")
    stdout.flush()


__all__ = ["ConsoleNotifier", "ConsoleSession", "run_console"]
