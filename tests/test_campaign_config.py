"""Campaign files: what loads, and how every problem is reported with its line and field."""

from __future__ import annotations

import textwrap
from datetime import date, time
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from storage.campaign_config import (
    CampaignConfig,
    CampaignConfigError,
    ResultAction,
    ResultKind,
    TimeWindow,
    campaign_config_notes,
    load_campaign_config,
    validate_campaign_data,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "campaign.yml"


def starter_text() -> str:
    return (files("bot") / "templates" / "campaign.yml").read_text(encoding="utf-8")


def campaign_data(**overrides: Any) -> dict[str, Any]:
    """The smallest valid campaign, as plain data; keyword arguments replace top-level keys."""
    data: dict[str, Any] = {
        "slug": "test",
        "name": "Test Campaign",
        "caller_id": "+12025550123",
        "scripts": {"en": "Hi {{ first_name }}"},
        "result_codes": [
            {"code": "talked", "label": "Talked", "kind": "contact", "keypad": 1},
            {"code": "dnc", "label": "Do not call", "kind": "terminal", "action": "dnc"},
        ],
        "calling_hours": {"mon": "09:00-20:00"},
    }
    data.update(overrides)
    return data


def campaign_yaml(**overrides: Any) -> str:
    return yaml.safe_dump(campaign_data(**overrides), sort_keys=False)


def problems_of(text: str) -> list[tuple[int | None, str]]:
    """(line, field) of every problem the loader reports for `text`."""
    with pytest.raises(CampaignConfigError) as raised:
        load_campaign_config(text, "campaign.yml")
    return [(p.line, p.field) for p in raised.value.problems]


def messages_of(text: str) -> dict[str, str]:
    with pytest.raises(CampaignConfigError) as raised:
        load_campaign_config(text, "campaign.yml")
    return {p.field: p.message for p in raised.value.problems}


# --- Files that load ---------------------------------------------------------------------------


def test_the_example_campaign_loads() -> None:
    config = load_campaign_config(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
    assert config.slug == "demo"
    assert set(config.scripts) == {"en", "es"}
    assert all("{{ polling_place" in script for script in config.scripts.values())
    assert 2 <= len(config.survey) <= 3
    assert len(config.training) == 1 and len(config.training[0].quiz) == 2
    assert config.requires_training
    codes = {code.code for code in config.result_codes}
    assert {"talked", "refused", "no_answer", "busy", "left_message", "wrong_number"} <= codes
    assert {"do_not_call", "language_barrier", "moved"} <= codes
    assert all(code.keypad is not None for code in config.result_codes)
    assert all(config.calling_hours.window_for(day) for day in range(7))
    assert config.goals
    assert campaign_config_notes(config) == []


def test_the_starter_file_loads_with_safe_defaults() -> None:
    config = load_campaign_config(starter_text(), "campaign.yml")
    assert config.recording is False
    assert config.caller_id == "+12025550123"
    assert config.result_code("do_not_call") is not None
    assert config.result_code("do_not_call").action is ResultAction.DNC  # type: ignore[union-attr]
    assert campaign_config_notes(config) == []


def test_the_starter_file_explains_the_legal_rules() -> None:
    text = starter_text()
    assert "08:00-21:00" in text
    assert "consent" in text
    assert "do-not-call" in text


def test_caller_id_is_normalized_to_e164() -> None:
    config = load_campaign_config(campaign_yaml(caller_id="(202) 555-0123"))
    assert config.caller_id == "+12025550123"


def test_an_unquoted_caller_id_number_is_read_as_a_phone_number() -> None:
    config = load_campaign_config(campaign_yaml().replace("'+12025550123'", "2025550123"))
    assert config.caller_id == "+12025550123"


def test_yaml_1_1_surprises_stay_text() -> None:
    text = campaign_yaml(calling_hours={}) + textwrap.dedent(
        """\
        survey:
          - id: support
            question: Will you vote?
            choices:
              - Yes
              - No
        goals:
          - metric: contacts
            target: 5
            deadline: 2026-11-03
        """
    )
    text = text.replace("calling_hours: {}", "calling_hours:\n  mon: 9:00-17:00\n  tue: off")
    config = load_campaign_config(text)
    assert config.survey[0].choices == ("Yes", "No")
    assert config.calling_hours.mon == TimeWindow(start=time(9, 0), end=time(17, 0))
    assert config.calling_hours.tue is None
    assert config.goals[0].deadline == date(2026, 11, 3)


def test_24_00_closes_the_day() -> None:
    config = load_campaign_config(campaign_yaml(calling_hours={"sun": "12:00-24:00"}))
    assert config.calling_hours.sun is not None
    assert config.calling_hours.sun.end == time(23, 59, 59)


def test_a_stored_dump_validates_again() -> None:
    config = load_campaign_config(EXAMPLE.read_text(encoding="utf-8"))
    assert validate_campaign_data(config.model_dump(mode="json")) == config


# --- Every problem, with its line ----------------------------------------------------------------

SEVERAL_PROBLEMS = textwrap.dedent(
    """\
    slug: Not A Slug
    name: Broken
    caller_id: "+1 555 010 0000"
    time_zone: Mars/Olympus_Mons
    scripts:
      en: Hello {{ first_name
    result_codes:
      - {code: talked, label: Talked, kind: contact, keypad: 1}
      - {code: talked, label: Again, kind: sometimes, keypad: 1}
      - code: dnc
        label: Do not call
        kind: terminal
        action: dnc
        colour: red
    calling_hours:
      mon: 20:00-09:00
      tue: all day
    batch_size: 500
    leaderbord: {}
    """
)


def test_an_invalid_file_lists_every_problem_with_line_and_field() -> None:
    assert problems_of(SEVERAL_PROBLEMS) == [
        (1, "slug"),
        (3, "caller_id"),
        (4, "time_zone"),
        (6, "scripts.en"),
        (9, "result_codes.1.code"),
        (9, "result_codes.1.keypad"),
        (9, "result_codes.1.kind"),
        (14, "result_codes.2.colour"),
        (16, "calling_hours.mon"),
        (17, "calling_hours.tue"),
        (18, "batch_size"),
        (19, "leaderbord"),
    ]


def test_problems_render_as_file_line_field_message() -> None:
    with pytest.raises(CampaignConfigError) as raised:
        load_campaign_config(SEVERAL_PROBLEMS, "campaigns/gotv.yml")
    lines = raised.value.lines()
    assert len(lines) == 12
    assert lines[0].startswith("campaigns/gotv.yml:1: slug: ")
    assert (
        "campaigns/gotv.yml:19: leaderbord: unknown setting; did you mean 'leaderboard'?" in lines
    )
    assert str(raised.value) == "\n".join(lines)


def test_a_missing_setting_points_at_its_parent() -> None:
    text = textwrap.dedent(
        """\
        slug: test
        scripts: {en: Hi}
        result_codes:
          - {code: talked, label: Talked, kind: contact}
          - code: dnc
            label: Do not call
            action: dnc
        calling_hours: {mon: 09:00-20:00}
        """
    )
    assert problems_of(text) == [(1, "name"), (1, "caller_id"), (5, "result_codes.1.kind")]
    assert messages_of(text)["name"] == "required, but missing"


@pytest.mark.parametrize(
    "text, line",
    [
        ("slug: a\nname: b: c\n", 2),
        ("slug: a\nscripts:\n  en: hi\n bad: 1\n", 4),
        ("slug: a\nresult_codes: [1, 2\ncalling_hours: {}\n", 3),
        ('slug: a\nname: "unclosed\n', 3),
        ("slug: a\nname: *nowhere\n", 2),
    ],
)
def test_a_yaml_syntax_error_gives_its_line(text: str, line: int) -> None:
    with pytest.raises(CampaignConfigError) as raised:
        load_campaign_config(text, "campaign.yml")
    [problem] = raised.value.problems
    assert problem.line == line
    assert problem.message.startswith("YAML syntax error")
    assert raised.value.lines()[0].startswith(f"campaign.yml:{line}: YAML syntax error")


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("slug: a\nname: bell\x07\n", 2, "unreadable text"),
        ("slug: a\nname: !!python/object:os.system x\n", 2, "YAML error: could not determine"),
        ("slug: !!int ten\n", None, "YAML value error"),
    ],
)
def test_text_yaml_cannot_read_is_one_problem(text: str, line: int | None, words: str) -> None:
    with pytest.raises(CampaignConfigError) as raised:
        load_campaign_config(text)
    [problem] = raised.value.problems
    assert (problem.line, problem.field) == (line, "")
    assert words in problem.message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just words\n"])
def test_a_file_that_is_not_a_mapping_is_one_problem(text: str) -> None:
    assert problems_of(text) == [(1, "")]


@pytest.mark.parametrize("caller_id", ["+1 555 010 0000", "12345", "call us", "+999 123"])
def test_a_bad_caller_id_is_reported_at_its_line(caller_id: str) -> None:
    text = campaign_yaml(caller_id=caller_id)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("caller_id:"))
    assert problems_of(text) == [(line, "caller_id")]
    assert "phone number" in messages_of(text)["caller_id"]


@pytest.mark.parametrize(
    "window, words",
    [
        ("20:00-09:00", "not before its end"),
        ("09:00-09:00", "not before its end"),
        ("9am-5pm", "not a window"),
        ("09:00", "not a window"),
        ("25:00-26:00", "does not exist"),
        ("09:75-10:00", "does not exist"),
    ],
)
def test_a_bad_time_window_is_reported(window: str, words: str) -> None:
    text = campaign_yaml(calling_hours={"mon": "09:00-17:00", "wed": window})
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.strip().startswith("wed:"))
    assert problems_of(text) == [(line, "calling_hours.wed")]
    assert words in messages_of(text)["calling_hours.wed"]


def test_an_unknown_time_zone_is_reported() -> None:
    assert "IANA" in messages_of(campaign_yaml(time_zone="Eastern"))["time_zone"]


def test_duplicate_result_codes_and_keypad_keys_are_reported() -> None:
    codes = campaign_data()["result_codes"] + [
        {"code": "busy", "label": "Busy", "kind": "retry", "keypad": 1},
        {"code": "talked", "label": "Talked again", "kind": "contact"},
    ]
    messages = messages_of(campaign_yaml(result_codes=codes))
    assert set(messages) == {"result_codes.2.keypad", "result_codes.3.code"}
    assert "already used by result_codes.0" in messages["result_codes.3.code"]


def test_duplicate_survey_and_training_ids_are_reported() -> None:
    question = {"id": "support", "question": "Support?", "choices": ["Yes", "No"]}
    module = {"id": "basics", "title": "Basics", "content": "Read the script."}
    text = campaign_yaml(survey=[question, question], training=[module, module])
    assert set(messages_of(text)) == {"survey.1.id", "training.1.id"}


def test_a_result_with_the_dnc_action_is_required() -> None:
    codes = [{"code": "talked", "label": "Talked", "kind": "contact"}]
    assert "action: dnc" in messages_of(campaign_yaml(result_codes=codes))["result_codes"]


def test_a_contact_result_is_required() -> None:
    codes = [{"code": "dnc", "label": "Do not call", "kind": "terminal", "action": "dnc"}]
    assert "kind: contact" in messages_of(campaign_yaml(result_codes=codes))["result_codes"]


def test_the_default_language_needs_a_script() -> None:
    text = campaign_yaml(default_language="es")
    assert "no script for the default language 'es'" in messages_of(text)["default_language"]


def test_a_calendar_with_every_day_closed_is_reported() -> None:
    text = campaign_yaml(calling_hours={"mon": "closed"})
    assert "every day is closed" in messages_of(text)["calling_hours"]


def test_a_bad_cron_schedule_is_reported() -> None:
    text = campaign_yaml(leaderboard={"schedule": "daily at six"})
    assert "cron" in messages_of(text)["leaderboard.schedule"]


def test_a_quiz_answer_must_be_one_of_the_choices() -> None:
    quiz = [{"question": "Q?", "choices": ["a", "b"], "answer": 2}]
    module = {"id": "basics", "title": "Basics", "content": "...", "quiz": quiz}
    assert "training.0.quiz.0" in messages_of(campaign_yaml(training=[module]))


def test_an_unknown_key_is_reported_at_its_line_with_a_suggestion() -> None:
    text = campaign_yaml(attempts={"max_attempts": 3, "min_gap_hour": 4}, recordings=True)
    rows = text.splitlines()
    messages = messages_of(text)
    assert problems_of(text) == [
        (rows.index("  min_gap_hour: 4") + 1, "attempts.min_gap_hour"),
        (rows.index("recordings: true") + 1, "recordings"),
    ]
    assert "did you mean 'min_gap_hours'?" in messages["attempts.min_gap_hour"]
    assert "did you mean 'recording'?" in messages["recordings"]


def test_an_unknown_key_without_a_near_miss_lists_the_allowed_ones() -> None:
    text = campaign_yaml(attempts={"zzz": 1})
    assert "allowed here: max_attempts, min_gap_hours" in messages_of(text)["attempts.zzz"]


def test_a_duplicate_yaml_key_is_reported_with_both_lines() -> None:
    text = campaign_yaml() + "slug: again\n"
    last = len(text.splitlines())
    assert problems_of(text) == [(last, "slug")]
    assert messages_of(text)["slug"] == "duplicate key (also on line 1)"


def test_a_broken_script_template_is_reported() -> None:
    text = campaign_yaml(scripts={"en": "Hi {% if first_name %}{{ first_name }}"})
    assert "template error on line 1" in messages_of(text)["scripts.en"]


def test_a_language_code_must_look_like_one() -> None:
    text = campaign_yaml(scripts={"en": "Hi", "Spanish": "Hola"})
    assert "scripts.Spanish" in messages_of(text)


# --- The model on its own ------------------------------------------------------------------------


def test_the_model_itself_refuses_inconsistent_data() -> None:
    codes = [{"code": "talked", "label": "Talked", "kind": "contact"}]
    with pytest.raises(ValidationError, match="action: dnc"):
        CampaignConfig.model_validate(campaign_data(result_codes=codes))


def test_the_model_keeps_its_public_shape() -> None:
    config = CampaignConfig.model_validate(campaign_data())
    assert config.result_code("talked").kind is ResultKind.CONTACT  # type: ignore[union-attr]
    assert config.calling_hours.window_for(0) is not None
    assert config.calling_hours.window_for(1) is None
    assert config.result_code("nope") is None


# --- Advice ---------------------------------------------------------------------------------------


def test_notes_say_when_hours_reach_past_the_legal_cap() -> None:
    config = load_campaign_config(
        campaign_yaml(
            calling_hours={"mon": "07:00-22:00", "tue": "09:00-20:00", "sat": "21:00-23:00"}
        )
    )
    notes = campaign_config_notes(config)
    assert len(notes) == 2
    assert notes[0].startswith("calling_hours.mon: calls are placed only within 08:00-21:00")
    assert notes[1].startswith("calling_hours.sat: outside 08:00-21:00")


def test_notes_warn_about_recording_and_an_unasked_survey() -> None:
    survey = [{"id": "support", "question": "Support?", "choices": ["Yes", "No"]}]
    notes = campaign_config_notes(
        load_campaign_config(campaign_yaml(recording=True, survey=survey))
    )
    assert any(note.startswith("survey:") for note in notes)
    assert any(note.startswith("recording:") and "consent" in note for note in notes)


@pytest.mark.parametrize(("size", "valid"), [(50, True), (51, False)])
def test_batch_size_is_capped_at_fifty_households(size: int, valid: bool) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("batch_size: 20", f"batch_size: {size}")
    if valid:
        assert load_campaign_config(text).batch_size == size
        return
    with pytest.raises(CampaignConfigError) as raised:
        load_campaign_config(text)
    assert [p.field for p in raised.value.problems] == ["batch_size"]
