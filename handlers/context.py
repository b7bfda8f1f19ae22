"""Who is asking, from where, with which roles, and the services a conversation may use.

The ports (`Telephony`, `Notifier`) are what the core needs from the edges; `bot/app.py`, the
composition root, hands in the real or simulated implementations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from sqlalchemy.engine import Engine

from handlers.replies import Reply
from matching.phones import PhonePolicy
from storage.clock import Clock
from storage.models import Role


class Platform(StrEnum):
    SLACK = "slack"
    DISCORD = "discord"
    CONSOLE = "console"
    SMS = "sms"


@dataclass(frozen=True)
class CallRequest:
    """Ring the volunteer, then bridge to the voter, showing the campaign's caller id."""

    attempt_id: int
    volunteer_phone: str  # E.164, a SIP address ("sip:...") or a softphone ("client:...")
    voter_phone: str  # E.164; never shown in chat
    caller_id: str
    whisper: str  # said to the volunteer before the voter is dialed ("Connecting you to Maria")
    session_id: int | None = None  # the calling session this call belongs to (CallSession)


class TelephonyFailure(StrEnum):
    """What went wrong, in the terms the core acts on (Twilio's error codes map to these)."""

    INVALID_NUMBER = "invalid_number"  # 21211: the number cannot be called or texted
    UNSUBSCRIBED = "unsubscribed"  # 21610: the recipient replied STOP to this sender
    CANNOT_RECEIVE_SMS = "cannot_receive_sms"  # 21614 not a mobile, 21635 a landline
    CALLER_ID = "caller_id"  # 13214, 21210: the campaign's caller id is not set up
    BLOCKED = "blocked"  # 21216: the destination is blocked
    RATE_LIMITED = "rate_limited"  # 20429
    OUTAGE = "outage"  # 5xx, timeouts, connection errors: try again later
    OTHER = "other"


class TelephonyError(Exception):
    """A call or text the backend could not place. Only `OUTAGE` and `RATE_LIMITED` are worth
    retrying; the message never quotes a phone number."""

    def __init__(self, failure: TelephonyFailure, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.failure = failure
        self.code = code


@dataclass(frozen=True)
class CallHandle:
    call_sid: str
    status: str
    # True when `call_sid` is the volunteer's leg and the voter is dialed later from inside it
    # (Twilio); False when it is the voter's call itself (the simulated backend).
    volunteer_leg: bool = False


class Telephony(Protocol):
    """Places bridged calls and sends SMS: Twilio in production, simulated locally."""

    def place_call(self, request: CallRequest) -> CallHandle:
        """Start the bridge: the volunteer's phone rings first. Raises `TelephonyError`."""

    def continue_session(self, session_call_sid: str, request: CallRequest) -> CallHandle:
        """Dial the next voter from the volunteer's live call (no new ring of the volunteer)."""

    def drop_voicemail(self, voter_call_sid: str, recording_url: str) -> None:
        """Play the recording on the voter's leg and hang it up; the volunteer's call goes on."""

    def send_sms(self, to: str, body: str) -> str:
        """Send a text to a volunteer who consented; returns the message id. Raises
        `TelephonyError`."""


class Notifier(Protocol):
    """Speaks without being asked: reminders, broadcasts, leaderboards, card updates."""

    def to_volunteer(self, volunteer_id: int, reply: Reply) -> None:
        """Deliver to a volunteer on whatever platform they use."""

    def to_channel(self, platform: Platform, channel: str, reply: Reply) -> None:
        """Post to a channel."""


class Later(Protocol):
    """Runs work after the current request is answered; newer work under a waiting key
    replaces the older, or with `replace=False` leaves it waiting instead (bot/later.py). In
    memory: only for redraws; work whose loss changes the truth goes to handlers/outbox.py."""

    def __call__(self, key: str, work: Callable[[], None], *, replace: bool = True) -> None: ...


class OutboxWorker(Protocol):
    """Carries out the rows of the durable outbox in the background (handlers/outbox.py)."""

    def wake(self) -> None:
        """Rows were committed: look for due work now rather than at the next poll."""


class Softphone(Protocol):
    """Personal links to the browser softphone page (bot/telephony/softphone.py)."""

    def link_for(self, volunteer_id: int, version: int = 0) -> str:
        """A signed link that lets this volunteer take their calls in the browser for a while,
        as long as their `softphone_version` is still `version`."""


@dataclass(frozen=True)
class Services:
    engine: Engine
    clock: Clock
    telephony: Telephony
    notifier: Notifier
    admins: frozenset[str] = frozenset()  # "platform:user_id" from PHONEBANK_ADMINS
    default_region: str = "US"
    # Where card updates go when they need not hold up the request (the web servers); None:
    # done at once, in order (the console and most tests).
    later: Later | None = None
    # Links to the browser softphone; None where it is not set up (no Twilio API key).
    softphone: Softphone | None = None
    # What volunteers' phones and SIP addresses may be rung or texted (countries, SIP domains).
    phone_policy: PhonePolicy = PhonePolicy()
    # Runs the outbox's rows in the background (bot/outbox.py); None: `handlers.outbox.owed`
    # runs them at once, in the caller's thread (the console, most tests).
    outbox: OutboxWorker | None = None
    # Where links into the web app point (a shift's calendar file); None: no such links.
    public_base_url: str | None = None
    # Where `/phonebank dashboard` links point (PUBLIC_BASE_URL + /dashboard); None: not served.
    dashboard_url: str | None = None

    def after_request(self, key: str, work: Callable[[], None], *, replace: bool = True) -> None:
        """`work` after the request is answered when the process can, else now. `replace`:
        False when work already waiting under `key` does all that `work` would."""
        if self.later is None:
            work()
        elif replace:
            self.later(key, work)
        else:
            self.later(key, work, replace=False)


@dataclass(frozen=True)
class Context:
    platform: Platform
    workspace: str  # Slack team id, Discord guild id, "local" on the console
    user_id: str
    services: Services
    display_name: str = ""
    roles: frozenset[Role] = field(default_factory=lambda: frozenset({Role.VOLUNTEER}))
    volunteer_id: int | None = None  # the linked volunteer, once signed up
    channel: str | None = None
    # The platform's id for this request, the same on every retry of it: side effects (a claim,
    # a logged outcome) store it under a unique constraint, so a retry never repeats them.
    request_key: str | None = None

    @property
    def identity(self) -> str:
        """`platform:user_id`, the form PHONEBANK_ADMINS and the audit log use."""
        return f"{self.platform}:{self.user_id}"

    def has_role(self, role: Role) -> bool:
        """Admins hold every role."""
        return role in self.roles or Role.ADMIN in self.roles
