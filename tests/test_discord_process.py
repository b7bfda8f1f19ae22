"""`phonebank discord` as its own process against the local fakes: it logs in, asks the REST base
for the gateway, syncs `/phonebank`, and answers `/phonebank help` that arrives over the gateway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from bot.settings import Settings
from storage import migrate
from tests.discord_support import BOT_TOKEN, command_data, interaction_payload
from tests.fakes.discord_api import CHANNEL_ID, DiscordCall, FakeDiscordAPI, Interaction
from tests.fakes.discord_gateway import FakeDiscordGateway

PHONEBANK = Path(sys.executable).parent / "phonebank"
WAIT_S = 60.0


def environment(tmp_path: Path, fake: FakeDiscordAPI) -> dict[str, str]:
    """The outer environment without any Phonebank setting, plus the fakes'."""
    settings = {name.upper() for name in Settings.model_fields}
    kept = {k: v for k, v in os.environ.items() if k.upper() not in settings}
    database = f"sqlite:///{tmp_path / 'phonebank.db'}"
    migrate.upgrade(database)
    return kept | {
        "DATABASE_URL": database,
        "DISCORD_BOT_TOKEN": BOT_TOKEN,
        "DISCORD_API_URL": fake.base_url,
    }


def test_phonebank_discord_logs_in_syncs_its_commands_and_answers_help(
    tmp_path: Path, fake_discord: FakeDiscordAPI
) -> None:
    synced, answered = threading.Event(), threading.Event()

    def on_call(call: DiscordCall) -> None:
        if call.route == "commands.sync" and call.body:
            synced.set()
        if call.route == "interaction.callback":
            answered.set()

    fake_discord.on_call = on_call
    with FakeDiscordGateway(BOT_TOKEN) as gateway:
        fake_discord.gateway_url = gateway.url
        process = subprocess.Popen(
            [str(PHONEBANK), "discord"],
            env=environment(tmp_path, fake_discord),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert gateway.identified.wait(WAIT_S), "never identified on the gateway"
            assert synced.wait(WAIT_S), "never synced its commands"
            interaction = Interaction(
                fake_discord.new_id(), "aGVscA", "1400000000000000042", CHANNEL_ID
            )
            fake_discord.expect_interaction(interaction)
            [group] = [
                c for c in fake_discord.calls("commands.sync")[-1].body if c["name"] == "phonebank"
            ]
            payload = interaction_payload(
                interaction, 2, command_data(group, "help"), user_id=interaction.user_id, name="ana"
            )
            gateway.dispatch("INTERACTION_CREATE", payload)
            assert answered.wait(WAIT_S), "/phonebank help was never answered"
        finally:
            process.send_signal(signal.SIGTERM)  # as `docker stop` does
            output, _ = process.communicate(timeout=WAIT_S)

    assert process.returncode == 0, output
    routes = [call.route for call in fake_discord.calls()]
    assert routes[:4] == [
        "GET /users/@me",
        "GET /oauth2/applications/@me",
        "commands.sync",
        "gateway.bot",
    ], routes
    assert gateway.identifies[0]["token"] == BOT_TOKEN
    [callback] = fake_discord.calls("interaction.callback")
    assert "Here is what you can do" in str(callback.body), callback.body
    assert f"Discord gateway: {gateway.url}" in output
    assert BOT_TOKEN not in output  # the log redaction knows the token
