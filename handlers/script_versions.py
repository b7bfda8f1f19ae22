"""The campaign script's versions in chat: `script history`, `script diff A B`, `script revert N`.

Version 1 is the campaign file's script; each broadcast publishes the next. Reverting publishes
an old version's text again as a new version (history only grows), redraws every open batch
with it and is audited; it sends no DMs (the words are ones callers have had before). Reloading
the campaign file never replaces a version published from chat: see `file_reload_notice`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from handlers.broadcast_publish import (
    ensure_first_version,
    newest_version,
    owe_redraws,
    version_bodies,
    write_version,
)
from handlers.campaigns import active_campaign
from handlers.context import Context
from handlers.outbox import owed
from handlers.refusal import Refusal
from handlers.replies import Reply, Section, Tone
from handlers.scripts import SCRIPT_NAME, script_diff
from storage.db import read_session, session_scope
from storage.models import AuditLog, Campaign, Script

HISTORY_SHOWN = 20
DIFF_LINES = 60  # a diff longer than this is cut, and says so


def history(ctx: Context, args: list[str]) -> Reply:
    """The script's versions: who published each, and when."""
    campaign = active_campaign(ctx)
    with read_session(ctx.services.engine) as session:
        rows = session.exec(
            select(Script)
            .where(col(Script.campaign_id) == campaign.id, col(Script.name) == SCRIPT_NAME)
            .order_by(col(Script.version).desc(), col(Script.language))
        ).all()
    versions: dict[int, Script] = {}
    for row in rows:
        versions.setdefault(row.version, row)
    if not versions:
        return Reply(text="Only version 1 so far: the campaign file's script.")
    newest = max(versions)
    lines = [
        f"v{number}: {row.title or '(no title)'} · {row.created_by} · {_when(row.created_at)}"
        + ("  (on the cards now)" if number == newest else "")
        for number, row in list(versions.items())[:HISTORY_SHOWN]
    ]
    return Reply(
        text=f"Script versions ({len(versions)}). `script diff A B` shows what changed.",
        sections=(Section("\n".join(lines)),),
    )


def diff(ctx: Context, args: list[str]) -> Reply:
    """What changed between two versions: `script diff 3 4`."""
    if len(args) != 2 or not all(arg.isdigit() for arg in args):
        raise Refusal("Say which two versions: `script diff 3 4`.")
    old, new = int(args[0]), int(args[1])
    campaign = active_campaign(ctx)
    with read_session(ctx.services.engine) as session:
        before, after = _bodies(session, campaign.id, old), _bodies(session, campaign.id, new)
    lines = script_diff(before, after)
    if not lines:
        return Reply(text=f"Versions {old} and {new} have the same script.")
    cut = len(lines) > DIFF_LINES
    shown = "\n".join(lines[:DIFF_LINES]) + ("\n… (cut: the diff is longer)" if cut else "")
    return Reply(text=f"From version {old} to {new}:", sections=(Section(f"```{shown}```"),))


def revert(ctx: Context, args: list[str]) -> Reply:
    """Publish an old version's script again, as a new version: `script revert 3`."""
    if len(args) != 1 or not args[0].isdigit():
        raise Refusal("Say which version: `script revert 3` (`script history` lists them).")
    target = int(args[0])
    campaign = active_campaign(ctx)
    services, now = ctx.services, ctx.services.clock.now()
    with session_scope(services.engine) as session:
        row = session.get(Campaign, campaign.id)
        assert row is not None
        ensure_first_version(session, row, now)
        bodies = version_bodies(session, campaign.id, target)
        if not bodies:
            newest = newest_version(session, campaign.id)
            raise Refusal(f"There is no version {target}: versions go from 1 to {newest}.")
        source = _first_row(session, campaign.id, target)
        version, _ = write_version(
            session,
            row,
            bodies,
            title=f"Back to version {target}: {source.title}"[:200],
            talking_points=source.talking_points,
            author=ctx.identity,
            now=now,
        )
        conn = session.connection()
        batches = owe_redraws(
            conn, session, campaign.id, f"script-revert:{campaign.id}:{version}", now
        )
        session.add(
            AuditLog(
                at=now,
                actor=ctx.identity,
                action="script.revert",
                target=f"campaign:{campaign.slug}",
                detail={"to": target, "version": version},
            )
        )
    owed(services)
    return Reply(
        text=f"Version {target} is on the cards again, as version {version};"
        f" {batches} open {'batch' if batches == 1 else 'batches'} redrawn.",
        tone=Tone.SUCCESS,
    )


def file_reload_notice(session: Session, campaign_id: int, file_scripts: dict[str, str]) -> str:
    """What a reload of the campaign file does to the script, in a sentence ('' when nothing
    to say): a version published from chat stays on the cards."""
    newest = newest_version(session, campaign_id)
    if newest <= 1:
        return ""
    current = version_bodies(session, campaign_id, newest)
    if current == file_scripts:
        return ""
    row = _first_row(session, campaign_id, newest)
    return (
        f"The cards keep script version {newest} (“{row.title}”, published from chat by"
        f" {row.created_by}): the file's changed scripts did not replace it. To put them on"
        " the cards, publish them with `/phonebank broadcast`."
    )


def _bodies(session: Session, campaign_id: int, version: int) -> dict[str, str]:
    bodies = version_bodies(session, campaign_id, version)
    if bodies:
        return bodies
    newest = newest_version(session, campaign_id)
    if version == 1 and newest == 0:
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None:
            return dict(campaign.config.get("scripts") or {})
    raise Refusal(f"There is no version {version}: versions go from 1 to {max(newest, 1)}.")


def _first_row(session: Session, campaign_id: int, version: int) -> Script:
    row = session.exec(
        select(Script).where(
            col(Script.campaign_id) == campaign_id,
            col(Script.name) == SCRIPT_NAME,
            col(Script.version) == version,
        )
    ).first()
    assert row is not None
    return row


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"
