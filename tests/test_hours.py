"""Calling hours: the legal cap, window edges, DST, split zones, state caps, zone keys."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.hours import FEDERAL_CAP, STATE_CAPS, check_zone, check_zones, legal_window
from matching.zones import NO_ZONE, NOT_GEOGRAPHIC, callable_keys, calling_zone_key, key_verdict
from storage.campaign_config import CallingHours, TimeWindow

EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
US_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Boise",
    "America/Anchorage",
    "Pacific/Honolulu",
)
# New York's offsets around 2026's DST changes, as an oracle independent of zoneinfo.
SPRING_FORWARD = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 02:00 EST -> 03:00 EDT
FALL_BACK = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 02:00 EDT -> 01:00 EST


def hours(window: str = "00:00-24:00", **overrides: object) -> CallingHours:
    """Calling hours with the same window every day unless overridden."""
    fields: dict[str, object] = {day: window for day in EVERY_DAY}
    fields.update(overrides)
    return CallingHours.model_validate(fields)


def new_york_local(instant: datetime) -> datetime:
    offset = -4 if SPRING_FORWARD <= instant < FALL_BACK else -5
    return (instant + timedelta(hours=offset)).replace(tzinfo=None)


def at_local_new_york(day: date, clock: time) -> datetime:
    """The UTC instant when New York's wall clock shows `clock` on `day` (EST in winter)."""
    naive = datetime.combine(day, clock)
    for offset in (4, 5):
        instant = (naive + timedelta(hours=offset)).replace(tzinfo=UTC)
        if new_york_local(instant) == naive:
            return instant
    raise AssertionError("no such local time")


windows = st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(1, 24 * 60 - 1)).map(
    lambda t: TimeWindow(
        start=time(t[0], t[1]),
        end=time(min(23, (t[0] * 60 + t[1] + t[2]) // 60), (t[0] * 60 + t[1] + t[2]) % 60)
        if t[0] * 60 + t[1] + t[2] < 24 * 60
        else time(23, 59, 59),
    )
)
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (time(7, 59, 59), False),
        (time(8, 0, 0), True),
        (time(20, 59, 59), True),
        (time(21, 0, 0), False),
    ],
)
def test_the_legal_window_includes_8_and_excludes_21(local: time, expected: bool) -> None:
    instant = at_local_new_york(date(2026, 11, 10), local)
    assert check_zone("America/New_York", instant, hours("06:00-23:30")).ok is expected


@given(window=windows, instant=instants, zone=st.sampled_from(US_ZONES))
def test_no_configuration_widens_the_cap(window: TimeWindow, instant: datetime, zone: str) -> None:
    calling = CallingHours(**{day: window for day in EVERY_DAY})
    local = instant.astimezone(ZoneInfo(zone))
    verdict = check_zone(zone, instant, calling)
    inside_cap = FEDERAL_CAP[0] <= local.time() < FEDERAL_CAP[1]
    inside_window = window.start <= local.time() < window.end
    assert verdict.ok is (inside_cap and inside_window)


@settings(max_examples=300)
@given(
    instant=st.one_of(
        st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)),
        # Hours on either side of the two changes, where an offset bug would show.
        st.integers(-48 * 60, 48 * 60).flatmap(
            lambda minutes: st.sampled_from(
                [change + timedelta(minutes=minutes) for change in (SPRING_FORWARD, FALL_BACK)]
            )
        ),
    )
)
def test_new_york_hours_follow_dst_changes(instant: datetime) -> None:
    local = new_york_local(instant)
    expected = time(9) <= local.time() < time(20)
    assert check_zone("America/New_York", instant, hours("09:00-20:00")).ok is expected


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (datetime(2026, 3, 7, 12, 59, tzinfo=UTC), False),  # Saturday 07:59 EST
        (datetime(2026, 3, 8, 12, 0, tzinfo=UTC), True),  # Sunday 08:00 EDT, the same UTC hour
        (datetime(2026, 11, 1, 12, 0, tzinfo=UTC), False),  # Sunday 07:00 EST after fall back
        (datetime(2026, 11, 1, 13, 0, tzinfo=UTC), True),
    ],
)
def test_a_dst_change_moves_the_utc_window(instant: datetime, expected: bool) -> None:
    assert check_zone("America/New_York", instant, hours()).ok is expected


@given(instant=instants, zones=st.lists(st.sampled_from(US_ZONES), min_size=1, max_size=3))
def test_a_split_number_is_callable_only_when_every_zone_is(
    instant: datetime, zones: list[str]
) -> None:
    calling = hours("09:00-20:00")
    expected = all(check_zone(zone, instant, calling).ok for zone in zones)
    assert check_zones(zones, instant, calling).ok is expected


def test_boise_and_los_angeles_share_only_the_later_hours() -> None:
    # 208 numbers may ring in Boise (Mountain) or Los Angeles (Pacific).
    key = calling_zone_key("+12085550100", None, "America/Boise America/Los_Angeles")
    eight_in_boise = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)  # 08:00 MST, 07:00 PST
    assert not key_verdict(key, eight_in_boise, hours()).ok
    assert key_verdict(key, eight_in_boise + timedelta(hours=1), hours()).ok
    eight_pm_in_boise = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)  # 21:00 MST, 20:00 PST
    assert not key_verdict(key, eight_pm_in_boise, hours()).ok


def test_no_zone_at_all_is_never_callable() -> None:
    assert not check_zones([], datetime(2026, 11, 10, 17, tzinfo=UTC), hours()).ok


def test_florida_stops_at_eight_pm() -> None:
    florida = calling_zone_key("+13055550100", "FL", "America/New_York", "33101")
    texas = calling_zone_key("+15125550100", "TX", "America/Chicago", "78701")
    quarter_past_eight = datetime(2026, 11, 11, 1, 15, tzinfo=UTC)  # 20:15 EST, 19:15 CST
    verdict = key_verdict(florida, quarter_past_eight, hours())
    assert not verdict.ok and "08:00-20:00" in verdict.reason
    assert key_verdict(texas, quarter_past_eight, hours()).ok
    assert STATE_CAPS["FL"] == (time(8), time(20))


def test_the_number_picks_the_state_cap_when_the_file_has_no_state() -> None:
    assert calling_zone_key("+13055550100", None, "America/New_York").endswith("|08:00-20:00")


def test_zones_come_per_exchange_for_numbers_without_a_state() -> None:
    assert calling_zone_key("+18502220100", None, "America/New_York").startswith("America/New_York")
    assert calling_zone_key("+18504340100", None, "America/Chicago").startswith("America/Chicago")


def test_the_voter_files_state_wins_over_the_number() -> None:
    # A 212 (New York) number kept after moving to California.
    assert calling_zone_key("+12125550100", "CA", "America/New_York") == "America/Los_Angeles"


def test_a_split_state_keeps_all_its_zones_unless_the_zip_settles_it() -> None:
    assert calling_zone_key("+15125550100", "TX", "America/Chicago") == (
        "America/Chicago America/Denver"
    )
    assert calling_zone_key("+15125550100", "TX", "America/Chicago", "78701") == "America/Chicago"
    assert calling_zone_key("+19155550100", "TX", "America/Denver", "79901") == "America/Denver"
    assert calling_zone_key("+18505550100", "FL", "", "32501") == "America/Chicago|08:00-20:00"


@pytest.mark.parametrize("phone", ["+18005550100", "+18885550100", "+19005550100"])
def test_toll_free_and_premium_numbers_are_not_callable(phone: str) -> None:
    key = calling_zone_key(phone, None, "America/New_York America/Chicago")
    assert key == NO_ZONE
    verdict = key_verdict(key, datetime(2026, 11, 10, 17, tzinfo=UTC), hours())
    assert not verdict.ok and verdict.reason == NOT_GEOGRAPHIC


def test_a_toll_free_number_stays_uncallable_even_with_a_state() -> None:
    assert calling_zone_key("+18445550100", "NY", "") == NO_ZONE


def test_a_number_with_too_many_zones_is_not_geographic() -> None:
    many = "America/New_York America/Chicago America/Denver America/Los_Angeles"
    assert calling_zone_key("+15125550100", None, many) == NO_ZONE


def test_blackout_dates_are_local_dates() -> None:
    calling = hours(blackout_dates=[date(2026, 11, 4)])
    instant = datetime(2026, 11, 3, 23, 0, tzinfo=UTC)  # Nov 3 15:00 in LA, Nov 4 09:00 in Guam
    assert check_zone("America/Los_Angeles", instant, calling).ok
    verdict = check_zone("Pacific/Guam", instant, calling)
    assert not verdict.ok and "blackout date 2026-11-04" in verdict.reason
    assert not check_zone("America/Los_Angeles", instant + timedelta(hours=18), calling).ok


def test_a_closed_day_is_judged_by_the_local_weekday() -> None:
    calling = hours("09:00-20:00", sun="closed")
    saturday = datetime(2026, 11, 7, 15, 0, tzinfo=UTC)  # 10:00 in New York
    assert check_zone("America/New_York", saturday, calling).ok
    verdict = check_zone("America/New_York", saturday + timedelta(days=1), calling)
    assert not verdict.ok and "Sunday" in verdict.reason
    # Late Saturday evening in Los Angeles is already Sunday in UTC: still Saturday's window.
    assert check_zone("America/Los_Angeles", datetime(2026, 11, 8, 2, 30, tzinfo=UTC), calling).ok


def test_hawaii_has_no_dst() -> None:
    summer = datetime(2026, 7, 1, 18, 0, tzinfo=UTC)  # 08:00 HST
    winter = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)  # 08:00 HST
    assert check_zone("Pacific/Honolulu", summer, hours()).ok
    assert check_zone("Pacific/Honolulu", winter, hours()).ok
    assert not check_zone("Pacific/Honolulu", winter - timedelta(seconds=1), hours()).ok


def test_legal_window_narrows_to_the_state_cap() -> None:
    day = date(2026, 11, 10)
    assert legal_window(hours("07:00-22:00"), day) == (time(8), time(21))
    assert legal_window(hours("07:00-22:00"), day, STATE_CAPS["WA"]) == (time(8), time(20))
    assert legal_window(hours("20:30-22:00"), day, STATE_CAPS["WA"]) is None


def test_callable_keys_picks_the_open_ones() -> None:
    keys = ["America/New_York", "America/Los_Angeles", NO_ZONE, "Pacific/Honolulu"]
    noon_in_new_york = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)  # 09:00 in LA, 07:00 HST
    assert callable_keys(keys, noon_in_new_york, hours()) == [
        "America/Los_Angeles",
        "America/New_York",
    ]
