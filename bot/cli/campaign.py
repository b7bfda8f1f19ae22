"""`phonebank init` and `phonebank campaign` commands: start, load, list and show campaigns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from alembic.util import CommandError
from rich.table import Table
from rich.text import Text
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import console, engine, errors, fail, settings
from handlers.script_versions import file_reload_notice
from storage import migrate
from storage.campaign_config import (
    WEEKDAYS,
    CampaignConfig,
    CampaignConfigError,
    campaign_config_notes,
    load_campaign_config,
)
from storage.campaign_store import campaign_config, get_campaign, list_campaigns, save_campaign
from storage.clock import Clock, SystemClock
from storage.db import session_scope
from storage.models import Campaign

app = typer.Typer(no_args_is_help=True, help="Load and inspect campaign configurations.")
clock: Clock = SystemClock()  # tests replace it
STARTER_FILE = "campaign.yml"


def init(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write campaign.yml.", file_okay=False)
    ] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing campaign.yml.")
    ] = False,
) -> None:
    """Create the database and write a commented starter campaign.yml to edit."""
    target = directory / STARTER_FILE
    if target.exists() and not force:
        fail(f"{target} already exists: edit it, or pass --force to replace it with the starter")
    where = create_database()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        target.write_text(starter_text(), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror or exc}")
    console.print(f"Database ready: {where}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"Wrote {target}", markup=False, highlight=False, soft_wrap=True)
    console.print(_next_steps(target), markup=False, highlight=False, soft_wrap=True)


def starter_text() -> str:
    """The commented starter campaign file shipped with Phonebank."""
    return (files("bot") / "templates" / STARTER_FILE).read_text(encoding="utf-8")


@app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="The campaign's YAML file.", dir_okay=False)],
    check: Annotated[bool, typer.Option("--check", help="Only validate; store nothing.")] = False,
) -> None:
    """Validate a campaign file and store it; a campaign with the same slug is updated."""
    text = _read(file)
    try:
        config = load_campaign_config(text, str(file))
    except CampaignConfigError as exc:
        for line in exc.lines():
            errors.print(line, markup=False, highlight=False, soft_wrap=True)
        fail(f"{_count(len(exc.problems), 'problem')} in {file}; nothing was stored")
    for note in campaign_config_notes(config):
        errors.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    if check:
        console.print(
            f"{file} is valid (campaign {config.slug!r}).",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    with _database() as db, session_scope(db) as session:
        existed = get_campaign(session, config.slug) is not None
        stored = save_campaign(session, config, text, clock)
        notice = file_reload_notice(session, int(stored.id or 0), dict(config.scripts))
    verb = "updated" if existed else "created"
    console.print(
        f"Campaign {config.slug!r} {verb} from {file}.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if notice:
        console.print(f"note: {notice}", markup=False, highlight=False, soft_wrap=True)


@app.command("list")
def list_command() -> None:
    """List the stored campaigns."""
    with _database() as db, session_scope(db) as session:
        campaigns = list_campaigns(session)
    if not campaigns:
        console.print("No campaigns yet: store one with `phonebank campaign load FILE`.")
        return
    table = Table("slug", "name", "caller id", "languages", "updated (UTC)")
    for campaign in campaigns:
        scripts = campaign.config.get("scripts", {})
        _add_row(
            table,
            campaign.slug,
            campaign.name,
            str(campaign.config.get("caller_id", "")),
            ", ".join(scripts),
            f"{campaign.updated_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command("show")
def show(
    slug: Annotated[str, typer.Argument(help="The campaign's slug.")],
    scripts: Annotated[bool, typer.Option("--scripts", help="Print the scripts too.")] = False,
) -> None:
    """Show a stored campaign's settings, result codes, survey and training."""
    with _database() as db, session_scope(db) as session:
        campaign = get_campaign(session, slug)
    if campaign is None:
        fail(f"no campaign {slug!r} (see `phonebank campaign list`)")
    try:
        config = campaign_config(campaign)
    except CampaignConfigError as exc:
        fail(f"the stored configuration of {slug!r} is invalid: {'; '.join(exc.lines())}")
    for table in (
        _settings_table(campaign, config),
        _hours_table(config),
        _results_table(config),
        _survey_table(config),
        _training_table(config),
    ):
        if table.row_count:
            console.print(table)
    if scripts:
        for language, body in config.scripts.items():
            console.rule(f"script: {language}")
            console.print(body, markup=False, highlight=False)


def register_root_commands(root: typer.Typer) -> None:
    """Top-level commands of this module (`phonebank init`)."""
    root.command("init")(init)


def create_database() -> str:
    """Migrate the configured database to the newest schema; describe it for display."""
    with _database(schema_needed=False) as db:
        migrate.upgrade(db)
        revision = migrate.current_revision(db)
        return f"{db.url.render_as_string(hide_password=True)} (schema revision {revision})"


def slug_of(file: Path) -> str:
    """The slug of a campaign file (which `load` has validated)."""
    return load_campaign_config(_read(file), str(file)).slug


@contextmanager
def _database(schema_needed: bool = True) -> Iterator[Engine]:
    """The settings' database; a failure becomes one error line, with a hint if it is empty."""
    db = engine(settings())
    try:
        yield db
    except CommandError as exc:  # Alembic: e.g. the database is at a revision we do not know
        fail(f"cannot migrate the database: {exc}")
    except SQLAlchemyError as exc:
        message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if schema_needed and not _has_campaign_table(db):
            message += (
                " (the database has no tables: run `phonebank init` or `phonebank db upgrade`)"
            )
        fail(f"database error: {message}")
    finally:
        db.dispose()


def _has_campaign_table(db: Engine) -> bool:
    try:
        return inspect(db).has_table("campaign")
    except SQLAlchemyError:
        return False


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")


def _next_steps(target: Path) -> str:
    return "\n".join(
        [
            "",
            "Next steps:",
            f"  1. Edit {target}: name, caller id, scripts, result codes, calling hours.",
            f"  2. phonebank campaign load {target}",
            "  3. phonebank import voters VOTERS.csv --campaign SLUG",
            "  4. phonebank stats --campaign SLUG",
        ]
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _add_row(table: Table, *cells: str) -> None:
    """A row of plain text: names, labels and questions are the organizer's, not rich markup."""
    table.add_row(*(Text(cell) for cell in cells))


def _settings_table(campaign: Campaign, config: CampaignConfig) -> Table:
    table = Table("setting", "value", title=Text(f"{config.name} ({config.slug})"))
    languages = [
        f"{lang} (default)" if lang == config.default_language else lang for lang in config.scripts
    ]
    board = config.leaderboard
    rows = {
        "caller id": config.caller_id,
        "time zone": config.time_zone,
        "languages": ", ".join(languages),
        "batch": f"{config.batch_size} voters, held {config.batch_lease_minutes} min",
        "attempts": f"at most {config.attempts.max_attempts}, {config.attempts.min_gap_hours:g} h apart",
        "leaderboard": f"{board.metric} at '{board.schedule}'" if board.schedule else "off",
        "goals": ", ".join(
            f"{g.metric} {g.target}" + (f" by {g.deadline}" if g.deadline else "")
            for g in config.goals
        ),
        "manual dialing": "on" if config.manual_dialing else "off",
        "recording": "on" if config.recording else "off",
        "voicemail drop": config.voicemail_url or "off",
        "updated": f"{campaign.updated_at:%Y-%m-%d %H:%M} UTC",
    }
    for name, value in rows.items():
        _add_row(table, name, value or "—")
    return table


def _hours_table(config: CampaignConfig) -> Table:
    hours = config.calling_hours
    table = Table("day", "window (voter local time, within 08:00-21:00)", title="calling hours")
    for day in WEEKDAYS:
        window = getattr(hours, day)
        _add_row(table, day, f"{window.start:%H:%M}-{window.end:%H:%M}" if window else "closed")
    if hours.blackout_dates:
        _add_row(table, "no calls", ", ".join(str(d) for d in hours.blackout_dates))
    return table


def _results_table(config: CampaignConfig) -> Table:
    table = Table(title="result codes")
    table.add_column("key")
    table.add_column("code", no_wrap=True)
    table.add_column("label")
    table.add_column("kind")
    table.add_column("action", no_wrap=True)
    table.add_column("survey")
    for code in config.result_codes:
        _add_row(
            table,
            "" if code.keypad is None else str(code.keypad),
            code.code,
            code.label,
            code.kind.value,
            code.action.value if code.action else "",
            "yes" if code.survey else "",
        )
    return table


def _survey_table(config: CampaignConfig) -> Table:
    table = Table("id", "question", "choices", title="survey")
    for question in config.survey:
        required = " (required)" if question.required else ""
        _add_row(table, question.id, question.question + required, " / ".join(question.choices))
    return table


def _training_table(config: CampaignConfig) -> Table:
    table = Table("id", "title", "quiz", "pass", title="training")
    for module in config.training:
        _add_row(table, module.id, module.title, str(len(module.quiz)), f"{module.pass_score:.0%}")
    return table
