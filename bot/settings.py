"""Settings from the environment (and an optional `.env`), as DESIGN.md lists them."""

from __future__ import annotations

import re
from typing import Annotated

import phonenumbers
from pydantic import AnyHttpUrl, Field, TypeAdapter, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from matching.phones import PhonePolicy
from storage.db import normalize_url

ADMIN_PLATFORMS = ("slack", "discord", "console")
MAPPABLE_ROLES = ("organizer", "coordinator", "admin")
_http_url = TypeAdapter(AnyHttpUrl)
_SIP_DOMAIN = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# What a user id looks like on each platform, and how to say it when it does not.
_ADMIN_USER_IDS = {
    "slack": (re.compile(r"[A-Z0-9]+"), "a Slack user id is letters and digits, like U0123ABC"),
    "discord": (re.compile(r"[0-9]+"), "a Discord user id is a number"),
    "console": (re.compile(r"[\w.@-]+"), "a console user is one word"),
}


class SettingsError(ValueError):
    """A setting has a value the app cannot use; the message names the variable."""


class Settings(BaseSettings):
    """Every knob of a Phonebank process. Unset chat or phone credentials turn that edge off."""

    # An empty variable (`SLACK_BOT_TOKEN=` in .env) means unset: the default applies.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    database_url: str = "sqlite:///phonebank.db"

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"

    discord_bot_token: str | None = None
    discord_api_url: str = "https://discord.com/api/v10"
    # Guilds to sync /phonebank to at once (and the only ones served); empty: global, every guild.
    discord_guild_ids: Annotated[tuple[str, ...], NoDecode] = ()
    # Phonebank roles from Discord roles by name: `organizer:Organizers,coordinator:Field Leads`.
    discord_role_map: Annotated[tuple[tuple[str, str], ...], NoDecode] = ()

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_caller_id: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    # Outbound calls placed per second across the process (Twilio's default account limit: 1).
    twilio_calls_per_second: float = Field(default=1.0, gt=0, le=100)
    # An API key (SK...) and its secret: they sign the access tokens of the browser softphone.
    twilio_api_key_sid: str | None = None
    twilio_api_key_secret: str | None = None

    public_base_url: str = "http://127.0.0.1:8000"
    phonebank_admins: Annotated[tuple[str, ...], NoDecode] = ()
    phonebank_default_region: str = "US"
    # Countries whose phones volunteers' calls and texts may go to (ISO codes, comma separated).
    phonebank_allowed_countries: Annotated[tuple[str, ...], NoDecode] = ("US", "CA")
    # Hosts whose SIP addresses calls may ring (`*.example.com` for its subdomains); empty: no SIP.
    phonebank_sip_domains: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        try:
            url = normalize_url(value)
        except (ArgumentError, ValueError) as exc:
            raise ValueError(f"not a SQLAlchemy database URL ({exc})") from None
        try:
            dialect = url.get_dialect()
        except NoSuchModuleError:
            raise ValueError(f"unknown database kind {url.drivername!r}") from None
        try:
            dialect().create_connect_args(url)  # checks the URL's form; connects to nothing
        except ArgumentError as exc:
            raise ValueError(_first_line(str(exc))) from None
        return value

    @field_validator("slack_api_url", "discord_api_url", "twilio_api_url", "public_base_url")
    @classmethod
    def _is_http_url(cls, value: str) -> str:
        _http_url.validate_python(value)
        return value

    @field_validator("twilio_caller_id")
    @classmethod
    def _caller_id_is_e164(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            number = phonenumbers.parse(value, "US")
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"not a phone number ({exc})") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("phonebank_admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
        return tuple(_parse_admin(item) for item in (str(i).strip() for i in items) if item)

    @field_validator("discord_guild_ids", mode="before")
    @classmethod
    def _split_guild_ids(cls, value: object) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
        ids = tuple(item for item in (str(i).strip() for i in items) if item)
        for item in ids:
            if not item.isdigit():
                raise ValueError(f"{item!r}: a Discord guild id is a number")
        return ids

    @field_validator("discord_role_map", mode="before")
    @classmethod
    def _split_role_map(cls, value: object) -> tuple[tuple[str, str], ...]:
        if not isinstance(value, str):
            return tuple(tuple(pair) for pair in value)  # type: ignore[attr-defined]
        return tuple(_parse_role_pair(item.strip()) for item in value.split(",") if item.strip())

    @field_validator("phonebank_default_region")
    @classmethod
    def _region_known(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (e.g. US)")
        return region

    @field_validator("phonebank_allowed_countries", mode="before")
    @classmethod
    def _split_countries(cls, value: object) -> tuple[str, ...]:
        countries = tuple(item.upper() for item in _items(value))
        unknown = [c for c in countries if c not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: not a country code phonenumbers knows (US, CA)"
            )
        if not countries:
            raise ValueError("name at least one country, like US,CA")
        return countries

    @field_validator("phonebank_sip_domains", mode="before")
    @classmethod
    def _split_sip_domains(cls, value: object) -> tuple[str, ...]:
        domains = tuple(item.lower() for item in _items(value))
        wrong = [d for d in domains if not _SIP_DOMAIN.fullmatch(d)]
        if wrong:
            raise ValueError(f"{', '.join(wrong)}: not a host name (like example.sip.twilio.com)")
        return domains

    @property
    def phone_policy(self) -> PhonePolicy:
        """What volunteers' calls and texts may ring: these countries, these SIP domains."""
        return PhonePolicy(
            frozenset(self.phonebank_allowed_countries), frozenset(self.phonebank_sip_domains)
        )

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def discord_enabled(self) -> bool:
        return bool(self.discord_bot_token)

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_caller_id)

    @property
    def softphone_enabled(self) -> bool:
        """Volunteers may take calls in the browser: Twilio is on and an API key signs tokens."""
        return bool(self.twilio_enabled and self.twilio_api_key_sid and self.twilio_api_key_secret)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(error) for error in exc.errors())) from None


def _items(value: object) -> list[str]:
    """A comma-separated string (or a list) as its non-empty, stripped items."""
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return [item for item in (str(i).strip() for i in items) if item]


def _parse_admin(item: str) -> str:
    """`slack:U123` -> itself, tidied; anything else raises naming the entry."""
    platform, _, user = (part.strip() for part in item.partition(":"))
    if platform not in ADMIN_PLATFORMS or not user:
        raise ValueError(
            f"{item!r} is not platform:user_id (platform one of {', '.join(ADMIN_PLATFORMS)})"
        )
    pattern, explanation = _ADMIN_USER_IDS[platform]
    if not pattern.fullmatch(user):
        raise ValueError(f"{item!r}: {explanation}")
    return f"{platform}:{user}"


def _parse_role_pair(item: str) -> tuple[str, str]:
    """`organizer:Organizers` -> ("organizer", "Organizers"); a Discord role name may hold spaces."""
    role, _, name = (part.strip() for part in item.partition(":"))
    if role not in MAPPABLE_ROLES or not name:
        raise ValueError(
            f"{item!r} is not role:Discord role name (role one of {', '.join(MAPPABLE_ROLES)})"
        )
    return role, name


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else ""


def _describe(error: ErrorDetails) -> str:
    """`VARIABLE: what is wrong`, on one line, without echoing the value (it may be a secret)."""
    variable = str(error["loc"][0]).upper() if error["loc"] else "settings"
    # A validator's ValueError arrives as "Value error, <our text>": keep our text.
    reason = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    return f"{variable}: {' '.join(reason.split())}"
