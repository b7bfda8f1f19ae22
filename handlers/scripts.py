"""Call scripts: Jinja2 templates that organizers write, filled in a sandbox from the voter.

A template sees the voter both as `voter.first_name` and as bare `first_name`, and every column
the voter file carried under its header and in snake_case (`PollingPlace` -> `polling_place`).
The volunteer is `volunteer.name` / `volunteer_name`, the campaign `campaign.name` /
`campaign_name`. A field that is missing or empty renders as a visible blank (`____`) or as the
template's `default(...)`; a template that fails anyway shows a note instead of the script,
never an error. Phone columns are left out and the card's phone is masked in the result, so a
script cannot leak a voter's number into chat.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Connection, Select, bindparam, func, select

from handlers.masking import scrub_phone
from matching.ranking import language_name
from storage.importing.csv_source import header_key
from storage.importing.voter_columns import PHONE_FIELDS, VOTER_FIELDS
from storage.models import Script

BLANK = "____"
SCRIPT = Script.__table__  # type: ignore[attr-defined]
_PHONE_HEADERS = frozenset(alias for field in PHONE_FIELDS for alias in VOTER_FIELDS[field])


class _Blank(ChainableUndefined):
    """A missing field: a visible blank, falsy, and `default(...)` replaces it."""

    def __str__(self) -> str:
        return BLANK


class _Fields:
    """A record whose fields a template reads as `record.name`; nothing else is reachable."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __str__(self) -> str:
        return str(self._values.get("name", BLANK))


_ENVIRONMENT = SandboxedEnvironment(undefined=_Blank, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True)
class ScriptVoter:
    """What a script may say about the voter on the card."""

    first_name: str
    last_name: str
    language: str
    state: str | None
    zip: str | None
    external_id: str | None
    attributes: Mapping[str, Any]


def snake_case(name: str) -> str:
    """'PollingPlace' -> 'polling_place', 'VanID' -> 'van_id', 'Zip 5' -> 'zip_5'."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name.strip())
    return re.sub(r"[^0-9a-z]+", "_", spaced.lower()).strip("_")


def voter_fields(voter: ScriptVoter) -> dict[str, Any]:
    """The voter's fields by name: the file's columns (raw header and snake_case), then ours."""
    fields: dict[str, Any] = {}
    for header, value in voter.attributes.items():
        if header_key(header) in _PHONE_HEADERS or _empty(value):
            continue
        fields[header] = value
        fields.setdefault(snake_case(header), value)
    ours = {
        "first_name": voter.first_name,
        "last_name": voter.last_name,
        "name": f"{voter.first_name} {voter.last_name}".strip(),
        "language": voter.language,
        "language_name": language_name(voter.language),
        "state": voter.state,
        "zip": voter.zip,
        "external_id": voter.external_id,
        "van_id": fields.get("van_id") or voter.external_id,
    }
    fields.update({key: value for key, value in ours.items() if not _empty(value)})
    return fields


def script_context(voter: ScriptVoter, volunteer_name: str, campaign_name: str) -> dict[str, Any]:
    """Everything a template may use: `voter.x` and bare `x`, the volunteer, the campaign."""
    fields = voter_fields(voter)
    volunteer = {"name": volunteer_name, "first_name": volunteer_name.split(" ")[0]}
    volunteer = {key: value for key, value in volunteer.items() if value}
    context: dict[str, Any] = dict(fields)
    context.update(
        voter=_Fields(fields),
        volunteer=_Fields(volunteer),
        campaign=_Fields({"name": campaign_name}),
    )
    for key, value in volunteer.items():
        context[f"volunteer_{key}"] = value
    context["campaign_name"] = campaign_name
    return context


def render_script(template: str, context: Mapping[str, Any], *, phone: str | None = None) -> str:
    """The filled-in script; `phone` (the card's number) is masked wherever it shows up."""
    try:
        text = _compile(template).render(context)
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        # The sandbox's SecurityError is a TemplateError; the rest are runtime slips in a
        # template that parsed (a division by zero, a bad filter argument).
        reason = str(exc).strip().rstrip(".")
        return f"(The script could not be filled in: {reason}. Ask an organizer to fix it.)"
    return scrub_phone(text, phone) if phone else text


def pick_script(scripts: Mapping[str, str], language: str, default_language: str) -> str:
    """The script in the voter's language when the campaign has one, else the default's."""
    return scripts.get(language) or scripts.get(default_language) or next(iter(scripts.values()))


@lru_cache(maxsize=64)
def _compile(template: str) -> Template:
    return _ENVIRONMENT.from_string(template)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- versions -----------------------------------------------------------------------------------
# The campaign file's scripts are version 1. A broadcast (handlers/broadcasts.py) publishes the
# next version: one `script` row per language, all with the same number, the broadcast's title
# and talking points on each. The newest version is what every card shows; version 1 is written
# down from the file when the first broadcast publishes, so history, diff and revert see it.

SCRIPT_NAME = "campaign"  # `script.name` of the campaign's call script versions
FILE_AUTHOR = "campaign file"


@dataclass(frozen=True)
class PublishedScript:
    """The newest published version of a campaign's script, as the cards show it."""

    version: int
    bodies: tuple[tuple[str, str], ...]  # (language, template)
    title: str
    talking_points: str
    published_at: datetime

    @property
    def scripts(self) -> dict[str, str]:
        return dict(self.bodies)


def latest_script(conn: Connection, campaign_id: int) -> PublishedScript | None:
    """The campaign's newest version published from chat (version 2 on), or None: the cards then
    use the file's scripts as loaded (version 1)."""
    rows = conn.execute(_LATEST, {"campaign_id": campaign_id}).all()
    if not rows or rows[0].version <= 1:
        return None
    first = rows[0]
    return PublishedScript(
        version=int(first.version),
        bodies=tuple((row.language, row.body) for row in rows),
        title=first.title,
        talking_points=first.talking_points,
        published_at=first.created_at,
    )


def script_diff(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """A line diff per language between two versions' bodies ('-' removed, '+' added)."""
    lines: list[str] = []
    for language in sorted(old.keys() | new.keys()):
        before, after = old.get(language, "").splitlines(), new.get(language, "").splitlines()
        changed = [
            line
            for line in difflib.unified_diff(before, after, lineterm="", n=1)
            if not line.startswith(("---", "+++"))
        ]
        if changed:
            lines.append(f"[{language_name(language)}]")
            lines.extend(changed)
    return lines


def _latest_query() -> Select[Any]:
    newest = (
        select(func.max(SCRIPT.c.version))
        .where(SCRIPT.c.campaign_id == bindparam("campaign_id"), SCRIPT.c.name == SCRIPT_NAME)
        .scalar_subquery()
    )
    return (
        select(
            SCRIPT.c.version,
            SCRIPT.c.language,
            SCRIPT.c.body,
            SCRIPT.c.title,
            SCRIPT.c.talking_points,
            SCRIPT.c.created_at,
        )
        .where(
            SCRIPT.c.campaign_id == bindparam("campaign_id"),
            SCRIPT.c.name == SCRIPT_NAME,
            SCRIPT.c.version == newest,
        )
        .order_by(SCRIPT.c.language)
    )


_LATEST = _latest_query()
