"""Phone normalization: known numbers, reasons, the fast path's agreement and its memo's proof."""

from __future__ import annotations

import re
import re._parser as regex_parser  # the stdlib's own regex parser, to read the metadata patterns
from typing import Any

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers.geodata import GEOCODE_DATA
from phonenumbers.tzdata import TIMEZONE_DATA

from matching import phones
from matching.phones import (
    PREFIX_DIGITS,
    SEVEN_DIGIT_NPAS,
    InvalidPhone,
    PhoneInfo,
    PhonePolicy,
    full_normalize_phone,
    normalize_phone,
)


def reason_for(raw: str, region: str = "US") -> str:
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone(raw, region)
    return caught.value.reason


@pytest.mark.parametrize(
    ("raw", "e164", "state", "zones"),
    [
        ("(850) 222-1234", "+18502221234", "FL", ("America/New_York",)),
        ("850.434.1234", "+18504341234", "FL", ("America/Chicago",)),
        ("1-208-555-1234", "+12085551234", "ID", ("America/Boise", "America/Los_Angeles")),
        ("+1 512 555 0100", "+15125550100", "TX", ("America/Chicago",)),
        ("2025550143", "+12025550143", "DC", ("America/New_York",)),
    ],
)
def test_us_numbers_carry_area_code_state_and_zones(
    raw: str, e164: str, state: str, zones: tuple[str, ...]
) -> None:
    info = normalize_phone(raw)
    assert info == PhoneInfo(e164, e164[2:5], "US", state, zones)


def test_canadian_number_has_region_but_no_state() -> None:
    info = normalize_phone("416-555-0199")
    assert (info.region, info.state, info.area_code) == ("CA", None, "416")
    assert info.time_zones == ("America/Toronto",)


def test_toll_free_number_lists_dozens_of_zones() -> None:
    info = normalize_phone("1 (800) 555-1234")
    assert info.state is None
    assert len(info.time_zones) > 20


def test_foreign_number_keeps_its_country() -> None:
    info = normalize_phone("+44 20 7946 0958")
    assert (info.e164, info.region, info.area_code) == ("+442079460958", "GB", None)


def test_default_region_decides_national_numbers() -> None:
    assert normalize_phone("020 7946 0958", "GB").e164 == "+442079460958"
    assert reason_for("020 7946 0958", "US") == "too long"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("n/a", "not a phone number"),
        ("555-01", "too short"),
        ("212-555-01234567890", "too long"),
        ("123-456-7890", "not a valid number"),
        ("(212) 155-0123", "not a valid number"),
        ("+999 1234 5678", "unknown country code"),
    ],
)
def test_bad_input_gets_a_reason(raw: str, reason: str) -> None:
    assert reason_for(raw) == reason


# --- the fast path agrees with phonenumbers ------------------------------------------------

_nanp_digits = st.builds(
    lambda npa, nxx, line: f"{npa}{nxx}{line}",
    st.one_of(st.integers(200, 999).map(str), st.sampled_from(sorted(SEVEN_DIGIT_NPAS))),
    st.integers(0, 999).map(lambda n: f"{n:03d}"),
    st.integers(0, 9999).map(lambda n: f"{n:04d}"),
)


def _formatted(digits: str, style: int, trunk: str) -> str:
    npa, nxx, line = digits[:3], digits[3:6], digits[6:]
    return [
        f"{trunk}{digits}",
        f"{trunk}({npa}) {nxx}-{line}",
        f"{trunk}{npa}-{nxx}-{line}",
        f"{trunk}{npa}.{nxx}.{line}",
        f" {trunk} {npa} {nxx} {line} ",
    ][style]


_formatted_nanp = st.builds(
    _formatted, _nanp_digits, st.integers(0, 4), st.sampled_from(["", "1", "+1", "+1 ", "1-"])
)
_weird = st.text(alphabet="0123456789+-.() x#*/1", max_size=24)
_anything = st.text(max_size=30)


@settings(max_examples=3000, deadline=None)
@given(
    raw=st.one_of(_formatted_nanp, _weird, _anything, _nanp_digits),
    region=st.sampled_from(["US", "CA", "PR", "JM", "AG", "BS", "GB"]),
)
@example(raw="+2125550123", region="US")
@example(raw="12125550123", region="BS")
@example(raw="0012125550123", region="US")
@example(raw="(+1) 212 555 0123", region="US")
@example(raw="٢١٢٥٥٥٠١٢٣", region="US")
@example(raw="+1 876 606 0123", region="US")
@example(raw="246 521 0123", region="CA")
def test_fast_path_agrees_with_phonenumbers(raw: str, region: str) -> None:
    phones.clear_phone_cache()
    assert _outcome(normalize_phone, raw, region) == _outcome(full_normalize_phone, raw, region)


@settings(max_examples=500, deadline=None)
@given(first=_nanp_digits, line=st.integers(0, 9999))
def test_memo_from_one_number_serves_its_whole_prefix(first: str, line: int) -> None:
    """The memo filled by one number answers for another of the same NPA-NXX like the slow path."""
    phones.clear_phone_cache()
    _outcome(normalize_phone, first, "US")
    second = f"{first[:6]}{line:04d}"  # in 246, 658 and 876 the memo keys on 7 digits
    assert _outcome(normalize_phone, second, "US") == _outcome(full_normalize_phone, second, "US")


def _outcome(normalize: Any, raw: str, region: str) -> PhoneInfo | str:
    try:
        return normalize(raw, region)  # type: ignore[no-any-return]
    except InvalidPhone as exc:
        return f"invalid: {exc.reason}"


def test_prefix_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    phones.clear_phone_cache()
    monkeypatch.setattr(phones, "PREFIX_CACHE_SIZE", 10)
    for nxx in range(200, 260):
        normalize_phone(f"212{nxx}0123")
    assert len(phones._prefix_cache) == 10
    assert normalize_phone("2122000123").e164 == "+12122000123"  # evicted, recomputed


# --- proof that PREFIX_DIGITS national digits decide what the memo stores ------------------

_NUMBER_TYPE_DESCS = [
    "general_desc",
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
]


def test_nanp_metadata_never_looks_past_the_memo_prefix() -> None:
    """Validity, number type, region, geocoding and time zones depend on the memo's prefix.

    Six national digits everywhere, seven in the few area codes of regions whose patterns
    look deeper: those regions are reached only through their leading digits (area codes).
    """
    for region in _nanp_regions():
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        depth = _deepest_type_pattern(meta)
        if depth > PREFIX_DIGITS:
            assert depth == PREFIX_DIGITS + 1, region
            assert re.fullmatch(r"\d{3}(\|\d{3})*", meta.leading_digits or ""), region
            assert set(meta.leading_digits.split("|")) <= SEVEN_DIGIT_NPAS, region
        if meta.leading_digits:
            assert constrained_depth(meta.leading_digits, None) <= PREFIX_DIGITS
    nanp_keys = [k for k in [*GEOCODE_DATA, *TIMEZONE_DATA] if k.startswith("1")]
    assert max(len(key) - 1 for key in nanp_keys) <= PREFIX_DIGITS


def _nanp_regions() -> list[str]:
    return [
        r for r in phonenumbers.SUPPORTED_REGIONS if phonenumbers.country_code_for_region(r) == 1
    ]


def _deepest_type_pattern(meta: Any) -> int:
    descs = [getattr(meta, name) for name in _NUMBER_TYPE_DESCS]
    return max(
        constrained_depth(desc.national_number_pattern, 10)
        for desc in descs
        if desc is not None and desc.national_number_pattern
    )


def test_depth_reader_sees_deep_constraints() -> None:
    assert constrained_depth(r"[2-9]\d{9}", 10) == 1
    assert constrained_depth(r"52(?:3[2-9]|4\d)\d{6}", 10) == 4
    assert constrained_depth(r"\d{9}7", 10) == 10
    assert constrained_depth(r"(?:2\d|3)\d{3}", None) == 1  # variable length: prefix patterns
    assert constrained_depth(r"310\d{4}", 10) == 0  # only ever 7 digits


def constrained_depth(pattern: str, length: int | None) -> int:
    """How many leading digits `pattern` constrains among the matches of `length` digits.

    Each node maps a possible match length to the deepest constrained position. A digit class
    (\\d) constrains nothing; any other class or literal constrains its position. With
    `length` None the pattern is a prefix pattern (leading digits) and any length counts.
    """
    shapes = _shapes(list(regex_parser.parse(pattern)))
    if length is None:
        return max(shapes.values())
    return shapes.get(length, 0)  # a pattern matching no number of this length decides nothing


def _shapes(items: list[Any]) -> dict[int, int]:
    shapes = {0: 0}
    for op, arg in items:
        shapes = _concat(shapes, _node_shapes(op, arg))
    return shapes


def _node_shapes(op: Any, arg: Any) -> dict[int, int]:
    name = str(op)
    if name == "IN" and arg == [(regex_parser.CATEGORY, regex_parser.CATEGORY_DIGIT)]:
        return {1: 0}
    if name in ("IN", "LITERAL", "ANY"):
        return {1: 1}
    if name == "SUBPATTERN":
        return _shapes(list(arg[-1]))
    if name == "BRANCH":
        merged: dict[int, int] = {}
        for branch in arg[1]:
            for size, depth in _shapes(list(branch)).items():
                merged[size] = max(merged.get(size, 0), depth)
        return merged
    if name in ("MAX_REPEAT", "MIN_REPEAT"):
        low, high, body = arg
        inner = _shapes(list(body))
        result = {0: 0} if low == 0 else {}
        step = {0: 0}
        for count in range(1, min(high, 12) + 1):
            step = _concat(step, inner)
            if count >= low:
                for size, depth in step.items():
                    result[size] = max(result.get(size, 0), depth)
        return result
    if name == "AT":  # anchors take no room
        return {0: 0}
    raise AssertionError(f"unexpected regex node {name}")


def _concat(left: dict[int, int], right: dict[int, int]) -> dict[int, int]:
    joined: dict[int, int] = {}
    for lsize, ldepth in left.items():
        for rsize, rdepth in right.items():
            depth = lsize + rdepth if rdepth else ldepth
            joined[lsize + rsize] = max(joined.get(lsize + rsize, 0), depth)
    return joined


def test_inputs_off_the_fast_path_are_remembered_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    phones.clear_phone_cache()
    monkeypatch.setattr(phones, "INPUT_CACHE_SIZE", 3)
    for _ in range(2):
        assert reason_for("n/a") == "not a phone number"
        assert normalize_phone("+44 20 7946 0958").region == "GB"
    for junk in ("x1", "x2", "x3", "x4"):
        reason_for(junk)
    assert len(phones._input_cache) == 3


# --- what a campaign may ring or text: PhonePolicy ---------------------------------------------


@pytest.mark.parametrize(
    ("e164", "refused"),
    [
        ("+15125550142", None),
        ("+14165550123", None),  # Toronto: Canada is allowed by default
        ("+19002225555", "premium-rate"),
        ("+18005550100", "toll-free"),
        ("+15005550006", "personal"),
        ("+870776123456", "satellite"),
        ("+2693212345", "outside the countries"),
        ("+18765550123", "outside the countries"),  # Jamaica shares +1
        ("+447911123456", "outside the countries"),
        ("+19762225555", "not a valid"),
        ("not a number", "international form"),
    ],
)
def test_the_default_policy_rings_ordinary_lines_in_the_us_and_canada(
    e164: str, refused: str | None
) -> None:
    problem = PhonePolicy().phone_problem(e164)
    assert problem is None if refused is None else refused in (problem or "")


def test_allowed_countries_are_the_campaigns_choice() -> None:
    uk = PhonePolicy(countries=frozenset({"GB"}))
    assert uk.phone_problem("+447400123456") is None
    assert uk.phone_problem("+15125550142") is not None
    assert uk.phone_problem("+448717123456") is not None  # shared cost, even where allowed
    assert PhonePolicy().countries_text() == "the US or Canada"


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("sip:ana@bank.sip.twilio.com", True),
        ("sip:ana@BANK.sip.twilio.com:5061;transport=tls", True),
        ("sip:ana@a.pbx.example.org", True),
        ("sip:ana@pbx.example.org", False),  # `*.` means subdomains only
        ("sip:ana@evilbank.sip.twilio.com", False),
        ("sip:ana@bank.sip.twilio.com.attacker.example", False),
        ("sip:anyone@attacker.example", False),
    ],
)
def test_sip_addresses_ring_only_on_listed_domains(address: str, allowed: bool) -> None:
    policy = PhonePolicy(sip_domains=frozenset({"bank.sip.twilio.com", "*.pbx.example.org"}))
    assert (policy.sip_problem(address) is None) is allowed
    assert PhonePolicy().sip_problem(address) == "calls to SIP addresses are not enabled here"
