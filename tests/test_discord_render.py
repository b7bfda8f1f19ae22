"""A `Reply` as Discord messages and a `Form` as Discord modals, within Discord's limits."""

from __future__ import annotations

from typing import Any

import pytest

from bot.discord import forms
from bot.discord.render import Page, RenderError, custom_id_of, parse_custom_id, render_pages
from handlers.replies import Button, Fact, Form, Input, InputKind, Option, Reply, Section, Tone
from tests.discord_limits import discord_problems


def as_message(page: Page) -> dict[str, Any]:
    rows = [
        {
            "type": 1,
            "components": [{"type": 2, "label": b.label, "custom_id": b.custom_id} for b in row],
        }
        for row in page.rows
    ]
    return {"embeds": page.embeds, "components": rows}


def card(n: int) -> Section:
    return Section(
        f"Voter {n}\n\nHi voter {n}, call me at (512) 555-01{n:02d}.",
        facts=(Fact("Phone", f"+1512555{n:04d}"),),
        buttons=(Button("Call", "pb:card:call", str(n)), Button("Skip", "pb:card:skip", str(n))),
    )


def test_a_long_batch_becomes_several_messages_each_within_the_limits() -> None:
    reply = Reply(
        "Twelve calls.",
        sections=tuple(card(n) for n in range(12)),
        buttons=(Button("I'm done", "pb:batch:release", "1"),),
    )

    pages = render_pages(reply)

    assert len(pages) > 1
    assert all(discord_problems(as_message(page)) == [] for page in pages)
    ids = [b.custom_id for page in pages for row in page.rows for b in row]
    assert ids.count("pb:card:call:3") == 1 and ids[-1] == "pb:batch:release:1"


def test_phone_numbers_are_masked_in_text_facts_and_labels() -> None:
    reply = Reply(
        "Call 512-555-0123",
        sections=(
            Section(
                "(512) 555-0124",
                facts=(Fact("Phone", "+15125550125"),),
                buttons=(Button("Dial 5125550126", "pb:card:call", "1"),),
            ),
        ),
    )

    text = str([as_message(page) for page in render_pages(reply)])

    for digits in ("0123", "0124", "0125", "0126"):
        assert f"555-{digits}" not in text and f"555{digits}" not in text


def test_cards_sharing_a_message_are_numbered_and_a_lone_card_is_not() -> None:
    two = render_pages(Reply("", sections=(card(1), card(2))))[0]
    one = render_pages(Reply("", sections=(card(1),)))[0]

    assert [e.get("title") for e in two.embeds] == ["1.", "2."]
    assert [b.label for b in two.rows[1]] == ["2. Call", "2. Skip"]
    assert [b.label for b in one.rows[0]] == ["Call", "Skip"]


def test_a_warning_says_so_and_long_text_is_split_over_embeds() -> None:
    pages = render_pages(Reply("x " * 5000, tone=Tone.WARNING))

    assert pages[0].embeds[0]["description"].startswith("⚠️")
    assert all(len(e["description"]) <= 4096 for page in pages for e in page.embeds)
    assert all(discord_problems(as_message(page)) == [] for page in pages)


def test_a_repeated_button_gets_a_unique_custom_id_that_parses_back() -> None:
    page = render_pages(
        Reply("", buttons=(Button("A", "pb:batch:claim"), Button("B", "pb:batch:claim")))
    )[0]

    ids = [b.custom_id for b in page.rows[0]]
    assert ids == ["pb:batch:claim", "pb:batch:claim#2"]
    assert [parse_custom_id(i) for i in ids] == [("pb:batch:claim", "")] * 2
    assert parse_custom_id("pb:card:call:42") == ("pb:card:call", "42")
    assert parse_custom_id("not ours") is None


@pytest.mark.parametrize("value", ["x" * 120, "1#2"])
def test_a_value_that_cannot_be_a_custom_id_is_a_render_error(value: str) -> None:
    with pytest.raises(RenderError):
        custom_id_of("pb:card:call", value)


def test_more_buttons_than_a_message_can_hold_in_one_section_is_a_render_error() -> None:
    many = tuple(Button(f"B{n}", "pb:card:call", str(n)) for n in range(26))
    with pytest.raises(RenderError):
        render_pages(Reply("", sections=(Section("x", buttons=many),)))


# --- forms ------------------------------------------------------------------------------------

SIX = Form(
    title="Sign up",
    submit_action="pb:signup:submit",
    inputs=(
        Input("name", "Your name"),
        Input("phone", "Your phone number", hint="Calls ring this phone first."),
        Input("sip", "SIP", required=False),
        Input("area", "Area code", required=False),
        Input(
            "languages",
            "Languages",
            kind=InputKind.CHOICES,
            options=(Option("English", "en"), Option("Spanish", "es")),
            initial=("en",),
        ),
        Input(
            "sms",
            "Text me reminders and batches (reply STOP to end)",
            kind=InputKind.CHECKBOX,
            required=False,
        ),
    ),
)


def modal_dict(draft: forms.Draft, step: int) -> dict[str, Any]:
    return forms.modal_for(draft, step).to_dict()


def test_a_form_of_six_inputs_is_asked_in_two_modals_within_the_limits() -> None:
    draft = forms.Drafts().open("1", SIX, "Sign up to call voters.")

    first, second = modal_dict(draft, 0), modal_dict(draft, 1)

    assert first["components"][0] == {"type": 10, "content": "Sign up to call voters."}
    assert len(first["components"]) == 5 and len(second["components"]) == 2
    assert first["title"] == "Sign up (1/2)"
    for modal in (first, second):
        assert discord_problems({"type": 9, "data": modal}) == []
    consent = second["components"][1]
    assert len(consent["label"]) <= 45 and "reply STOP" in consent["description"]


def test_the_intro_gives_way_when_it_would_cost_a_step() -> None:
    five = Form(title="Log", submit_action="pb:outcome:submit", inputs=SIX.inputs[:5])

    draft = forms.Drafts().open("1", five, "What happened on the call to Maria?")

    assert len(draft.steps) == 1
    assert all(row["type"] == 18 for row in modal_dict(draft, 0)["components"])


def test_an_error_shows_in_its_inputs_description_with_the_answer_kept() -> None:
    draft = forms.Drafts().open("1", SIX)
    draft.answers = {"phone": "555-01", "name": "Ana"}
    draft.errors = {"phone": "That is not a phone number."}

    rows = modal_dict(draft, draft.step_with_error())["components"]

    phone = next(r for r in rows if r["component"]["custom_id"] == "phone")
    assert phone["description"] == "That is not a phone number."
    assert phone["component"]["value"] == "555-01"


def test_submitted_components_become_the_handlers_answers() -> None:
    submitted = [
        {"type": 18, "component": {"type": 4, "custom_id": "name", "value": "Ana"}},
        {"type": 18, "component": {"type": 3, "custom_id": "languages", "values": ["en", "es"]}},
        {"type": 18, "component": {"type": 23, "custom_id": "sms", "value": True}},
        {"type": 18, "component": {"type": 4, "custom_id": "not-on-the-form", "value": "x"}},
    ]

    answers = forms.submitted_answers(submitted, SIX.inputs)

    assert answers == {"name": "Ana", "languages": ["en", "es"], "sms": "yes"}


def test_a_draft_belongs_to_its_user() -> None:
    drafts = forms.Drafts()
    draft = drafts.open("1", SIX)

    assert drafts.get(draft.id, "1") is draft
    assert drafts.get(draft.id, "2") is None
    assert drafts.get("nope", "1") is None
