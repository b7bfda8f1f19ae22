"""`phonebank console`: chat with Phonebank in the terminal, as a volunteer or an organizer."""

from __future__ import annotations

import getpass
import re
import sys
from typing import Annotated

import typer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.app import FanOutNotifier, build_services
from bot.cli.common import engine, fail, settings
from bot.console import ConsoleNotifier, ConsoleSession, run_console
from bot.telephony.simulated import SimulatedTelephony
from handlers.context import Platform
from storage import migrate
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
    _check_schema(db)
    display_name = (name or _login_name()).strip() or "volunteer"
    services = build_services(current, engine=db, clock=at or clock)
    session = ConsoleSession(
        services, console_user_id(display_name), display_name=display_name, organizer=organizer
    )
    if isinstance(services.notifier, FanOutNotifier):
        services.notifier.register(Platform.CONSOLE, ConsoleNotifier(session))
    telephony = services.telephony
    pump = telephony.advance if isinstance(telephony, SimulatedTelephony) else None
    try:
        run_console(session, sys.stdin, sys.stdout, pump=pump)
    except KeyboardInterrupt:
        sys.stdout.write("\nBye!\n")
    finally:
        db.dispose()


def console_user_id(name: str) -> str:
    """'Ana Lopez' -> 'ana-lopez': the console user id (`console:ana-lopez` in PHONEBANK_ADMINS)."""
    return re.sub(r"[^\w.@-]+", "-", name.strip().lower()).strip("-") or "volunteer"


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "volunteer"


def _check_schema(db: Engine) -> None:
    try:
        revision = migrate.current_revision(db)
    except SQLAlchemyError as exc:
        fail(f"cannot open the database: {str(getattr(exc, 'orig', exc)).strip().splitlines()[0]}")
    if revision is None:
        fail("the database is empty: run `phonebank demo` (or `phonebank init`) first")
    if revision != migrate.head_revision():
        fail("the database needs migrating: run `phonebank db upgrade`")
