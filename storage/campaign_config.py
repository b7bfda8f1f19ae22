"""A campaign's configuration: the YAML an organizer writes, validated by pydantic.

`load_campaign_config` (below the models) turns YAML text into a `CampaignConfig` or raises
`CampaignConfigError` listing every problem with its line and field.

The models check each field; `CampaignConfig` also checks the rules that span fields (unique
result codes and keypad keys, a `contact` and a `dnc` result, a script in the default language
...). Those cross-field rules live in `consistency_problems`, which works on plain data, so the
loader can report them with their lines even when other fields of the same file are wrong.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Mapping
from datetime import date, time
from enum import StrEnum
from typing import Annotated, Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import phonenumbers
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from storage.yaml_lines import ConfigProblem, LineMap, Path, dotted, line_of, parse_yaml

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOSED_WORDS = ("closed", "none", "off", "")
_HTTPS_LINK = re.compile(r"^https://[^\s/:]+\.[^\s/:]+(:\d+)?(/\S*)?$")
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeWindow(_Strict):
    """A daily window in the called party's local time; start included, end excluded."""

    start: time
    end: time

    @model_validator(mode="after")
    def _start_before_end(self) -> TimeWindow:
        if self.start >= self.end:
            raise ValueError(
                f"window starts at {self.start:%H:%M}, not before its end {self.end:%H:%M}"
            )
        return self

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """A window from text like '09:00-20:30' ('24:00' as an end means end of day)."""
        return cls.model_validate(_split_window(text))


def _split_window(text: str) -> dict[str, time]:
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a window like '09:00-20:30' (or 'closed')")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        end = time(23, 59, 59) if (h2, m2) == (24, 0) else time(h2, m2)
        return {"start": time(h1, m1), "end": end}
    except ValueError:
        raise ValueError(f"{text!r} holds a time that does not exist") from None


# The federal cap on calling hours in the called party's local time (47 CFR 64.1200(c)(1)).
LEGAL_WINDOW = TimeWindow(start=time(8, 0), end=time(21, 0))


class CallingHours(_Strict):
    """The campaign's calling window per weekday (None: no calls that day).

    Matching intersects these with the legal 08:00-21:00 cap; they can narrow it, never widen it.
    """

    mon: TimeWindow | None = None
    tue: TimeWindow | None = None
    wed: TimeWindow | None = None
    thu: TimeWindow | None = None
    fri: TimeWindow | None = None
    sat: TimeWindow | None = None
    sun: TimeWindow | None = None
    blackout_dates: tuple[date, ...] = ()

    @field_validator(*WEEKDAYS, mode="before")
    @classmethod
    def _parse_window(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().lower() in CLOSED_WORDS:
                return None
            return _split_window(value)
        return value

    def window_for(self, weekday: int) -> TimeWindow | None:
        """The window for a `date.weekday()` (0 = Monday)."""
        window: TimeWindow | None = getattr(self, WEEKDAYS[weekday])
        return window


class ResultKind(StrEnum):
    CONTACT = "contact"  # talked to the voter: terminal, and counts as a contact
    TERMINAL = "terminal"  # never call again (wrong number, refused, deceased ...)
    RETRY = "retry"  # back to the pool after the minimum gap


class ResultAction(StrEnum):
    DNC = "dnc"  # add the phone to the do-not-call list
    LANGUAGE_BARRIER = "language_barrier"  # re-route to a volunteer who speaks the language heard
    WRONG_NUMBER = "wrong_number"  # the phone is wrong for everyone in the household


class ResultCode(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    label: str = Field(min_length=1)
    kind: ResultKind
    action: ResultAction | None = None
    keypad: int | None = Field(default=None, ge=0, le=9)  # key pressed in a calling session
    survey: bool = False  # whether the survey is asked with this result


class SurveyQuestion(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    question: str = Field(min_length=1)
    choices: tuple[str, ...] = Field(min_length=1)
    required: bool = False


class QuizQuestion(_Strict):
    question: str = Field(min_length=1, max_length=500)
    choices: tuple[Annotated[str, StringConstraints(min_length=1, max_length=75)], ...] = Field(
        min_length=2, max_length=10
    )
    answer: int = Field(ge=0)  # index into choices
    explanation: str | None = Field(default=None, max_length=1000)  # shown after a wrong answer

    @model_validator(mode="after")
    def _answer_is_a_choice(self) -> QuizQuestion:
        if self.answer >= len(self.choices):
            raise ValueError(f"answer {self.answer} is not one of the {len(self.choices)} choices")
        return self


class TrainingModule(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    title: str = Field(min_length=1)
    # Markdown, one text or one per language; a line `---` starts the next step.
    content: str | dict[LanguageCode, str]
    quiz: tuple[QuizQuestion, ...] = Field(default=(), max_length=60)
    pass_score: float = Field(default=1.0, ge=0, le=1)  # share of quiz answers to get right

    @field_validator("content")
    @classmethod
    def _content_in_english(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(value, dict) and "en" not in value:
            raise ValueError("content per language needs an English text ('en') to fall back on")
        return value

    def content_in(self, language: str) -> str:
        """The module's markdown in `language`, else in English."""
        if isinstance(self.content, str):
            return self.content
        return self.content.get(language) or self.content["en"]

    def needed_right(self) -> int:
        """How many quiz answers must be right to pass."""
        return math.ceil(self.pass_score * len(self.quiz) - 1e-9)


class AttemptRules(_Strict):
    max_attempts: int = Field(default=3, ge=1, le=50)
    min_gap_hours: float = Field(default=4, ge=0)


class VolunteerLimits(_Strict):
    """How much one volunteer may take in an hour: a stolen chat account cannot drain the list
    or run up the phone bill. A careful caller makes about 30 calls an hour."""

    claims_per_hour: int = Field(default=12, ge=1, le=1000)
    calls_per_hour: int = Field(default=90, ge=1, le=10_000)


class LeaderboardConfig(_Strict):
    schedule: str | None = "0 18 * * *"  # cron, in the campaign's time zone; None: never posted
    channel: str | None = None
    metric: str = Field(
        default="contacts",
        pattern=r"^(dials|contacts|surveys|pledges|supporters|shifts|streak)$",
    )

    @field_validator("schedule")
    @classmethod
    def _schedule_is_cron(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as exc:
                raise ValueError(
                    f"{value!r} is not a cron schedule like '0 18 * * *' ({exc})"
                ) from None
        return value


class RallyChannel(_Strict):
    """Where a region's rallies are posted."""

    platform: str = Field(default="slack", pattern=r"^(slack|discord|console)$")
    channel: str = Field(min_length=1, max_length=100)  # a channel id, or "#name"
    name: str | None = Field(default=None, max_length=60)  # "Texas"; default: the region code


class RallyConfig(_Strict):
    """Calls for help when a region's callable voters outnumber its callers."""

    channels: dict[str, RallyChannel] = {}  # region (a state, "TX") -> where to post
    min_voters: int = Field(default=100, ge=1)  # a smaller pool needs no rally
    voters_per_caller: int = Field(default=50, ge=1)  # rally when voters > this × callers on
    interval_minutes: int = Field(default=120, ge=5, le=7 * 24 * 60)  # at most once per region


class SurveyMatch(_Strict):
    """A survey answer that counts as a pledge or a supporter: `question` answered with one of
    `answers`."""

    question: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    answers: tuple[str, ...] = Field(min_length=1)


class TeamConfig(_Strict):
    """A team for the leaderboards and goals: members by chat identity (`slack:U123`) or email."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,63}$")
    members: tuple[str, ...] = Field(min_length=1)


class GoalConfig(_Strict):
    metric: str = Field(pattern=r"^(dials|contacts|surveys|pledges|supporters|volunteers|shifts)$")
    target: int = Field(gt=0)
    scope: str = "campaign"
    deadline: date | None = None


CONSISTENCY_ERROR = "campaign_consistency"


class BroadcastConfig(_Strict):
    """Rapid-response broadcasts (handlers/broadcasts.py)."""

    # A broadcast waits until a second organizer approves it; its author cannot.
    two_person_rule: bool = False
    # Where every broadcast is also posted: "slack" or "discord" (or "slack:T123" for one
    # workspace) -> channel id.
    channels: dict[str, str] = {}


class QuestionsConfig(_Strict):
    """Volunteers' questions to organizers (handlers/questions.py)."""

    # The organizers' channel per platform or workspace ("slack", "slack:T123", "discord:GUILD").
    organizers_channels: dict[str, str] = {}
    # A question nobody answered is raised once more after this long.
    reraise_minutes: int = Field(default=10, ge=1, le=24 * 60)


class CampaignConfig(_Strict):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    caller_id: str  # normalized to E.164
    time_zone: str = "America/New_York"  # where the campaign's own times (shifts, boards) are
    default_language: LanguageCode = "en"
    scripts: dict[LanguageCode, str] = Field(min_length=1)  # language -> Jinja2 template
    survey: tuple[SurveyQuestion, ...] = ()
    result_codes: tuple[ResultCode, ...] = Field(min_length=1)
    training: tuple[TrainingModule, ...] = ()
    # Whether `batch` waits for the training to be passed; None: yes, when there are modules.
    training_required: bool | None = None
    training_retry_minutes: int = Field(default=10, ge=0, le=7 * 24 * 60)  # after a failed quiz
    calling_hours: CallingHours
    # At most 50 households: a batch then fits the 5 follow-up messages Slack allows a request.
    batch_size: int = Field(default=20, ge=1, le=50)
    batch_lease_minutes: int = Field(default=30, ge=1, le=24 * 60)
    attempts: AttemptRules = AttemptRules()
    limits: VolunteerLimits = VolunteerLimits()
    leaderboard: LeaderboardConfig = LeaderboardConfig()
    goals: tuple[GoalConfig, ...] = ()
    pledge: SurveyMatch | None = None  # the answer that is a pledge to vote
    supporter: SurveyMatch | None = None  # the answer that makes a supporter
    teams: tuple[TeamConfig, ...] = ()
    manual_dialing: bool = False  # show volunteers the voter's full number to dial themselves
    # How long a logged outcome stays its logger's to edit; after that only organizers may.
    outcome_edit_minutes: int = Field(default=10, ge=0, le=7 * 24 * 60)
    recording: bool = False  # off by default: all-party consent states (REFERENCE.md)
    # A recorded message (mp3 or wav, https) a volunteer may leave on a voter's answering
    # machine with one click; None: no voicemail drop. Nothing else is ever played to a voter.
    voicemail_url: str | None = None
    rally: RallyConfig = RallyConfig()
    # When volunteers are reminded of a shift, in minutes before it starts (24 h and 1 h).
    shift_reminder_minutes: tuple[Annotated[int, Field(ge=1, le=14 * 24 * 60)], ...] = Field(
        default=(24 * 60, 60), max_length=5
    )
    broadcasts: BroadcastConfig = BroadcastConfig()
    questions: QuestionsConfig = QuestionsConfig()

    @field_validator("caller_id", mode="before")
    @classmethod
    def _caller_id_digits_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("caller_id")
    @classmethod
    def _caller_id_is_a_phone_number(cls, value: str) -> str:
        try:
            number = phonenumbers.parse(value, "US")
        except phonenumbers.NumberParseException:
            raise ValueError(f"{value!r} is not a phone number") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError(f"{value!r} is not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("voicemail_url")
    @classmethod
    def _voicemail_is_an_https_link(cls, value: str | None) -> str | None:
        if value is not None and not _HTTPS_LINK.match(value):
            raise ValueError(
                f"{value!r} is not an https:// link to the recording (Twilio fetches it)"
            )
        return value

    @field_validator("time_zone")
    @classmethod
    def _time_zone_is_known(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (like 'America/Chicago')"
            ) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CampaignConfig:
        findings = consistency_problems(self.model_dump(mode="json"))
        if findings:
            details = "; ".join(f"{dotted(path)}: {message}" for path, message in findings)
            raise PydanticCustomError(CONSISTENCY_ERROR, "{details}", {"details": details})
        return self

    @property
    def requires_training(self) -> bool:
        """Whether volunteers must pass the training before their first batch."""
        if self.training_required is None:
            return bool(self.training)
        return self.training_required and bool(self.training)

    def training_module(self, module_id: str) -> TrainingModule | None:
        """The training module called `module_id`, if the campaign has one."""
        return next((m for m in self.training if m.id == module_id), None)

    def result_code(self, code: str) -> ResultCode | None:
        """The result code called `code`, if the campaign has one."""
        return next((r for r in self.result_codes if r.code == code), None)


# --- Rules across fields, on plain data (parsed YAML or a model dump) ---------------------------

Finding = tuple[Path, str]


def consistency_problems(data: Mapping[str, Any]) -> list[Finding]:
    """The cross-field problems of a campaign's data; tolerant of fields that are themselves wrong."""
    return [
        *_duplicates(data, "result_codes", "code"),
        *_duplicates(data, "result_codes", "keypad"),
        *_duplicates(data, "survey", "id"),
        *_duplicates(data, "training", "id"),
        *_duplicate_goals(data),
        *_survey_matches(data),
        *_required_result_kinds(data),
        *_default_language_script(data),
        *_script_templates(data),
        *_some_calling_day(data),
    ]


def _mapping_items(data: Mapping[str, Any], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    items = data.get(key)
    if not isinstance(items, list | tuple):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, Mapping)]


def _duplicates(data: Mapping[str, Any], key: str, field: str) -> Iterator[Finding]:
    first_use: dict[str, int] = {}
    for index, item in _mapping_items(data, key):
        value = item.get(field)
        if value is None:
            continue
        if str(value) in first_use:
            yield (key, index, field), f"{value!r} is already used by {key}.{first_use[str(value)]}"
        else:
            first_use[str(value)] = index


def _duplicate_goals(data: Mapping[str, Any]) -> Iterator[Finding]:
    first_use: dict[tuple[str, str], int] = {}
    for index, goal in _mapping_items(data, "goals"):
        key = (str(goal.get("scope", "campaign")), str(goal.get("metric")))
        if key in first_use:
            yield ("goals", index), f"goals.{first_use[key]} already sets {key[1]} for {key[0]}"
        else:
            first_use[key] = index


def _survey_matches(data: Mapping[str, Any]) -> Iterator[Finding]:
    """`pledge` and `supporter` name a survey question and some of its choices."""
    questions = {
        str(q.get("id")): q.get("choices") or [] for _, q in _mapping_items(data, "survey")
    }
    for key in ("pledge", "supporter"):
        match = data.get(key)
        if not isinstance(match, Mapping):
            continue
        question = str(match.get("question"))
        if question not in questions:
            yield (key, "question"), f"{question!r} is not a survey question"
            continue
        for answer in match.get("answers") or []:
            if answer not in questions[question]:
                yield (key, "answers"), f"{answer!r} is not a choice of {question!r}"


def _required_result_kinds(data: Mapping[str, Any]) -> Iterator[Finding]:
    codes = [item for _, item in _mapping_items(data, "result_codes")]
    if not codes:
        return
    if not any(code.get("kind") == ResultKind.CONTACT for code in codes):
        yield (
            ("result_codes",),
            "no result code has kind: contact, so no call would count as a conversation",
        )
    if not any(code.get("action") == ResultAction.DNC for code in codes):
        yield (
            ("result_codes",),
            "no result code has action: dnc; volunteers must be able to record a do-not-call request",
        )


def _default_language_script(data: Mapping[str, Any]) -> Iterator[Finding]:
    scripts = data.get("scripts")
    language = data.get("default_language", "en")
    if isinstance(scripts, Mapping) and scripts and language not in scripts:
        where: Path = ("default_language",) if "default_language" in data else ("scripts",)
        have = ", ".join(str(key) for key in scripts)
        yield where, f"no script for the default language {language!r} (scripts: {have})"


def _script_templates(data: Mapping[str, Any]) -> Iterator[Finding]:
    scripts = data.get("scripts")
    if not isinstance(scripts, Mapping):
        return
    environment = jinja2.Environment()
    for language, body in scripts.items():
        if not isinstance(body, str):
            continue
        try:
            environment.parse(body)
        except jinja2.TemplateSyntaxError as exc:
            yield (
                ("scripts", language),
                f"template error on line {exc.lineno} of the script: {exc.message}",
            )


def _some_calling_day(data: Mapping[str, Any]) -> Iterator[Finding]:
    hours = data.get("calling_hours")
    if not isinstance(hours, Mapping):
        return
    closed = [
        hours.get(day) is None or str(hours.get(day)).strip().lower() in CLOSED_WORDS
        for day in WEEKDAYS
    ]
    if all(closed):
        yield ("calling_hours",), "every day is closed, so no call would ever be placed"


# --- Loading a campaign file ------------------------------------------------------------------


class CampaignConfigError(ValueError):
    """A campaign file with problems; `problems` holds every one of them, in file order."""

    def __init__(self, problems: list[ConfigProblem], source: str = "<string>") -> None:
        self.problems = sorted(problems, key=lambda p: p.line or 0)
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One `FILE:LINE: field: message` line per problem."""
        return [problem.render(self.source) for problem in self.problems]


def load_campaign_config(text: str, source: str = "<string>") -> CampaignConfig:
    """Parse and validate a campaign file, or raise `CampaignConfigError` with every problem."""
    data, lines, problems = parse_yaml(text)
    if not isinstance(data, Mapping):
        if not problems:
            what = "empty" if data is None else "a list" if isinstance(data, list) else "one value"
            message = f"the file is {what}; it must be a mapping of settings (key: value)"
            problems.append(ConfigProblem(1, "", message))
        raise CampaignConfigError(problems, source)
    try:
        config = validate_campaign_data(data, source, lines)
    except CampaignConfigError as exc:
        raise CampaignConfigError(problems + exc.problems, source) from None
    if problems:  # duplicate keys
        raise CampaignConfigError(problems, source)
    return config


def validate_campaign_data(
    data: Mapping[str, Any], source: str = "<string>", lines: LineMap | None = None
) -> CampaignConfig:
    """Validate already-parsed data (e.g. a stored config), reporting every problem at once."""
    lines = lines or {}
    problems = [
        ConfigProblem(line_of(path, lines), dotted(path), message)
        for path, message in consistency_problems(data)
    ]
    try:
        config = CampaignConfig.model_validate(data)
    except ValidationError as exc:
        # The model's own cross-field error repeats, without lines, what `problems` already says.
        problems += [
            _problem_from(error, lines)
            for error in exc.errors()
            if error["type"] != CONSISTENCY_ERROR or not problems
        ]
        raise CampaignConfigError(problems, source) from None
    if problems:
        raise CampaignConfigError(problems, source)
    return config


def _problem_from(error: Any, lines: LineMap) -> ConfigProblem:
    path: Path = tuple(part for part in error["loc"] if part != "[key]")
    return ConfigProblem(line_of(path, lines), dotted(path), _message_for(error))


def _message_for(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return _unknown_key_message(tuple(error["loc"]))
    if error["type"] == "missing":
        return "required, but missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if not error["type"].startswith(("value_error", "missing")) and isinstance(
        value, str | int | float
    ):
        message += f" (got {value!r})"
    return message


def _unknown_key_message(loc: Path) -> str:
    model = _model_at(loc[:-1])
    if model is None:
        return "unknown setting"
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    if close:
        return f"unknown setting; did you mean {close[0]!r}?"
    return f"unknown setting (allowed here: {', '.join(allowed)})"


def _model_at(path: Path) -> type[BaseModel] | None:
    """The model that validates the mapping at `path` (list indexes skipped)."""
    model: type[BaseModel] | None = CampaignConfig
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _inner_model(field.annotation) if field else None
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _inner_model(argument)
        if found is not None:
            return found
    return None


# --- Advice that is not an error ----------------------------------------------------------------


def campaign_config_notes(config: CampaignConfig) -> list[str]:
    """Things an organizer should know about a valid config (hours past the legal cap, ...)."""
    notes = [
        note for day in WEEKDAYS if (note := _hours_note(day, getattr(config.calling_hours, day)))
    ]
    if config.survey and not any(code.survey for code in config.result_codes):
        notes.append("survey: no result code has survey: true, so the survey is never asked")
    if config.recording:
        notes.append(
            "recording: on. Calls to all-party consent states (CA, DE, FL, IL, MD, MA, MT, NV, NH,"
            " PA, WA) must ask for consent at the start of the call"
        )
    return notes


def _hours_note(day: str, window: TimeWindow | None) -> str | None:
    if window is None:
        return None
    legal = f"{LEGAL_WINDOW.start:%H:%M}-{LEGAL_WINDOW.end:%H:%M}"
    if window.end <= LEGAL_WINDOW.start or window.start >= LEGAL_WINDOW.end:
        return f"calling_hours.{day}: outside {legal} voter local time, so no calls that day"
    if window.start < LEGAL_WINDOW.start or window.end > LEGAL_WINDOW.end:
        return f"calling_hours.{day}: calls are placed only within {legal} voter local time"
    return None
