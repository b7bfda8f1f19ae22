"""Phone numbers: E.164, area code, state and the possible time zones, or a reason to reject.

`normalize_phone` is the one entry point. Plain North American numbers ("(850) 222-1234",
"1-850-222-1234", "+18502221234") take a fast path: the digits are checked by hand and the
expensive phonenumbers work (validity, region, geocoding, time zones) is memoized per
NPA-NXX, the first `PREFIX_DIGITS` national digits. Every other input goes through
`full_normalize_phone`. A property test shows the two agree, and another reads phonenumbers'
metadata to prove that the prefix decides everything the memo stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, ValidationResult
from phonenumbers import timezone as phone_timezone

# NPA + NXX. tests/test_phones.py proves from the metadata that no NANP validity pattern,
# geocoding prefix or time-zone prefix looks further than this, except the validity patterns
# of Barbados and Jamaica, which look one digit further in their own area codes.
PREFIX_DIGITS = 6
SEVEN_DIGIT_NPAS = frozenset({"246", "658", "876"})
# About 32,000 NPA-NXX are geocoded in the US; the cache holds any one campaign's with room.
PREFIX_CACHE_SIZE = 65_536
INPUT_CACHE_SIZE = 4_096  # inputs that are not plain NANP numbers, mostly junk
_PUNCTUATION = str.maketrans("", "", " -.()")
_MAX_FAST_INPUT = 64  # longer strings go the slow way (phonenumbers caps input at 250)

US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC",
    "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
    "Virginia": "VA", "Washington": "WA", "Washington State": "WA", "West Virginia": "WV",
    "Wisconsin": "WI", "Wyoming": "WY", "Washington D.C.": "DC", "District of Columbia": "DC",
}  # fmt: skip
_STATE_CODES = frozenset(US_STATES.values())

# Default regions whose national numbers parse as plain NANP: national prefix "1" and no
# local-number rewriting (the Caribbean islands expand 7-digit numbers; they go the slow way).
_FAST_DEFAULT_REGIONS = frozenset(
    region
    for region in phonenumbers.SUPPORTED_REGIONS
    if phonenumbers.country_code_for_region(region) == 1
    and (meta := phonenumbers.PhoneMetadata.metadata_for_region(region)) is not None
    and meta.national_prefix_for_parsing == "1"
)


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    """A valid number and what it tells about where it rings."""

    e164: str
    area_code: str | None  # NANP only: the 3-digit NPA
    region: str | None  # ISO country of the number, e.g. "US", "CA"
    state: str | None  # US only, where the geocoder names one
    time_zones: tuple[str, ...]  # IANA zones; several when the exchange straddles a line


class InvalidPhone(ValueError):
    """The input is not a callable phone number; `reason` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _PrefixFacts:
    """Everything but the E.164 string, shared by every number of one NPA-NXX."""

    reason: str | None
    area_code: str | None = None
    region: str | None = None
    state: str | None = None
    time_zones: tuple[str, ...] = ()


def normalize_phone(raw: str, default_region: str = "US") -> PhoneInfo:
    """Normalize `raw` to a `PhoneInfo`, or raise `InvalidPhone` with the reason."""
    national = _plain_nanp_digits(raw, default_region)
    if national is None:
        return _memoized_full_path(raw, default_region)
    prefix_digits = PREFIX_DIGITS + 1 if national[:3] in SEVEN_DIGIT_NPAS else PREFIX_DIGITS
    facts = _facts_for_prefix(national[:prefix_digits], national)
    if facts.reason is not None:
        raise InvalidPhone(facts.reason)
    return PhoneInfo("+1" + national, facts.area_code, facts.region, facts.state, facts.time_zones)


def full_normalize_phone(raw: str, default_region: str = "US") -> PhoneInfo:
    """The slow, general path: phonenumbers end to end, for any input and any country."""
    return _info_from_number(_parse(raw, default_region))


def _memoized_full_path(raw: str, default_region: str) -> PhoneInfo:
    """The slow path, remembered per input: voter files repeat their junk ("n/a", "0")."""
    key = (raw, default_region)
    outcome = _input_cache.get(key)
    if outcome is None:
        try:
            outcome = full_normalize_phone(raw, default_region)
        except InvalidPhone as exc:
            outcome = exc.reason
        _remember(_input_cache, key, outcome, INPUT_CACHE_SIZE)
    if isinstance(outcome, str):
        raise InvalidPhone(outcome)
    return outcome


def _plain_nanp_digits(raw: str, default_region: str) -> str | None:
    """The 10 national digits of a plain NANP number, or None when the input isn't plain."""
    if len(raw) > _MAX_FAST_INPUT:
        return None
    digits = raw.translate(_PUNCTUATION)
    international = digits.startswith("+")
    if international:
        digits = digits[1:]
    if not (digits.isascii() and digits.isdigit()):
        return None
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    elif international or len(digits) != 10:
        return None
    if digits[0] in "01":  # NPAs start 2-9; anything else is phonenumbers' to judge
        return None
    if not international and default_region.upper() not in _FAST_DEFAULT_REGIONS:
        return None
    return digits


_prefix_cache: dict[str, _PrefixFacts] = {}
_input_cache: dict[tuple[str, str], PhoneInfo | str] = {}


def _facts_for_prefix(prefix: str, national: str) -> _PrefixFacts:
    """What the full path says about `national`, valid for every number sharing `prefix`."""
    facts = _prefix_cache.get(prefix)
    if facts is None:
        facts = _facts_for_number(national)
        _remember(_prefix_cache, prefix, facts, PREFIX_CACHE_SIZE)
    return facts


def _remember(cache: dict[Any, Any], key: Any, value: Any, size: int) -> None:
    if len(cache) >= size:
        del cache[next(iter(cache))]  # oldest first: dicts keep insertion order
    cache[key] = value


def _facts_for_number(national: str) -> _PrefixFacts:
    try:
        info = _info_from_number(phonenumbers.parse("+1" + national))
    except InvalidPhone as exc:
        return _PrefixFacts(reason=exc.reason)
    return _PrefixFacts(None, info.area_code, info.region, info.state, info.time_zones)


_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong number of digits",
}


def _parse(raw: str, default_region: str) -> PhoneNumber:
    if not raw or not raw.strip():
        raise InvalidPhone("empty")
    try:
        return phonenumbers.parse(raw, default_region.upper())
    except NumberParseException as exc:
        raise InvalidPhone(_PARSE_REASONS.get(exc.error_type, "not a phone number")) from None


def _info_from_number(number: PhoneNumber) -> PhoneInfo:
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible in _POSSIBLE_REASONS:
        raise InvalidPhone(_POSSIBLE_REASONS[possible])
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid number")
    region = phonenumbers.region_code_for_number(number)
    national = str(number.national_number)
    nanp = number.country_code == 1
    return PhoneInfo(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        area_code=national[:3] if nanp else None,
        region=region,
        state=_state_from_description(_describe(number)) if region == "US" else None,
        time_zones=tuple(
            zone
            for zone in phone_timezone.time_zones_for_number(number)
            if zone != phone_timezone.UNKNOWN_TIMEZONE
        ),
    )


def _describe(number: PhoneNumber) -> str:
    # Imported on first use: the geocoder's data (every language) weighs about 100 MB.
    from phonenumbers import geocoder

    return geocoder.description_for_number(number, "en")


def _state_from_description(description: str) -> str | None:
    """ "Texas" -> TX, "Tallahassee, FL" -> FL; None for anything else."""
    if description in US_STATES:
        return US_STATES[description]
    _, _, suffix = description.rpartition(", ")
    return suffix if suffix in _STATE_CODES else None


def clear_phone_cache() -> None:
    """Forget the memos (tests and benchmarks start cold)."""
    _prefix_cache.clear()
    _input_cache.clear()


# Where a volunteer's own phone may be: a line that rings at a place, at a normal price.
# Everything else (premium rate, shared cost, toll free, personal numbers, pagers, satellite
# and other non-geographic services, VoIP-only ranges) may bill the campaign far more than a call.
_RINGABLE_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
)
_TYPE_NAMES = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    phonenumbers.PhoneNumberType.SHARED_COST: "a shared-cost number",
    phonenumbers.PhoneNumberType.TOLL_FREE: "a toll-free number",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "a personal (forwarding) number",
    phonenumbers.PhoneNumberType.PAGER: "a pager",
    phonenumbers.PhoneNumberType.UAN: "a company-wide access number",
    phonenumbers.PhoneNumberType.VOICEMAIL: "a voicemail access number",
    phonenumbers.PhoneNumberType.VOIP: "an internet-only (VoIP) number",
}
DEFAULT_COUNTRIES = frozenset({"US", "CA"})


@dataclass(frozen=True)
class PhonePolicy:
    """What a campaign lets Phonebank ring or text on its own account: volunteers' phones in
    `countries` (ISO codes) of an ordinary type, and SIP addresses on `sip_domains` only (an
    entry `*.example.com` allows its subdomains; none: no SIP at all)."""

    countries: frozenset[str] = DEFAULT_COUNTRIES
    sip_domains: frozenset[str] = frozenset()

    def phone_problem(self, e164: str) -> str | None:
        """Why this E.164 number may not be rung or texted (a clause), or None when it may."""
        return _phone_problem(e164, self.countries)

    def sip_problem(self, address: str) -> str | None:
        """Why this `sip:` address may not be rung (a clause), or None when it may."""
        if not self.sip_domains:
            return "calls to SIP addresses are not enabled here"
        host = sip_host(address)
        if host is None or not any(_domain_allows(entry, host) for entry in self.sip_domains):
            return f"{host or 'that host'} is not a SIP domain this campaign allows"
        return None

    def countries_text(self) -> str:
        """The allowed countries in words: "the US or Canada"."""
        ordered = sorted(
            self.countries, key=lambda code: (code not in _FIRST, _FIRST.get(code, code))
        )
        names = [_COUNTRY_NAMES.get(code, code) for code in ordered]
        if len(names) <= 1:
            return "".join(names) or "no country"
        return ", ".join(names[:-1]) + " or " + names[-1]


_COUNTRY_NAMES = {"US": "the US", "CA": "Canada", "GB": "the UK", "PR": "Puerto Rico"}
_FIRST = {"US": "0", "CA": "1"}  # named first, in this order


def sip_host(address: str) -> str | None:
    """The lowercased host of `sip:user@host[:port][;params]`, or None."""
    _, at, rest = address.partition("@")
    if not at:
        return None
    host = rest.split(";", 1)[0].split(":", 1)[0].strip().lower()
    return host or None


def _domain_allows(entry: str, host: str) -> bool:
    entry = entry.strip().lower()
    if entry.startswith("*."):
        return host.endswith(entry[1:])
    return host == entry


def _phone_problem(e164: str, countries: frozenset[str]) -> str | None:
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return "it is not a phone number in international form"
    if not phonenumbers.is_valid_number(number):
        return "it is not a valid phone number"
    kind = phonenumbers.number_type(number)
    if kind not in _RINGABLE_TYPES:
        return f"it is {_TYPE_NAMES.get(kind, 'not an ordinary phone line')}"
    region = phonenumbers.region_code_for_number(number)
    if region == phonenumbers.UNKNOWN_REGION or region == "001":
        return "it is a satellite or other non-geographic service"
    if region not in countries:
        return "it is outside the countries this campaign calls"
    return None
