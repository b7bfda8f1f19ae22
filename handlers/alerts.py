"""Telling organizers about something only they can fix (a caller id Twilio refuses, a text that
reads like an opt-out): a direct message to every organizer and admin Phonebank knows, and a row
in the audit log, so nothing depends on someone being online.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from handlers.context import Platform, Services
from handlers.identity import MAPPED
from handlers.replies import Reply, Tone
from storage.db import read_session, session_scope
from storage.models import AuditLog, ChatIdentity, Role

_WHO = frozenset({Role.ORGANIZER, Role.ADMIN})
_WHO_STORED = _WHO | {f"{MAPPED}{role}" for role in _WHO}  # granted, or vouched by the platform


def alert_organizers(
    services: Services,
    action: str,
    text: str,
    target: str | None = None,
    *,
    quiet_for: timedelta | None = None,
) -> int:
    """Message every organizer and admin; record it as `action`. How many were messaged.

    With `quiet_for`, the same alert (action and target) is sent at most once in that time:
    a caller id Twilio refuses fails every Call press until someone fixes it."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        if quiet_for is not None and _alerted_since(session, action, target, now - quiet_for):
            return 0
        session.add(
            AuditLog(
                at=now,
                actor="phonebank",
                action=action,
                target=target,
                detail={"text": text},
            )
        )
    reply = Reply(text=text, tone=Tone.WARNING)
    recipients = organizer_addresses(services)
    for platform, user_id in recipients:
        services.notifier.to_channel(platform, user_id, reply)
    return len(recipients)


def _alerted_since(session: Session, action: str, target: str | None, since: datetime) -> bool:
    found = session.exec(
        select(AuditLog.id).where(
            col(AuditLog.action) == action,
            col(AuditLog.target) == target,
            col(AuditLog.at) >= since,
        )
    ).first()
    return found is not None


def organizer_addresses(services: Services) -> list[tuple[Platform, str]]:
    """(platform, user id) of stored organizers and admins (granted, or holding a platform role
    mapped to one at their last request: handlers.identity.MAPPED), plus the bootstrap admins."""
    with read_session(services.engine) as session:
        identities = session.exec(select(ChatIdentity)).all()
        stored = {
            (Platform(identity.platform), identity.user_id)
            for identity in identities
            if _WHO_STORED & set(identity.roles)
            and identity.platform in Platform.__members__.values()
        }
    bootstrap = {
        (Platform(platform), user_id)
        for platform, _, user_id in (admin.partition(":") for admin in services.admins)
    }
    return sorted(stored | bootstrap)
