"""Campaigns in the database: store a validated configuration by slug, read it back."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from storage.campaign_config import CampaignConfig, validate_campaign_data
from storage.clock import Clock
from storage.models import AuditLog, Campaign


def get_campaign(session: Session, slug: str) -> Campaign | None:
    """The campaign with this slug, if there is one."""
    return session.exec(select(Campaign).where(Campaign.slug == slug)).first()


def list_campaigns(session: Session) -> list[Campaign]:
    """Every campaign, by slug."""
    return list(session.exec(select(Campaign).order_by(Campaign.slug)))


def campaign_config(campaign: Campaign) -> CampaignConfig:
    """The campaign's configuration, validated again (raises `CampaignConfigError`)."""
    return validate_campaign_data(campaign.config, source=f"campaign {campaign.slug!r}")


def save_campaign(
    session: Session,
    config: CampaignConfig,
    source_text: str,
    clock: Clock,
    actor: str = "cli",
) -> Campaign:
    """Create the campaign `config.slug`, or update it in place; audit-logged either way."""
    now = clock.now()
    document = config.model_dump(mode="json")
    campaign = get_campaign(session, config.slug)
    if campaign is None:
        campaign = Campaign(
            slug=config.slug,
            name=config.name,
            config=document,
            config_source=source_text,
            created_at=now,
            updated_at=now,
        )
        action, changed = "campaign.create", sorted(document)
    else:
        action, changed = "campaign.update", _changed_settings(campaign.config, document)
        campaign.name = config.name
        campaign.config = document
        campaign.config_source = source_text
        campaign.updated_at = now
    session.add(campaign)
    session.add(
        AuditLog(
            at=now, actor=actor, action=action, target=config.slug, detail={"changed": changed}
        )
    )
    session.flush()
    return campaign


def _changed_settings(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The top-level settings whose value differs between two stored configurations."""
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
