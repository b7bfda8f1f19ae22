"""Form -> modal and a submitted modal -> answers: whole views compared as parsed JSON."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.modals import (
    done_view,
    modal_answers,
    modal_metadata,
    render_modal,
    saving_view,
    view_with_errors,
)
from bot.slack.render import RenderError
from handlers.replies import Form, Input, InputKind, Option, Reply, Tone
from tests.slack_blockkit import block_kit_problems


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def signup_form(**overrides: Any) -> Form:
    """The signup form as the handler builds it."""
    fields: dict[str, Any] = {
        "title": "Sign up to call",
        "submit_action": "pb:signup:submit",
        "inputs": (
            Input("name", "Your name", initial="Sam"),
            Input("phone", "Phone the bridge rings", hint="We ring you first, then the voter."),
            Input(
                "languages",
                "Languages you can call in",
                InputKind.CHOICES,
                options=(Option("English", "en"), Option("Spanish", "es")),
                initial=("en",),
            ),
            Input("sms", "Texts about shifts are OK", InputKind.CHECKBOX, required=False),
            Input("notes", "Anything else", InputKind.LONG_TEXT, required=False),
        ),
        "value": "v1",
    }
    return Form(**(fields | overrides))


def test_a_form_becomes_a_modal_with_one_input_block_per_field() -> None:
    view = render_modal(signup_form(), intro="Welcome!", metadata={"response_url": "https://r"})

    english, spanish = (
        {"text": plain("English"), "value": "en"},
        {"text": plain("Spanish"), "value": "es"},
    )
    assert view == {
        "type": "modal",
        "callback_id": "pb:signup:submit",
        "title": plain("Sign up to call"),
        "submit": plain("Submit"),
        "close": plain("Cancel"),
        "private_metadata": '{"value":"v1","checkboxes":["sms"],"response_url":"https://r"}',
        "blocks": [
            {"type": "section", "text": mrkdwn("Welcome!")},
            {
                "type": "input",
                "block_id": "name",
                "label": plain("Your name"),
                "optional": False,
                "element": {
                    "type": "plain_text_input",
                    "action_id": "name",
                    "initial_value": "Sam",
                },
            },
            {
                "type": "input",
                "block_id": "phone",
                "label": plain("Phone the bridge rings"),
                "optional": False,
                "element": {"type": "plain_text_input", "action_id": "phone"},
                "hint": plain("We ring you first, then the voter."),
            },
            {
                "type": "input",
                "block_id": "languages",
                "label": plain("Languages you can call in"),
                "optional": False,
                "element": {
                    "type": "checkboxes",
                    "action_id": "languages",
                    "options": [english, spanish],
                    "initial_options": [english],
                },
            },
            {
                "type": "input",
                "block_id": "sms",
                "label": plain("Texts about shifts are OK"),
                "optional": True,
                "element": {
                    "type": "checkboxes",
                    "action_id": "sms",
                    "options": [{"text": plain("Yes"), "value": "yes"}],
                },
            },
            {
                "type": "input",
                "block_id": "notes",
                "label": plain("Anything else"),
                "optional": True,
                "element": {"type": "plain_text_input", "action_id": "notes", "multiline": True},
            },
        ],
    }
    assert block_kit_problems({"view": view}) == []


def test_a_long_title_is_cut_to_slacks_24_characters() -> None:
    view = render_modal(signup_form(title="Log the outcome of this call please"))

    assert view["title"] == plain("Log the outcome of this…")


def test_a_choice_of_more_than_100_options_uses_option_groups() -> None:
    options = tuple(Option(f"Precinct {i}", f"p{i}") for i in range(250))
    form = signup_form(
        inputs=(Input("precinct", "Precinct", InputKind.CHOICE, options=options, initial="p150"),)
    )

    element = render_modal(form)["blocks"][0]["element"]

    assert element["type"] == "static_select"
    assert [g["label"]["text"] for g in element["option_groups"]] == ["1–100", "101–200", "201–250"]
    assert [len(g["options"]) for g in element["option_groups"]] == [100, 100, 50]
    assert element["initial_option"] == {"text": plain("Precinct 150"), "value": "p150"}
    assert block_kit_problems({"view": render_modal(form)}) == []


def test_many_choices_use_a_multi_select() -> None:
    options = tuple(Option(f"Language {i}", f"l{i}") for i in range(12))
    form = signup_form(
        inputs=(Input("languages", "Languages", InputKind.CHOICES, options=options),)
    )

    element = render_modal(form)["blocks"][0]["element"]

    assert element["type"] == "multi_static_select"
    assert len(element["options"]) == 12


def test_a_choice_without_options_is_a_render_error() -> None:
    with pytest.raises(RenderError, match="without options"):
        render_modal(signup_form(inputs=(Input("code", "Result", InputKind.CHOICE),)))


def test_a_submitted_modal_reads_back_as_answers_by_input_id() -> None:
    view = render_modal(signup_form())
    view["state"] = {
        "values": {
            "name": {"name": {"type": "plain_text_input", "value": "Sam Rivera"}},
            "phone": {"phone": {"type": "plain_text_input", "value": "512 555 0199"}},
            "languages": {
                "languages": {
                    "type": "checkboxes",
                    "selected_options": [{"value": "en"}, {"value": "es"}],
                }
            },
            "sms": {"sms": {"type": "checkboxes", "selected_options": []}},
            "notes": {"notes": {"type": "plain_text_input", "value": None}},
        }
    }

    assert modal_answers(view) == {
        "name": "Sam Rivera",
        "phone": "512 555 0199",
        "languages": ["en", "es"],
        "sms": "no",
        "notes": "",
    }
    assert modal_metadata(view)["value"] == "v1"


def test_a_ticked_consent_box_and_a_picked_option_read_back() -> None:
    view = render_modal(signup_form())
    view["state"] = {
        "values": {
            "sms": {"sms": {"type": "checkboxes", "selected_options": [{"value": "yes"}]}},
            "code": {"code": {"type": "static_select", "selected_option": {"value": "talked"}}},
            "blank": {"blank": {"type": "static_select", "selected_option": None}},
        }
    }

    assert modal_answers(view) == {"sms": "yes", "code": "talked", "blank": ""}


def test_tampered_private_metadata_reads_as_empty() -> None:
    assert modal_metadata({"private_metadata": "not json"}) == {}
    assert modal_metadata({"private_metadata": "[1, 2]"}) == {}


def submitted(form: Form, values: dict[str, Any]) -> dict[str, Any]:
    """The view of `form` as Slack sends it back on submission."""
    return render_modal(form) | {"id": "V1", "state": {"values": values}}


def test_errors_after_a_slow_answer_go_under_their_inputs_and_keep_every_answer() -> None:
    view = submitted(
        signup_form(),
        {
            "name": {"name": {"type": "plain_text_input", "value": "Sam"}},
            "phone": {"phone": {"type": "plain_text_input", "value": "555"}},
            "languages": {
                "languages": {"type": "checkboxes", "selected_options": [{"value": "es"}]}
            },
            "sms": {"sms": {"type": "checkboxes", "selected_options": []}},
            "notes": {"notes": {"type": "plain_text_input", "value": None}},
        },
    )

    updated = view_with_errors(view, {"phone": "Not a phone number.", "other": "Try later."})

    kinds = [(b["type"], b.get("block_id")) for b in updated["blocks"]]
    assert kinds == [
        ("section", None),
        ("input", "name"),
        ("input", "phone"),
        ("context", None),
        ("input", "languages"),
        ("input", "sms"),
        ("input", "notes"),
    ]
    assert updated["blocks"][0]["text"]["text"] == ":warning: Try later."
    assert updated["blocks"][3]["elements"][0]["text"] == ":warning: Not a phone number."
    elements = {b["block_id"]: b["element"] for b in updated["blocks"] if b["type"] == "input"}
    assert elements["name"]["initial_value"] == "Sam"
    assert elements["phone"]["initial_value"] == "555"
    assert elements["languages"]["initial_options"] == [{"value": "es"}]  # not the initial "en"
    assert "initial_options" not in elements["sms"]
    assert updated["submit"] == plain("Submit") and updated["callback_id"] == "pb:signup:submit"
    assert block_kit_problems({"view": updated}) == []


def test_the_saving_and_done_views_keep_the_modal_but_offer_no_submit() -> None:
    view = submitted(signup_form(), {})

    saving = saving_view(view)
    done = done_view(view, Reply(text="Saved your profile, Sam.", tone=Tone.SUCCESS))

    for shown in (saving, done):
        assert "submit" not in shown
        assert shown["private_metadata"] == view["private_metadata"]
    assert done["blocks"] == [
        {"type": "section", "text": mrkdwn(":white_check_mark: Saved your profile, Sam.")}
    ]
