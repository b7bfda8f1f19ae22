"""Reply -> Block Kit: whole payloads compared as parsed JSON, and Slack's limits."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.render import Page, RenderError, action_id_of, page_of, render_messages
from handlers.replies import (
    Button,
    ButtonStyle,
    Fact,
    Reply,
    Section,
    Tone,
)
from tests.slack_blockkit import block_kit_problems


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def card(n: int, *, script: str = "Hi Maria, this is Sam.") -> Section:
    """A call card like the batch conversation shows."""
    return Section(
        text=f"*Maria & José Ortiz* · card {n}\n{script}",
        facts=(Fact("Phone", "(512) •••-••23"), Fact("Language", "Spanish")),
        buttons=(
            Button("Call", "pb:call:start", f"card:{n}", ButtonStyle.PRIMARY),
            Button("Skip", "pb:batch:skip", f"card:{n}"),
            Button("Log outcome", "pb:outcome:open", f"card:{n}"),
        ),
    )


def buttons_of(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element.get("value", ""))
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


# --- messages ---------------------------------------------------------------------------------


def test_a_call_card_renders_as_text_fields_and_buttons() -> None:
    reply = Reply(
        text="Your batch: 1 call",
        sections=(card(1),),
        buttons=(Button("I'm done", "pb:batch:done", "b:7"),),
        update_key="batch:7",
    )

    (message,) = render_messages(reply)

    assert message.payload() == {
        "text": "Your batch: 1 call",
        "blocks": [
            {"type": "section", "text": mrkdwn("Your batch: 1 call")},
            {"type": "divider"},
            {
                "type": "section",
                "text": mrkdwn("*Maria &amp; José Ortiz* · card 1\nHi Maria, this is Sam."),
                "fields": [
                    mrkdwn("*Phone*\n(512) •••-••23"),
                    mrkdwn("*Language*\nSpanish"),
                ],
            },
            {
                "type": "actions",
                "block_id": "batch:7|0|1|1|1",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "pb:call:start",
                        "text": plain("Call"),
                        "value": "card:1",
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "action_id": "pb:batch:skip",
                        "text": plain("Skip"),
                        "value": "card:1",
                    },
                    {
                        "type": "button",
                        "action_id": "pb:outcome:open",
                        "text": plain("Log outcome"),
                        "value": "card:1",
                    },
                ],
            },
            {
                "type": "actions",
                "block_id": "batch:7|0|1|1|2",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "pb:batch:done",
                        "text": plain("I'm done"),
                        "value": "b:7",
                    }
                ],
            },
        ],
    }


@pytest.mark.parametrize(
    ("tone", "prefix"),
    [(Tone.INFO, ""), (Tone.SUCCESS, ":white_check_mark: "), (Tone.WARNING, ":warning: ")],
)
def test_tone_shows_as_an_emoji(tone: Tone, prefix: str) -> None:
    (message,) = render_messages(Reply(text="Saved.", tone=tone))

    assert message.payload() == {
        "text": f"{prefix}Saved.",
        "blocks": [{"type": "section", "text": mrkdwn(f"{prefix}Saved.")}],
    }


def test_an_image_follows_the_text() -> None:
    (message,) = render_messages(Reply(text="Leaderboard", image_url="https://example.org/l.png"))

    assert message.blocks[1] == {
        "type": "image",
        "image_url": "https://example.org/l.png",
        "alt_text": "Leaderboard",
    }


def test_long_text_is_split_over_sections_at_line_breaks() -> None:
    lines = [f"line {i:04d} " + "x" * 90 for i in range(100)]  # about 10,000 characters
    (message,) = render_messages(Reply(text="\n".join(lines)))

    texts = [block["text"]["text"] for block in message.blocks]
    assert len(texts) == 4
    assert all(len(text) <= 3000 for text in texts)
    assert "\n".join(texts).splitlines() == lines


def test_a_word_longer_than_a_section_is_cut_but_never_inside_an_escape() -> None:
    text = "a" * 2998 + "&" + "b" * 10  # the & becomes &amp; across the 3,000 boundary

    (message,) = render_messages(Reply(text=text))

    texts = [block["text"]["text"] for block in message.blocks]
    assert texts == ["a" * 2998, "&amp;" + "b" * 10]


def batch_reply(cards: int = 20, *, closed: tuple[int, ...] = ()) -> Reply:
    """A batch message as the batch conversation answers it; `closed` cards have no buttons."""
    sections = tuple(Section(f"card {n} logged") if n in closed else card(n) for n in range(cards))
    return Reply(
        text=f"Your batch: {cards} calls",
        sections=sections,
        buttons=(Button("I'm done", "pb:batch:done", "b:1"),),
        update_key="batch:1",
    )


def test_more_than_fifty_blocks_become_pages_that_keep_cards_whole() -> None:
    messages = render_messages(batch_reply(20))

    # The text, then 16 cards of three blocks (divider, section, buttons) fill 49 blocks.
    assert [(m.first, m.last) for m in messages] == [(0, 16), (16, 20)]
    assert [m.blocks[-1] for m in messages] == [
        {"type": "context", "elements": [mrkdwn("_1–16 of 20_")]},
        {"type": "context", "elements": [mrkdwn("_17–20 of 20_")]},
    ]
    assert [m.text for m in messages] == [
        "Your batch: 20 calls (1–16 of 20)",
        "Your batch: 20 calls (17–20 of 20)",
    ]
    assert all(block_kit_problems(m.payload()) == [] for m in messages)
    every_button = [b for m in messages for b in buttons_of(m.blocks)]
    expected = [
        (a, f"card:{n}")
        for n in range(20)
        for a in ("pb:call:start", "pb:batch:skip", "pb:outcome:open")
    ]
    assert every_button == [*expected, ("pb:batch:done", "b:1")]


def test_a_button_names_the_reply_and_the_page_it_is_on() -> None:
    second = render_messages(batch_reply(20))[1]

    block_ids = [b["block_id"] for b in second.blocks if b["type"] == "actions"]

    assert [page_of(i) for i in block_ids] == [Page("batch:1", 16, 20, 20)] * 5
    assert len(set(block_ids)) == 5  # unique within the message


def test_a_page_re_renders_alone_with_the_same_cards_and_new_content() -> None:
    page = Page("batch:1", 16, 20, 20)

    (message,) = render_messages(batch_reply(20, closed=(17,)), page)

    assert (message.first, message.last) == (16, 20)
    texts = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert texts == [
        "*Maria &amp; José Ortiz* · card 16\nHi Maria, this is Sam.",
        "card 17 logged",
        *texts[2:],
    ]
    assert len(texts) == 4  # no batch text: that lives on the first page
    assert buttons_of(message.blocks)[-1] == ("pb:batch:done", "b:1")
    assert message.blocks[-1] == {"type": "context", "elements": [mrkdwn("_17–20 of 20_")]}


def test_a_page_that_held_the_whole_reply_re_renders_the_whole_reply() -> None:
    page = Page("batch:1", 0, 3, 3)

    (message,) = render_messages(batch_reply(4), page)

    assert (message.first, message.last) == (0, 4)
    assert message.blocks[0] == {"type": "section", "text": mrkdwn("Your batch: 4 calls")}


def test_block_ids_that_are_not_pages_read_as_none() -> None:
    assert page_of("") is None
    assert page_of("batch:1|a|2|3|1") is None
    assert page_of("name") is None


def test_more_than_ten_facts_spill_into_another_section() -> None:
    facts = tuple(Fact(f"Question {i}", "yes") for i in range(12))

    (message,) = render_messages(Reply(text="", sections=(Section("Answers", facts=facts),)))

    assert [len(block.get("fields", [])) for block in message.blocks] == [10, 2]
    assert message.blocks[1]["fields"][1] == mrkdwn("*Question 11*\nyes")


def test_more_than_twenty_five_buttons_spill_into_another_actions_block() -> None:
    buttons = tuple(Button(f"Shift {i}", "pb:shift:join", str(i)) for i in range(30))

    (message,) = render_messages(Reply(text="Open shifts", buttons=buttons))

    actions = [block for block in message.blocks if block["type"] == "actions"]
    assert [len(block["elements"]) for block in actions] == [25, 5]
    assert block_kit_problems(message.payload()) == []


def test_repeated_action_ids_in_one_block_are_made_unique_and_read_back() -> None:
    buttons = (Button("A", "pb:shift:join", "1"), Button("B", "pb:shift:join", "2"))

    (message,) = render_messages(Reply(text="Shifts", buttons=buttons))

    ids = [element["action_id"] for element in message.blocks[-1]["elements"]]
    assert ids == ["pb:shift:join", "pb:shift:join#2"]
    assert [action_id_of(i) for i in ids] == ["pb:shift:join", "pb:shift:join"]


def test_a_long_button_label_is_shortened() -> None:
    (message,) = render_messages(Reply(text="x", buttons=(Button("L" * 100, "pb:x:y"),)))

    label = message.blocks[-1]["elements"][0]["text"]["text"]
    assert label == "L" * 74 + "…"


@pytest.mark.parametrize(
    ("button", "what"),
    [
        (Button("Go", "pb:" + "x" * 253), "action id is 256 characters"),
        (Button("Go", "pb:x:y", "v" * 2001), "button value is 2001 characters"),
    ],
)
def test_ids_and_values_past_the_limits_are_a_render_error(button: Button, what: str) -> None:
    with pytest.raises(RenderError, match=what):
        render_messages(Reply(text="x", buttons=(button,)))


def test_limits_exactly_at_the_edge_render() -> None:
    button = Button("Go", "pb:" + "x" * 252, "v" * 2000)

    (message,) = render_messages(Reply(text="x", buttons=(button,)))

    assert block_kit_problems(message.payload()) == []


def test_text_from_people_cannot_mention_everyone_or_fake_links() -> None:
    reply = Reply(
        text="Notes: <!channel> see <https://evil.example|the form>",
        sections=(Section("A & B <@U1>"),),
    )

    (message,) = render_messages(reply)

    assert message.blocks[0]["text"]["text"] == (
        "Notes: &lt;!channel&gt; see &lt;https://evil.example|the form&gt;"
    )
    assert message.blocks[2]["text"]["text"] == "A &amp; B &lt;@U1&gt;"
    assert "<!channel>" not in message.text


@pytest.mark.parametrize(
    "written",
    [
        "+15125550123",
        "(512) 555-0123",
        "512-555-0123",
        "512.555.0123",
        "5125550123",
        "+1 512 555 0123",
    ],
)
def test_a_full_phone_number_never_leaves_unmasked(written: str) -> None:
    reply = Reply(
        text=f"Call {written} now",
        sections=(Section(f"Phone {written}", facts=(Fact("Phone", written),)),),
        buttons=(Button(f"Call {written}", "pb:call:start"),),
    )

    (message,) = render_messages(reply)

    shown = message.payload()
    assert shown["blocks"][0]["text"]["text"] == "Call (512) •••-••23 now"
    assert shown["text"] == "Call (512) •••-••23 now"
    assert shown["blocks"][2]["fields"] == [mrkdwn("*Phone*\n(512) •••-••23")]
    assert shown["blocks"][3]["elements"][0]["text"]["text"] == "Call (512) •••-••23"


def test_ordinary_numbers_are_left_alone() -> None:
    text = "12 calls, 3 contacts, VAN 100234, 2026-11-03, ZIP 78701"

    (message,) = render_messages(Reply(text=text))

    assert message.blocks[0]["text"]["text"] == text
