"""`phonebank discord`: the Discord gateway client alone, for the scaled layout.

Exactly one per bot token (docker-compose.yml runs one replica). It answers every interaction,
sends the card updates of the calls placed from Discord, and, when Twilio is not set up, moves
simulated calls along. Reconnects are discord.py's; buttons on old messages keep working after
a restart because their action travels in their custom id.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from bot.app import build_services
from bot.cli.common import console, engine, fail, require_migrated, settings
from bot.cli.run import secrets_of, tick_simulated_calls
from bot.discord.app import DiscordAdapter, discord_for
from bot.later import LaterWork
from bot.logs import configure_logging
from handlers.context import Services


def discord() -> None:
    """Run the Discord gateway client alone (one per bot token)."""
    current = settings()
    if not current.discord_enabled:
        fail('Discord is off: set DISCORD_BOT_TOKEN (README: "Connecting Discord")')
    db = engine(current)
    require_migrated(db)
    restore_logging = configure_logging(secrets_of(current))
    later = LaterWork()
    services = build_services(current, engine=db, later=later.submit)
    adapter = discord_for(current, services)
    assert adapter is not None
    console.print(f"Phonebank on Discord, REST at {current.discord_api_url}", highlight=False)
    where = ", ".join(current.discord_guild_ids) or "every guild (global commands)"
    console.print(f"  /phonebank for {where}", highlight=False)
    try:
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            asyncio.run(serve(adapter, services))
    finally:
        later.close(10.0)
        restore_logging()
        db.dispose()


async def serve(adapter: DiscordAdapter, services: Services) -> None:
    """The gateway, and the simulated calls' clock when telephony is simulated, until SIGTERM
    or SIGINT (docker stop, Ctrl-C): then the answers under way finish and the client closes."""
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if main is not None:
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, main.cancel)
    ticking = asyncio.ensure_future(tick_simulated_calls(services.telephony))
    try:
        await adapter.run_gateway()
    finally:
        ticking.cancel()
