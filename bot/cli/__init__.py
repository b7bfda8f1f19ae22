"""The `phonebank` command. Each command group lives in its own module of this package."""

from __future__ import annotations

import typer

from bot.cli import (
    campaign,
    console,
    database,
    demo,
    discord_bot,
    exports,
    imports,
    roles,
    run,
    scheduler,
)

app = typer.Typer(
    name="phonebank",
    help="Run a virtual phone bank from Slack or Discord, with calls bridged through Twilio.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(database.app, name="db", help="Create or migrate the database.")
app.add_typer(campaign.app, name="campaign", help="Load and inspect campaign configurations.")
app.add_typer(
    imports.app, name="import", help="Import voters, do-not-call numbers and volunteers from CSV."
)
app.add_typer(
    exports.app, name="export", help="Export call results for upload back into a voter file."
)
app.add_typer(roles.app, name="role", help="Grant, revoke and list chat users' roles.")
app.command("demo")(demo.demo)
app.command("console")(console.console)
app.command("run")(run.run)
app.command("web")(run.web)
app.command("discord")(discord_bot.discord)
app.command("scheduler")(scheduler.scheduler)
campaign.register_root_commands(app)
exports.register_root_commands(app)
