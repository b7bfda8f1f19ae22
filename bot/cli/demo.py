"""`phonebank demo`: the whole local pipeline on the embedded default, in one command."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from bot.cli import campaign, exports, imports
from bot.cli.common import console, engine, fail
from bot.cli.console import open_console
from matching.hours import check_zone, legal_window
from storage.campaign_config import CampaignConfig
from storage.campaign_store import campaign_config, get_campaign
from storage.clock import Clock, SystemClock
from storage.db import read_session

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
        at, note = calling_hours_clock(_config(slug), SystemClock())
        if note:
            console.print(note, markup=False, highlight=False, soft_wrap=True)
        open_console(as_name, at=at)


class ShiftedClock:
    """Another clock's time moved by a fixed offset: the demo's "pretend it is noon"."""

    def __init__(self, clock: Clock, offset: timedelta) -> None:
        self.clock, self.offset = clock, offset

    def now(self) -> datetime:
        return self.clock.now() + self.offset


def calling_hours_clock(config: CampaignConfig, clock: Clock) -> tuple[Clock, str | None]:
    """`clock`, or, outside the campaign's calling hours, a clock moved into them, and why.

    Only for the demo: its voters are all in the campaign's time zone, and a demo at night
    should still show a batch. Real consoles and chats always use the real time.
    """
    zone, hours, now = config.time_zone, config.calling_hours, clock.now()
    if check_zone(zone, now, hours).ok:
        return clock, None
    today = now.astimezone(ZoneInfo(zone)).date()
    for day in (today + timedelta(days=n) for n in range(8)):
        window = legal_window(hours, day)
        if window is None:
            continue
        middle = datetime.combine(day, _midpoint(*window), tzinfo=ZoneInfo(zone))
        note = (
            f"It is outside calling hours in {zone} now, so this demo pretends it is"
            f" {middle:%A %H:%M} there. Calls are simulated."
        )
        return ShiftedClock(clock, middle.astimezone(UTC) - now), note
    return clock, None


def _midpoint(start: time, end: time) -> time:
    minutes = (start.hour * 60 + start.minute + end.hour * 60 + end.minute) // 2
    return time(minutes // 60, minutes % 60)


def _config(slug: str) -> CampaignConfig:
    db = engine()
    try:
        with read_session(db) as session:
            found = get_campaign(session, slug)
            if found is None:
                fail(f"the demo campaign {slug!r} was not stored")
            return campaign_config(found)
    finally:
        db.dispose()
