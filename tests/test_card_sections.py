"""Rendering a batch card (handlers/cards.py): an unchanged card is taken from the memo, and any
change to what a card shows (its call, a voter's columns, the campaign, the batch) renders it
again; voter columns that cannot be hashed are rendered every time."""

from __future__ import annotations

import dataclasses
from typing import Any

from handlers.cards import BatchView, CardView, VoterOnCard, card_section
from handlers.scripts import ScriptVoter
from tests.factories import campaign_config

CONFIG = campaign_config(scripts={"en": "Hi {{ voter.first_name }} at {{ polling_place }}."})


def maria(**attributes: Any) -> VoterOnCard:
    script_voter = ScriptVoter("Maria", "Lopez", "en", "TX", "78701", "V1", attributes)
    return VoterOnCard(1, "Maria", "en", True, None, script_voter)


def card(voter: VoterOnCard | None = None, call_status: str | None = None) -> CardView:
    voter = voter or maria(PollingPlace="the library")
    return CardView(7, "+15125550101", "same area code", True, None, (voter,), call_status)


def view(*cards: CardView, config: Any = CONFIG, on_the_line: bool = False) -> BatchView:
    return BatchView(3, 4, 5, True, cards, "Ana", "Test campaign", config, on_the_line)


def test_an_unchanged_card_is_taken_from_the_memo() -> None:
    first = card_section(view(card()), card())
    again = card_section(view(card()), card())

    assert again is first
    assert "Hi Maria at the library." in first.text


def test_a_change_of_the_call_renders_the_card_again() -> None:
    before = card_section(view(card()), card())
    ringing = card(call_status="ringing")

    after = card_section(view(ringing), ringing)

    assert after is not before
    assert [fact.value for fact in after.facts if fact.label == "Status"] == ["Calling: ringing"]


def test_a_voter_column_changed_by_an_import_renders_the_script_again() -> None:
    card_section(view(card()), card())
    moved = card(maria(PollingPlace="the school"))

    assert "Hi Maria at the school." in card_section(view(moved), moved).text


def test_another_campaign_configuration_renders_the_card_again() -> None:
    card_section(view(card()), card())
    other = campaign_config(scripts={"en": "Hello {{ voter.first_name }}!"})

    assert "Hello Maria!" in card_section(view(card(), config=other), card()).text


def test_the_volunteers_line_going_up_renders_the_card_again() -> None:
    on_call = card(call_status="in-progress")
    with_voicemail = campaign_config(voicemail_url="https://example.org/vm.mp3")
    off = card_section(view(on_call, config=with_voicemail), on_call)

    on = card_section(view(on_call, config=with_voicemail, on_the_line=True), on_call)

    labels = [button.label for button in on.buttons]
    assert "Drop voicemail" in labels and "Drop voicemail" not in [b.label for b in off.buttons]


def test_voter_columns_that_cannot_be_hashed_are_rendered_every_time() -> None:
    listed = card(maria(PollingPlace="the library", Tags=["senior", "new"]))

    first = card_section(view(listed), listed)
    again = card_section(view(listed), listed)

    assert again is not first and again == first
    assert "Hi Maria at the library." in again.text


def test_a_renamed_voter_is_never_shown_under_the_old_name() -> None:
    card_section(view(card()), card())
    renamed_voter = dataclasses.replace(
        maria(PollingPlace="the library"),
        first_name="Mary",
        script_voter=ScriptVoter(
            "Mary", "Lopez", "en", "TX", "78701", "V1", {"PollingPlace": "the library"}
        ),
    )
    renamed = card(renamed_voter)

    text = card_section(view(renamed), renamed).text

    assert text.startswith("Mary") and "Maria" not in text


# Fields that do not change how a card looks: the batch's ids, and its other cards.
NOT_DRAWN = {
    "BatchView.batch_id",
    "BatchView.volunteer_id",
    "BatchView.campaign_id",
    "BatchView.cards",
}


def _other(value: Any) -> Any:
    """A different value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + " (changed)"
    if value is None:
        return "changed"
    if isinstance(value, ScriptVoter):
        return dataclasses.replace(value, first_name="Changed")
    if isinstance(value, tuple):
        return (*value, *value)
    return campaign_config(scripts={"en": "Another script."})  # the configuration


def test_every_field_a_card_is_drawn_from_is_in_its_memo_key() -> None:
    """A field added to the views and drawn on the card, but left out of the memo key, would
    show a stale card: this fails until the key has it (or NOT_DRAWN says why not)."""
    from handlers.cards import _section_key

    voter = maria(PollingPlace="the library")
    base_card = card(voter)
    base_view = view(base_card)
    key = _section_key(base_view, base_card)
    variants: list[tuple[str, BatchView, CardView]] = []
    for field in dataclasses.fields(VoterOnCard):
        changed_voter = dataclasses.replace(
            voter, **{field.name: _other(getattr(voter, field.name))}
        )
        changed_card = dataclasses.replace(base_card, voters=(changed_voter,))
        variants.append((f"VoterOnCard.{field.name}", view(changed_card), changed_card))
    for field in dataclasses.fields(CardView):
        if field.name != "voters":
            value = _other(getattr(base_card, field.name))
            changed_card = dataclasses.replace(base_card, **{field.name: value})
            variants.append((f"CardView.{field.name}", view(changed_card), changed_card))
    for field in dataclasses.fields(BatchView):
        value = _other(getattr(base_view, field.name))
        variants.append(
            (
                f"BatchView.{field.name}",
                dataclasses.replace(base_view, **{field.name: value}),
                base_card,
            )
        )

    unkeyed = [
        name
        for name, changed_view, changed_card in variants
        if name not in NOT_DRAWN and _section_key(changed_view, changed_card) == key
    ]
    assert unkeyed == []
