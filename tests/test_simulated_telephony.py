"""The simulated phone network: texts reach listeners (the console shows them), masked."""

from __future__ import annotations

from bot.cli.console import simulated_text
from bot.telephony.simulated import SentText, SimulatedTelephony
from handlers.context import CallRequest
from storage.clock import FrozenClock


def test_every_text_is_kept_and_handed_to_the_text_listeners(clock: FrozenClock) -> None:
    telephony = SimulatedTelephony(clock)
    heard: list[SentText] = []
    telephony.on_text(heard.append)

    message_id = telephony.send_sms("+15125550142", "Your Phonebank code is 123456")

    assert heard == telephony.messages
    assert heard[0].message_id == message_id
    assert (heard[0].to, heard[0].body) == ("+15125550142", "Your Phonebank code is 123456")


def test_the_console_shows_a_text_with_the_number_masked() -> None:
    shown = simulated_text(SentText("SIMSM1", "+15125550142", "Your code is 123456")).text
    assert "Your code is 123456" in shown
    assert "5550142" not in shown
    assert "42" in shown  # the last digits, as on call cards


def test_continuing_a_session_rings_the_next_voter(clock: FrozenClock) -> None:
    telephony = SimulatedTelephony(clock)
    first = CallRequest(1, "+15125550142", "+15125550100", "+12025550142", "Hi", session_id=7)
    second = CallRequest(2, "+15125550142", "+15125550101", "+12025550142", "Hi", session_id=7)

    handle = telephony.place_call(first)
    following = telephony.continue_session(handle.call_sid, second)

    assert following.call_sid != handle.call_sid
    assert telephony.calls[following.call_sid].request.attempt_id == 2
    assert following.status == "ringing"


def test_a_dropped_voicemail_ends_the_simulated_call(clock: FrozenClock) -> None:
    telephony = SimulatedTelephony(clock)
    ended: list[str] = []
    telephony.on_status(lambda event: ended.append(event.status))
    handle = telephony.place_call(
        CallRequest(1, "+15125550142", "+15125550100", "+12025550142", "Hi", session_id=7)
    )

    telephony.drop_voicemail(handle.call_sid, "https://example.org/vm.mp3")
    telephony.drop_voicemail("SIM-unknown", "https://example.org/vm.mp3")  # nothing to end

    assert telephony.calls[handle.call_sid].status == "completed"
    assert ended == ["completed"]
