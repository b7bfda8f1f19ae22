"""`phonebank db` commands: migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from alembic.util import CommandError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import console, engine, fail, settings
from storage import migrate

app = typer.Typer(no_args_is_help=True)


@app.command()
def upgrade(
    revision: Annotated[
        str, typer.Option("--revision", "-r", help="Stop at this revision instead of the newest.")
    ] = "head",
) -> None:
    """Migrate the database to the newest schema (or to --revision); running it again is harmless."""
    with _database() as db:
        before = migrate.current_revision(db)
        migrate.upgrade(db, revision)
        after = migrate.current_revision(db)
        where = _display_url(db)
    if before == after:
        console.print(f"{where} is already at revision {after}.", highlight=False, soft_wrap=True)
    else:
        console.print(
            f"{where} migrated from {before or 'empty'} to {after}.",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def current(
    check: Annotated[
        bool, typer.Option("--check", help="Exit with status 1 unless the database is at head.")
    ] = False,
) -> None:
    """Show the database's schema revision and whether it is the newest."""
    with _database() as db:
        revision = migrate.current_revision(db)
    head = migrate.head_revision()
    if revision == head:
        console.print(f"{revision} (head)", highlight=False, soft_wrap=True)
        return
    hint = "run `phonebank db upgrade`"
    console.print(f"{revision or 'none'} (head is {head}: {hint})", highlight=False, soft_wrap=True)
    if check:
        raise typer.Exit(1)


@contextmanager
def _database() -> Iterator[Engine]:
    """The settings' database; a migration or connection failure becomes one error line."""
    current = settings()
    db: Engine | None = None
    try:
        db = engine(current)
        yield db
    except CommandError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(_first_line(str(getattr(exc, "orig", None) or exc)))
    finally:
        if db is not None:
            db.dispose()


def _display_url(db: Engine) -> str:
    return db.url.render_as_string(hide_password=True)


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "database error"
