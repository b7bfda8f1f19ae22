"""A campaign's configuration: the YAML an organizer writes, validated by pydantic.

`load_campaign_config` (below the models) turns YAML text into a `CampaignConfig` or raises
`CampaignConfigError` listing every problem with its line and field.
"""

from __future__ import annotations

import re
from datetime import date, time
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


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
        match = _WINDOW.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a window like '09:00-20:30'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        end = time(23, 59, 59) if (h2, m2) == (24, 0) else time(h2, m2)
        return cls(start=time(h1, m1), end=end)


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
            if value.strip().lower() in ("closed", "none", "off", ""):
                return None
            return TimeWindow.parse(value)
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
    label: str
    kind: ResultKind
    action: ResultAction | None = None
    keypad: int | None = Field(default=None, ge=0, le=9)  # key pressed in a calling session
    survey: bool = False  # whether the survey is asked with this result


class SurveyQuestion(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    question: str
    choices: tuple[str, ...] = Field(min_length=1)
    required: bool = False


class QuizQuestion(_Strict):
    question: str
    choices: tuple[str, ...] = Field(min_length=2)
    answer: int = Field(ge=0)  # index into choices

    @model_validator(mode="after")
    def _answer_is_a_choice(self) -> QuizQuestion:
        if self.answer >= len(self.choices):
            raise ValueError(f"answer {self.answer} is not one of the {len(self.choices)} choices")
        return self


class TrainingModule(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    title: str
    content: str
    quiz: tuple[QuizQuestion, ...] = ()
    pass_score: float = Field(default=1.0, ge=0, le=1)  # share of quiz answers to get right


class AttemptRules(_Strict):
    max_attempts: int = Field(default=3, ge=1, le=50)
    min_gap_hours: float = Field(default=4, ge=0)


class LeaderboardConfig(_Strict):
    schedule: str | None = "0 18 * * *"  # cron, in the campaign's time zone; None: never posted
    channel: str | None = None
    metric: str = Field(default="contacts", pattern=r"^(dials|contacts|shifts|streak)$")


class GoalConfig(_Strict):
    metric: str = Field(pattern=r"^(dials|contacts|surveys|volunteers|shifts)$")
    target: int = Field(gt=0)
    scope: str = "campaign"
    deadline: date | None = None


class CampaignConfig(_Strict):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    caller_id: str
    time_zone: str = "America/New_York"  # where the campaign's own times (shifts, boards) are
    default_language: str = "en"
    scripts: dict[str, str] = Field(min_length=1)  # language -> Jinja2 template
    survey: tuple[SurveyQuestion, ...] = ()
    result_codes: tuple[ResultCode, ...] = Field(min_length=1)
    training: tuple[TrainingModule, ...] = ()
    calling_hours: CallingHours
    batch_size: int = Field(default=20, ge=1, le=100)
    batch_lease_minutes: int = Field(default=30, ge=1, le=24 * 60)
    attempts: AttemptRules = AttemptRules()
    leaderboard: LeaderboardConfig = LeaderboardConfig()
    goals: tuple[GoalConfig, ...] = ()
    manual_dialing: bool = False  # show volunteers the voter's full number to dial themselves
    recording: bool = False  # off by default: all-party consent states (REFERENCE.md)

    def result_code(self, code: str) -> ResultCode | None:
        return next((r for r in self.result_codes if r.code == code), None)
