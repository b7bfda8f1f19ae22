"""Settings: every variable of DESIGN.md's table, its default, and one clear line when it is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import Settings, SettingsError, load_settings

# DESIGN.md's table (plus PHONEBANK_DEFAULT_REGION, TWILIO_CALLS_PER_SECOND, the softphone's
# TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET, and what calls may ring:
# PHONEBANK_ALLOWED_COUNTRIES, PHONEBANK_SIP_DOMAINS): variable -> default.
DEFAULTS: dict[str, object] = {
    "DATABASE_URL": "sqlite:///phonebank.db",
    "SLACK_BOT_TOKEN": None,
    "SLACK_SIGNING_SECRET": None,
    "SLACK_APP_TOKEN": None,
    "SLACK_API_URL": "https://slack.com/api/",
    "DISCORD_BOT_TOKEN": None,
    "DISCORD_API_URL": "https://discord.com/api/v10",
    "DISCORD_GUILD_IDS": (),
    "DISCORD_ROLE_MAP": (),
    "TWILIO_ACCOUNT_SID": None,
    "TWILIO_AUTH_TOKEN": None,
    "TWILIO_CALLER_ID": None,
    "TWILIO_API_URL": "https://api.twilio.com",
    "TWILIO_CALLS_PER_SECOND": 1.0,
    "TWILIO_API_KEY_SID": None,
    "TWILIO_API_KEY_SECRET": None,
    "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    "PHONEBANK_ADMINS": (),
    "PHONEBANK_DEFAULT_REGION": "US",
    "PHONEBANK_ALLOWED_COUNTRIES": ("US", "CA"),
    "PHONEBANK_SIP_DOMAINS": (),
}

# variable -> (what the environment says, what the settings hold)
GOOD_VALUES: dict[str, tuple[str, object]] = {
    "DATABASE_URL": (
        "postgresql://pb:pw@db:5432/phonebank",
        "postgresql://pb:pw@db:5432/phonebank",
    ),
    "SLACK_BOT_TOKEN": ("xoxb-1", "xoxb-1"),
    "SLACK_SIGNING_SECRET": ("shh", "shh"),
    "SLACK_APP_TOKEN": ("xapp-1", "xapp-1"),
    "SLACK_API_URL": ("http://127.0.0.1:9001/api/", "http://127.0.0.1:9001/api/"),
    "DISCORD_BOT_TOKEN": ("discord-token", "discord-token"),
    "DISCORD_API_URL": ("http://127.0.0.1:9002/api/v10", "http://127.0.0.1:9002/api/v10"),
    "DISCORD_GUILD_IDS": ("123, 456", ("123", "456")),
    "DISCORD_ROLE_MAP": (
        "organizer:Organizers,coordinator:Field Leads",
        (("organizer", "Organizers"), ("coordinator", "Field Leads")),
    ),
    "TWILIO_ACCOUNT_SID": ("AC123", "AC123"),
    "TWILIO_AUTH_TOKEN": ("twilio-secret", "twilio-secret"),
    "TWILIO_CALLER_ID": ("(512) 555-0100", "+15125550100"),
    "TWILIO_API_URL": ("http://127.0.0.1:9003", "http://127.0.0.1:9003"),
    "TWILIO_CALLS_PER_SECOND": ("0.5", 0.5),
    "TWILIO_API_KEY_SID": ("SK123", "SK123"),
    "TWILIO_API_KEY_SECRET": ("key-secret", "key-secret"),
    "PUBLIC_BASE_URL": ("https://phonebank.example.org", "https://phonebank.example.org"),
    "PHONEBANK_ADMINS": ("slack:U123,discord:456", ("slack:U123", "discord:456")),
    "PHONEBANK_DEFAULT_REGION": ("ca", "CA"),
    "PHONEBANK_ALLOWED_COUNTRIES": ("us, pr", ("US", "PR")),
    "PHONEBANK_SIP_DOMAINS": (
        "Bank.sip.twilio.com,*.pbx.example.org",
        ("bank.sip.twilio.com", "*.pbx.example.org"),
    ),
}

# variable -> a value the app cannot use
BAD_VALUES: dict[str, str] = {
    "DATABASE_URL": "not a url",
    "SLACK_API_URL": "slack.com/api",
    "DISCORD_API_URL": "ftp://discord.com/api",
    "DISCORD_GUILD_IDS": "123,my-server",
    "DISCORD_ROLE_MAP": "boss:Organizers",
    "TWILIO_CALLER_ID": "555-01",
    "TWILIO_API_URL": "api.twilio.com",
    "TWILIO_CALLS_PER_SECOND": "0",
    "PUBLIC_BASE_URL": "localhost:8000",
    "PHONEBANK_ADMINS": "slack:U123,teams:789",
    "PHONEBANK_DEFAULT_REGION": "XX",
    "PHONEBANK_ALLOWED_COUNTRIES": "US,XX",
    "PHONEBANK_SIP_DOMAINS": "bank.sip.twilio.com,not a host",
}


def field(variable: str) -> str:
    return variable.lower()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting in the environment, and a working directory without a `.env`."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_design_table_is_the_settings_class() -> None:
    assert {field(v) for v in DEFAULTS} == set(Settings.model_fields)


@pytest.mark.parametrize("variable", sorted(DEFAULTS))
def test_default(variable: str) -> None:
    assert getattr(load_settings(), field(variable)) == DEFAULTS[variable]


@pytest.mark.parametrize("variable", sorted(GOOD_VALUES))
def test_read_from_the_environment(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    raw, expected = GOOD_VALUES[variable]
    monkeypatch.setenv(variable, raw)
    assert getattr(load_settings(), field(variable)) == expected


def test_variable_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("public_base_url", "https://lower.example.org")
    assert load_settings().public_base_url == "https://lower.example.org"


def test_dotenv_is_read_and_the_environment_wins(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_environment / ".env").write_text(
        "DISCORD_BOT_TOKEN=from-dotenv\nSLACK_BOT_TOKEN=from-dotenv\n"
    )
    monkeypatch.setenv("SLACK_BOT_TOKEN", "from-environment")

    current = load_settings()

    assert current.discord_bot_token == "from-dotenv"
    assert current.slack_bot_token == "from-environment"


# --- PHONEBANK_ADMINS -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "admins"),
    [
        ("", ()),
        ("slack:U123", ("slack:U123",)),
        ("slack:U123,discord:456", ("slack:U123", "discord:456")),
        (" slack : U123 , , discord:456 ,", ("slack:U123", "discord:456")),
        ("console:alice", ("console:alice",)),
    ],
)
def test_admins_parsing(raw: str, admins: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHONEBANK_ADMINS", raw)
    assert load_settings().phonebank_admins == admins


@pytest.mark.parametrize(
    "raw", ["U123", "slack:", ":U123", "teams:U123", "discord:not-a-number", "slack:U1;discord:2"]
)
def test_admins_malformed_entry(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHONEBANK_ADMINS", raw)
    with pytest.raises(SettingsError, match=r"^PHONEBANK_ADMINS: "):
        load_settings()


# --- malformed values: one line naming the variable -----------------------------------------


@pytest.mark.parametrize("variable", sorted(BAD_VALUES))
def test_malformed_value_is_one_line_naming_the_variable(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, BAD_VALUES[variable])

    with pytest.raises(SettingsError) as raised:
        load_settings()

    message = str(raised.value)
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message
    assert "Value error" not in message


@pytest.mark.parametrize(
    "url",
    [
        "mysqlx://db/phonebank",  # no such SQLAlchemy dialect
        "postgresql://pb:pw@db:port/phonebank",  # the port is not a number
        "sqlite://user:pw@host/phonebank.db",  # SQLite takes a path, not a server
    ],
)
def test_unusable_database_url(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(SettingsError, match=r"^DATABASE_URL: [^\n]+$"):
        load_settings()


def test_postgres_scheme_of_hosting_providers_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://pb@db/phonebank")
    assert load_settings().database_url == "postgres://pb@db/phonebank"


def test_malformed_database_url_does_not_echo_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://pb:hunter2@db:port/phonebank")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "hunter2" not in str(raised.value)


def test_every_malformed_variable_is_named_on_the_same_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("PUBLIC_BASE_URL", "TWILIO_CALLER_ID"):
        monkeypatch.setenv(variable, BAD_VALUES[variable])

    with pytest.raises(SettingsError) as raised:
        load_settings()

    message = str(raised.value)
    assert "\n" not in message
    assert "PUBLIC_BASE_URL: " in message
    assert "TWILIO_CALLER_ID: " in message


@pytest.mark.parametrize("variable", sorted(DEFAULTS))
def test_empty_variable_means_its_default(
    variable: str, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "")
    assert getattr(load_settings(), field(variable)) == DEFAULTS[variable]


def test_empty_values_in_dotenv_mean_unset(clean_environment: Path) -> None:
    (clean_environment / ".env").write_text("SLACK_BOT_TOKEN=\nTWILIO_CALLER_ID=\n")
    current = load_settings()
    assert current.slack_bot_token is None
    assert current.twilio_caller_id is None


# --- which edges are on ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "slack", "discord", "twilio"),
    [
        ({}, False, False, False),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, False, False, False),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, True, False, False),
        ({"DISCORD_BOT_TOKEN": "d"}, False, True, False),
        ({"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}, False, False, False),
        (
            {
                "TWILIO_ACCOUNT_SID": "AC1",
                "TWILIO_AUTH_TOKEN": "t",
                "TWILIO_CALLER_ID": "+15125550100",
            },
            False,
            False,
            True,
        ),
    ],
)
def test_unset_credentials_turn_an_edge_off(
    variables: dict[str, str],
    slack: bool,
    discord: bool,
    twilio: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    current = load_settings()
    assert (current.slack_enabled, current.discord_enabled, current.twilio_enabled) == (
        slack,
        discord,
        twilio,
    )


# --- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "variable", ["DATABASE_URL", "PUBLIC_BASE_URL", "TWILIO_CALLER_ID", "PHONEBANK_ADMINS"]
)
def test_cli_prints_one_line_and_exits_2(variable: str) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade"], env={variable: BAD_VALUES[variable]})

    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {variable}: ")


def test_cli_error_line_is_not_wrapped_on_a_narrow_terminal() -> None:
    result = CliRunner().invoke(
        app,
        ["db", "current"],
        env={"COLUMNS": "40", "DATABASE_URL": "mysqlx://a-rather-long-host-name.example.org/db"},
    )
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
