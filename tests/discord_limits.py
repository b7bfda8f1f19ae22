"""Discord's message and modal limits as a checker for any payload sent to the fake REST API.

Used on every payload the Discord tests send, so a reply or form that grows past a limit fails
a test instead of being refused whole by Discord (400, code 50035).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

LIMITS = {
    "content": 2000,
    "embeds": 10,
    "embed_total": 6000,
    "title": 256,
    "description": 4096,
    "fields": 25,
    "field_name": 256,
    "field_value": 1024,
    "rows": 5,
    "row_buttons": 5,
    "button_label": 80,
    "custom_id": 100,
    "modal_rows": 5,
    "modal_title": 45,
    "label": 45,
    "label_description": 100,
    "options": 25,
    "option_label": 100,
    "option_value": 100,
    "text_display": 4000,
}


def discord_problems(payload: Any) -> list[str]:
    """Every limit the payload (a message, an interaction callback, a modal) breaks."""
    if not isinstance(payload, Mapping):
        return []
    if "type" in payload and "data" in payload and isinstance(payload["data"], Mapping):
        if payload["type"] == 9:
            return _modal_problems(payload["data"])
        return _message_problems(payload["data"])
    return _message_problems(payload)


def _message_problems(message: Mapping[str, Any]) -> list[str]:
    problems = []
    if len(message.get("content") or "") > LIMITS["content"]:
        problems.append("content too long")
    embeds = message.get("embeds") or []
    if len(embeds) > LIMITS["embeds"]:
        problems.append(f"{len(embeds)} embeds")
    total = 0
    for embed in embeds:
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        problems += _too_long(embed, "title", "title") + _too_long(
            embed, "description", "description"
        )
        fields = embed.get("fields") or []
        if len(fields) > LIMITS["fields"]:
            problems.append(f"{len(fields)} fields")
        for item in fields:
            total += len(item["name"]) + len(item["value"])
            problems += _too_long(item, "name", "field_name") + _too_long(
                item, "value", "field_value"
            )
    if total > LIMITS["embed_total"]:
        problems.append(f"{total} characters of embeds")
    rows = message.get("components") or []
    if len(rows) > LIMITS["rows"]:
        problems.append(f"{len(rows)} action rows")
    ids: Counter[str] = Counter()
    for row in rows:
        buttons = row.get("components") or []
        if len(buttons) > LIMITS["row_buttons"]:
            problems.append(f"{len(buttons)} buttons in a row")
        for button in buttons:
            problems += _too_long(button, "label", "button_label") + _too_long(
                button, "custom_id", "custom_id"
            )
            ids[str(button.get("custom_id"))] += 1
    problems += [f"custom id {c!r} repeated" for c, n in ids.items() if n > 1]
    return problems


def _modal_problems(modal: Mapping[str, Any]) -> list[str]:
    problems = _too_long(modal, "title", "modal_title") + _too_long(modal, "custom_id", "custom_id")
    rows = modal.get("components") or []
    if len(rows) > LIMITS["modal_rows"]:
        problems.append(f"{len(rows)} rows in a modal")
    for row in rows:
        if row.get("type") == 10:
            problems += _too_long(row, "content", "text_display")
            continue
        problems += _too_long(row, "label", "label") + _too_long(
            row, "description", "label_description"
        )
        component = row.get("component") or {}
        problems += _too_long(component, "custom_id", "custom_id")
        options = component.get("options") or []
        if len(options) > LIMITS["options"]:
            problems.append(f"{len(options)} options")
        for option in options:
            problems += _too_long(option, "label", "option_label") + _too_long(
                option, "value", "option_value"
            )
    return problems


def _too_long(item: Mapping[str, Any], key: str, limit: str) -> list[str]:
    value = item.get(key)
    if isinstance(value, str) and len(value) > LIMITS[limit]:
        return [f"{key} of {len(value)} characters (Discord allows {LIMITS[limit]}): {value[:30]}…"]
    return []
