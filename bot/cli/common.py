"""What every command needs: settings, the database, one console, and clean failures."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.settings import Settings, SettingsError, load_settings
from storage import migrate
from storage.db import make_engine

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line on stderr and exit."""
    # soft_wrap: the message stays one line whatever the terminal's width (scripts grep it).
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc), code=2)


def engine(current: Settings | None = None) -> Engine:
    return make_engine((current or settings()).database_url)


def require_migrated(db: Engine) -> None:
    """Stop with one clear line unless the database is at the newest schema."""
    try:
        revision = migrate.current_revision(db)
    except SQLAlchemyError as exc:
        fail(f"cannot open the database: {str(getattr(exc, 'orig', exc)).strip().splitlines()[0]}")
    if revision is None:
        fail("the database is empty: run `phonebank init` (or `phonebank demo`) first")
    if revision != migrate.head_revision():
        fail("the database needs migrating: run `phonebank db upgrade`")
