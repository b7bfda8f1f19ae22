"""Slack's Block Kit limits as a checker for any recorded payload (messages, modals, App Home).

Used by the render tests and on every payload the scenario tests send to the fake Slack API, so
a reply that grows past a limit fails a test instead of failing in a workspace.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

LIMITS = {
    "message_blocks": 50,
    "view_blocks": 100,
    "section_text": 3000,
    "field_text": 2000,
    "fields": 10,
    "actions_elements": 25,
    "action_id": 255,
    "button_value": 2000,
    "button_text": 75,
    "options": 100,
    "option_text": 75,
    "option_value": 150,
    "view_title": 24,
    "private_metadata": 3000,
}


def block_kit_problems(payload: Mapping[str, Any]) -> list[str]:
    """Every limit the payload (a message body, or one holding a `view`) breaks."""
    view = payload.get("view")
    if isinstance(view, Mapping):
        return _view_problems(view)
    blocks = payload.get("blocks") or []
    problems = [] if len(blocks) <= LIMITS["message_blocks"] else [f"{len(blocks)} blocks"]
    return problems + [p for block in blocks for p in _block_problems(block)]


def _view_problems(view: Mapping[str, Any]) -> list[str]:
    blocks = view.get("blocks") or []
    problems = [] if len(blocks) <= LIMITS["view_blocks"] else [f"{len(blocks)} view blocks"]
    for key in ("title", "submit", "close"):
        text = (view.get(key) or {}).get("text", "")
        if len(text) > LIMITS["view_title"]:
            problems.append(f"view {key} {len(text)} chars")
    if len(view.get("private_metadata", "")) > LIMITS["private_metadata"]:
        problems.append("private_metadata too long")
    return problems + [p for block in blocks for p in _block_problems(block)]


def _block_problems(block: Mapping[str, Any]) -> Iterator[str]:
    text = (block.get("text") or {}).get("text", "")
    if len(text) > LIMITS["section_text"]:
        yield f"{block['type']} text {len(text)} chars"
    fields = block.get("fields") or []
    if len(fields) > LIMITS["fields"]:
        yield f"{len(fields)} fields"
    for field in fields:
        if len(field["text"]) > LIMITS["field_text"]:
            yield f"field {len(field['text'])} chars"
    elements = block.get("elements") or []
    if block.get("type") == "actions":
        if len(elements) > LIMITS["actions_elements"]:
            yield f"{len(elements)} actions"
        repeated = [a for a, n in Counter(e.get("action_id") for e in elements).items() if n > 1]
        if repeated:
            yield f"repeated action ids in one block: {repeated}"
    for element in [*elements, block.get("element") or {}, block.get("accessory") or {}]:
        yield from _element_problems(element)


def _element_problems(element: Mapping[str, Any]) -> Iterator[str]:
    if len(element.get("action_id", "")) > LIMITS["action_id"]:
        yield f"action id {len(element['action_id'])} chars"
    if element.get("type") == "button":
        if len(element.get("value", "")) > LIMITS["button_value"]:
            yield f"button value {len(element['value'])} chars"
        if len(element["text"]["text"]) > LIMITS["button_text"]:
            yield f"button text {len(element['text']['text'])} chars"
    options = element.get("options") or []
    if len(options) > LIMITS["options"]:
        yield f"{len(options)} options"
    for group in element.get("option_groups") or []:
        if len(group["options"]) > LIMITS["options"]:
            yield f"{len(group['options'])} options in a group"
        options = [*options, *group["options"]]
    for option in options:
        if len(option["text"]["text"]) > LIMITS["option_text"]:
            yield "option text too long"
        if len(option["value"]) > LIMITS["option_value"]:
            yield "option value too long"
