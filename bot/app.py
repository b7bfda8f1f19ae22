"""The composition root: the real (or simulated) edges, wired into the `Services` the core uses.

`build_services` picks the database, the clock, telephony (simulated unless Twilio is set up)
and a `FanOutNotifier`, to which every chat adapter that runs registers its own `Notifier`;
the core then speaks to volunteers without knowing which platforms are on.
"""

from __future__ import annotations

import os

from sqlalchemy.engine import Engine

from bot.later import DEFAULT_THREADS as LATER_THREADS
from bot.outbox import THREADS as OUTBOX_THREADS
from bot.settings import Settings
from bot.telephony import telephony_for
from bot.telephony.simulated import CallEvent, SimulatedTelephony
from bot.telephony.softphone import softphone_links
from bot.telephony.twilio_backend import TwilioTelephony
from handlers.calls import call_status_changed
from handlers.context import Later, Notifier, OutboxWorker, Platform, Services, Telephony
from handlers.replies import Reply
from handlers.verification import ring_refusal
from storage.clock import Clock, SystemClock
from storage.db import make_engine, normalize_url


class FanOutNotifier:
    """A `Notifier` that hands every message to each registered platform's notifier.

    Each platform's notifier delivers what is for it (a volunteer's identities on its platform,
    its own channels) and ignores the rest.
    """

    def __init__(self) -> None:
        self._notifiers: dict[Platform, Notifier] = {}

    def register(self, platform: Platform, notifier: Notifier) -> None:
        """Deliver through `notifier` from now on (replacing an earlier one for the platform)."""
        self._notifiers[platform] = notifier

    @property
    def platforms(self) -> list[Platform]:
        return list(self._notifiers)

    def to_volunteer(self, volunteer_id: int, reply: Reply) -> None:
        """On every platform the volunteer may be on."""
        for notifier in list(self._notifiers.values()):
            notifier.to_volunteer(volunteer_id, reply)

    def to_channel(self, platform: Platform, channel: str, reply: Reply) -> None:
        """Through that platform's notifier, if it runs."""
        notifier = self._notifiers.get(platform)
        if notifier is not None:
            notifier.to_channel(platform, channel, reply)


# Requests whose work runs in worker threads at once (Twilio's voice webhooks, through
# Starlette's thread pool, whose default is 40): more would only contend for the same cores and
# hold more database connections; the rest wait their turn, in order. bot/web.py applies it.
WORKER_THREADS = 16
# Threads of a Slack adapter's own for the database work an ack waits for (the replay check, the
# request owed to the outbox): on asyncio's default executor it would queue behind the
# conversations of a shift-start burst, and the acks would wait for them (issue 11's cause).
ACK_THREADS = 4
# The same for a Discord adapter: the request owed to the outbox before an interaction's first
# response, never queued behind the adapter's own conversation threads.
DISCORD_ACK_THREADS = 4


def database_engine(settings: Settings) -> Engine:
    """The engine of a Phonebank process. On PostgreSQL its pool keeps a connection for every
    thread that may use one at once (the web app's worker threads, asyncio's default executor,
    the Slack and Discord acks', the card updates after the answer, the outbox's), so a busy web process never closes and reopens
    connections: each new one costs a server process and its planned statements."""
    url = settings.database_url
    if normalize_url(url).get_backend_name() != "postgresql":
        return make_engine(url)
    asyncio_workers = min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default
    pool = WORKER_THREADS + asyncio_workers + ACK_THREADS + LATER_THREADS + 2 * OUTBOX_THREADS
    pool += DISCORD_ACK_THREADS
    return make_engine(url, pool_size=pool, max_overflow=10)


def build_services(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    telephony: Telephony | None = None,
    notifier: Notifier | None = None,
    later: Later | None = None,
    outbox: OutboxWorker | None = None,
) -> Services:
    """Services for one process; anything passed in replaces what the settings would pick."""
    clock = clock or SystemClock()
    telephony = telephony or telephony_for(settings, clock)
    engine = engine or database_engine(settings)
    policy = settings.phone_policy
    services = Services(
        engine=engine,
        clock=clock,
        telephony=telephony,
        notifier=notifier or FanOutNotifier(),
        admins=frozenset(settings.phonebank_admins),
        default_region=settings.phonebank_default_region,
        later=later,
        softphone=softphone_links(settings, clock),
        phone_policy=policy,
        outbox=outbox,
        public_base_url=settings.public_base_url,
        dashboard_url=settings.public_base_url.rstrip("/") + "/dashboard",
    )
    if isinstance(telephony, TwilioTelephony):  # it rings only what a volunteer proved
        telephony.prove_with(lambda target: ring_refusal(engine, policy, target))
    if isinstance(telephony, SimulatedTelephony):
        telephony.on_status(lambda event: _report_call(services, event))
    return services


def _report_call(services: Services, event: CallEvent) -> None:
    call_status_changed(services, event.call_sid, event.status)
