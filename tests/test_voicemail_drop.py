"""Drop voicemail: with one click the volunteer leaves the campaign's recorded message on the
machine that answered; only while a voter's leg is up, only once, only where the campaign has a
recording (both databases). Nothing else is ever played to a voter."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from handlers import voice
from handlers.context import TelephonyError, TelephonyFailure
from handlers.voice import LegEvent
from storage.campaign_config import CampaignConfigError, load_campaign_config
from storage.clock import FrozenClock
from tests.scenarios.world import World, voter
from tests.voice_support import Desk, buttons

RECORDING = "https://example.org/phonebank/voicemail.mp3"


def on_the_line(desk: Desk) -> tuple[int, int]:
    """Maria's phone is answered (by her machine) in a live session; the card as chat shows it."""
    desk.press("Call", "Maria")
    session_id, attempt_id = desk.last_ring()
    voice.volunteer_answered(desk.services, session_id, attempt_id, "CAvolunteer")
    answered = LegEvent("CAmaria:in-progress", "CAmaria", "in-progress")
    voice.voter_leg_status(desk.services, session_id, attempt_id, answered)
    desk.batch = desk.notifier.to_volunteers[-1][1]
    return session_id, attempt_id


@pytest.fixture
def desk(engine: Engine, clock: FrozenClock) -> Desk:
    world = World(engine, clock)
    world.campaign([voter("Maria", 1), voter("Dave", 2)], voicemail_url=RECORDING)
    return Desk.open(world)


def test_one_click_leaves_the_recording_on_the_voters_leg_once(desk: Desk) -> None:
    on_the_line(desk)
    [(action, value)] = buttons(desk.batch, "Drop voicemail", "Maria")
    assert buttons(desk.batch, "Drop voicemail", "Dave") == []  # Dave is not on the line

    first = desk.press("Drop voicemail", "Maria")
    again = desk.press("Drop voicemail", "Maria")

    assert desk.telephony.voicemails == [("CAmaria", RECORDING)]
    assert first.text.startswith("Leaving your campaign's voicemail")
    assert again.text == "The voicemail is being left already."


def test_no_button_and_a_refusal_before_anyone_answers(desk: Desk) -> None:
    desk.press("Call", "Maria")  # the volunteer's phone rings; no voter leg yet

    assert buttons(desk.batch, "Drop voicemail", "Maria") == []
    card_id = next(v for _, v in buttons(desk.batch, "Skip", "Maria"))
    refused = desk.press_action("pb:card:voicemail", card_id)
    assert "Nobody is on the line" in refused.text
    assert desk.telephony.voicemails == []


def test_a_campaign_without_a_recording_has_no_voicemail_drop(
    engine: Engine, clock: FrozenClock
) -> None:
    world = World(engine, clock)
    world.campaign([voter("Maria", 1)])
    desk = Desk.open(world)
    on_the_line(desk)

    assert buttons(desk.batch, "Drop voicemail", "Maria") == []
    card_id = next(v for _, v in buttons(desk.batch, "Skip", "Maria"))
    refused = desk.press_action("pb:card:voicemail", card_id)
    assert "no recorded voicemail" in refused.text
    assert desk.telephony.voicemails == []


def test_a_failed_drop_says_so_and_may_be_tried_again(desk: Desk) -> None:
    on_the_line(desk)
    desk.telephony.fail_with = TelephonyError(TelephonyFailure.OUTAGE, "down")

    failed = desk.press("Drop voicemail", "Maria")
    retried = desk.press("Drop voicemail", "Maria")

    assert failed.text == "The voicemail could not be played; the call goes on."
    assert retried.text.startswith("Leaving your campaign's voicemail")
    assert desk.telephony.voicemails == [("CAmaria", RECORDING)]


@pytest.mark.parametrize("link", ["http://example.org/vm.mp3", "vm.mp3", "https://"])
def test_the_recording_must_be_an_https_link(link: str) -> None:
    text = (Path(__file__).parent.parent / "examples" / "campaign.yml").read_text()
    with pytest.raises(CampaignConfigError) as raised:
        load_campaign_config(f"{text}\nvoicemail_url: {link}\n")
    assert "is not an https:// link to the recording" in "\n".join(raised.value.lines())
