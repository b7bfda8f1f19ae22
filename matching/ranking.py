"""Who suits whom: the order in which a volunteer's batch is filled, and the reason in words.

Language is a hard rule: a voter whose language is not the campaign's default (English unless
configured) only goes to a volunteer who speaks it. Then the tiers: same area code, same state,
same time zone, anyone. Within a tier the voters only this volunteer can call come first (a
Spanish speaker gets the area's Spanish-speaking voters before its English-speaking ones, whom
anyone could call), then the list's priority (lower first), fewest attempts, oldest last
attempt. The claim (matching/claims.py) walks the same plan one indexed step at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from matching.phones import InvalidPhone, normalize_phone
from matching.zones import split_key

LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "zh": "Chinese",
    "vi": "Vietnamese",
    "ko": "Korean",
    "tl": "Tagalog",
    "ar": "Arabic",
    "fr": "French",
    "ht": "Haitian Creole",
    "ru": "Russian",
    "pt": "Portuguese",
    "hi": "Hindi",
    "de": "German",
    "it": "Italian",
    "pl": "Polish",
    "ja": "Japanese",
}
ZONE_NAMES = {
    "America/New_York": "Eastern",
    "America/Detroit": "Eastern",
    "America/Indiana/Indianapolis": "Eastern",
    "America/Kentucky/Louisville": "Eastern",
    "America/Chicago": "Central",
    "America/Menominee": "Central",
    "America/Denver": "Mountain",
    "America/Boise": "Mountain",
    "America/Phoenix": "Arizona",
    "America/Los_Angeles": "Pacific",
    "America/Anchorage": "Alaska",
    "Pacific/Honolulu": "Hawaii",
}


class Tier(IntEnum):
    """How close a voter is to the volunteer; lower is better."""

    AREA_CODE = 0
    STATE = 1
    TIME_ZONE = 2
    ANY = 3


@dataclass(frozen=True, slots=True)
class CallerProfile:
    """What matching needs to know about a volunteer."""

    languages: tuple[str, ...]  # voter languages they may take, the scarce ones first
    default_language: str
    area_code: str | None
    state: str | None
    zones: tuple[str, ...]  # the zones of their own number, sorted


@dataclass(frozen=True, slots=True)
class VoterPlace:
    """What matching needs to know about a voter."""

    language: str
    area_code: str | None
    state: str | None
    calling_zone_key: str | None
    priority: int = 0
    attempts: int = 0
    available_at: datetime | None = None


def normalize_language(code: str | None, default: str = "en") -> str:
    """'ES ' -> 'es'; empty -> the default."""
    return (code or "").strip().lower() or default


def language_name(code: str) -> str:
    """'es' -> 'Spanish'; unknown codes come back as given."""
    return LANGUAGE_NAMES.get(code, code)


def caller_profile(
    languages: list[str] | tuple[str, ...],
    area_code: str | None,
    phone: str | None,
    default_language: str = "en",
) -> CallerProfile:
    """A volunteer's profile from their languages, area code and phone number."""
    default = normalize_language(default_language)
    spoken = [normalize_language(code, default) for code in languages]
    scarce = tuple(dict.fromkeys(code for code in spoken if code != default))
    state: str | None = None
    zones: tuple[str, ...] = ()
    if phone:
        try:
            info = normalize_phone(phone)
            state, zones = info.state, tuple(sorted(info.time_zones))
            area_code = area_code or info.area_code
        except InvalidPhone:
            pass
    return CallerProfile(scarce + (default,), default, area_code, state, zones)


def may_call(profile: CallerProfile, voter_language: str) -> bool:
    """The hard language rule."""
    return normalize_language(voter_language, profile.default_language) in profile.languages


def tier_of(profile: CallerProfile, voter: VoterPlace) -> Tier:
    """The best tier the voter matches for this volunteer."""
    if profile.area_code and voter.area_code == profile.area_code:
        return Tier.AREA_CODE
    if profile.state and voter.state == profile.state:
        return Tier.STATE
    if profile.zones and voter.calling_zone_key and same_zones(voter.calling_zone_key, profile):
        return Tier.TIME_ZONE
    return Tier.ANY


def same_zones(key: str, profile: CallerProfile) -> bool:
    """Whether a voter's zone key names exactly the volunteer's zones (state caps aside)."""
    return tuple(sorted(split_key(key)[0])) == profile.zones


def rank_key(profile: CallerProfile, voter: VoterPlace) -> tuple[int, int, int, int, datetime]:
    """The order a batch is filled in: tier, scarce language, priority, attempts, last attempt."""
    language_rank = profile.languages.index(normalize_language(voter.language))
    return (
        int(tier_of(profile, voter)),
        language_rank,
        voter.priority,
        voter.attempts,
        voter.available_at or datetime.min,
    )


def match_reason(profile: CallerProfile, voter: VoterPlace) -> str:
    """Why this voter went to this volunteer, for the call card."""
    parts = []
    tier = tier_of(profile, voter)
    if tier is Tier.AREA_CODE:
        parts.append(f"same area code {voter.area_code}")
    elif tier is Tier.STATE:
        parts.append(f"same state {voter.state}")
    elif tier is Tier.TIME_ZONE:
        parts.append(f"same time zone ({_zones_in_words(profile.zones)})")
    language = normalize_language(voter.language, profile.default_language)
    if language != profile.default_language:
        parts.append(f"speaks {language_name(language)}")
    return "; ".join(parts) or "next on the list"


def _zones_in_words(zones: tuple[str, ...]) -> str:
    return " / ".join(dict.fromkeys(ZONE_NAMES.get(zone, zone) for zone in zones))
