"""Whose time zone a shift is shown in: the shift's own, the campaign's, the volunteer's."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from matching.phones import InvalidPhone, normalize_phone
from storage.campaign_config import CampaignConfigError
from storage.campaign_store import campaign_config
from storage.models import Campaign, Shift, Volunteer

log = logging.getLogger(__name__)

DEFAULT_ZONE = "America/New_York"
DEFAULT_REMINDERS = (24 * 60, 60)


@dataclass(frozen=True)
class ShiftSettings:
    """What the campaign file says about shifts."""

    time_zone: str = DEFAULT_ZONE
    reminder_minutes: tuple[int, ...] = DEFAULT_REMINDERS


def campaign_settings(session: Session, campaign_ids: Iterable[int]) -> dict[int, ShiftSettings]:
    """The shift settings of each campaign (the defaults where a file cannot be read)."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    campaigns = session.exec(select(Campaign).where(col(Campaign.id).in_(ids))).all()
    found = {int(campaign.id or 0): _settings(campaign) for campaign in campaigns}
    return {campaign_id: found.get(campaign_id, ShiftSettings()) for campaign_id in ids}


def _settings(campaign: Campaign) -> ShiftSettings:
    try:
        config = campaign_config(campaign)
    except CampaignConfigError:
        log.warning("Campaign %s has an invalid file: default shift settings", campaign.slug)
        return ShiftSettings()
    return ShiftSettings(config.time_zone, tuple(config.shift_reminder_minutes))


def shift_zone(shift: Shift, campaign_zone: str) -> str:
    """The zone the shift's times were given in."""
    return shift.time_zone or campaign_zone


def volunteer_zone(volunteer: Volunteer | None, fallback: str) -> str:
    """Where the volunteer is, as far as we know: their phone's zone, else `fallback`."""
    if volunteer is None or not volunteer.phone or not volunteer.phone.startswith("+"):
        return fallback
    try:
        zones = normalize_phone(volunteer.phone).time_zones
    except InvalidPhone:
        return fallback
    return zones[0] if zones else fallback
