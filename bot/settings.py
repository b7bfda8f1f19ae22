"""Settings from the environment (and an optional `.env`), as DESIGN.md lists them."""

from __future__ import annotations

from typing import Annotated

import phonenumbers
from pydantic import AnyHttpUrl, TypeAdapter, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ADMIN_PLATFORMS = ("slack", "discord", "console")
_http_url = TypeAdapter(AnyHttpUrl)


class SettingsError(ValueError):
    """A setting has a value the app cannot use; the message names the variable."""


class Settings(BaseSettings):
    """Every knob of a Phonebank process. Unset chat or phone credentials turn that edge off."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str = "sqlite:///phonebank.db"

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"

    discord_bot_token: str | None = None
    discord_api_url: str = "https://discord.com/api/v10"

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_caller_id: str | None = None
    twilio_api_url: str = "https://api.twilio.com"

    public_base_url: str = "http://127.0.0.1:8000"
    phonebank_admins: Annotated[tuple[str, ...], NoDecode] = ()
    phonebank_default_region: str = "US"

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a SQLAlchemy database URL ({exc})") from None
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
        admins = []
        for item in (str(i).strip() for i in items):
            if not item:
                continue
            platform, _, user = item.partition(":")
            if platform not in ADMIN_PLATFORMS or not user:
                raise ValueError(
                    f"{item!r} is not platform:user_id (platform one of {ADMIN_PLATFORMS})"
                )
            admins.append(item)
        return tuple(admins)

    @field_validator("phonebank_default_region")
    @classmethod
    def _region_known(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (e.g. US)")
        return region

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def discord_enabled(self) -> bool:
        return bool(self.discord_bot_token)

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_caller_id)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            variable = str(error["loc"][0]).upper() if error["loc"] else "settings"
            lines.append(f"{variable}: {error['msg']}")
        raise SettingsError("; ".join(lines)) from None
