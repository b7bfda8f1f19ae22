"""The scheduler with an injected clock: reminders, shift starts, no-shows, the send ledger and
leadership, on both databases. The runs are driven by `Scheduler.run_once`, the same code the
APScheduler jobs call, so the clock (not the wall) decides what is due."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bot.telephony.simulated import SimulatedTelephony
from handlers.replies import Reply
from handlers.send_ledger import Ledger, Sent
from handlers.times import plain_times
from scheduling.leader import leadership_for
from scheduling.runner import Scheduler
from storage.clock import FrozenClock
from storage.db import session_scope
from storage.models import SendLedger, ShiftSignup
from tests.factories import (
    make_attempt,
    make_campaign,
    make_shift,
    make_signup,
    make_volunteer,
    make_voter,
)
from tests.scenarios.world import RecordingNotifier, make_services


def _world(engine: Engine, clock: FrozenClock, starts_in: timedelta, **volunteer: object):
    services = make_services(engine, clock)
    with session_scope(engine) as session:
        campaign = make_campaign(session, clock=clock)
        shift = make_shift(session, campaign, clock.now() + starts_in, clock=clock)
        ana = make_volunteer(session, clock=clock, **volunteer)
        make_signup(session, shift, ana, clock=clock)
    return services, int(shift.id or 0), int(ana.id or 0)


def _scheduler(services, tmp_path: Path) -> Scheduler:  # type: ignore[no-untyped-def]
    return Scheduler(services, leadership_for(services.engine, tmp_path))


def _dms(services) -> list[str]:  # type: ignore[no-untyped-def]
    notifier: RecordingNotifier = services.notifier
    return [plain_times(reply.text) for _, reply in notifier.to_volunteers]


def _texts(services) -> list[str]:  # type: ignore[no-untyped-def]
    telephony: SimulatedTelephony = services.telephony
    return [message.body for message in telephony.messages]


def test_a_reminder_missed_while_no_scheduler_ran_is_sent_once_when_one_starts(
    engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    # The 24 h reminder fell due an hour ago, while nothing ran.
    services, _, _ = _world(engine, clock, timedelta(hours=23))
    scheduler = _scheduler(services, tmp_path)
    try:
        assert scheduler.run_once()["shift_reminders"] == 2  # a DM and a text
        assert scheduler.run_once()["shift_reminders"] == 0
        [dm] = _dms(services)
        assert dm.startswith("Reminder: your shift") and "starts" in dm
        [text] = _texts(services)
        assert "Reply YES to confirm" in text

        clock.advance(timedelta(hours=22, minutes=30))  # 30 min before: the 1 h reminder
        assert scheduler.run_once()["shift_reminders"] == 2
        assert scheduler.run_once()["shift_reminders"] == 0
        assert len(_dms(services)) == 2 and len(_texts(services)) == 2
    finally:
        scheduler.shutdown()


def test_only_the_nearest_reminder_goes_out_after_a_long_outage(
    engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    services, _, _ = _world(engine, clock, timedelta(minutes=20))
    scheduler = _scheduler(services, tmp_path)
    try:
        scheduler.run_once()
        [dm] = _dms(services)
        rows = _ledger(engine)
        assert {row.kind.split(":")[4] for row in rows} == {"60"}  # the 1 h one, not the 24 h
    finally:
        scheduler.shutdown()


def test_no_reminder_once_the_shift_has_started(
    engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    services, _, _ = _world(engine, clock, timedelta(hours=2))
    clock.advance(timedelta(hours=2, seconds=1))  # nothing ran until the shift began
    scheduler = _scheduler(services, tmp_path)
    try:
        result = scheduler.run_once()
        assert result["shift_reminders"] == 0
        assert not any(text.startswith("Reminder") for text in _dms(services))
        assert _texts(services) == []
    finally:
        scheduler.shutdown()


def test_a_volunteer_who_sent_stop_gets_the_dm_but_no_text(
    engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    services, _, _ = _world(engine, clock, timedelta(minutes=30), sms_opted_out=True)
    scheduler = _scheduler(services, tmp_path)
    try:
        assert scheduler.run_once()["shift_reminders"] == 1
        assert len(_dms(services)) == 1 and _texts(services) == []
    finally:
        scheduler.shutdown()


def test_no_text_without_consent_or_a_verified_phone(
    engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    services, _, _ = _world(engine, clock, timedelta(minutes=30), phone_verified_at=None)
    scheduler = _scheduler(services, tmp_path)
    try:
        scheduler.run_once()
        assert len(_dms(services)) == 1 and _texts(services) == []
    finally:
        scheduler.shutdown()


def test_a_cancelled_signup_or_shift_is_not_reminded(
    engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    services, shift_id, _ = _world(engine, clock, timedelta(minutes=30))
    with session_scope(engine) as session:
        signup = session.exec(select(ShiftSignup)).one()
        signup.status = "cancelled"
        session.add(signup)
    scheduler = _scheduler(services, tmp_path)
    try:
        assert scheduler.run_once()["shift_reminders"] == 0
    finally:
        scheduler.shutdown()


def test_the_shift_start_posts_in_the_channel_and_dms_a_get_a_batch_button(
    engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    services = make_services(engine, clock)
    with session_scope(engine) as session:
        campaign = make_campaign(session, clock=clock)
        shift = make_shift(
            session, campaign, clock.now() + timedelta(minutes=1), platform="slack", channel="C1"
        )
        ana, bob = make_volunteer(session, clock=clock), make_volunteer(session, clock=clock)
        make_signup(session, shift, ana, clock=clock)
        make_signup(session, shift, bob, clock=clock, status="cancelled")
    scheduler = _scheduler(services, tmp_path)
    notifier: RecordingNotifier = services.notifier  # type: ignore[assignment]
    try:
        assert scheduler.run_once()["shift_starts"] == 0  # not yet
        clock.advance(timedelta(minutes=2))
        assert scheduler.run_once()["shift_starts"] == 2
        assert scheduler.run_once()["shift_starts"] == 0
        [(platform, channel, post)] = notifier.to_channels
        assert (platform, channel) == ("slack", "C1") and "has started" in post.text
        starts = [(vid, r) for vid, r in notifier.to_volunteers if "has started" in r.text]
        assert [vid for vid, _ in starts] == [ana.id]
        assert [b.label for b in _buttons(starts[0][1])] == ["Get a batch"]
    finally:
        scheduler.shutdown()


def test_after_the_shift_a_volunteer_without_a_call_is_a_no_show(
    engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    services = make_services(engine, clock)
    with session_scope(engine) as session:
        campaign = make_campaign(session, clock=clock)
        shift = make_shift(session, campaign, clock.now() - timedelta(hours=2), hours=1)
        ana, bob = make_volunteer(session, clock=clock), make_volunteer(session, clock=clock)
        make_signup(session, shift, ana, clock=clock)
        make_signup(session, shift, bob, clock=clock, status="confirmed")
        voter = make_voter(session, campaign, clock=clock)
        make_attempt(session, voter, bob, started_at=clock.now() - timedelta(minutes=90))
    scheduler = _scheduler(services, tmp_path)
    try:
        assert scheduler.run_once()["no_shows"] == 2
        with session_scope(engine) as session:
            status = {s.volunteer_id: s.status for s in session.exec(select(ShiftSignup))}
        assert status == {ana.id: "no_show", bob.id: "kept"}
        assert scheduler.run_once()["no_shows"] == 0
    finally:
        scheduler.shutdown()


def test_two_ledgers_send_one_key_once(engine: Engine, clock: FrozenClock) -> None:
    sent: list[str] = []
    first, second = Ledger(engine, clock), Ledger(engine, clock)

    def send() -> Sent:
        sent.append("x")
        return Sent.SENT

    assert first.once("job", "volunteer:1", "kind", send)
    assert not second.once("job", "volunteer:1", "kind", send)
    assert not first.once("job", "volunteer:1", "kind", send)
    assert sent == ["x"]
    [row] = _ledger(engine)
    assert row.status == "sent" and row.owner == first.owner


def test_a_new_leader_sends_what_a_dead_leader_left_pending(
    engine: Engine, clock: FrozenClock
) -> None:
    dead = Ledger(engine, clock)
    assert dead._claim("job", "volunteer:1", "kind")  # claimed, then the process died
    clock.advance(timedelta(seconds=10))
    heir = Ledger(engine, clock, since=clock.now())
    assert heir.once("job", "volunteer:1", "kind", lambda: Sent.SENT)
    [row] = _ledger(engine)
    assert (row.status, row.owner) == ("sent", heir.owner)
    # A process that never became leader adopts nothing.
    assert dead._claim("job", "volunteer:2", "kind")
    assert not Ledger(engine, clock).once("job", "volunteer:2", "kind", lambda: Sent.SENT)


def test_an_outage_leaves_the_send_for_the_next_sweep(engine: Engine, clock: FrozenClock) -> None:
    ledger = Ledger(engine, clock)
    assert not ledger.once("job", "volunteer:1", "kind", lambda: Sent.RETRY)
    assert _ledger(engine) == []
    assert ledger.once("job", "volunteer:1", "kind", lambda: Sent.SENT)


def test_only_one_of_two_schedulers_leads_until_it_stops(
    engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    services, _, _ = _world(engine, clock, timedelta(minutes=30))
    first, second = _scheduler(services, tmp_path), _scheduler(services, tmp_path)
    try:
        assert first.check_leadership() and not second.check_leadership()
        assert second.run_once() == {}
        assert first.run_once()["shift_reminders"] == 2
        first.shutdown()
        assert second.check_leadership()
        assert second.run_once()["shift_reminders"] == 0  # the ledger remembers
    finally:
        first.shutdown()
        second.shutdown()


def _ledger(engine: Engine) -> list[SendLedger]:
    with session_scope(engine) as session:
        return list(session.exec(select(SendLedger)))


def _buttons(reply: Reply) -> list:  # type: ignore[type-arg]
    return list(reply.buttons)


@pytest.fixture(autouse=True)
def _quiet_apscheduler(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="apscheduler")
