"""The Slack Notifier against the fake Web API: pacing per channel, 429 Retry-After, DMs, edits."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot.slack.notifier import ChannelPacer, SlackNotifier
from bot.slack.render import render_messages
from handlers.context import Platform
from handlers.replies import Button, Reply, Section
from storage.db import session_scope
from storage.models import ChatIdentity
from tests.factories import make_volunteer
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.time import FakeTime


def notifier(fake: FakeSlackAPI, time: FakeTime, engine: Engine | None = None) -> SlackNotifier:
    client = WebClient(token="xoxb-test", base_url=fake.base_url)
    pacer = ChannelPacer(sleep=time.sleep, monotonic=time.monotonic)
    return SlackNotifier(client, engine, pacer=pacer)  # type: ignore[arg-type]


def reminder(text: str = "Your shift starts in 30 minutes.", **fields: object) -> Reply:
    return Reply(text=text, ephemeral=False, **fields)  # type: ignore[arg-type]


def test_a_channel_post_carries_the_rendered_blocks(
    fake_slack: FakeSlackAPI, fake_time: FakeTime
) -> None:
    reply = reminder(buttons=(Button("I'm in", "pb:shift:confirm", "s:4"),))

    notifier(fake_slack, fake_time).to_channel(Platform.SLACK, "C0CALLS", reply)

    (call,) = fake_slack.calls("chat.postMessage")
    assert call.body == {"channel": "C0CALLS", **render_messages(reply)[0].payload()}
    assert call.token == "xoxb-test"


def test_posts_to_one_channel_are_a_second_apart_and_other_channels_do_not_wait(
    fake_slack: FakeSlackAPI, fake_time: FakeTime
) -> None:
    slack = notifier(fake_slack, fake_time)

    slack.to_channel(Platform.SLACK, "C1", reminder("one"))
    slack.to_channel(Platform.SLACK, "C2", reminder("two"))
    slack.to_channel(Platform.SLACK, "C1", reminder("three"))
    fake_time.now += 5  # a quiet spell: no wait needed
    slack.to_channel(Platform.SLACK, "C1", reminder("four"))

    assert [c.body["text"] for c in fake_slack.calls("chat.postMessage")] == [
        "one",
        "two",
        "three",
        "four",
    ]
    assert fake_time.slept == [1.0]


def test_a_429_waits_retry_after_then_posts_once(
    fake_slack: FakeSlackAPI, fake_time: FakeTime
) -> None:
    fake_slack.rate_limit("chat.postMessage", times=2, retry_after=7)

    notifier(fake_slack, fake_time).to_channel(Platform.SLACK, "C1", reminder())

    assert len(fake_slack.calls("chat.postMessage")) == 3  # two refused, one accepted
    assert fake_time.slept == [7.0, 7.0]


def test_a_channel_that_stays_rate_limited_gives_up_with_slacks_error(
    fake_slack: FakeSlackAPI, fake_time: FakeTime
) -> None:
    fake_slack.rate_limit("chat.postMessage", times=99, retry_after=2)

    with pytest.raises(SlackApiError, match="ratelimited"):
        notifier(fake_slack, fake_time).to_channel(Platform.SLACK, "C1", reminder())

    assert len(fake_slack.calls("chat.postMessage")) == 5
    assert fake_time.slept == [2.0] * 4


def test_a_reply_longer_than_one_message_posts_every_page_in_order(
    fake_slack: FakeSlackAPI, fake_time: FakeTime
) -> None:
    reply = reminder("Shifts", sections=tuple(Section(f"Shift {i}") for i in range(40)))

    notifier(fake_slack, fake_time).to_channel(Platform.SLACK, "C1", reply)

    bodies = [c.body for c in fake_slack.calls("chat.postMessage")]
    assert [b["text"] for b in bodies] == ["Shifts (1–24 of 40)", "Shifts (25–40 of 40)"]
    assert fake_time.slept == [1.0]


def test_a_known_update_key_edits_the_earlier_message(
    fake_slack: FakeSlackAPI, fake_time: FakeTime
) -> None:
    slack = notifier(fake_slack, fake_time)

    slack.to_channel(Platform.SLACK, "C1", reminder("Goal: 10 of 100", update_key="goal:1"))
    slack.to_channel(Platform.SLACK, "C1", reminder("Goal: 11 of 100", update_key="goal:1"))

    (posted,) = fake_slack.calls("chat.postMessage")
    (edited,) = fake_slack.calls("chat.update")
    assert edited.body["ts"] == "1790000000.000001"
    assert edited.body["text"] == "Goal: 11 of 100"


def test_a_long_keyed_reply_edits_each_of_its_pages(
    fake_slack: FakeSlackAPI, fake_time: FakeTime
) -> None:
    slack = notifier(fake_slack, fake_time)
    sections = tuple(Section(f"Shift {i}") for i in range(40))

    slack.to_channel(Platform.SLACK, "C1", reminder("Shifts", sections=sections, update_key="s"))
    slack.to_channel(Platform.SLACK, "C1", reminder("Shifts!", sections=sections, update_key="s"))

    posted = [c.body for c in fake_slack.calls("chat.postMessage")]
    edited = [c.body for c in fake_slack.calls("chat.update")]
    assert [e["ts"] for e in edited] == ["1790000000.000001", "1790000000.000002"]
    assert [e["text"] for e in edited] == ["Shifts! (1–24 of 40)", "Shifts! (25–40 of 40)"]
    assert len(posted) == 2


def test_other_platforms_channels_are_left_alone(
    fake_slack: FakeSlackAPI, fake_time: FakeTime
) -> None:
    notifier(fake_slack, fake_time).to_channel(Platform.DISCORD, "123", reminder())

    assert fake_slack.calls() == []


def test_a_volunteer_is_messaged_in_their_direct_message_with_the_bot(
    engine: Engine, fake_slack: FakeSlackAPI, fake_time: FakeTime
) -> None:
    with session_scope(engine) as session:
        volunteer = make_volunteer(session)
        session.add(
            ChatIdentity(
                platform="slack",
                workspace="T1",
                user_id="U0SAM",
                volunteer_id=volunteer.id,
                created_at=volunteer.created_at,
            )
        )
        volunteer_id = int(volunteer.id or 0)

    notifier(fake_slack, fake_time, engine).to_volunteer(volunteer_id, reminder())

    assert [c.method for c in fake_slack.calls()] == ["conversations.open", "chat.postMessage"]
    assert fake_slack.calls("conversations.open")[0].body == {"users": "U0SAM"}
    assert fake_slack.calls("chat.postMessage")[0].body["channel"] == "DU0SAM"


def test_a_volunteer_without_slack_gets_nothing_here(
    engine: Engine, fake_slack: FakeSlackAPI, fake_time: FakeTime
) -> None:
    with session_scope(engine) as session:
        volunteer_id = int(make_volunteer(session).id or 0)

    notifier(fake_slack, fake_time, engine).to_volunteer(volunteer_id, reminder())

    assert fake_slack.calls() == []
