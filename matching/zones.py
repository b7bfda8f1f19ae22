"""Where a voter is, in time: the zones whose calling hours apply, packed into one key.

The key is what the claim filters on (`Voter.calling_zone_key`): the zones, sorted and
space-separated, then `|HH:MM-HH:MM` when the state caps calling hours more strictly than the
federal 08:00-21:00 (matching/hours.py). "" means no geographic zone: never callable. A campaign
has few distinct keys, so the claim decides in Python which are callable now and asks SQL for
`calling_zone_key IN (...)`.

The voter file's state (else the number's) also picks a stricter state cap. The voter file's
state wins over the number (people keep their numbers when they move); a state
that spans zones keeps all of them (a call legal in one zone may be an hour early or late in the
other), except where the ZIP's first three digits settle it (`ZIP3_ZONES`, Texas and Florida). Without a state, every zone the number's
exchange may ring in counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType

from matching.hours import STATE_CAPS, Verdict, check_zones, parse_cap
from matching.phones import InvalidPhone, normalize_phone
from storage.campaign_config import CallingHours

NO_ZONE = ""  # the key of a number with no geographic time zone
NOT_GEOGRAPHIC = "no geographic time zone (toll-free or non-geographic number)"
# No real exchange spans more than three zones; a longer list is a toll-free-style number.
_MAX_GEOGRAPHIC_ZONES = 3
_NON_GEOGRAPHIC_TYPES = frozenset(
    {
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.SHARED_COST,
        PhoneNumberType.PERSONAL_NUMBER,
        PhoneNumberType.UAN,
        PhoneNumberType.VOIP,
        PhoneNumberType.PAGER,
        PhoneNumberType.VOICEMAIL,
    }
)

# Every zone each state's territory observes (IANA tz database). Split states list all.
STATE_ZONES: dict[str, tuple[str, ...]] = {
    "AL": ("America/Chicago",),
    "AK": ("America/Anchorage", "America/Adak"),  # the Aleutians west of 169.5°W
    "AZ": ("America/Phoenix", "America/Denver"),  # the Navajo Nation keeps DST
    "AR": ("America/Chicago",),
    "CA": ("America/Los_Angeles",),
    "CO": ("America/Denver",),
    "CT": ("America/New_York",),
    "DE": ("America/New_York",),
    "DC": ("America/New_York",),
    "FL": ("America/New_York", "America/Chicago"),  # the western Panhandle is Central
    "GA": ("America/New_York",),
    "HI": ("Pacific/Honolulu",),
    "ID": ("America/Boise", "America/Los_Angeles"),  # the Panhandle is Pacific
    "IL": ("America/Chicago",),
    "IN": ("America/Indiana/Indianapolis", "America/Chicago"),  # NW and SW corners Central
    "IA": ("America/Chicago",),
    "KS": ("America/Chicago", "America/Denver"),  # four western counties Mountain
    "KY": ("America/New_York", "America/Chicago"),
    "LA": ("America/Chicago",),
    "ME": ("America/New_York",),
    "MD": ("America/New_York",),
    "MA": ("America/New_York",),
    "MI": ("America/Detroit", "America/Menominee"),  # four U.P. counties Central
    "MN": ("America/Chicago",),
    "MS": ("America/Chicago",),
    "MO": ("America/Chicago",),
    "MT": ("America/Denver",),
    "NE": ("America/Chicago", "America/Denver"),
    "NV": ("America/Los_Angeles",),
    "NH": ("America/New_York",),
    "NJ": ("America/New_York",),
    "NM": ("America/Denver",),
    "NY": ("America/New_York",),
    "NC": ("America/New_York",),
    "ND": ("America/Chicago", "America/Denver"),
    "OH": ("America/New_York",),
    "OK": ("America/Chicago",),
    "OR": ("America/Los_Angeles", "America/Boise"),  # most of Malheur County Mountain
    "PA": ("America/New_York",),
    "RI": ("America/New_York",),
    "SC": ("America/New_York",),
    "SD": ("America/Chicago", "America/Denver"),
    "TN": ("America/Chicago", "America/New_York"),
    "TX": ("America/Chicago", "America/Denver"),  # El Paso and Hudspeth Mountain
    "UT": ("America/Denver",),
    "VT": ("America/New_York",),
    "VA": ("America/New_York",),
    "WA": ("America/Los_Angeles",),
    "WV": ("America/New_York",),
    "WI": ("America/Chicago",),
    "WY": ("America/Denver",),
    "PR": ("America/Puerto_Rico",),
    "VI": ("America/St_Thomas",),
    "GU": ("Pacific/Guam",),
    "MP": ("Pacific/Saipan",),
    "AS": ("Pacific/Pago_Pago",),
}


# Split states where the first three ZIP digits settle the zone; a ZIP3 straddling the line
# (TX 798: El Paso area and Central Van Horn; FL 324: Central Walton and Eastern Port St. Joe)
# keeps both zones.
ZIP3_ZONES: dict[str, dict[str, tuple[str, ...]]] = {
    "TX": {"799": ("America/Denver",), "885": ("America/Denver",), "798": STATE_ZONES["TX"]},
    "FL": {"325": ("America/Chicago",), "324": STATE_ZONES["FL"]},
}
ZIP3_DEFAULT = {"TX": ("America/Chicago",), "FL": ("America/New_York",)}


def calling_zone_key(
    phone: str, state: str | None, number_zones: str, zip_code: str | None = None
) -> str:
    """The key for a voter: its phone (E.164), the voter file's state and ZIP, the number's zones."""
    if not is_geographic(phone):
        return NO_ZONE
    zones = _zones_for(state, zip_code, number_zones.split())
    if not zones:
        return NO_ZONE
    key = " ".join(sorted(zones))
    cap = STATE_CAPS.get((state or "").strip().upper() or _number_state(phone))
    return f"{key}|{cap[0]:%H:%M}-{cap[1]:%H:%M}" if cap else key


def _number_state(phone: str) -> str:
    """The state the number's exchange is in, for the stricter state caps ("" if unknown)."""
    try:
        return normalize_phone(phone).state or ""
    except InvalidPhone:
        return ""


def _zones_for(state: str | None, zip_code: str | None, number_zones: list[str]) -> tuple[str, ...]:
    state = (state or "").strip().upper()
    if state in ZIP3_DEFAULT and zip_code and zip_code.strip()[:3].isdigit():
        zip3 = zip_code.strip()[:3]
        return ZIP3_ZONES[state].get(zip3, ZIP3_DEFAULT[state])
    state_zones = STATE_ZONES.get(state)
    if state_zones:
        return state_zones
    known = [zone for zone in number_zones if zone != "Etc/Unknown"]
    return tuple(known) if 0 < len(known) <= _MAX_GEOGRAPHIC_ZONES else ()


def is_geographic(phone: str) -> bool:
    """Whether the number rings in a place (False for toll-free, premium, VoIP-only and such)."""
    national = phone.removeprefix("+1")
    if phone.startswith("+1") and len(national) == 10:
        return _nanp_prefix_is_geographic(national[:6])
    return _number_is_geographic(phone)


@lru_cache(maxsize=65_536)
def _nanp_prefix_is_geographic(prefix: str) -> bool:
    # The number type is decided by the NPA-NXX (matching/phones.py proves it from the metadata).
    return _number_is_geographic(f"+1{prefix}0100")


def _number_is_geographic(phone: str) -> bool:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) not in _NON_GEOGRAPHIC_TYPES


def split_key(key: str) -> tuple[tuple[str, ...], str | None]:
    """A key's zones and its state cap ("08:00-20:00"), if any."""
    zones, _, cap = key.partition("|")
    return tuple(zones.split()), cap or None


def key_verdict(key: str, now: datetime, hours: CallingHours) -> Verdict:
    """Whether voters with this key may be called at `now`, and why not."""
    if key == NO_ZONE:
        return Verdict(False, NOT_GEOGRAPHIC)
    zones, cap = split_key(key)
    return check_zones(zones, now, hours, parse_cap(cap))


def callable_keys(keys: Iterable[str], now: datetime, hours: CallingHours) -> list[str]:
    """The keys, among `keys`, whose voters may be called at `now`."""
    return sorted(key for key in set(keys) if key_verdict(key, now, hours).ok)
