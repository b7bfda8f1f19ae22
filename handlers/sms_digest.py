"""Organizers hear about texts that read like an opt-out in one digest per quiet period.

Anyone can text the campaign's number, so a text must not become a message to every organizer
at once (a burst of texts would be a burst of direct messages, and the sender's words a
phishing channel into the organizers' chat). A text that waits for review owes, in the
transaction that stores it, the digest of its quiet period (`QUIET_PERIOD`, fixed windows):
one row of the durable outbox (handlers/outbox.py), keyed by the window, due when it ends.
The outbox worker sends it after the webhook has long been answered: one direct message per
organizer and admin naming each sender (a volunteer's name, never a number), how many texts
they sent, and a short excerpt of the latest with links, mentions and numbers taken out.
A text reviewed before the digest goes out is left out of it; a digest with nothing left
is not sent.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection
from sqlmodel import Session, col, select

from handlers.alerts import alert_organizers
from handlers.context import Services
from handlers.outbox import Task, outbox_handler, owe
from storage.db import read_session
from storage.models import SmsInbound, Volunteer

KIND = "sms.review_digest"
QUIET_PERIOD = timedelta(minutes=15)
EXCERPT_CHARS = 60
SENDERS_LISTED = 10
UNKNOWN = "an unknown sender"

_LINK = re.compile(
    r"\b[a-z][a-z0-9+.\-]*://\S*"  # anything with a scheme: https://, ftp://, ...
    r"|\b(?:mailto|tel|sms|javascript|data):\S+|\bwww\.\S*"
    r"|\b[\w\-]+(?:\.[\w\-]+)*\.[a-z]{2,}\b(?:[/?#]\S*)?",  # a bare domain, with any path
    re.IGNORECASE,
)
_LONG_DIGITS = re.compile(r"\+?\d[\d\s().\-]{5,}\d")
_MARKUP = re.compile(r"[<>@*_~`|\\\[\]]")  # mentions, links and formatting in Slack or Discord


def excerpt(body: str, limit: int = EXCERPT_CHARS) -> str:
    """A text as organizers may see it: one line, no links, mentions, markup or numbers, cut to
    `limit` characters."""
    text = _LINK.sub("(link)", " ".join(body.split()))
    text = _MARKUP.sub("", _LONG_DIGITS.sub("…", text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def owe_review_digest(conn: Connection, now: datetime) -> None:
    """In the transaction that stores a text waiting for review: owe its quiet period's digest
    (once per period, whatever the number of texts)."""
    start = window_start(now)
    owe(
        conn,
        KIND,
        {"from": start.isoformat()},
        key=f"{KIND}:{start.isoformat()}",
        now=now,
        due_at=start + QUIET_PERIOD,
    )


def window_start(at: datetime) -> datetime:
    """The start of the quiet period `at` falls in."""
    period = int(QUIET_PERIOD.total_seconds())
    return datetime.fromtimestamp(int(at.timestamp()) // period * period, UTC)


@outbox_handler(KIND)
def send_review_digest(services: Services, task: Task) -> None:
    """The outbox's work: one message to every organizer about the period's texts still waiting.
    Keyed by the period in the audit log, so a retried row sends nothing twice."""
    start = datetime.fromisoformat(str(task.payload["from"]))
    with read_session(services.engine) as session:
        texts = _waiting(session, start, start + QUIET_PERIOD)
        names = volunteer_names(session, {row.volunteer_id for row in texts if row.volunteer_id})
    if texts:
        message = digest_text(texts, names, start)
        alert_organizers(services, KIND, message, target=task.key, quiet_for=timedelta(days=2))


def digest_text(texts: list[SmsInbound], names: dict[int, str], start: datetime) -> str:
    """The digest: each sender once, with their count and latest text's excerpt."""
    by_sender: dict[str, list[SmsInbound]] = {}
    for row in texts:
        by_sender.setdefault(row.from_phone, []).append(row)
    lines = [_sender_line(rows, names) for rows in by_sender.values()]
    more = len(lines) - SENDERS_LISTED
    listed = lines[:SENDERS_LISTED] + ([f"• and {more} more senders"] if more > 0 else [])
    count = f"{len(texts)} text{'s' if len(texts) > 1 else ''}"
    return (
        f"{count} since {start:%H:%M} UTC read like an opt-out:\n"
        + "\n".join(listed)
        + "\nLook at them with `/phonebank sms review`."
    )


def _sender_line(rows: list[SmsInbound], names: dict[int, str]) -> str:
    latest = rows[-1]
    who = names.get(latest.volunteer_id or 0, UNKNOWN)
    count = f" ({len(rows)} texts)" if len(rows) > 1 else ""
    return f"• {who}{count}: “{excerpt(latest.body)}”"


def _waiting(session: Session, start: datetime, end: datetime) -> list[SmsInbound]:
    return list(
        session.exec(
            select(SmsInbound)
            .where(
                col(SmsInbound.needs_review),
                col(SmsInbound.reviewed_by).is_(None),
                col(SmsInbound.received_at) >= start,
                col(SmsInbound.received_at) < end,
            )
            .order_by(col(SmsInbound.received_at), col(SmsInbound.id))
        ).all()
    )


def volunteer_names(session: Session, ids: set[int]) -> dict[int, str]:
    """Volunteers' names by id."""
    if not ids:
        return {}
    rows = session.exec(select(Volunteer.id, Volunteer.name).where(col(Volunteer.id).in_(ids)))
    return {int(volunteer_id or 0): name for volunteer_id, name in rows.all()}
