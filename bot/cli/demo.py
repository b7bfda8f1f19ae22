"""`phonebank demo`: the whole local pipeline on the embedded default, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli import campaign, exports, imports
from bot.cli.common import console, fail
from bot.cli.console import open_console

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def demo(
    examples: Annotated[
        Path,
        typer.Option(
            "--examples",
            help="Folder with campaign.yml and voters.csv.",
            file_okay=False,
        ),
    ] = EXAMPLES,
    no_console: Annotated[
        bool, typer.Option("--no-console", help="Set up and show the stats only; no chat.")
    ] = False,
    as_name: Annotated[
        str | None, typer.Option("--as", help="Who you are in the chat (default: your login name).")
    ] = None,
) -> None:
    """Set up a demo campaign on the configured database (SQLite by default), then chat with it.

    Migrates the database, loads examples/campaign.yml, imports examples/dnc.csv (if present)
    and examples/voters.csv (bad rows go to voters.rejects.csv beside it), prints the
    campaign's figures and opens the console: sign up, take a batch, call (simulated), log
    outcomes. Safe to run again: the campaign is updated and every voter found unchanged.
    """
    campaign_file, voters_file = examples / "campaign.yml", examples / "voters.csv"
    dnc_file = examples / "dnc.csv"
    for needed in (campaign_file, voters_file):
        if not needed.is_file():
            fail(f"{needed} not found: pass --examples DIR with campaign.yml and voters.csv")
    console.rule("1. database")
    console.print(campaign.create_database(), markup=False, highlight=False, soft_wrap=True)
    console.rule("2. campaign")
    campaign.load(campaign_file)
    slug = campaign.slug_of(campaign_file)
    if dnc_file.is_file():
        console.rule("3. do-not-call list")
        imports.dnc(dnc_file, as_json=False)
    console.rule("4. voters")
    imports.voters(voters_file, campaign=slug, column_map=None, as_json=False)
    console.rule("5. stats")
    exports.stats(campaign=slug, as_json=False)
    console.print(
        f"\nNext: `phonebank console` to chat again, `phonebank campaign show {slug}`, "
        f"`phonebank export results --campaign {slug} -o results.csv`.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if not no_console:
        console.rule("6. chat (calls are simulated; type quit to leave)")
        open_console(as_name)
