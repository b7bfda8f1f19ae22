"""Organizers hear about what only they can fix: every organizer and admin, and the audit log."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from handlers.alerts import alert_organizers
from handlers.context import Platform
from handlers.identity import context_for, grant_role
from storage.clock import FrozenClock
from storage.models import AuditLog, Role
from tests.scenarios.world import RecordingNotifier, make_services


def test_organizers_and_admins_are_messaged_and_the_alert_is_audited(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock, admins=frozenset({"slack:UADMIN"}))
    context_for(services, Platform.SLACK, "T1", "UVOL")  # a plain volunteer: not told
    context_for(services, Platform.SLACK, "T1", "UORG")
    grant_role(engine, clock, "slack", "UORG", Role.ORGANIZER, actor="slack:UADMIN")

    told = alert_organizers(services, "caller_id_refused", "Twilio refuses the caller id.")

    notifier = services.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert told == 2
    assert sorted(channel for _, channel, _ in notifier.to_channels) == ["UADMIN", "UORG"]
    assert all(reply.text == "Twilio refuses the caller id." for *_, reply in notifier.to_channels)
    with Session(engine) as session:
        actions = session.exec(select(AuditLog.action)).all()
    assert "caller_id_refused" in actions


def test_nobody_to_tell_still_leaves_the_audit_row(engine: Engine, clock: FrozenClock) -> None:
    services = make_services(engine, clock)
    assert alert_organizers(services, "sms_review", "A text needs a look.", target="+1512") == 0
    with Session(engine) as session:
        row = session.exec(select(AuditLog)).one()
    assert (row.action, row.target, row.detail) == (
        "sms_review",
        "+1512",
        {"text": "A text needs a look."},
    )


def test_a_quiet_period_keeps_the_same_alert_from_repeating(
    engine: Engine, clock: FrozenClock
) -> None:
    services = make_services(engine, clock, admins=frozenset({"slack:UADMIN"}))
    quiet = timedelta(hours=1)

    first = alert_organizers(services, "telephony.caller_id", "Paused.", "demo", quiet_for=quiet)
    again = alert_organizers(services, "telephony.caller_id", "Paused.", "demo", quiet_for=quiet)
    other = alert_organizers(services, "telephony.caller_id", "Paused.", "gotv", quiet_for=quiet)
    clock.advance(timedelta(hours=1, seconds=1))
    later = alert_organizers(services, "telephony.caller_id", "Paused.", "demo", quiet_for=quiet)

    assert (first, again, other, later) == (1, 0, 1, 1)
