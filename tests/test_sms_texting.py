"""Texting a volunteer: only with consent, never after an opt-out or to a phone that cannot take
texts; Twilio's answers mark the volunteer (both databases)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from handlers.context import TelephonyFailure
from handlers.texting import VERIFICATION, TextStatus, delivery_failed, text_volunteer
from storage.clock import FrozenClock
from storage.db import read_session, session_scope
from storage.models import AuditLog, SmsInbound
from tests.sms_support import add_volunteer, sms_services, volunteer

REMINDER = "Reminder: your phone bank shift starts at 6 PM. Reply YES to confirm."


def test_a_consenting_volunteer_gets_the_text(engine: Engine, clock: FrozenClock) -> None:
    services, telephony = sms_services(engine, clock)
    ana = add_volunteer(engine, clock, phone="+15125550142")

    result = text_volunteer(services, ana, REMINDER, purpose="reminder")

    assert result.sent and len(result.message_ids) == 1
    assert [(m.to, m.body) for m in telephony.messages] == [("+15125550142", REMINDER)]


def test_a_long_text_goes_as_numbered_one_segment_parts(engine: Engine, clock: FrozenClock) -> None:
    services, telephony = sms_services(engine, clock)
    ana = add_volunteer(engine, clock)

    result = text_volunteer(
        services, ana, "Tonight's talking points: " + "vote early " * 20, purpose="broadcast"
    )

    assert result.sent and len(result.message_ids) == 2
    assert [m.body[:6] for m in telephony.messages] == ["(1/2) ", "(2/2) "]


@pytest.mark.parametrize(
    ("fields", "status", "why"),
    [
        ({"sms_consent": False}, TextStatus.NO_CONSENT, "not agreed"),
        ({"sms_opted_out": True}, TextStatus.OPTED_OUT, "STOP"),
        ({"sms_undeliverable": "landline"}, TextStatus.UNDELIVERABLE, "landline"),
        ({"phone": None}, TextStatus.NO_PHONE, "No phone"),
        ({"phone_verified_at": None}, TextStatus.UNVERIFIED, "not verified"),
    ],
)
def test_the_gate_says_why_nothing_was_sent(
    engine: Engine, clock: FrozenClock, fields: dict[str, object], status: TextStatus, why: str
) -> None:
    services, telephony = sms_services(engine, clock)
    ana = add_volunteer(engine, clock, **fields)

    result = text_volunteer(services, ana, REMINDER, purpose="reminder")

    assert (result.status, result.sent) == (status, False) and why in result.reason
    assert telephony.tried == []


def test_a_code_may_go_to_an_unverified_phone_and_nothing_else(
    engine: Engine, clock: FrozenClock
) -> None:
    services, telephony = sms_services(engine, clock)
    ana = add_volunteer(engine, clock, phone_verified_at=None)

    code = text_volunteer(services, ana, "Your code is 123456", purpose=VERIFICATION)
    reminder = text_volunteer(services, ana, REMINDER, purpose="reminder")

    assert code.sent and reminder.status is TextStatus.UNVERIFIED
    assert [m.body for m in telephony.messages] == ["Your code is 123456"]


def test_an_unknown_volunteer_is_not_texted(engine: Engine, clock: FrozenClock) -> None:
    services, telephony = sms_services(engine, clock)
    assert (
        text_volunteer(services, 404, REMINDER, purpose="reminder").status
        is TextStatus.NO_VOLUNTEER
    )
    assert telephony.tried == []


def test_a_stop_from_the_number_before_we_knew_it_is_honoured(
    engine: Engine, clock: FrozenClock
) -> None:
    services, telephony = sms_services(engine, clock)
    with session_scope(engine) as session:
        session.add(
            SmsInbound(
                message_sid="SM1",
                from_phone="+15125550142",
                body="stop",
                keyword="STOP",
                received_at=clock.now(),
            )
        )
    ana = add_volunteer(engine, clock, phone="+15125550142")

    assert (
        text_volunteer(services, ana, REMINDER, purpose="reminder").status is TextStatus.OPTED_OUT
    )
    assert telephony.tried == []


def test_unsubscribed_marks_the_volunteer_opted_out_and_no_reminder_follows(
    engine: Engine, clock: FrozenClock
) -> None:
    services, telephony = sms_services(engine, clock)
    ana = add_volunteer(engine, clock)
    telephony.fail_with(TelephonyFailure.UNSUBSCRIBED, 21610)

    first = text_volunteer(services, ana, "Your code is 123456", purpose="verification")
    reminder = text_volunteer(services, ana, REMINDER, purpose="reminder")

    assert first.status is TextStatus.OPTED_OUT and first.failure is TelephonyFailure.UNSUBSCRIBED
    assert volunteer(engine, ana).sms_opted_out
    assert reminder.status is TextStatus.OPTED_OUT
    assert len(telephony.tried) == 1 and telephony.messages == []


@pytest.mark.parametrize(
    ("failure", "code", "reason"),
    [
        (TelephonyFailure.CANNOT_RECEIVE_SMS, 21614, "not a mobile number"),
        (TelephonyFailure.CANNOT_RECEIVE_SMS, 21635, "landline"),
        (TelephonyFailure.INVALID_NUMBER, 21211, "invalid number"),
    ],
)
def test_a_phone_that_cannot_take_texts_is_marked_with_the_reason(
    engine: Engine, clock: FrozenClock, failure: TelephonyFailure, code: int, reason: str
) -> None:
    services, telephony = sms_services(engine, clock)
    ana = add_volunteer(engine, clock)
    telephony.fail_with(failure, code)

    result = text_volunteer(services, ana, REMINDER, purpose="reminder")

    assert result.status is TextStatus.UNDELIVERABLE and not result.retry_later
    assert volunteer(engine, ana).sms_undeliverable == reason
    assert (
        text_volunteer(services, ana, REMINDER, purpose="reminder").status
        is TextStatus.UNDELIVERABLE
    )
    assert len(telephony.tried) == 1


@pytest.mark.parametrize("failure", [TelephonyFailure.OUTAGE, TelephonyFailure.RATE_LIMITED])
def test_an_outage_is_reported_and_marks_nothing(
    engine: Engine, clock: FrozenClock, failure: TelephonyFailure
) -> None:
    services, telephony = sms_services(engine, clock)
    ana = add_volunteer(engine, clock)
    telephony.fail_with(failure)

    result = text_volunteer(services, ana, REMINDER, purpose="reminder")

    assert (result.status, result.failure, result.retry_later) == (TextStatus.FAILED, failure, True)
    row = volunteer(engine, ana)
    assert (row.sms_opted_out, row.sms_undeliverable) == (False, None)
    assert text_volunteer(services, ana, REMINDER, purpose="reminder").sent  # later it goes


def test_a_failure_mid_way_reports_the_parts_already_sent(
    engine: Engine, clock: FrozenClock
) -> None:
    services, telephony = sms_services(engine, clock)
    ana = add_volunteer(engine, clock)
    telephony.fail_with(TelephonyFailure.OTHER, on_try=2)

    result = text_volunteer(services, ana, "long " * 90, purpose="broadcast")  # 3 parts

    assert result.status is TextStatus.FAILED and "could not be sent" in result.reason
    assert result.message_ids == (telephony.messages[0].message_id,)
    assert len(telephony.tried) == 2  # the third part is not tried after a failure


def test_delivery_reports_mark_once_and_repeats_change_nothing(
    engine: Engine, clock: FrozenClock
) -> None:
    services, _ = sms_services(engine, clock)
    ana = add_volunteer(engine, clock, phone="+15125550142")

    assert delivery_failed(services, "+15125550142", 21635) is True
    assert delivery_failed(services, "+15125550142", 21635) is False
    assert delivery_failed(services, "+15125550142", 21610) is True
    assert delivery_failed(services, "+15125550142", 30003) is False  # unreachable now: no mark
    assert delivery_failed(services, "+15125550199", 21610) is False  # nobody's number

    row = volunteer(engine, ana)
    assert (row.sms_undeliverable, row.sms_opted_out) == ("landline", True)
    with read_session(engine) as session:
        actions = session.exec(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["sms.undeliverable", "sms.opt_out"]


def test_no_phone_number_is_logged(
    engine: Engine, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    services, telephony = sms_services(engine, clock)
    ana = add_volunteer(engine, clock, phone="+15125550142")
    telephony.fail_with(TelephonyFailure.CANNOT_RECEIVE_SMS, 21614)
    caplog.set_level(logging.DEBUG)

    text_volunteer(services, ana, REMINDER, purpose="reminder")
    text_volunteer(services, ana, REMINDER, purpose="reminder")

    assert caplog.records and "5550142" not in caplog.text
