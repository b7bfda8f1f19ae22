"""The voice core's neutral plans (handlers/voice.py) as TwiML, written with twilio's
`VoiceResponse`, every URL taken from `WebhookUrls`.

The dial to a voter shows the campaign's caller id, connects only when the voter answers
(`answerOnBridge`, so the volunteer hears the real ringing), lets the volunteer end the voter's
leg with '*' and stay on the line, and reports the voter's leg to its status webhook. A key is
gathered one at a time with '#' as a key of its own (it means "next voter", not "end of input").
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from bot.telephony.urls import WebhookUrls
from handlers.voice import Dial, Gather, Hangup, Plan, Redirect, Say, Verb

VOTER_EVENTS = "initiated ringing answered completed"
RECORD_FROM_ANSWER = "record-from-answer-dual"


def render(plan: Plan, urls: WebhookUrls) -> str:
    """The TwiML document for `plan`."""
    response = VoiceResponse()
    for verb in plan:
        _add(response, verb, urls)
    return str(response.to_xml())


def empty() -> str:
    """An empty TwiML answer, for status callbacks."""
    return str(VoiceResponse().to_xml())


def _add(response: VoiceResponse, verb: Verb, urls: WebhookUrls) -> None:
    if isinstance(verb, Say):
        response.say(verb.text)
    elif isinstance(verb, Dial):
        _dial(response, verb, urls)
    elif isinstance(verb, Gather):
        gather = response.gather(
            num_digits=1,
            finish_on_key="",
            timeout=verb.timeout_s,
            action=urls.keypad(verb.session_id, verb.attempt_id),
            method="POST",
        )
        gather.say(verb.prompt)
    elif isinstance(verb, Redirect):
        response.redirect(urls.keypad(verb.session_id, verb.attempt_id), method="POST")
    elif isinstance(verb, Hangup):
        response.hangup()


def _dial(response: VoiceResponse, verb: Dial, urls: WebhookUrls) -> None:
    dial = response.dial(
        caller_id=verb.caller_id,
        answer_on_bridge=True,
        hangup_on_star=True,
        action=urls.dialed(verb.session_id, verb.attempt_id),
        method="POST",
        record=RECORD_FROM_ANSWER if verb.record else None,
    )
    dial.number(
        verb.number,
        status_callback=urls.voter_status(verb.session_id, verb.attempt_id),
        status_callback_event=VOTER_EVENTS,
        status_callback_method="POST",
        url=urls.notice(verb.session_id, verb.attempt_id) if verb.record else None,
        method="POST" if verb.record else None,
    )
