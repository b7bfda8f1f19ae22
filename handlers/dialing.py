"""What the chat Call press (handlers/calls.py) and the live calling session (handlers/voice.py)
share: the checks of every dial, the volunteer's card after a change, and the notices owed.

The do-not-call list and calling hours are checked at the moment of each dial, not only at the
claim: a batch claimed at 20:55 is not called at 21:05, and a number listed meanwhile is never
dialed (matching/sessions.py). A call's state only moves forward (matching/call_state.py, whose
names are re-exported here for the code that imports them from this module).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection
from sqlmodel import Session, col, select

from handlers.cards import read_batch, render_batch
from handlers.context import Services
from handlers.outbox import Task, outbox_handler, owe
from handlers.replies import Tone
from matching.call_state import ENDED as ENDED
from matching.call_state import StatusReport as StatusReport
from matching.call_state import first_time as first_time
from matching.call_state import first_times as first_times
from matching.call_state import moves_forward as moves_forward
from matching.call_state import status_changes as status_changes
from matching.call_state import status_rank as status_rank
from matching.sessions import BATCH_NOTICE
from matching.sessions import DNC_REFUSAL as DNC_REFUSAL
from matching.sessions import hours_refusal as hours_refusal
from storage.attempts import may_have_rung
from storage.campaign_config import CampaignConfig
from storage.db import read_only, session_scope
from storage.models import BatchCard, BatchItem, CallAttempt, DncEntry, Voter


class ZonedVoter(Protocol):
    """What the calling-hours check reads of a voter (a `Voter`, or a row with those columns)."""

    phone: str
    state: str | None
    zip: str | None
    time_zones: str
    calling_zone_key: str | None


def dial_refusal(
    session: Session, phone: str, voter: ZonedVoter, now: datetime, config: CampaignConfig
) -> str | None:
    """Why `phone` may not be dialed now (do-not-call list, calling hours), or None. The
    reason never quotes the number."""
    listed = session.exec(select(DncEntry.id).where(col(DncEntry.phone) == phone)).first()
    return DNC_REFUSAL if listed is not None else hours_refusal(voter, now, config)


def open_voters(session: Session, card: BatchCard) -> list[Voter]:
    """The card's voters still to be called from it, in id order."""
    return list(
        session.exec(
            select(Voter)
            .join(BatchItem, col(BatchItem.voter_id) == col(Voter.id))
            .where(col(BatchItem.card_id) == card.id, col(BatchItem.released_at).is_(None))
            .order_by(col(Voter.id))
        ).all()
    )


def called_card_ids(session: Session, batch_id: int) -> set[int]:
    """Cards of the batch with a call attempt on any of their voters (one that never reached
    Twilio does not count)."""
    rows = session.exec(
        select(BatchItem.card_id)
        .join(CallAttempt, col(CallAttempt.voter_id) == col(BatchItem.voter_id))
        .where(
            col(BatchItem.batch_id) == batch_id,
            col(CallAttempt.batch_id) == batch_id,
            may_have_rung(col(CallAttempt.call_status)),
        )
    ).all()
    return set(rows)


def uncalled_cards(session: Session, batch_id: int) -> list[BatchCard]:
    """The batch's open cards nobody has called yet, in batch order."""
    called = called_card_ids(session, batch_id)
    cards = session.exec(
        select(BatchCard)
        .where(col(BatchCard.batch_id) == batch_id, col(BatchCard.released_at).is_(None))
        .order_by(col(BatchCard.position), col(BatchCard.id))
    ).all()
    return [card for card in cards if card.id not in called]


def apply_status(
    session: Session, attempt: CallAttempt, report: StatusReport, now: datetime
) -> bool:
    """Store the report on the attempt, forward only; whether anything changed."""
    changes = status_changes(attempt, report, now)
    for name, value in changes.items():
        setattr(attempt, name, value)
    if changes:
        session.add(attempt)
    return bool(changes)


def update_attempt(services: Services, attempt_id: int, report: StatusReport) -> bool:
    """Apply a report to one attempt and, when it changed, show the volunteer their card."""
    with session_scope(services.engine) as session:
        attempt = session.get(CallAttempt, attempt_id)
        if attempt is None:
            return False
        changed = apply_status(session, attempt, report, services.clock.now())
        volunteer_id, batch_id = attempt.volunteer_id, attempt.batch_id
    if changed and volunteer_id is not None and batch_id is not None:
        show_batch(services, volunteer_id, batch_id)
    return changed


def reading(services: Services) -> AbstractContextManager[Connection]:
    """A read-only transaction on a plain connection, ended with COMMIT (storage.db.read_only)."""
    return read_only(services.engine).begin()


def show_batch(
    services: Services,
    volunteer_id: int,
    batch_id: int,
    text: str | None = None,
    tone: Tone = Tone.INFO,
) -> None:
    """Replace the volunteer's batch message with the batch as it stands then: after the request
    where the process allows, and once for several changes that come close together. Every
    update reads the batch when it runs, so only their `text` tells them apart: the newest
    message replaces an older one still waiting (the message shows one at a time anyway), and
    an update without one never replaces one that has."""

    def update() -> None:
        with reading(services) as conn:
            view = read_batch(conn, batch_id)
        if view is not None:
            services.notifier.to_volunteer(volunteer_id, render_batch(view, text, tone))

    services.after_request(f"batch:{batch_id}", update, replace=text is not None)


def owe_batch_notice(
    conn: Connection,
    now: datetime,
    volunteer_id: int,
    batch_id: int,
    text: str,
    tone: Tone = Tone.INFO,
    *,
    key: str,
) -> None:
    """Owe the volunteer their batch with `text` (a message whose loss changes what they know,
    such as "your call ended"), in `conn`'s transaction: the outbox delivers it."""
    payload = {"volunteer_id": volunteer_id, "batch_id": batch_id, "text": text, "tone": tone}
    owe(conn, BATCH_NOTICE, payload, key=key, now=now)


@outbox_handler(BATCH_NOTICE)
def deliver_batch_notice(services: Services, task: Task) -> None:
    """The batch as it stands, with the notice; delivered again after a crash, it replaces the
    same message (the card's update key), so the volunteer sees it once."""
    payload = task.payload
    with reading(services) as conn:
        view = read_batch(conn, int(payload["batch_id"]))
    if view is not None:
        reply = render_batch(view, str(payload["text"]), Tone(payload["tone"]))
        services.notifier.to_volunteer(int(payload["volunteer_id"]), reply)
