"""The database side of a scenario: a campaign, its voters, and what the scenario checks after.

Voters default to Austin numbers (512) in Texas, called at the `clock` fixture's instant
(10:00 in Austin, inside calling hours). Volunteers are not seeded: they sign up in chat.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from bot.telephony.simulated import SimulatedTelephony
from handlers.context import Context, Platform, Services, Telephony
from handlers.identity import context_for
from handlers.replies import Reply, Tone
from handlers.router import handle_command, handle_form
from handlers.send_ledger import Ledger
from handlers.sms import IncomingText, receive_text
from scheduling.jobs import JOBS, JobContext
from storage.campaign_config import CampaignConfig
from storage.clock import FrozenClock
from storage.db import session_scope
from tests.factories import (
    DEFAULT_RESULT_CODES,
    DEFAULT_SURVEY,
    campaign_config,
    make_campaign,
    make_volunteer,
    make_voter,
)

SCRIPTS = {
    "en": "Hi {{ first_name }}, I'm {{ volunteer.name }}. Your polling place is {{ polling_place }}.",
    "es": "Hola {{ voter.first_name }}, soy {{ volunteer_name }}. Vote en {{ polling_place }}.",
}
RESULT_CODES: list[dict[str, Any]] = [
    *DEFAULT_RESULT_CODES,
    {
        "code": "language",
        "label": "Language barrier",
        "kind": "retry",
        "action": "language_barrier",
    },
]
ADMINS = frozenset({"root"})
EVERY_DAY = {day: "08:00-21:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def scenario_config(**overrides: Any) -> CampaignConfig:
    """English and Spanish scripts that use file columns, the factories' survey, every day open."""
    fields: dict[str, Any] = {
        "name": "Austin GOTV",
        "scripts": SCRIPTS,
        "survey": DEFAULT_SURVEY,
        "result_codes": RESULT_CODES,
        "calling_hours": EVERY_DAY,
        "batch_size": 3,
    }
    return campaign_config(**(fields | overrides))


@dataclass
class World:
    engine: Engine
    clock: FrozenClock
    admins: frozenset[str] = ADMINS  # user names that are PHONEBANK_ADMINS on every surface
    campaign_ids: list[int] = field(default_factory=list)
    # Every text the surface's telephony sent (surfaces register `heard` as its text listener):
    # where a volunteer reads the code that proves their phone.
    texts: list[tuple[str, str]] = field(default_factory=list)
    # The send ledger of the scheduler that `Surface.tick` runs (one per world, like a leader).
    ledger: Ledger | None = None

    def campaign(self, voters: list[dict[str, Any]], **config: Any) -> int:
        """A campaign with these voters (factory overrides; `PollingPlace` etc. go in attributes)."""
        with session_scope(self.engine) as session:
            campaign = make_campaign(session, scenario_config(**config), clock=self.clock)
            campaign_id = int(campaign.id or 0)
            for fields in voters:
                make_voter(session, campaign, clock=self.clock, **fields)
        self.campaign_ids.append(campaign_id)
        return campaign_id

    def recruit(self, **fields: Any) -> int:
        """A volunteer from the imported recruiting list (an applicant no chat user claimed,
        phone not verified); their id."""
        fields = {"status": "applicant", "sms_consent": False, "phone_verified_at": None} | fields
        with session_scope(self.engine) as session:
            return int(make_volunteer(session, clock=self.clock, **fields).id or 0)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        """Rows of a query, for assertions on what the conversation stored."""
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def heard(self, text: Any) -> None:
        """A text the telephony sent (a `SentText`)."""
        self.texts.append((text.to, text.body))

    def texted_code(self, to: str | None = None) -> str:
        """The 6-digit code in the newest text (to `to`, an E.164 phone, when given)."""
        bodies = [body for phone, body in self.texts if to is None or phone == to]
        assert bodies, f"no text was sent{' to ' + to if to else ''}"
        found = re.findall(r"\b\d{6}\b", bodies[-1])
        assert found, bodies[-1]
        return str(found[0])

    def text_in(self, from_phone: str, body: str) -> str | None:
        """A text a volunteer sends to the campaign's number (Twilio's webhook); our answer."""
        services = make_services(self.engine, self.clock)
        sid = "SM" + uuid.uuid4().hex
        return receive_text(services, IncomingText(sid, from_phone, body)).reply

    def voter_phones(self) -> list[str]:
        return [row.phone for row in self.rows("SELECT phone FROM voter")]


def run_scheduled_jobs(world: World, services: Services) -> dict[str, int]:
    """Every scheduler job once, at the world's clock, speaking through `services`."""
    if world.ledger is None:
        world.ledger = Ledger(world.engine, world.clock)
    context = JobContext(services, world.ledger)
    return {job.name: job.run(context) for job in JOBS}


def voter(first_name: str, n: int, **fields: Any) -> dict[str, Any]:
    """Factory overrides for a voter on phone +1 512 555 02nn with a polling place."""
    attributes = {"PollingPlace": f"{first_name}'s School", "Precinct": f"P-{n}"}
    return {
        "first_name": first_name,
        "phone": f"+1512555{200 + n:04d}",
        "attributes": attributes,
    } | fields


def phones_in(text_shown: str, phones: list[str]) -> list[str]:
    """The voter numbers that appear in `text_shown`, however punctuated."""
    runs = {re.sub(r"\D", "", run) for run in re.findall(r"[\d(][\d\s().+\-]{8,}\d", text_shown)}
    return [phone for phone in phones if any(phone[-10:] in run for run in runs)]


class RecordingNotifier:
    """A `Notifier` that keeps what it was asked to deliver."""

    def __init__(self) -> None:
        self.to_volunteers: list[tuple[int, Reply]] = []
        self.to_channels: list[tuple[str, str, Reply]] = []

    def to_volunteer(self, volunteer_id: int, reply: Reply) -> None:
        self.to_volunteers.append((volunteer_id, reply))

    def to_channel(self, platform: Platform, channel: str, reply: Reply) -> None:
        self.to_channels.append((str(platform), channel, reply))


def make_services(
    engine: Engine,
    clock: FrozenClock,
    *,
    admins: frozenset[str] = frozenset(),
    telephony: Telephony | None = None,
) -> Services:
    """Services for handler tests: simulated telephony on the clock, a recording notifier."""
    return Services(
        engine=engine,
        clock=clock,
        telephony=telephony or SimulatedTelephony(clock),
        notifier=RecordingNotifier(),
        admins=admins,
    )


def reply_text(reply: Reply) -> str:
    """Every piece of text in a reply: its text, sections, facts, button labels, form labels."""
    parts = [reply.text, *reply.errors.values()]
    for section in reply.sections:
        parts.append(section.text)
        parts.extend(f"{fact.label}: {fact.value}" for fact in section.facts)
        parts.extend(button.label for button in section.buttons)
    parts.extend(button.label for button in reply.buttons)
    if reply.form is not None:
        parts.append(reply.form.title)
        for item in reply.form.inputs:
            parts.extend([item.label, item.hint or "", *(o.label for o in item.options)])
    return "\n".join(parts)


def signed_up_context(
    services: Services,
    user_id: str = "U1",
    phone: str = "(512) 555-0142",
    languages: tuple[str, ...] = ("en",),
    *,
    request_key: str | None = None,
) -> Context:
    """A Slack user who signed up through the form and verified their phone with the code it
    was texted (calls ring only a proven phone); their Context for the next request."""
    first = context_for(services, Platform.SLACK, "T1", user_id, display_name=user_id)
    answers = {"name": f"Volunteer {user_id}", "phone": phone, "languages": list(languages)}
    reply = handle_form(first, "pb:signup:submit", "", answers)
    assert reply.ok, reply.errors
    signed_up = context_for(services, Platform.SLACK, "T1", user_id)
    verified = handle_command(signed_up, f"verify {last_code(services.telephony)}")
    assert verified.tone is Tone.SUCCESS, verified.text
    return context_for(services, Platform.SLACK, "T1", user_id, request_key=request_key)


def last_code(telephony: Telephony) -> str:
    """The 6-digit code in the newest text a test telephony sent (the simulated one's
    `messages`, or a stub's `texts` of (to, body))."""
    if isinstance(telephony, SimulatedTelephony):
        bodies = [message.body for message in telephony.messages]
    else:
        bodies = [body for _, body in getattr(telephony, "texts", [])]
    assert bodies, "no text was sent"
    found = re.findall(r"\b\d{6}\b", bodies[-1])
    assert found, bodies[-1]
    return str(found[0])
