"""`phonebank import` commands: voters, do-not-call, volunteers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import console, engine, errors, fail, settings
from matching.pool import resolve_all_zone_keys
from storage.campaign_store import get_campaign
from storage.clock import Clock, SystemClock
from storage.db import read_session
from storage.importing import (
    MAP_TARGETS,
    ImportFailure,
    ImportSummary,
    import_dnc,
    import_volunteers,
    import_voters,
)
from storage.importing.csv_source import ProgressCallback

app = typer.Typer(no_args_is_help=True)
clock: Clock = SystemClock()  # tests may replace it

FileArgument = Annotated[Path, typer.Argument(help="The CSV file to import.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]


@app.command("voters")
def voters(
    file: FileArgument,
    campaign: Annotated[str, typer.Option("--campaign", help="The campaign's slug.")],
    column_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="COLUMN=FIELD",
            help=f"Read COLUMN as FIELD ({', '.join(MAP_TARGETS)}); repeatable.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Import a voter file (VAN-style CSV) into a campaign; bad rows go to FILE.rejects.csv."""
    current = settings()
    db = engine(current)

    def import_and_prepare(progress: ProgressCallback | None) -> ImportSummary:
        summary = import_voters(
            db,
            file,
            campaign,
            clock,
            column_map=column_map or [],
            default_region=current.phonebank_default_region,
            on_progress=progress,
        )
        _prepare_calling_zones(db, campaign, quiet=as_json)
        return summary

    _run(as_json, import_and_prepare)


def _prepare_calling_zones(db: Engine, slug: str, quiet: bool) -> None:
    """Work out new and changed voters' calling zones now, so the first claims stay fast."""
    with read_session(db) as session:
        found = get_campaign(session, slug)
        campaign_id = found.id if found is not None else None
    if campaign_id is None:
        return
    with errors.status("preparing calling zones", spinner="dots") if not quiet else nullcontext():
        resolve_all_zone_keys(db, campaign_id)


@app.command("dnc")
def dnc(file: FileArgument, as_json: JsonOption = False) -> None:
    """Add numbers to the do-not-call list of every campaign (a phone column, or one a line)."""
    current = settings()
    _run(
        as_json,
        lambda progress: import_dnc(
            engine(current),
            file,
            clock,
            default_region=current.phonebank_default_region,
            on_progress=progress,
        ),
    )


@app.command("volunteers")
def volunteers(file: FileArgument, as_json: JsonOption = False) -> None:
    """Load a recruiting list (name, phone, email, languages) as volunteer applicants."""
    current = settings()
    _run(
        as_json,
        lambda progress: import_volunteers(
            engine(current),
            file,
            clock,
            default_region=current.phonebank_default_region,
            on_progress=progress,
        ),
    )


def _run(as_json: bool, run: Callable[[ProgressCallback | None], ImportSummary]) -> None:
    try:
        with _progress(enabled=not as_json and errors.is_terminal) as progress:
            summary = run(progress)
    except ImportFailure as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")
    except OSError as exc:
        fail(f"{exc.filename or 'file'}: {exc.strerror or exc}")
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
        return
    for warning in summary.warnings:
        errors.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    console.print(_table(summary))


@contextmanager
def _progress(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A bytes-read progress bar on the terminal; nothing when piped or printing JSON."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("importing"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=errors, transient=True) as bar:
        task = bar.add_task("import", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def _table(summary: ImportSummary) -> Table:
    table = Table(title=f"{summary.kind} import", show_header=False, min_width=30)
    table.add_column("count", justify="left")
    table.add_column("value", justify="right")
    for name in ("read", "imported", "updated", "unchanged", "rejected"):
        table.add_row(name, f"{getattr(summary, name):,}")
    if summary.kind == "voters":
        table.add_row("on_dnc", f"{summary.on_dnc:,}")
    if summary.rejects_file:
        table.add_row("rejects file", summary.rejects_file)
    return table
