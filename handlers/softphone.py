"""`/phonebank softphone`: take your calls in the browser instead of on your phone.

Turning it on hands the volunteer a personal link to the softphone page (bot/telephony/
softphone.py) and makes the bridge ring the browser (`client:volunteer_<id>`) instead of their
phone or SIP address; `off` rings the phone again and voids every link handed out so far. The
voter sees the campaign's number either way, and the volunteer's own number is never involved.
"""

from __future__ import annotations

from handlers.context import Context
from handlers.refusal import Refusal, signed_up
from handlers.replies import Reply, Tone
from storage.db import session_scope
from storage.models import Volunteer

NOT_SET_UP = (
    "The browser softphone is not set up here: an organizer gives Phonebank a Twilio API key "
    "(TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET)."
)


def softphone_identity(volunteer_id: int) -> str:
    """The Twilio client identity the volunteer's browser registers as, and the bridge rings."""
    return f"volunteer_{volunteer_id}"


def ring_target(volunteer: Volunteer) -> str | None:
    """What the bridge rings for this volunteer: their browser, SIP address or phone."""
    if volunteer.softphone and volunteer.id is not None:
        return f"client:{softphone_identity(volunteer.id)}"
    return volunteer.sip_address or volunteer.phone


def softphone(ctx: Context, args: list[str]) -> Reply:
    """Take your calls in the browser (`off`: ring your phone again)."""
    volunteer_id = signed_up(ctx)
    choice = args[0].lower() if args else "on"
    if choice not in ("on", "off"):
        raise Refusal("Say `/phonebank softphone` to turn it on, or `/phonebank softphone off`.")
    links = ctx.services.softphone
    if choice == "on" and links is None:
        raise Refusal(NOT_SET_UP)
    version = _ring_browser(ctx, volunteer_id, choice == "on")
    if choice == "off":
        return Reply(text="Calls ring your phone again.", tone=Tone.SUCCESS)
    assert links is not None
    link = links.link_for(volunteer_id, version)
    return Reply(
        text=(
            f"Open your softphone and keep the page open while you call: {link}"
            "\nWhen you press Call, it rings there; answer, then use its keypad as you would a"
            " phone's. The link is yours alone and works for 12 hours."
            " `/phonebank softphone off` rings your phone again."
        ),
        tone=Tone.SUCCESS,
    )


def _ring_browser(ctx: Context, volunteer_id: int, on: bool) -> int:
    """Turn the softphone on or off; the version its links must carry. Off bumps the version,
    so no link handed out before works again, even after the softphone is back on."""
    with session_scope(ctx.services.engine) as session:
        volunteer = session.get(Volunteer, volunteer_id)
        if volunteer is None:
            raise Refusal("Sign up first: we need your phone number and languages to match you.")
        volunteer.softphone = on
        if not on:
            volunteer.softphone_version += 1
        volunteer.updated_at = ctx.services.clock.now()
        session.add(volunteer)
        return volunteer.softphone_version
