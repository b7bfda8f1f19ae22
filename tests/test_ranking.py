"""Matching order and its reasons, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching.ranking import (
    Tier,
    VoterPlace,
    caller_profile,
    language_name,
    match_reason,
    may_call,
    rank_key,
    tier_of,
)

AUSTIN = caller_profile(["en", "es"], "737", "+17375550100")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def place(**fields: object) -> VoterPlace:
    defaults: dict[str, object] = {
        "language": "en",
        "area_code": "512",
        "state": "TX",
        "calling_zone_key": "America/Chicago",
    }
    return VoterPlace(**(defaults | fields))  # type: ignore[arg-type]


def test_a_profile_puts_the_scarce_languages_first() -> None:
    assert AUSTIN.languages == ("es", "en")
    assert (AUSTIN.area_code, AUSTIN.state, AUSTIN.zones) == ("737", "TX", ("America/Chicago",))
    assert caller_profile([" ES", "en", "es"], None, None).languages == ("es", "en")
    assert caller_profile([], None, None).languages == ("en",)  # everyone takes the default
    assert caller_profile(["en"], None, None, default_language="es").languages == ("en", "es")


def test_the_area_code_comes_from_the_phone_when_missing() -> None:
    assert caller_profile(["en"], None, "+12125550100").area_code == "212"
    assert caller_profile(["en"], "737", "not a number").state is None


@pytest.mark.parametrize(
    ("voter", "tier", "reason"),
    [
        (place(area_code="737"), Tier.AREA_CODE, "same area code 737"),
        (place(), Tier.STATE, "same state TX"),
        (
            place(area_code="405", state="OK", calling_zone_key="America/Chicago|08:00-20:00"),
            Tier.TIME_ZONE,
            "same time zone (Central)",
        ),
        (place(area_code="212", state="NY", calling_zone_key="America/New_York"), Tier.ANY, ""),
        (
            place(language="es", area_code="737"),
            Tier.AREA_CODE,
            "same area code 737; speaks Spanish",
        ),
        (
            place(language="es", area_code="212", state="NY", calling_zone_key="America/New_York"),
            Tier.ANY,
            "speaks Spanish",
        ),
    ],
)
def test_tiers_and_reasons(voter: VoterPlace, tier: Tier, reason: str) -> None:
    assert tier_of(AUSTIN, voter) is tier
    assert match_reason(AUSTIN, voter) == (reason or "next on the list")


def test_the_language_rule() -> None:
    assert may_call(AUSTIN, "ES")
    assert may_call(AUSTIN, "en")
    assert not may_call(AUSTIN, "vi")
    english_only = caller_profile(["en"], "737", None)
    assert not may_call(english_only, "es")
    assert may_call(english_only, "")  # no language on file: the default


def test_language_names() -> None:
    assert language_name("vi") == "Vietnamese"
    assert language_name("xx") == "xx"


places = st.builds(
    VoterPlace,
    language=st.sampled_from(["en", "es"]),
    area_code=st.sampled_from(["737", "512", "212"]),
    state=st.sampled_from(["TX", "NY", None]),
    calling_zone_key=st.sampled_from(["America/Chicago", "America/New_York", ""]),
    priority=st.integers(0, 3),
    attempts=st.integers(0, 3),
    available_at=st.integers(0, 100).map(lambda h: T0 + timedelta(hours=h)),
)


@given(a=places, b=places)
def test_the_order_is_tier_then_language_then_priority_attempts_and_age(
    a: VoterPlace, b: VoterPlace
) -> None:
    first, second = sorted([a, b], key=lambda p: rank_key(AUSTIN, p))
    t1, t2 = tier_of(AUSTIN, first), tier_of(AUSTIN, second)
    assert t1 <= t2
    if t1 == t2 and first.language != second.language:
        assert first.language == "es"  # only a Spanish speaker can take them
    if (t1, first.language) == (t2, second.language):
        assert (first.priority, first.attempts) <= (second.priority, second.attempts)
        if (first.priority, first.attempts) == (second.priority, second.attempts):
            assert first.available_at is not None and second.available_at is not None
            assert first.available_at <= second.available_at
