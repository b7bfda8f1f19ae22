"""Texts coming in: keywords in any case, once per MessageSid, free-text opt-outs to review, and
the organizers' review list (both databases)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from handlers.context import Platform, Services
from handlers.identity import context_for, grant_role
from handlers.outbox import run_due
from handlers.router import handle_action, handle_command
from handlers.sms import (
    FREE_TEXT_REPLY,
    NO_SHIFT,
    OPTED_IN,
    REVIEW_REPLY,
    UNKNOWN_YES,
    IncomingText,
    SmsAnswer,
    keyword_of,
    reads_like_opt_out,
    receive_text,
)
from handlers.sms_digest import QUIET_PERIOD
from handlers.sms_segments import fits_one_segment
from handlers.texting import TextStatus, text_volunteer
from storage.clock import FrozenClock
from storage.db import read_session, session_scope
from storage.models import AuditLog, Role, Shift, ShiftSignup, SmsInbound
from tests.factories import make_campaign
from tests.scenarios.world import RecordingNotifier, make_services, reply_text
from tests.sms_support import add_volunteer, volunteer

ANA = "+15125550142"
STRANGER = "+15125550177"
_sids = itertools.count(1)


def text_in(services: Services, body: str, sender: str = ANA, sid: str | None = None) -> SmsAnswer:
    sid = sid or f"SM{next(_sids):032d}"
    return receive_text(services, IncomingText(sid, sender, body))


def send_digests(services: Services, clock: FrozenClock) -> None:
    """The quiet period ends and the outbox runs what is due (the web process's worker would)."""
    clock.advance(QUIET_PERIOD)
    run_due(services)


def stored(engine: Engine) -> list[SmsInbound]:
    with read_session(engine) as session:
        return list(session.exec(select(SmsInbound).order_by(col(SmsInbound.id))).all())


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("  Stop.  ", "STOP"),
        ("StopAll!", "STOPALL"),
        ("unsubscribe", "UNSUBSCRIBE"),
        ("Cancel", "CANCEL"),
        ("end", "END"),
        ("QUIT", "QUIT"),
        ("revoke", "REVOKE"),
        ("OptOut", "OPTOUT"),
        ("start", "START"),
        ("Unstop", "UNSTOP"),
        ("help?", "HELP"),
        ("Yes!", "YES"),
        ("stop texting me", None),
        ("yes please", None),
        ("opt out", None),
        ("", None),
    ],
)
def test_a_keyword_is_the_whole_text_in_any_case(body: str, keyword: str | None) -> None:
    assert keyword_of(body) == keyword


@pytest.mark.parametrize(
    ("body", "opt_out"),
    [
        ("please stop texting me", True),
        ("Don't text me anymore", True),
        ("don’t message me", True),
        ("remove me from this list", True),
        ("I want to opt out", True),
        ("no more texts please", True),
        ("See you at 6!", False),
        ("what time is my shift?", False),
        ("Can we end early? I'll text you after", False),
        ("Never mind, see you", False),
    ],
)
def test_free_text_that_reads_like_an_opt_out(body: str, opt_out: bool) -> None:
    assert reads_like_opt_out(body) is opt_out


@pytest.mark.parametrize(
    "word", ["STOP", "stopall", " Unsubscribe ", "cancel.", "End", "quit", "REVOKE", "optout"]
)
def test_every_opt_out_word_opts_out_without_a_reply(
    engine: Engine, clock: FrozenClock, word: str
) -> None:
    services = make_services(engine, clock)
    ana = add_volunteer(engine, clock, phone=ANA)

    answer = text_in(services, word)

    assert answer == SmsAnswer(reply=None)  # Twilio confirms a STOP itself
    assert volunteer(engine, ana).sms_opted_out
    [row] = stored(engine)
    assert (row.keyword, row.volunteer_id, row.needs_review) == (
        word.strip(" .").upper(),
        ana,
        False,
    )


def test_stop_then_a_reminder_sends_nothing(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    ana = add_volunteer(engine, clock, phone=ANA)

    text_in(services, "Stop")
    result = text_volunteer(services, ana, "Your shift starts at 6 PM.", purpose="reminder")

    assert result.status is TextStatus.OPTED_OUT
    assert services.telephony.messages == []  # type: ignore[attr-defined]


def test_stop_twice_is_harmless(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    ana = add_volunteer(engine, clock, phone=ANA)

    assert text_in(services, "STOP").reply is None
    assert text_in(services, "stop").reply is None

    assert volunteer(engine, ana).sms_opted_out
    assert len(stored(engine)) == 2
    with read_session(engine) as session:
        assert session.exec(select(AuditLog.action)).all() == ["sms.opt_out"]


def test_start_after_stop_opts_back_in_with_a_confirmation(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock)
    ana = add_volunteer(engine, clock, phone=ANA)
    text_in(services, "STOP")
    clock.advance(timedelta(minutes=5))

    answer = text_in(services, "start")

    assert answer.reply == OPTED_IN and "STOP" in answer.reply
    assert not volunteer(engine, ana).sms_opted_out
    assert text_volunteer(services, ana, "Shift at 6 PM.", purpose="reminder").sent


def test_unstop_opts_back_in_too(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    ana = add_volunteer(engine, clock, phone=ANA, sms_opted_out=True)

    assert text_in(services, "UNSTOP").reply == OPTED_IN
    assert not volunteer(engine, ana).sms_opted_out


def test_help_names_the_program_a_contact_and_how_to_opt_out(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock)
    with session_scope(engine) as session:
        make_campaign(session, name="Austin GOTV", clock=clock)

    reply = text_in(services, "help").reply

    assert reply is not None and reply.startswith("Austin GOTV:")
    assert "organizer" in reply and "Reply STOP to opt out" in reply
    assert fits_one_segment(reply)


def test_a_stop_from_an_unknown_number_is_recorded_for_the_number(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock)

    assert text_in(services, "STOP", sender="(512) 555-0177").reply is None
    [row] = stored(engine)
    assert (row.from_phone, row.keyword, row.volunteer_id) == (STRANGER, "STOP", None)

    later = add_volunteer(engine, clock, phone=STRANGER)  # signs up with that phone later
    assert text_volunteer(services, later, "Hi", purpose="reminder").status is TextStatus.OPTED_OUT


def _shift(engine: Engine, clock: FrozenClock, volunteer_id: int, hours: int, title: str) -> int:
    with session_scope(engine) as session:
        campaign = make_campaign(session, clock=clock)  # time zone America/New_York
        starts = clock.now() + timedelta(hours=hours)
        shift = Shift(
            campaign_id=int(campaign.id or 0),
            title=title,
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            created_at=clock.now(),
        )
        session.add(shift)
        session.flush()
        signup = ShiftSignup(
            shift_id=int(shift.id or 0), volunteer_id=volunteer_id, created_at=clock.now()
        )
        session.add(signup)
        session.flush()
        return int(signup.id or 0)


def _status(engine: Engine, signup_id: int) -> str:
    with read_session(engine) as session:
        row = session.get(ShiftSignup, signup_id)
        assert row is not None
        return row.status


def test_yes_confirms_the_next_upcoming_shift(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    ana = add_volunteer(engine, clock, phone=ANA)
    past = _shift(engine, clock, ana, -3, "Morning calls")
    later = _shift(engine, clock, ana, 48, "Weekend calls")
    next_one = _shift(engine, clock, ana, 3, "Afternoon calls")  # 13:00 in New York

    reply = text_in(services, "YES").reply

    assert reply == "Thanks! You're confirmed for Afternoon calls, Tue Nov 3 at 1:00 PM."
    assert [_status(engine, s) for s in (past, next_one, later)] == [
        "signed_up",
        "confirmed",
        "signed_up",
    ]


def test_yes_without_a_shift_says_so(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    add_volunteer(engine, clock, phone=ANA)

    assert text_in(services, "yes").reply == NO_SHIFT
    assert text_in(services, "YES", sender=STRANGER).reply == UNKNOWN_YES


def test_yes_is_an_opt_in_as_it_is_for_twilio(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    ana = add_volunteer(engine, clock, phone=ANA, sms_opted_out=True)

    text_in(services, "Yes")

    assert not volunteer(engine, ana).sms_opted_out


def test_a_free_text_opt_out_waits_for_review_and_organizers_are_alerted(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock, admins=frozenset({"slack:UADMIN"}))
    ana = add_volunteer(engine, clock, phone=ANA, name="Ana Lopez")

    answer = text_in(services, "Please stop texting me, call 512-555-0142 instead")

    assert answer.reply == REVIEW_REPLY
    [row] = stored(engine)
    assert (row.needs_review, row.keyword, row.reviewed_by) == (True, None, None)
    assert not volunteer(engine, ana).sms_opted_out  # words are for a person to judge
    notifier = services.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert notifier.to_channels == []  # never from inside the webhook
    send_digests(services, clock)
    [(platform, user, alert)] = notifier.to_channels
    assert (platform, user) == ("slack", "UADMIN")
    assert "Ana Lopez" in alert.text and "sms review" in alert.text
    assert "555" not in alert.text and "0142" not in alert.text


def test_a_free_text_opt_out_from_a_stranger_names_no_one(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock, admins=frozenset({"slack:UADMIN"}))

    text_in(services, "remove me", sender=STRANGER)
    send_digests(services, clock)

    notifier = services.notifier
    assert isinstance(notifier, RecordingNotifier)
    [(_, _, alert)] = notifier.to_channels
    assert "an unknown sender" in alert.text and "0177" not in alert.text


def test_other_free_text_is_kept_and_pointed_to_chat(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock, admins=frozenset({"slack:UADMIN"}))
    add_volunteer(engine, clock, phone=ANA)

    assert text_in(services, "Running 5 min late!").reply == FREE_TEXT_REPLY
    assert [(r.body, r.needs_review) for r in stored(engine)] == [("Running 5 min late!", False)]
    assert services.notifier.to_channels == []  # type: ignore[attr-defined]
    assert fits_one_segment(FREE_TEXT_REPLY) and fits_one_segment(REVIEW_REPLY)


def test_an_opted_out_sender_gets_no_reply_to_free_text(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    add_volunteer(engine, clock, phone=ANA, sms_opted_out=True)

    assert text_in(services, "why?").reply is None
    assert text_in(services, "stop texting me").reply is None


def test_a_repeated_message_sid_changes_nothing(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock, admins=frozenset({"slack:UADMIN"}))
    ana = add_volunteer(engine, clock, phone=ANA)
    text_in(services, "please stop texting me", sid="SMdup")
    text_in(services, "START", sid="SMstart")

    again = text_in(services, "please stop texting me", sid="SMdup")
    start_again = text_in(services, "START", sid="SMstart")
    send_digests(services, clock)

    assert again == SmsAnswer(duplicate=True) and start_again == SmsAnswer(duplicate=True)
    assert [row.message_sid for row in stored(engine)] == ["SMdup", "SMstart"]
    assert len(services.notifier.to_channels) == 1  # type: ignore[attr-defined]
    assert not volunteer(engine, ana).sms_opted_out


# --- the organizers' review -----------------------------------------------------------------


def _organizer(services: Services) -> None:
    context_for(services, Platform.SLACK, "T1", "UORG")
    grant_role(services.engine, services.clock, "slack", "UORG", Role.ORGANIZER, actor="test")


def test_organizers_review_texts_and_who_reviewed_is_recorded(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock)
    _organizer(services)
    ana = add_volunteer(engine, clock, phone=ANA, name="Ana Lopez")
    text_in(services, "please stop texting me")
    clock.advance(timedelta(minutes=1))
    text_in(services, "don't text me", sender=STRANGER)
    text_in(services, "see you tonight")  # not for review
    organizer = context_for(services, Platform.SLACK, "T1", "UORG")

    listing = handle_command(organizer, "sms review")

    shown = reply_text(listing)
    assert [s.text.split("\n")[0] for s in listing.sections] == [
        "*Ana Lopez* · 2026-11-03 15:00 UTC",
        "*Unknown sender* · 2026-11-03 15:01 UTC",
    ]
    assert "please stop texting me" in shown and "see you tonight" not in shown
    assert ANA not in shown and STRANGER not in shown and "0177" not in shown
    first, second = listing.sections
    assert [b.label for b in first.buttons] == ["Reviewed", "Opt them out"]
    assert [b.label for b in second.buttons] == ["Reviewed"]  # no volunteer to opt out

    after = handle_action(organizer, first.buttons[1].action_id, first.buttons[1].value)

    assert "Opted them out" in after.text and len(after.sections) == 1
    assert volunteer(engine, ana).sms_opted_out
    handle_action(organizer, second.buttons[0].action_id, second.buttons[0].value)
    assert [r.reviewed_by for r in stored(engine) if r.needs_review] == ["slack:UORG"] * 2
    assert "No texts are waiting" in handle_command(organizer, "sms review").text


def test_reviewing_twice_or_a_bad_button_is_refused_plainly(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock)
    _organizer(services)
    add_volunteer(engine, clock, phone=ANA)
    text_in(services, "remove me")
    organizer = context_for(services, Platform.SLACK, "T1", "UORG")
    [row] = stored(engine)

    handle_action(organizer, "pb:sms:reviewed", str(row.id))
    again = handle_action(organizer, "pb:sms:reviewed", str(row.id))

    assert "slack:UORG already reviewed" in again.text
    assert "does not name a text" in handle_action(organizer, "pb:sms:reviewed", "x").text
    assert "not waiting" in handle_action(organizer, "pb:sms:reviewed", "999").text


def test_only_organizers_review(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    add_volunteer(engine, clock, phone=ANA)
    text_in(services, "remove me")
    [row] = stored(engine)
    someone = context_for(services, Platform.SLACK, "T1", "UVOL")

    assert "Only organizers" in handle_command(someone, "sms review").text
    assert "Only organizers" in handle_action(someone, "pb:sms:reviewed", str(row.id)).text
    assert stored(engine)[0].reviewed_by is None
