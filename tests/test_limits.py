"""The campaign file's per-volunteer hourly limits: sane defaults, bad values refused. The
conversation (told when to go on, organizers alerted once) is a scenario on every surface:
tests/scenarios/conversations.py, hourly_limits_stop_a_runaway_account_and_tell_organizers_once."""

from __future__ import annotations

import pytest

from storage.campaign_config import load_campaign_config
from tests.test_campaign_config import campaign_yaml, messages_of, starter_text


def test_limits_have_defaults_and_the_starter_file_sets_them() -> None:
    config = load_campaign_config(campaign_yaml(), "campaign.yml")
    starter = load_campaign_config(starter_text(), "campaign.yml")

    assert (config.limits.claims_per_hour, config.limits.calls_per_hour) == (12, 90)
    assert starter.limits == config.limits


def test_limits_are_read_from_the_file() -> None:
    text = campaign_yaml(limits={"claims_per_hour": 3, "calls_per_hour": 20})

    config = load_campaign_config(text, "campaign.yml")

    assert (config.limits.claims_per_hour, config.limits.calls_per_hour) == (3, 20)


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"claims_per_hour": 0}, "limits.claims_per_hour"),
        ({"calls_per_hour": -5}, "limits.calls_per_hour"),
        ({"calls_per_hour": 1_000_000}, "limits.calls_per_hour"),
        ({"texts_per_hour": 5}, "limits.texts_per_hour"),
    ],
)
def test_bad_limits_are_refused_naming_the_setting(limits: dict[str, int], field: str) -> None:
    assert field in messages_of(campaign_yaml(limits=limits))
