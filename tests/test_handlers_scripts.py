"""Call scripts: fields by bare name and as `voter.x`, file columns in snake_case, visible
blanks for missing fields, the sandbox, and no voter phone number in the result; masking."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.masking import mask_phone, scrub_phone
from handlers.scripts import (
    BLANK,
    ScriptVoter,
    pick_script,
    render_script,
    script_context,
    snake_case,
)


def maria(**attributes: Any) -> ScriptVoter:
    """A Spanish-speaking voter with the columns a VAN export carries."""
    columns = {"PollingPlace": "Lincoln Elementary", "VanID": "102052", "Tags": ""}
    return ScriptVoter(
        first_name="María",
        last_name="Pérez",
        language="es",
        state="CA",
        zip="92570",
        external_id="102052",
        attributes=columns | attributes,
    )


def render(template: str, voter: ScriptVoter | None = None, phone: str | None = None) -> str:
    context = script_context(voter or maria(), "Ana Lopez", "Riverside Votes")
    return render_script(template, context, phone=phone)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("PollingPlace", "polling_place"),
        ("VanID", "van_id"),
        ("Zip5", "zip5"),
        ("Polling Place", "polling_place"),
        ("polling-place", "polling_place"),
        ("HTMLBody", "html_body"),
        ("  First Name ", "first_name"),
    ],
)
def test_snake_case(header: str, name: str) -> None:
    assert snake_case(header) == name


def test_fields_read_bare_and_through_voter() -> None:
    text = render(
        "{{ first_name }}/{{ voter.first_name }} {{ polling_place }}/{{ voter.PollingPlace }}"
        "/{{ voter.polling_place }} {{ van_id }} {{ language_name }}"
    )
    assert (
        text
        == "María/María Lincoln Elementary/Lincoln Elementary/Lincoln Elementary 102052 Spanish"
    )


def test_volunteer_and_campaign_both_ways() -> None:
    text = render(
        "{{ volunteer.name }}|{{ volunteer_name }}|{{ volunteer.first_name }}|{{ campaign.name }}|{{ campaign_name }}"
    )
    assert text == "Ana Lopez|Ana Lopez|Ana|Riverside Votes|Riverside Votes"


def test_missing_and_empty_fields_are_visible_blanks_and_take_defaults() -> None:
    text = render("{{ precinct }} {{ voter.precinct }} {{ voter.precinct.name }} {{ tags }}")
    assert text == " ".join([BLANK] * 4)
    assert render('{{ tags | default("none") }} {{ ward | default("?") }}') == "none ?"
    assert render("{% if precinct %}yes{% else %}no{% endif %}") == "no"


def test_a_column_named_like_a_method_is_a_field() -> None:
    assert (
        render("{{ voter.items }} {{ voter.keys }}", maria(Items="3 signs")) == f"3 signs {BLANK}"
    )


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ voter._values }}",
        "{{ first_name.__class__ }}",
    ],
)
def test_the_sandbox_keeps_templates_away_from_python(template: str) -> None:
    assert render(template) == BLANK


@pytest.mark.parametrize(
    "template",
    ["{{ 1 / 0 }}", "{% for x in range(10**9) %}{% endfor %}", "{{ first_name | truncate('x') }}"],
)
def test_a_failing_template_shows_a_note_instead_of_raising(template: str) -> None:
    assert render(template).startswith("(The script could not be filled in:")


def test_phone_columns_are_left_out_and_the_cards_phone_is_masked() -> None:
    voter = maria(HomePhone="(951) 555-0100", CellPhone="951-555-0145")
    assert (
        render("{{ home_phone }} {{ voter.HomePhone }} {{ cell_phone }}", voter)
        == f"{BLANK} {BLANK} {BLANK}"
    )
    typed_in = render("Call back on 951.555.0145 or (951) 555 0145", phone="+19515550145")
    assert "555" not in typed_in and typed_in.count("(951) •••-••45") == 2


def test_the_script_comes_in_the_voters_language_when_there_is_one() -> None:
    scripts = {"en": "Hi", "es": "Hola"}
    assert pick_script(scripts, "es", "en") == "Hola"
    assert pick_script(scripts, "vi", "en") == "Hi"
    assert pick_script({"es": "Hola"}, "vi", "en") == "Hola"


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+15125550123", "(512) •••-••23"),
        ("+12025550142", "(202) •••-••42"),
        ("+442071838750", "+44 ••••••••50"),
    ],
)
def test_mask_phone(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


def test_scrub_phone_finds_every_punctuation_and_spares_longer_numbers() -> None:
    text = "512-555-0123, +1 (512) 555 0123, 5125550123; order 151255501239"
    scrubbed = scrub_phone(text, "+15125550123")
    assert scrubbed.count("(512) •••-••23") == 3
    assert scrubbed.endswith("order 151255501239")
