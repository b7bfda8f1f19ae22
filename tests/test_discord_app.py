"""The Discord adapter through the real discord.py client and the fake REST API: what Discord
alone brings (guilds, deferrals, the token's 15 minutes, DMs, roles by name, command sync, a
restart) and the bad input of issue 12, each answered ephemerally and changing nothing."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import discord
import pytest
from sqlalchemy import Engine

from bot.app import build_services
from bot.discord.app import discord_for
from bot.discord.live import TOKEN_LIFETIME_S
from bot.settings import load_settings
from bot.telephony.simulated import SimulatedTelephony
from handlers import router
from handlers.alerts import alert_organizers
from handlers.context import Platform
from handlers.outbox import run_due
from handlers.replies import Reply
from handlers.requests import RESUME_AFTER
from storage.clock import FrozenClock
from tests.discord_support import ANSWER_TIMEOUT_S, BOT_TOKEN, DiscordUser, label_of
from tests.fakes.discord_api import DEFERRED_MESSAGE, GUILD_ID, MESSAGE, FakeDiscordAPI, Interaction
from tests.scenarios.conversations import ANA_PHONE
from tests.scenarios.discord_driver import DiscordDriver, DiscordSurface
from tests.scenarios.world import World, voter


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> World:
    return World(engine, clock)


@pytest.fixture
def surface(world: World, fake_discord: FakeDiscordAPI) -> Iterator[DiscordSurface]:
    opened = DiscordSurface(world, fake_discord)
    yield opened
    opened.close()


def sign_up(surface: DiscordSurface, user: DiscordDriver, phone: str = ANA_PHONE) -> None:
    """The signup form, then the phone verified with the code it was texted."""
    assert user.command("signup").form is not None
    answers = {"name": user.name.title(), "phone": phone, "languages": ["English"]}
    done = user.fill(answers | {"sms_consent": True})
    assert not done.errors and done.has("signed up"), done.text
    telephony = surface.adapter.services.telephony
    assert isinstance(telephony, SimulatedTelephony)
    [code] = re.findall(r"\b\d{6}\b", telephony.messages[-1].body)
    assert user.command(f"verify {code}").has("verified"), "the texted code was refused"


def card_message(user: DiscordDriver) -> dict[str, Any]:
    """A copy of the message holding the user's batch, as it is now."""
    message, _ = user.member.find_button("Call")
    return copy.deepcopy(message.body)


# --- bad input ----------------------------------------------------------------------------


def test_a_guild_that_is_not_configured_is_refused_and_nothing_is_stored(
    world: World, fake_discord: FakeDiscordAPI
) -> None:
    surface = DiscordSurface(world, fake_discord, discord_guild_ids="999")
    try:
        shown = surface.user("ana").command("help")
    finally:
        surface.close()

    assert shown.refused and shown.has("not set up for this server")
    assert world.rows("SELECT id FROM chat_identity") == []
    [callback] = fake_discord.calls("interaction.callback")
    assert callback.body["data"]["flags"] & 64  # ephemeral


def test_a_stale_button_after_its_batch_closed_changes_nothing(
    world: World, surface: DiscordSurface
) -> None:
    world.campaign([voter("Maria", 1)])
    ana = surface.user("ana")
    sign_up(surface, ana)
    ana.command("batch")
    old_card = card_message(ana)
    assert ana.press("I'm done").has("went back")

    surface.run(ana.member.press_on(old_card, "Call"))

    assert ana.member.latest().text.startswith("⚠️")
    assert world.rows("SELECT id FROM call_attempt") == []
    assert world.rows("SELECT id FROM voter WHERE batch_id IS NOT NULL") == []


def test_a_button_in_a_dm_from_someone_phonebank_does_not_know_is_refused(
    world: World, surface: DiscordSurface, fake_discord: FakeDiscordAPI
) -> None:
    world.campaign([voter("Maria", 1)])
    stranger = DiscordUser(surface.adapter, fake_discord, user_id="1499", name="x", guild_id=None)
    message = {
        "id": fake_discord.new_id(),
        "channel_id": "1498",
        "type": 0,
        "content": "",
        "embeds": [],
        "components": [
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 1, "label": "Get a batch", "custom_id": "pb:batch:claim"}
                ],
            }
        ],
        "flags": 0,
        "author": {"id": "1", "username": "phonebank", "discriminator": "0", "avatar": None},
        "timestamp": "2026-11-03T15:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "pinned": False,
    }
    fake_discord.add_message(message)

    surface.run(stranger.press_on(message, "Get a batch"))

    assert "in your server first" in stranger.latest().text
    assert world.rows("SELECT id FROM batch") == []
    assert world.rows("SELECT id FROM chat_identity") == []


def test_a_form_whose_draft_is_gone_asks_to_be_opened_again(
    world: World, surface: DiscordSurface
) -> None:
    ana = surface.user("ana")
    assert ana.command("signup").form is not None
    surface.adapter.drafts = type(surface.adapter.drafts)()  # as after a restart

    shown = ana.fill({"name": "Ana", "phone": ANA_PHONE})

    assert shown.refused and shown.has("expired")
    assert world.rows("SELECT id FROM volunteer") == []


# --- the 3 seconds and the 15 minutes -----------------------------------------------------


def test_an_answer_slower_than_the_budget_is_deferred_then_followed_up(
    world: World, surface: DiscordSurface, fake_discord: FakeDiscordAPI
) -> None:
    surface.adapter.answer_budget_s = 0.0  # every conversation is "slow"
    ana = surface.user("ana")

    shown = ana.command("help")

    assert shown.has("Here is what you can do")
    [callback] = fake_discord.calls("interaction.callback")
    assert callback.body["type"] == DEFERRED_MESSAGE and callback.body["data"]["flags"] & 64
    [follow_up] = fake_discord.calls("webhook.send")
    assert "Here is what you can do" in str(follow_up.body)


def test_a_slow_button_is_deferred_quietly_and_edits_its_message(
    world: World, surface: DiscordSurface, fake_discord: FakeDiscordAPI
) -> None:
    world.campaign([voter("Maria", 1)])
    ana = surface.user("ana")
    sign_up(surface, ana)
    ana.command("batch")
    surface.adapter.answer_budget_s = 0.0
    since = len(fake_discord.calls())

    shown = ana.press("Skip", near="Maria")

    assert shown.has("Skipped")
    calls = fake_discord.calls()[since:]
    kinds = [c.body["type"] for c in calls if c.route == "interaction.callback"]
    assert kinds == [6]  # deferred update: no "thinking…" over the card
    [edit] = [c for c in calls if c.route == "webhook.message"]
    assert edit.method == "PATCH" and edit.path.endswith("/messages/@original")


def test_an_answer_after_the_tokens_fifteen_minutes_goes_to_a_dm(
    world: World, surface: DiscordSurface, fake_discord: FakeDiscordAPI
) -> None:
    member = surface.user("ana").member
    interaction = Interaction(fake_discord.new_id(), "dG9rZW4", member.user_id, member.channel_id)
    fake_discord.expect_interaction(interaction)
    payload = member.payload(interaction, 2, {"id": "1", "name": "phonebank", "type": 1}, None)
    real = discord.Interaction(data=payload, state=surface.adapter.client._connection)  # type: ignore[arg-type]

    surface.run(
        surface.adapter.delivery.respond(
            real, Reply("Your batch is ready."), arrived=time.monotonic() - 15 * 60
        )
    )

    assert fake_discord.calls("interaction.callback") == []
    [sent] = fake_discord.calls("channel.send")
    assert sent.path == f"/channels/{fake_discord.dm_channel(member.user_id)}/messages"
    assert "Your batch is ready." in str(sent.body)


# --- the Notifier ---------------------------------------------------------------------------


def test_call_progress_edits_the_card_in_place_then_in_a_dm_after_the_token_expires(
    world: World, surface: DiscordSurface, fake_discord: FakeDiscordAPI
) -> None:
    world.campaign([voter("Maria", 1)])
    ana = surface.user("ana")
    sign_up(surface, ana)
    ana.command("batch")
    ana.press("Call", near="Maria")
    telephony = surface.adapter.services.telephony
    since = len(fake_discord.calls())

    world.clock.advance(timedelta(seconds=5))
    surface.run(_in_thread(telephony.advance))  # ringing -> answered: the card says so
    edits = [c for c in fake_discord.calls()[since:] if c.route == "webhook.message"]
    assert edits and all(e.method == "PATCH" for e in edits)
    assert fake_discord.calls("channel.send") == []
    assert "Connected" in str(edits[-1].body)

    live = surface.adapter.live
    live._monotonic = lambda: time.monotonic() + TOKEN_LIFETIME_S + 1  # type: ignore[method-assign]
    world.clock.advance(timedelta(minutes=2))
    surface.run(_in_thread(telephony.advance))
    surface.run(_in_thread(lambda: telephony.hang_up(_call_sid(world))))

    [key] = [k for k in live._shown if k.startswith("batch")] or list(live._shown)
    [volunteer] = world.rows("SELECT id FROM volunteer")
    again = Reply("Logged for Maria.", update_key=key)
    notifier = surface.adapter.services.notifier
    surface.run(_in_thread(lambda: notifier.to_volunteer(volunteer.id, again)))

    dm = fake_discord.dm_channel(ana.member.user_id)
    assert dm is not None
    sent = [c for c in fake_discord.calls("channel.send") if dm in c.path]
    edited = [c for c in fake_discord.calls("channel.edit") if dm in c.path]
    assert len(sent) == 1 and "Call ended" in str(sent[0].body)  # the token is old: a DM
    assert len(edited) == 1 and "Logged for Maria." in str(edited[0].body)  # edited in place

    first_dm = fake_discord.message(str(sent[0].message_id)) | {
        "embeds": sent[0].body["embeds"],
        "components": sent[0].body["components"],
    }  # the card as the DM first showed it
    surface.run(ana.member.press_on(first_dm, "Log outcome"))  # from the DM: no guild id
    assert ana.member.modal is not None and ana.member.modal["title"] == "Log the call"


def test_an_alert_to_a_discord_organizer_is_a_dm_and_a_channel_post_is_a_post(
    world: World, surface: DiscordSurface, fake_discord: FakeDiscordAPI
) -> None:
    olga = surface.user("olga", organizer=True)
    olga.command("help")
    notifier = surface.adapter.services.notifier

    surface.run(
        _in_thread(
            lambda: notifier.to_channel(
                Platform.DISCORD, olga.member.user_id, Reply("Caller id refused.")
            )
        )
    )
    surface.run(
        _in_thread(
            lambda: notifier.to_channel(
                Platform.DISCORD, "1200000000000000777", Reply("Rally at six.")
            )
        )
    )
    surface.run(
        _in_thread(lambda: notifier.to_channel(Platform.SLACK, "C0CALLS", Reply("Not ours.")))
    )

    posts = {c.path: str(c.body) for c in fake_discord.calls("channel.send")}
    assert (
        "Caller id refused."
        in posts[f"/channels/{fake_discord.dm_channel(olga.member.user_id)}/messages"]
    )
    assert "Rally at six." in posts["/channels/1200000000000000777/messages"]
    assert len(posts) == 2


def test_a_user_who_closed_their_dms_is_logged_once_not_retried(
    world: World, surface: DiscordSurface, fake_discord: FakeDiscordAPI
) -> None:
    olga = surface.user("olga", organizer=True)
    olga.command("help")
    fake_discord.refuse_dms(olga.member.user_id)
    notifier = surface.adapter.services.notifier

    surface.run(
        _in_thread(
            lambda: notifier.to_channel(Platform.DISCORD, olga.member.user_id, Reply("Hello"))
        )
    )

    assert len(fake_discord.calls("channel.send")) == 1  # the 403, once


# --- roles, admins, commands, restarts ------------------------------------------------------


def test_a_discord_role_named_in_the_role_map_makes_an_organizer(
    world: World, fake_discord: FakeDiscordAPI
) -> None:
    fake_discord.roles[GUILD_ID] = [
        {"id": "1700000000000000001", "name": "Organizers", "position": 1, "permissions": "0"},
        {"id": "1700000000000000002", "name": "Callers", "position": 0, "permissions": "0"},
    ]
    surface = DiscordSurface(world, fake_discord, discord_role_map="organizer:Organizers")
    try:
        olga, vic = surface.user("olga"), surface.user("vic")
        olga.member.role_ids = ["1700000000000000001"]
        vic.member.role_ids = ["1700000000000000002"]
        assert olga.command("help").has("campaign use")
        assert not vic.command("help").has("campaign use")
    finally:
        surface.close()
    stored = {row.user_id: _roles(row.roles) for row in world.rows(ROLES)}
    assert not any("organizer" in roles for roles in stored.values())  # mapped, never granted
    assert stored[olga.member.user_id] == ["mapped:organizer"]  # remembered, for alerts only
    assert stored[vic.member.user_id] == []


def test_commands_sync_to_the_configured_guilds_at_once(
    world: World, fake_discord: FakeDiscordAPI
) -> None:
    surface = DiscordSurface(world, fake_discord, discord_guild_ids=GUILD_ID)
    try:
        assert surface.user("ana").command("help").has("Here is what you can do")
    finally:
        surface.close()
    syncs = {c.path: c.body for c in fake_discord.calls("commands.sync")}
    guild_path = f"/applications/1100000000000000001/guilds/{GUILD_ID}/commands"
    assert [c["name"] for c in syncs[guild_path]] == ["phonebank"]
    assert syncs["/applications/1100000000000000001/commands"] == []


def test_every_router_command_is_a_subcommand_described_by_its_handler(
    surface: DiscordSurface,
) -> None:
    group = surface.user("ana").member.synced_group()
    synced = {o["name"]: o for o in group["options"]}

    assert set(synced) == {command.words[0] for command in router.COMMANDS}
    assert synced["batch"]["description"] == router.find_command(["batch"]).help.summary  # type: ignore[union-attr]
    role = {o["name"]: o for o in synced["role"]["options"]}
    assert [c["value"] for c in role["action"]["choices"]] == ["grant", "revoke"]
    assert role["action"]["required"] is True
    campaign = {o["name"]: o for o in synced["campaign"]["options"]}
    assert campaign["action"].get("required") is False and campaign["arguments"]["autocomplete"]


def test_buttons_on_old_messages_still_work_after_a_restart(
    world: World, fake_discord: FakeDiscordAPI
) -> None:
    world.campaign([voter("Maria", 1), voter("Dave", 2)])
    first = DiscordSurface(world, fake_discord)
    try:
        ana = first.user("ana")
        sign_up(first, ana)
        ana.command("batch")
        old_card = card_message(ana)
    finally:
        first.close()

    again = DiscordSurface(world, fake_discord)
    try:
        member = again.user("ana").member
        again.run(member.press_on(old_card, "Skip"))
        assert "Skipped" in member.latest().text
    finally:
        again.close()
    assert len(world.rows("SELECT id FROM voter WHERE batch_id IS NOT NULL")) == 1


def test_a_command_a_stale_client_still_has_is_answered_with_help(
    surface: DiscordSurface, fake_discord: FakeDiscordAPI
) -> None:
    shown = surface.user("ana").command("megaphone weekly")

    assert shown.refused and shown.has("don't know", "megaphone weekly", "batch")
    [callback] = fake_discord.calls("interaction.callback")
    assert callback.body["type"] == MESSAGE


def test_labels_of_a_busy_message_are_numbered_by_card(
    world: World, surface: DiscordSurface
) -> None:
    world.campaign([voter("Maria", 1), voter("Dave", 2)])
    ana = surface.user("ana")
    sign_up(surface, ana)
    ana.command("batch")

    labels = [b["label"] for b, _ in ana.member.latest().buttons()]

    assert "1. Call" in labels and "2. Call" in labels
    assert [label_of({"label": label}) for label in labels].count("Call") == 2


async def _in_thread(work: Any) -> None:
    """Run synchronous core work off the loop, as the web app's threads do."""
    await asyncio.to_thread(work)


def _call_sid(world: World) -> str:
    [row] = world.rows("SELECT call_sid FROM call_attempt")
    return str(row.call_sid)


def test_a_button_on_a_message_the_channel_reads_never_turns_it_into_a_card(
    world: World, surface: DiscordSurface, fake_discord: FakeDiscordAPI
) -> None:
    world.campaign([voter("Maria", 1)])
    ana = surface.user("ana")
    sign_up(surface, ana)
    public = _message(fake_discord, "Rally tonight! Grab a batch.", "Get a batch", "pb:batch:claim")
    public["flags"] = 0
    fake_discord.add_message(public)

    surface.run(ana.member.press_on(public, "Get a batch"))

    assert fake_discord.message(public["id"])["embeds"] == public["embeds"]  # untouched
    card = ana.member.latest()
    assert card.id != public["id"] and card.ephemeral and "Maria" in card.text


def test_a_rate_limited_post_is_retried_after_what_discord_asks(
    world: World, surface: DiscordSurface, fake_discord: FakeDiscordAPI
) -> None:
    fake_discord.rate_limit("channel.send", times=1, retry_after=0.01)
    notifier = surface.adapter.services.notifier

    surface.run(
        _in_thread(
            lambda: notifier.to_channel(Platform.DISCORD, "1200000000000000777", Reply("Rally!"))
        )
    )

    sent = fake_discord.calls("channel.send")
    assert len(sent) == 2 and all("Rally!" in str(c.body) for c in sent)  # the 429, then it
    assert [c.message_id for c in sent][-1] is not None


def _message(fake: FakeDiscordAPI, text: str, label: str, custom_id: str) -> dict[str, Any]:
    return {
        "id": fake.new_id(),
        "channel_id": "1200000000000000002",
        "type": 0,
        "content": "",
        "embeds": [{"description": text}],
        "components": [
            {
                "type": 1,
                "components": [{"type": 2, "style": 1, "label": label, "custom_id": custom_id}],
            }
        ],
        "flags": 64,
        "author": {"id": "1", "username": "phonebank", "discriminator": "0", "avatar": None},
        "timestamp": "2026-11-03T15:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "pinned": False,
    }


def test_campaign_use_suggests_the_campaigns_slugs_as_one_types(
    world: World, surface: DiscordSurface, fake_discord: FakeDiscordAPI
) -> None:
    world.campaign([], slug="austin", name="Austin GOTV")
    world.campaign([], slug="dallas", name="Dallas GOTV")
    member = surface.user("olga", organizer=True).member
    group = member.synced_group()
    options = [
        {"name": "action", "type": 3, "value": "use"},
        {"name": "arguments", "type": 3, "value": "da", "focused": True},
    ]
    data = {
        "id": group.get("id", "1"),
        "name": "phonebank",
        "type": 1,
        "options": [{"name": "campaign", "type": 1, "options": options}],
    }

    surface.run(member.dispatch(4, data))  # APPLICATION_COMMAND_AUTOCOMPLETE

    [callback] = fake_discord.calls("interaction.callback")
    assert callback.body == {
        "type": 8,
        "data": {"choices": [{"name": "dallas", "value": "dallas"}]},
    }


def test_a_busy_process_defers_at_once_and_a_form_then_opens_from_a_button(
    world: World,
    surface: DiscordSurface,
    fake_discord: FakeDiscordAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bot.discord.app.BUSY_AT", -1)  # always busy
    ana = surface.user("ana")

    shown = ana.command("signup")  # the driver presses "Open the form", as a person would

    kinds = [c.body["type"] for c in fake_discord.calls("interaction.callback")]
    assert kinds[0] == DEFERRED_MESSAGE  # at once, before the conversation ran
    assert "Open the form" in str(fake_discord.calls("webhook.send")[0].body)
    assert shown.form is not None and "phone" in shown.form.inputs


ROLES = "SELECT user_id, roles FROM chat_identity"
ORGANIZERS_ROLE = "1700000000000000001"


def _roles(stored: Any) -> list[str]:
    return list(json.loads(stored) if isinstance(stored, str) else stored)


def _dms_to(fake: FakeDiscordAPI, user_id: str) -> list[str]:
    dm = fake.dm_channel(user_id)
    return [str(c.body) for c in fake.calls("channel.send") if dm and f"/{dm}/" in c.path]


def test_an_organizer_only_through_the_role_map_gets_alerts_while_holding_the_role(
    world: World, fake_discord: FakeDiscordAPI
) -> None:
    fake_discord.roles[GUILD_ID] = [
        {"id": ORGANIZERS_ROLE, "name": "Organizers", "position": 1, "permissions": "0"},
    ]
    surface = DiscordSurface(world, fake_discord, discord_role_map="organizer:Organizers")
    try:
        olga, vic = surface.user("olga"), surface.user("vic")
        olga.member.role_ids = [ORGANIZERS_ROLE]
        olga.command("help")
        vic.command("help")
        services = surface.adapter.services

        def alert(text: str) -> bool:
            """Whether the alert reached olga (and never vic)."""
            surface.run(asyncio.to_thread(alert_organizers, services, "caller_id.refused", text))
            assert not any(text in dm for dm in _dms_to(fake_discord, vic.member.user_id))
            return any(text in dm for dm in _dms_to(fake_discord, olga.member.user_id))

        assert alert("Caller id refused.")

        olga.member.guild_id = None  # from a DM no roles travel: what was seen is kept
        olga.command("help")
        assert alert("Still refused.")

        olga.member.guild_id, olga.member.role_ids = GUILD_ID, []  # the role was taken away
        olga.command("help")
        assert not alert("Refused again.")
    finally:
        surface.close()


# --- acknowledged means done (issue 19 on Discord) ------------------------------------------


class ProcessDied(BaseException):
    """The process going away mid-interaction: nothing in the adapter may catch it."""


def _outbox(world: World) -> list[Any]:
    return world.rows("SELECT kind, payload, finished_at FROM outbox ORDER BY id")


def _payload(row: Any) -> dict[str, Any]:
    return dict(json.loads(row.payload) if isinstance(row.payload, str) else row.payload)


def test_answered_interactions_are_owed_before_their_first_response_and_leave_nothing_owed(
    world: World, surface: DiscordSurface, fake_discord: FakeDiscordAPI
) -> None:
    world.campaign([voter("Maria", 1)])
    ana = surface.user("ana")
    sign_up(surface, ana)
    ana.command("batch")
    ana.press("Call", near="Maria")

    rows = _outbox(world)
    assert {row.kind for row in rows} == {"chat.request"}
    asked = [_payload(row) for row in rows]
    assert [a["kind"] for a in asked] == ["command", "form", "command", "command", "action"]
    form = asked[1]  # the whole form (every step's answers), not the step that opened it
    assert {"name", "phone", "languages", "sms_consent"} <= set(form["answers"])
    assert all(a["platform"] == "discord" and a["workspace"] == GUILD_ID for a in asked)
    assert all(row.finished_at is not None for row in rows)  # each marked once answered
    world.clock.advance(RESUME_AFTER + timedelta(minutes=1))
    assert run_due(surface.adapter.services) == 0  # nothing is answered twice


def test_a_refused_interaction_owes_nothing(world: World, fake_discord: FakeDiscordAPI) -> None:
    refusing = DiscordSurface(world, fake_discord, discord_guild_ids="999")
    try:
        assert refusing.user("ana").command("help").refused
    finally:
        refusing.close()
    assert _outbox(world) == []


def test_an_interaction_whose_process_dies_after_its_deferral_is_answered_once_by_dm(
    world: World, fake_discord: FakeDiscordAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.campaign([voter("Maria", 1)])
    dying = DiscordSurface(world, fake_discord)
    try:
        ana = dying.user("ana")
        sign_up(dying, ana)
        dying.adapter.answer_budget_s = 0.0  # deferred: the first response is out at once

        async def die(*args: Any, **kwargs: Any) -> None:
            raise ProcessDied

        owed_at_deferral: list[list[str]] = []
        defer = dying.adapter.delivery.defer

        async def deferring(interaction: Any) -> None:
            unfinished = [row for row in _outbox(world) if row.finished_at is None]
            owed_at_deferral.append([_payload(row)["name"] for row in unfinished])
            await defer(interaction)

        monkeypatch.setattr(dying.adapter.delivery, "respond", die)
        monkeypatch.setattr(dying.adapter.delivery, "defer", deferring)
        since = len(fake_discord.calls())
        dying.run(ana.member.command("batch"))  # the batch is claimed; its answer never leaves
    finally:
        monkeypatch.undo()
        dying.close()
    calls = fake_discord.calls()[since:]
    assert [c.body["type"] for c in calls if c.route == "interaction.callback"] == [
        DEFERRED_MESSAGE
    ]
    assert [c for c in calls if c.route.startswith("webhook")] == []
    assert owed_at_deferral == [["batch"]]  # owed before the first response left
    [owed] = [row for row in _outbox(world) if row.finished_at is None]
    assert _payload(owed)["name"] == "batch"

    restarted = DiscordSurface(world, fake_discord)  # a web process, its outbox worker
    try:
        services = restarted.adapter.services
        assert restarted.run(asyncio.to_thread(run_due, services)) == 0  # not before its time
        world.clock.advance(RESUME_AFTER)
        assert restarted.run(asyncio.to_thread(run_due, services)) == 1
        assert restarted.run(asyncio.to_thread(run_due, services)) == 0
    finally:
        restarted.close()

    [told] = [dm for dm in _dms_to(fake_discord, ana.member.user_id) if "restarted" in dm]
    assert "Maria" in told
    assert len(world.rows("SELECT id FROM batch")) == 1  # the claim, once
    assert [row for row in _outbox(world) if row.finished_at is None] == []


class WatchedEvent(threading.Event):
    """An event that says when someone started waiting for it."""

    def __init__(self) -> None:
        super().__init__()
        self.waited = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waited.set()
        return super().wait(timeout)


def test_a_message_sent_while_the_client_logs_in_waits_for_the_login(
    world: World, fake_discord: FakeDiscordAPI
) -> None:
    """The outbox worker of a web process resumes owed requests at start-up, maybe before the
    Discord client has logged in: their answers wait for it rather than being dropped."""
    config = load_settings(
        database_url=world.engine.url.render_as_string(hide_password=False),
        discord_bot_token=BOT_TOKEN,
        discord_api_url=fake_discord.base_url,
    )
    services = build_services(config, engine=world.engine, clock=world.clock)
    adapter = discord_for(config, services)
    assert adapter is not None
    adapter.logged_in = watched = WatchedEvent()

    def send() -> None:
        services.notifier.to_channel(Platform.DISCORD, "1200000000000000777", Reply("Rally."))

    async def start_up() -> None:
        sending = asyncio.ensure_future(asyncio.to_thread(send))
        assert await asyncio.to_thread(watched.waited.wait, ANSWER_TIMEOUT_S)  # for the login
        assert not sending.done()
        await adapter.login(sync_commands=False)
        await sending
        await adapter.close()

    asyncio.run(start_up())

    [post] = fake_discord.calls("channel.send")
    assert post.path == "/channels/1200000000000000777/messages" and "Rally." in str(post.body)
