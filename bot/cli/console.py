"""`phonebank console`: chat with Phonebank in the terminal, as a volunteer or an organizer."""

from __future__ import annotations

import getpass
import re
import sys
from typing import Annotated

import typer

from bot.app import FanOutNotifier, build_services
from bot.cli.common import engine, require_migrated, settings
from bot.console import ConsoleNotifier, ConsoleSession, run_console
from bot.telephony.simulated import SentText, SimulatedTelephony
from handlers.context import Platform
from handlers.masking import mask_phone
from handlers.replies import Reply
from storage.clock import Clock, SystemClock

clock: Clock = SystemClock()  # tests replace it


def console(
    as_name: Annotated[
        str | None,
        typer.Option("--as", help="Who you are in the chat (default: your login name)."),
    ] = None,
    organizer: Annotated[
        bool,
        typer.Option("--organizer", help="Chat as an organizer (choose the campaign, ...)."),
    ] = False,
) -> None:
    """Chat with Phonebank in the terminal: sign up, take a batch, call (simulated), log outcomes."""
    open_console(as_name, organizer=organizer)


def open_console(name: str | None, *, organizer: bool = False, at: Clock | None = None) -> None:
    """Run the console on the configured database until quit or end of input (`at`: its clock)."""
    current = settings()
    db = engine(current)
    require_migrated(db)
    display_name = (name or _login_name()).strip() or "volunteer"
    services = build_services(current, engine=db, clock=at or clock)
    session = ConsoleSession(
        services, console_user_id(display_name), display_name=display_name, organizer=organizer
    )
    if isinstance(services.notifier, FanOutNotifier):
        services.notifier.register(Platform.CONSOLE, ConsoleNotifier(session))
    telephony = services.telephony
    pump = None
    if isinstance(telephony, SimulatedTelephony):
        pump = telephony.advance
        telephony.on_text(lambda text: session.deliver(simulated_text(text)))
    try:
        run_console(session, sys.stdin, sys.stdout, pump=pump)
    except KeyboardInterrupt:
        sys.stdout.write("\nBye!\n")
    finally:
        db.dispose()


def simulated_text(text: SentText) -> Reply:
    """A text the simulated phone network "delivered", shown in the terminal instead."""
    return Reply(text=f"Text message to {mask_phone(text.to)} (simulated): {text.body}")


def console_user_id(name: str) -> str:
    """'Ana Lopez' -> 'ana-lopez': the console user id (`console:ana-lopez` in PHONEBANK_ADMINS)."""
    return re.sub(r"[^\w.@-]+", "-", name.strip().lower()).strip("-") or "volunteer"


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "volunteer"
