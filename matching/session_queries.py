"""The statements of a calling session (matching/sessions.py), built once.

SQLAlchemy Core, read with what a webhook needs in one round trip: the attempt with its session
and campaign, the card to dial with its open voters and whether its phone is on the do-not-call
list, the batch's next uncalled card, the cards nobody rang, the sessions gone silent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ScalarSelect, Select, String, and_, bindparam, cast, func, or_, select

from matching.tables import ATTEMPT, BATCH, CAMPAIGN, CARD, DNC, ITEM, SESSION, VOTER
from storage.attempts import may_have_rung, was_rung


def _call_query() -> Select[Any]:
    logged = (
        select(ITEM.c.result_code)
        .where(
            ITEM.c.voter_id == ATTEMPT.c.voter_id,
            ITEM.c.batch_id == ATTEMPT.c.batch_id,
            ITEM.c.result_code.is_not(None),
        )
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            ATTEMPT.c.id,
            ATTEMPT.c.session_id,
            ATTEMPT.c.voter_id,
            ATTEMPT.c.volunteer_id,
            ATTEMPT.c.batch_id,
            ATTEMPT.c.call_sid,
            ATTEMPT.c.call_status,
            ATTEMPT.c.error_code,
            ATTEMPT.c.started_at,
            ATTEMPT.c.ended_at,
            ATTEMPT.c.duration_s,
            ATTEMPT.c.result_code,
            logged.label("item_result_code"),
            SESSION.c.ended_at.label("session_ended_at"),
            SESSION.c.batch_id.label("session_batch_id"),
            SESSION.c.volunteer_id.label("session_volunteer_id"),
            SESSION.c.status.label("session_status"),
            SESSION.c.call_sid.label("session_call_sid"),
            SESSION.c.answered_at.label("session_answered_at"),
            SESSION.c.last_heard_at.label("session_last_heard_at"),
            cast(CAMPAIGN.c.config, String).label("config"),
        )
        .join(SESSION, SESSION.c.id == ATTEMPT.c.session_id)
        .join(CAMPAIGN, CAMPAIGN.c.id == ATTEMPT.c.campaign_id)
        .where(ATTEMPT.c.id == bindparam("attempt_id"), SESSION.c.id == bindparam("session_id"))
    )


def _next_head_query() -> Select[Any]:
    """The session '#' continues, its batch's state, the campaign, and the attempt an earlier
    '#' after the same call made (its request key)."""
    earlier = (
        select(ATTEMPT.c.id)
        .where(ATTEMPT.c.request_key == bindparam("request_key"))
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            SESSION.c.id,
            SESSION.c.ended_at,
            SESSION.c.batch_id,
            SESSION.c.volunteer_id,
            SESSION.c.campaign_id,
            SESSION.c.status,
            SESSION.c.call_sid,
            SESSION.c.answered_at,
            SESSION.c.last_heard_at,
            BATCH.c.closed_at.label("batch_closed_at"),
            cast(CAMPAIGN.c.config, String).label("config"),
            earlier.label("earlier_id"),
        )
        .join(BATCH, BATCH.c.id == SESSION.c.batch_id)
        .join(CAMPAIGN, CAMPAIGN.c.id == SESSION.c.campaign_id)
        .where(SESSION.c.id == bindparam("session_id"))
    )


def _card_of_voter() -> ScalarSelect[Any]:
    """The open card of a voter (`voter_id`) on a batch (`batch_id`)."""
    item = ITEM.alias("voter_item")
    return (
        select(item.c.card_id)
        .where(
            item.c.voter_id == bindparam("voter_id"),
            item.c.batch_id == bindparam("batch_id"),
            item.c.released_at.is_(None),
        )
        .limit(1)
        .scalar_subquery()
    )


def _next_card() -> ScalarSelect[Any]:
    """The batch's (`batch_id`) first open card that still has open voters and that nobody
    has called yet, in batch order."""
    card, item, called = CARD.alias("next_card"), ITEM.alias("open_item"), ITEM.alias("called")
    has_open = select(item.c.id).where(item.c.card_id == card.c.id, item.c.released_at.is_(None))
    was_called = (
        select(called.c.id)
        .join(ATTEMPT, ATTEMPT.c.voter_id == called.c.voter_id)
        .where(
            called.c.card_id == card.c.id,
            called.c.batch_id == bindparam("batch_id"),
            ATTEMPT.c.batch_id == bindparam("batch_id"),
            may_have_rung(ATTEMPT.c.call_status),
        )
    )
    return (
        select(card.c.id)
        .where(
            card.c.batch_id == bindparam("batch_id"),
            card.c.released_at.is_(None),
            has_open.exists(),
            ~was_called.exists(),
        )
        .order_by(card.c.position, card.c.id)
        .limit(1)
        .scalar_subquery()
    )


def _target_query(card_id: ScalarSelect[Any]) -> Select[Any]:
    """The open voters of the card `card_id` picks, with its phone and whether the phone is on
    the do-not-call list now."""
    listed = select(DNC.c.id).where(DNC.c.phone == CARD.c.phone).exists()
    return (
        select(
            CARD.c.phone.label("card_phone"),
            listed.label("listed"),
            VOTER.c.id.label("voter_id"),
            VOTER.c.first_name,
            VOTER.c.phone,
            VOTER.c.state,
            VOTER.c.zip,
            VOTER.c.time_zones,
            VOTER.c.calling_zone_key,
        )
        .select_from(ITEM)
        .join(CARD, CARD.c.id == ITEM.c.card_id)
        .join(VOTER, VOTER.c.id == ITEM.c.voter_id)
        .where(ITEM.c.card_id == card_id, ITEM.c.released_at.is_(None))
        .order_by(VOTER.c.id)
    )


def _silent_query() -> Select[Any]:
    """Open sessions whose last sign of life (start, answer, a heartbeat, a voter's dial or its
    end) is older than `quiet_since`, and none of whose voter legs is up since `longest_since`."""
    heard = func.coalesce(SESSION.c.last_heard_at, SESSION.c.answered_at, SESSION.c.started_at)
    recent = select(ATTEMPT.c.id).where(
        ATTEMPT.c.session_id == SESSION.c.id,
        or_(
            ATTEMPT.c.started_at > bindparam("quiet_since"),
            ATTEMPT.c.ended_at > bindparam("quiet_since"),
            and_(
                ATTEMPT.c.ended_at.is_(None),
                ATTEMPT.c.call_status.in_(("initiated", "ringing", "in-progress")),
                ATTEMPT.c.started_at > bindparam("longest_since"),
            ),
        ),
    )
    return (
        select(SESSION.c.id)
        .where(
            SESSION.c.ended_at.is_(None),
            heard <= bindparam("quiet_since"),
            ~recent.exists(),
        )
        .order_by(SESSION.c.id)
        .limit(bindparam("limit"))
    )


def _uncalled_query() -> Select[Any]:
    called = (
        select(ITEM.c.id)
        .join(ATTEMPT, ATTEMPT.c.voter_id == ITEM.c.voter_id)
        .where(
            ITEM.c.card_id == CARD.c.id,
            ATTEMPT.c.batch_id == bindparam("batch_id"),
            was_rung(ATTEMPT.c.call_sid, ATTEMPT.c.call_status, ATTEMPT.c.result_code),
        )
    )
    return (
        select(CARD.c.id)
        .where(
            CARD.c.batch_id == bindparam("batch_id"),
            CARD.c.released_at.is_(None),
            ~called.exists(),
        )
        .order_by(CARD.c.position, CARD.c.id)
    )


CALL = _call_query()
CALL_LOCKED = CALL.with_for_update(of=ATTEMPT)
NEXT_HEAD = _next_head_query()
CARD_OF_VOTER = _target_query(_card_of_voter())
NEXT_CARD = _target_query(_next_card())
SESSION_ROW = (
    select(SESSION.c.status, SESSION.c.call_sid, SESSION.c.answered_at, SESSION.c.ended_at)
    .where(SESSION.c.id == bindparam("session_id"))
    .with_for_update()
)
OPEN_CARDS = select(CARD.c.id).where(
    CARD.c.batch_id == bindparam("batch_id"), CARD.c.released_at.is_(None)
)
UNCALLED = _uncalled_query()
SILENT = _silent_query()
