"""Call results as CSV, one row per call attempt, for bulk upload back into a voter file.

The fixed columns are CamelCase (`VanID`, `FirstName`, ...) like a VAN export, so they never
collide with survey question ids, which the campaign config keeps lower-case. After them comes
one column per survey question of the config, then one per answer key found in the attempts but
no longer in the config (a question since removed), so no answer is silently dropped.

Rows are streamed from the database (`yield_per`: a server-side cursor on PostgreSQL) and
written as they come, so memory stays flat whatever the campaign's size.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import ColumnElement, Select, func, select, true
from sqlmodel import Session, col

from storage.attempts import was_rung
from storage.campaign_config import CampaignConfig
from storage.models import CallAttempt, Campaign, Volunteer, Voter

FIXED_BEFORE_SURVEY = (
    "VanID",
    "FirstName",
    "LastName",
    "Phone",
    "Volunteer",
    "Time",
    "ResultCode",
    "ResultLabel",
)
FIXED_AFTER_SURVEY = ("Notes",)
STREAM_CHUNK = 1000


@dataclass(frozen=True)
class ExportColumns:
    """The header of a results export: fixed columns around the survey answer columns."""

    survey_keys: tuple[str, ...]  # config questions first, then answer keys no longer in it

    @property
    def header(self) -> list[str]:
        return [*FIXED_BEFORE_SURVEY, *map(_survey_header, self.survey_keys), *FIXED_AFTER_SURVEY]


def parse_since(text: str) -> datetime:
    """`YYYY-MM-DD` (midnight UTC) or an ISO 8601 timestamp (UTC unless it has an offset)."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 timestamp") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC to the second, with a `Z`: `2026-11-03T15:00:00Z`."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def export_columns(
    session: Session, campaign: Campaign, config: CampaignConfig, since: datetime | None = None
) -> ExportColumns:
    """The config's questions, then every other answer key present in the exported attempts."""
    configured = tuple(question.id for question in config.survey)
    found = _survey_keys(session, _attempt_filter(campaign, since))
    extra = tuple(sorted(found.difference(configured)))
    return ExportColumns(survey_keys=configured + extra)


def result_rows(
    session: Session,
    campaign: Campaign,
    config: CampaignConfig,
    columns: ExportColumns,
    since: datetime | None = None,
) -> Iterator[list[str]]:
    """The export's data rows in time order, streamed from the database."""
    labels = {code.code: code.label for code in config.result_codes}
    statement = _rows_statement(campaign, since).execution_options(yield_per=STREAM_CHUNK)
    for row in session.execute(statement):
        yield _format_row(row, columns.survey_keys, labels)


def write_results(
    session: Session,
    campaign: Campaign,
    config: CampaignConfig,
    out: IO[str],
    since: datetime | None = None,
) -> int:
    """Write the header and every row to `out`; return the number of data rows."""
    columns = export_columns(session, campaign, config, since)
    writer = csv.writer(out)
    writer.writerow(columns.header)
    count = 0
    for row in result_rows(session, campaign, config, columns, since):
        writer.writerow(row)
        count += 1
    return count


@contextmanager
def atomic_text_file(path: Path) -> Iterator[IO[str]]:
    """A UTF-8 text file (no newline translation, for `csv`) that appears at `path` complete, or not at all.

    Written to a temporary file in the same directory and renamed over `path` on success (a
    rename within one file system is atomic); on any error the temporary file is removed and an
    existing `path` is left as it was. The file is created owner-only (0600, `mkstemp`'s mode):
    it holds voters' names and phones.
    """
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _attempt_filter(campaign: Campaign, since: datetime | None) -> list[ColumnElement[bool]]:
    conditions = [
        col(CallAttempt.campaign_id) == campaign.id,
        # A voter counted as dialed is a voter who was rung (storage/attempts.py).
        was_rung(
            col(CallAttempt.call_sid), col(CallAttempt.call_status), col(CallAttempt.result_code)
        ),
    ]
    if since is not None:
        conditions.append(col(CallAttempt.started_at) >= since)
    return conditions


def _rows_statement(campaign: Campaign, since: datetime | None) -> Select[Any]:
    return (
        select(
            col(Voter.external_id),
            col(Voter.first_name),
            col(Voter.last_name),
            col(Voter.phone),
            col(Volunteer.name),
            col(CallAttempt.started_at),
            col(CallAttempt.result_code),
            col(CallAttempt.survey),
            col(CallAttempt.notes),
        )
        .join(Voter, col(Voter.id) == col(CallAttempt.voter_id))
        .outerjoin(Volunteer, col(Volunteer.id) == col(CallAttempt.volunteer_id))
        .where(*_attempt_filter(campaign, since))
        .order_by(col(CallAttempt.started_at), col(CallAttempt.id))
    )


def _survey_keys(session: Session, conditions: Sequence[ColumnElement[bool]]) -> set[str]:
    """Distinct answer keys over the attempts, computed in the database (JSON set functions)."""
    survey = col(CallAttempt.survey)
    if session.get_bind().dialect.name == "postgresql":
        keys = func.jsonb_each(survey).table_valued("key")
        conditions = [*conditions, func.jsonb_typeof(survey) == "object"]
    else:
        keys = func.json_each(survey).table_valued("key")
    statement = (
        select(keys.c.key).select_from(CallAttempt).join(keys, true()).where(*conditions).distinct()
    )
    return {str(key) for key in session.execute(statement).scalars()}


def _survey_header(key: str) -> str:
    # Only a key no campaign config would allow (question ids are lower-case) can clash.
    return f"survey.{key}" if key in FIXED_BEFORE_SURVEY + FIXED_AFTER_SURVEY else key


def _format_row(row: Any, survey_columns: Sequence[str], labels: dict[str, str]) -> list[str]:
    answers: dict[str, Any] = row.survey if isinstance(row.survey, dict) else {}
    return [
        row.external_id or "",
        row.first_name,
        row.last_name,
        row.phone,
        row.name or "",
        format_time(row.started_at),
        row.result_code or "",
        labels.get(row.result_code or "", ""),
        *(_cell(answers.get(key)) for key in survey_columns),
        row.notes,
    ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
