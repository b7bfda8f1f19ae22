"""A `Reply` as Discord messages: embeds for text and facts, a persistent View for its buttons.

Discord's limits are kept here, once: 10 embeds and 6,000 characters of embeds a message, 4,096
characters an embed's text (longer text is split over embeds), 25 fields of 256/1,024
characters, 5 action rows of 5 buttons, 80-character labels and 100-character custom ids. A
reply that does not fit one message becomes several, split between sections, never inside one.

A button's custom id is `pb:<capability>:<verb>:<value>` (the handler's action id and value),
so that it still works after a restart. Buttons of a message all sit below its embeds; when
several sections of one message have buttons, each such section is numbered (`1.` as its
embed's title) and so are its buttons (`1. Call`), so a volunteer can tell whose Call is whose.
Anything shaped like a full phone number is masked before it leaves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.slack.privacy import mask_phone_numbers
from handlers.replies import Button, ButtonStyle, Reply, Section, Tone
from handlers.times import discord_time, render_times

EMBEDS_PER_MESSAGE = 10
EMBED_TOTAL = 6000
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
ROWS = 5
BUTTONS_PER_ROW = 5
BUTTON_LABEL = 80
CUSTOM_ID = 100
COLOURS = {Tone.INFO: 0x5865F2, Tone.SUCCESS: 0x57F287, Tone.WARNING: 0xFEE75C}
TONE_PREFIX = {Tone.INFO: "", Tone.SUCCESS: "✅ ", Tone.WARNING: "⚠️ "}
# pb:<capability>:<verb>[:<value>][#n]: `#n` keeps a repeated id unique within one message.
CUSTOM_ID_PATTERN = r"(?P<action>pb:[a-z0-9_-]+:[a-z0-9_-]+)(?::(?P<value>[^#]*))?(?:#\d+)?"
_CUSTOM_ID = re.compile(CUSTOM_ID_PATTERN)

Embed = dict[str, Any]


class RenderError(ValueError):
    """A reply cannot be expressed on Discord (a handler bug, not user input)."""


@dataclass(frozen=True)
class ButtonSpec:
    label: str
    custom_id: str
    style: ButtonStyle = ButtonStyle.DEFAULT


@dataclass(frozen=True)
class Page:
    """One Discord message: its embeds (as the API's dicts) and its rows of buttons."""

    embeds: list[Embed]
    rows: list[list[ButtonSpec]] = field(default_factory=list)

    @property
    def custom_ids(self) -> set[str]:
        return {button.custom_id for row in self.rows for button in row}


def safe_text(text: str) -> str:
    """What may leave for Discord: full phone numbers masked, times in Discord's markup."""
    return render_times(mask_phone_numbers(text), discord_time)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chunks(text: str, limit: int) -> list[str]:
    """Split at line breaks (else spaces, else anywhere) to fit `limit`."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit + 1)
        if cut <= 0:
            pieces.append(text[:limit])
            text = text[limit:]
            continue
        pieces.append(text[:cut])
        text = text[cut + 1 :]
    return [*pieces, text]


def custom_id_of(action_id: str, value: str) -> str:
    """`pb:<capability>:<verb>:<value>`, checked against Discord's 100 characters."""
    custom_id = f"{action_id}:{value}" if value else action_id
    if len(custom_id) > CUSTOM_ID - 4 or "#" in value or not _CUSTOM_ID.fullmatch(custom_id):
        raise RenderError(f"button {action_id!r} with value {value[:20]!r} is no Discord custom id")
    return custom_id


def parse_custom_id(custom_id: str) -> tuple[str, str] | None:
    """(action id, value) of one of our custom ids; None for anything else."""
    match = _CUSTOM_ID.fullmatch(custom_id)
    if match is None:
        return None
    return match["action"], match["value"] or ""


# --- messages ---------------------------------------------------------------------------------


@dataclass
class _Unit:
    """A section (or the reply's head or tail) as embeds and rows that travel together."""

    embeds: list[Embed]
    buttons: list[Button]

    @property
    def rows(self) -> int:
        return -(-len(self.buttons) // BUTTONS_PER_ROW)

    @property
    def size(self) -> int:
        return sum(embed_length(e) for e in self.embeds)


def render_pages(reply: Reply) -> list[Page]:
    """The reply as one or more messages within Discord's limits."""
    colour = COLOURS[reply.tone]
    head = _Unit(_head(reply, colour), [])
    sections = [_Unit(_section_embeds(s, colour), list(s.buttons)) for s in reply.sections]
    tail = _Unit([], list(reply.buttons))
    units = [
        part
        for unit in (head, *sections, tail)
        if unit.embeds or unit.buttons
        for part in _split(unit)
    ]
    for unit in units:
        if unit.rows > ROWS:
            raise RenderError(f"{len(unit.buttons)} buttons in one section; Discord shows 25")
    pages: list[list[_Unit]] = [[]]
    for unit in units:
        if pages[-1] and not _fits([*pages[-1], unit]):
            pages.append([])
        pages[-1].append(unit)
    rendered = [_page(group) for group in pages if group]
    return rendered or [Page([{"description": "…", "color": colour}])]


def _split(unit: _Unit) -> list[_Unit]:
    """A unit too big for one message as several; its buttons go with the last."""
    if _fits([unit]):
        return [unit]
    parts: list[_Unit] = [_Unit([], [])]
    for embed in unit.embeds:
        if parts[-1].embeds and not _fits([_Unit([*parts[-1].embeds, embed], [])]):
            parts.append(_Unit([], []))
        parts[-1].embeds.append(embed)
    parts[-1].buttons = unit.buttons
    return parts


def _fits(units: list[_Unit]) -> bool:
    embeds = sum(len(u.embeds) for u in units)
    rows = sum(u.rows for u in units)
    return (
        embeds <= EMBEDS_PER_MESSAGE
        and rows <= ROWS
        and sum(u.size for u in units) <= EMBED_TOTAL - 64
    )


def _page(units: list[_Unit]) -> Page:
    """Embeds in order, then one row (or more) per unit with buttons, numbered when several
    sections with buttons share the message."""
    numbered = sum(1 for u in units if u.buttons and u.embeds) > 1
    embeds: list[Embed] = []
    rows: list[list[ButtonSpec]] = []
    seen: dict[str, int] = {}
    number = 0
    for unit in units:
        marker = ""
        if numbered and unit.buttons and unit.embeds:
            number += 1
            marker = f"{number}. "
            unit.embeds[0] = {"title": f"{number}."} | unit.embeds[0]
        embeds.extend(unit.embeds)
        specs = [_spec(button, marker, seen) for button in unit.buttons]
        rows += [specs[i : i + BUTTONS_PER_ROW] for i in range(0, len(specs), BUTTONS_PER_ROW)]
    return Page(embeds, rows)


def _spec(button: Button, marker: str, seen: dict[str, int]) -> ButtonSpec:
    custom_id = custom_id_of(button.action_id, button.value)
    count = seen[custom_id] = seen.get(custom_id, 0) + 1
    if count > 1:
        custom_id = f"{custom_id}#{count}"
    label = shorten(marker + safe_text(button.label), BUTTON_LABEL)
    return ButtonSpec(label, custom_id, button.style)


def _head(reply: Reply, colour: int) -> list[Embed]:
    text = reply.text.strip()
    embeds = [
        {"description": piece, "color": colour}
        for piece in chunks(TONE_PREFIX[reply.tone] + safe_text(text), DESCRIPTION)
        if text and piece.strip()
    ]
    if reply.image_url:
        if not embeds:
            embeds = [{"color": colour}]
        embeds[-1]["image"] = {"url": reply.image_url}
    return embeds


def _section_embeds(section: Section, colour: int) -> list[Embed]:
    pieces = [p for p in chunks(safe_text(section.text), DESCRIPTION) if p.strip()]
    embeds: list[Embed] = [{"description": piece, "color": colour} for piece in pieces]
    fields = [
        {
            "name": shorten(safe_text(fact.label) or "·", FIELD_NAME),
            "value": shorten(safe_text(fact.value) or "·", FIELD_VALUE),
            "inline": True,
        }
        for fact in section.facts
    ]
    for start in range(0, len(fields), FIELDS):
        if embeds and "fields" not in embeds[-1]:
            embeds[-1]["fields"] = fields[start : start + FIELDS]
        else:
            embeds.append({"color": colour, "fields": fields[start : start + FIELDS]})
    if not embeds and section.buttons:
        embeds.append({"description": "·", "color": colour})
    return embeds


def embed_length(embed: Embed) -> int:
    """Characters Discord counts towards a message's 6,000."""
    count = len(embed.get("title", "")) + len(embed.get("description", ""))
    for item in embed.get("fields", []):
        count += len(item["name"]) + len(item["value"])
    return count


def page_text(pages: Sequence[Page]) -> str:
    """Every text of the pages, for logs and tests."""
    parts: list[str] = []
    for page in pages:
        for embed in page.embeds:
            parts += [embed.get("title", ""), embed.get("description", "")]
            parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(p for p in parts if p)
