"""`phonebank export results` and `phonebank stats`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.cli.common import console, engine, errors, fail
from storage.campaign_config import CampaignConfig, CampaignConfigError
from storage.campaign_store import campaign_config, get_campaign
from storage.clock import Clock, SystemClock
from storage.db import read_session
from storage.export import atomic_text_file, parse_since, write_results
from storage.models import Campaign
from storage.reports import CampaignStats, campaign_stats

app = typer.Typer(no_args_is_help=True)
clock: Clock = SystemClock()  # tests replace it to fix "today"

CampaignOption = Annotated[str, typer.Option("--campaign", help="The campaign's slug.")]


@app.command("results")
def export_results(
    campaign: CampaignOption,
    output: Annotated[
        str, typer.Option("--output", "-o", help="CSV file to write, or - for stdout.")
    ],
    since: Annotated[
        str | None,
        typer.Option(help="Only attempts started at or after this UTC date or ISO timestamp."),
    ] = None,
) -> None:
    """Write one CSV row per call attempt, keyed by VanID, for bulk upload to a voter file."""
    try:
        since_at = parse_since(since) if since is not None else None
    except ValueError as exc:
        fail(f"--since: {exc}")
    try:
        with read_session(engine()) as session:
            found, config = _campaign(session, campaign)
            if output == "-":
                count = write_results(session, found, config, sys.stdout, since_at)
                where = "stdout"
            else:
                target = Path(output)
                with atomic_text_file(target) as out:
                    count = write_results(session, found, config, out, since_at)
                where = str(target)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    except SQLAlchemyError as exc:
        fail(f"database error: {_first_line(exc)}")
    errors.print(f"{count} rows written to {where}", highlight=False, soft_wrap=True)


def stats(
    campaign: CampaignOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Voters by status, attempts, contacts and contact rate, overall and today."""
    try:
        with read_session(engine()) as session:
            found, config = _campaign(session, campaign)
            figures = campaign_stats(session, found, config, clock.now())
    except ValueError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"database error: {_first_line(exc)}")
    if as_json:
        sys.stdout.write(json.dumps(figures.as_json(), indent=2) + "\n")
    else:
        console.print(_stats_table(figures))
        console.print(_results_table(figures))


def register_root_commands(root: typer.Typer) -> None:
    """Top-level commands of this module (`phonebank stats`)."""
    root.command("stats")(stats)


def _campaign(session: Session, slug: str) -> tuple[Campaign, CampaignConfig]:
    campaign = get_campaign(session, slug)
    if campaign is None:
        fail(f"no campaign {slug!r} (see `phonebank campaign list`)")
    try:
        return campaign, campaign_config(campaign)
    except CampaignConfigError as exc:
        fail(f"the stored configuration of {slug!r} is invalid: {'; '.join(exc.lines())}")


def _stats_table(figures: CampaignStats) -> Table:
    table = Table(title=figures.campaign, caption=f"today: {figures.today}, {figures.time_zone}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for status, count in figures.voters_by_status.items():
        table.add_row(f"voters {status}", str(count))
    table.add_row("voters total", str(figures.voters_total), end_section=True)
    table.add_row("attempts", str(figures.attempts))
    table.add_row("contacts", str(figures.contacts))
    rate = "—" if figures.contact_rate is None else f"{figures.contact_rate:.1%}"
    table.add_row("contact rate", rate, end_section=True)
    table.add_row("attempts today", str(figures.attempts_today))
    table.add_row("contacts today", str(figures.contacts_today))
    return table


def _results_table(figures: CampaignStats) -> Table:
    table = Table(title="attempts by result")
    for name in ("code", "label", "kind"):
        table.add_column(name)
    table.add_column("attempts", justify="right")
    table.add_column("today", justify="right")
    for row in figures.by_result:
        table.add_row(row.code or "", row.label, row.kind or "", str(row.attempts), str(row.today))
    return table


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
