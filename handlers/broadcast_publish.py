"""Publishing a broadcast: the next script version, then every delivery owed to the outbox.

One transaction writes the new version (one `script` row per language), marks the broadcast
sent and owes, as rows of the durable outbox (handlers/outbox.py): a redraw of every open batch
of the campaign, a DM with **Got it** to every volunteer in the audience, a text to those of
them who said yes to texts (the texting gate checks again when it is sent), and a post in each
configured broadcast channel. The worker drains them at the platforms' pace; each row's key
(`broadcast:<id>:<what>:<whom>`) is unique, so nothing is owed twice, and the DM keys are the
ledger of who was sent the broadcast.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func
from sqlmodel import Session, col, select

from handlers.cards import read_batch, render_batch
from handlers.context import Platform, Services
from handlers.outbox import Task, outbox_handler, owe, owed
from handlers.replies import Button, ButtonStyle, Reply, Section, Tone
from handlers.scripts import FILE_AUTHOR, SCRIPT_NAME
from handlers.texting import TextStatus, text_volunteer
from matching.pool import campaign_config
from storage.db import read_only, session_scope
from storage.models import (
    AuditLog,
    Batch,
    Broadcast,
    BroadcastAck,
    Campaign,
    ChatIdentity,
    ChatWorkspace,
    OutboxTask,
    Script,
    Shift,
    ShiftSignup,
    Volunteer,
)

log = logging.getLogger(__name__)

ACK = "pb:broadcast:ack"
CARDS = "broadcast.cards"
DM = "broadcast.dm"
SMS = "broadcast.sms"
CHANNEL = "broadcast.channel"
SMS_PURPOSE = "broadcast"
CHAT_PLATFORMS = (Platform.SLACK.value, Platform.DISCORD.value, Platform.CONSOLE.value)
ON_SHIFT_STATUSES = ("signed_up", "confirmed")

EVERYONE = "everyone"
ON_SHIFT = "on_shift"
LANGUAGES = "languages"
AREA_CODES = "area_codes"


@dataclass(frozen=True)
class Published:
    broadcast_id: int
    version: int
    recipients: int
    open_batches: int
    repeated: bool = False  # it had been published before (a retried request, a second run)


# --- the audience -------------------------------------------------------------------------------


def audience_ids(
    session: Session, campaign_id: int, audience: dict[str, Any], now: datetime
) -> list[int]:
    """Volunteers the audience names: chat users of a workspace calling for this campaign (or
    of one that chose none), narrowed by languages, area codes or being on a shift now."""
    found = session.exec(
        select(Volunteer.id, Volunteer.languages, Volunteer.area_code)
        .join(ChatIdentity, col(ChatIdentity.volunteer_id) == col(Volunteer.id))
        .outerjoin(
            ChatWorkspace,
            (col(ChatWorkspace.platform) == col(ChatIdentity.platform))
            & (col(ChatWorkspace.workspace) == col(ChatIdentity.workspace)),
        )
        .where(
            col(ChatIdentity.platform).in_(CHAT_PLATFORMS),
            col(ChatWorkspace.campaign_id).is_(None)
            | (col(ChatWorkspace.campaign_id) == campaign_id),
        )
        .distinct()
    ).all()
    people = [(int(id_ or 0), set(languages or ()), area) for id_, languages, area in found]
    kind, values = audience.get("kind", EVERYONE), set(audience.get("values") or ())
    if kind == LANGUAGES:
        people = [person for person in people if values & person[1]]
    elif kind == AREA_CODES:
        people = [person for person in people if person[2] in values]
    elif kind == ON_SHIFT:
        shifting = _on_shift(session, campaign_id, now)
        people = [person for person in people if person[0] in shifting]
    return sorted({person[0] for person in people})


def _on_shift(session: Session, campaign_id: int, now: datetime) -> set[int]:
    found = session.exec(
        select(ShiftSignup.volunteer_id)
        .join(Shift, col(Shift.id) == col(ShiftSignup.shift_id))
        .where(
            col(Shift.campaign_id) == campaign_id,
            col(Shift.starts_at) <= now,
            col(Shift.ends_at) > now,
            col(ShiftSignup.status).in_(ON_SHIFT_STATUSES),
        )
    ).all()
    return set(found)


def describe_audience(audience: dict[str, Any]) -> str:
    """'everyone', 'on shift now', 'languages es, vi', 'area codes 512'."""
    kind, values = audience.get("kind", EVERYONE), ", ".join(audience.get("values") or ())
    return {
        EVERYONE: "everyone",
        ON_SHIFT: "volunteers on shift now",
        LANGUAGES: f"volunteers who speak {values}",
        AREA_CODES: f"volunteers in area codes {values}",
    }.get(kind, kind)


# --- versions -------------------------------------------------------------------------------------


def ensure_first_version(session: Session, campaign: Campaign, now: datetime) -> None:
    """Write the campaign file's scripts down as version 1, once (history, diff and revert)."""
    found = session.exec(
        select(Script.id).where(
            col(Script.campaign_id) == campaign.id, col(Script.name) == SCRIPT_NAME
        )
    ).first()
    if found is not None:
        return
    config = campaign_config(campaign.config)
    for language, body in config.scripts.items():
        session.add(
            Script(
                campaign_id=int(campaign.id or 0),
                name=SCRIPT_NAME,
                language=language,
                version=1,
                body=body,
                created_by=FILE_AUTHOR,
                created_at=now,
                title="From the campaign file",
            )
        )
    session.flush()


def version_bodies(session: Session, campaign_id: int, version: int) -> dict[str, str]:
    """Language -> body of one version (empty when there is no such version)."""
    rows = session.exec(
        select(Script).where(
            col(Script.campaign_id) == campaign_id,
            col(Script.name) == SCRIPT_NAME,
            col(Script.version) == version,
        )
    ).all()
    return {row.language: row.body for row in rows}


def newest_version(session: Session, campaign_id: int) -> int:
    """The newest version number (0 before version 1 is written down)."""
    found = session.exec(
        select(func.max(Script.version)).where(
            col(Script.campaign_id) == campaign_id, col(Script.name) == SCRIPT_NAME
        )
    ).one()
    return int(found or 0)


def write_version(
    session: Session,
    campaign: Campaign,
    changes: dict[str, str],
    *,
    title: str,
    talking_points: str,
    author: str,
    now: datetime,
) -> tuple[int, int]:
    """The next version: `changes` over the newest version's bodies. (version, its default
    language row's id)."""
    ensure_first_version(session, campaign, now)
    campaign_id = int(campaign.id or 0)
    previous = newest_version(session, campaign_id)
    bodies = version_bodies(session, campaign_id, previous) | {
        language: body for language, body in changes.items() if body.strip()
    }
    version, default = previous + 1, campaign_config(campaign.config).default_language
    rows = {
        language: Script(
            campaign_id=campaign_id,
            name=SCRIPT_NAME,
            language=language,
            version=version,
            body=body,
            rapid_response=True,
            created_by=author,
            created_at=now,
            title=title,
            talking_points=talking_points,
        )
        for language, body in bodies.items()
    }
    session.add_all(rows.values())
    session.flush()
    anchor = rows.get(default) or next(iter(rows.values()))
    return version, int(anchor.id or 0)


# --- publishing -----------------------------------------------------------------------------------


def publish(services: Services, broadcast_id: int, actor: str) -> Published:
    """Publish the broadcast (once): the next version, the redraws, DMs and texts owed."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        broadcast = _locked(session, broadcast_id)
        if broadcast.status == "sent":
            return Published(
                broadcast_id, int(broadcast.version or 0), broadcast.recipients, 0, repeated=True
            )
        campaign = session.get(Campaign, broadcast.campaign_id)
        assert campaign is not None
        version, script_id = write_version(
            session,
            campaign,
            {str(k): str(v) for k, v in broadcast.scripts.items()},
            title=broadcast.title,
            talking_points=broadcast.talking_points,
            author=broadcast.author,
            now=now,
        )
        recipients = audience_ids(session, broadcast.campaign_id, broadcast.audience, now)
        broadcast.status, broadcast.version, broadcast.script_id = "sent", version, script_id
        broadcast.recipients, broadcast.sent_at = len(recipients), now
        session.add(broadcast)
        conn = session.connection()
        batches = owe_redraws(
            conn, session, broadcast.campaign_id, f"broadcast:{broadcast_id}", now
        )
        _owe_deliveries(conn, session, broadcast, campaign, recipients, now)
        session.add(
            AuditLog(
                at=now,
                actor=actor,
                action="broadcast.publish",
                target=f"broadcast:{broadcast_id}",
                detail={
                    "version": version,
                    "title": broadcast.title,
                    "audience": broadcast.audience,
                    "recipients": len(recipients),
                    "author": broadcast.author,
                    "approved_by": broadcast.approved_by,
                },
            )
        )
    owed(services)
    return Published(broadcast_id, version, len(recipients), batches)


def owe_redraws(
    conn: Connection, session: Session, campaign_id: int, key: str, now: datetime
) -> int:
    """Owe a redraw of every open batch of the campaign; how many."""
    batches = session.exec(
        select(Batch.id, Batch.volunteer_id).where(
            col(Batch.campaign_id) == campaign_id, col(Batch.closed_at).is_(None)
        )
    ).all()
    for batch_id, volunteer_id in batches:
        payload = {"batch_id": batch_id, "volunteer_id": volunteer_id}
        owe(conn, CARDS, payload, key=f"{key}:batch:{batch_id}", now=now)
    return len(batches)


def _owe_deliveries(
    conn: Connection,
    session: Session,
    broadcast: Broadcast,
    campaign: Campaign,
    recipients: list[int],
    now: datetime,
) -> None:
    key = f"broadcast:{broadcast.id}"
    payload: dict[str, Any] = {"broadcast_id": broadcast.id}
    for volunteer_id in recipients:
        owe(
            conn,
            DM,
            payload | {"volunteer_id": volunteer_id},
            key=f"{key}:dm:{volunteer_id}",
            now=now,
        )
    if broadcast.sms:
        for volunteer_id in _texting(session, recipients):
            owe(
                conn,
                SMS,
                payload | {"volunteer_id": volunteer_id},
                key=f"{key}:sms:{volunteer_id}",
                now=now,
            )
    channels = campaign_config(campaign.config).broadcasts.channels
    for where, channel in sorted(channels.items()):
        platform = where.partition(":")[0]
        owe(
            conn,
            CHANNEL,
            payload | {"platform": platform, "channel": channel},
            key=f"{key}:channel:{where}",
            now=now,
        )


def _texting(session: Session, volunteer_ids: list[int]) -> list[int]:
    """Those who said yes to texts and have not said STOP (the gate checks again at sending)."""
    if not volunteer_ids:
        return []
    found = session.exec(
        select(Volunteer.id).where(
            col(Volunteer.id).in_(volunteer_ids),
            col(Volunteer.sms_consent).is_(True),
            col(Volunteer.sms_opted_out).is_(False),
        )
    ).all()
    return sorted(int(volunteer_id) for volunteer_id in found if volunteer_id is not None)


def _locked(session: Session, broadcast_id: int) -> Broadcast:
    """The broadcast row, locked for this transaction on PostgreSQL (SQLite has one writer)."""
    broadcast = session.exec(
        select(Broadcast).where(col(Broadcast.id) == broadcast_id).with_for_update()
    ).first()
    if broadcast is None:
        raise LookupError(f"no broadcast {broadcast_id}")
    return broadcast


def was_sent_to(session: Session, broadcast_id: int, volunteer_id: int) -> bool:
    """Whether the broadcast's DM was owed to this volunteer (its outbox key is the ledger)."""
    key = f"broadcast:{broadcast_id}:dm:{volunteer_id}"
    return session.exec(select(OutboxTask.id).where(col(OutboxTask.key) == key)).first() is not None


def acks(session: Session, broadcast: Broadcast) -> int:
    """Volunteers who pressed Got it on the broadcast."""
    if broadcast.script_id is None:
        return 0
    found = session.exec(
        select(func.count()).where(col(BroadcastAck.script_id) == broadcast.script_id)
    ).one()
    return int(found)


# --- what is delivered ----------------------------------------------------------------------------


def broadcast_message(broadcast: Broadcast, *, seen: bool = False) -> Reply:
    """The copy a volunteer gets: the title, the talking points, and Got it (until pressed)."""
    buttons: tuple[Button, ...] = ()
    footer = "The script on your call cards has been updated."
    if seen:
        footer += " You said you've got it: thanks."
    else:
        buttons = (Button("Got it", ACK, str(broadcast.id), ButtonStyle.PRIMARY),)
    return Reply(
        text=f"Update from the organizers: {broadcast.title}",
        sections=(Section(f"{broadcast.talking_points}\n\n{footer}"),),
        buttons=buttons,
        ephemeral=False,
        update_key=f"broadcast:{broadcast.id}",
    )


def sms_body(broadcast: Broadcast) -> str:
    """The text: title and talking points only (the script is on the card), so the fewest
    segments."""
    return f"Phonebank update: {broadcast.title}. {broadcast.talking_points}".strip()


def _broadcast(services: Services, task: Task) -> Broadcast | None:
    with session_scope(services.engine) as session:
        return session.get(Broadcast, int(task.payload["broadcast_id"]))


@outbox_handler(CARDS)
def redraw_batch(services: Services, task: Task) -> None:
    """An open batch drawn again with the newest script version (the card's update key
    replaces it in place; a second run draws the same)."""
    with read_only(services.engine).begin() as conn:
        view = read_batch(conn, int(task.payload["batch_id"]))
    if view is not None and view.open:
        services.notifier.to_volunteer(int(task.payload["volunteer_id"]), render_batch(view))


@outbox_handler(DM)
def send_dm(services: Services, task: Task) -> None:
    """The broadcast's DM to one volunteer, with Got it."""
    broadcast = _broadcast(services, task)
    if broadcast is not None:
        services.notifier.to_volunteer(
            int(task.payload["volunteer_id"]), broadcast_message(broadcast)
        )


@outbox_handler(SMS)
def send_text(services: Services, task: Task) -> None:
    """The text, through the texting gate (consent, STOP, a verified phone); an outage is
    tried again later."""
    broadcast = _broadcast(services, task)
    if broadcast is None:
        return
    volunteer_id = int(task.payload["volunteer_id"])
    result = text_volunteer(services, volunteer_id, sms_body(broadcast), purpose=SMS_PURPOSE)
    if result.status is TextStatus.FAILED and result.retry_later:
        raise RuntimeError(f"broadcast text to volunteer {volunteer_id}: {result.reason}")


@outbox_handler(CHANNEL)
def post_in_channel(services: Services, task: Task) -> None:
    """The broadcast in a configured channel (no Got it there: acknowledgements are per DM)."""
    broadcast = _broadcast(services, task)
    if broadcast is None:
        return
    try:
        platform = Platform(str(task.payload["platform"]))
    except ValueError:
        log.warning("Broadcast channel on an unknown platform %r", task.payload["platform"])
        return
    reply = Reply(
        text=f"Update from the organizers: {broadcast.title}",
        sections=(Section(broadcast.talking_points),),
        tone=Tone.INFO,
        ephemeral=False,
    )
    services.notifier.to_channel(platform, str(task.payload["channel"]), reply)
