"""A `Form` as a Slack modal, and a submitted modal back as answers by input id.

Limits: 100 blocks a modal, 24-character titles, 100 options a select (more go into option
groups of 100), 150-character option values, 3,000 characters of private_metadata (where the
form's `value` and the way back to the asker travel).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.slack.render import (
    ACTION_ID,
    TONE_PREFIX,
    VIEW_BLOCKS,
    Block,
    RenderError,
    check_length,
    plain,
    text_blocks,
)
from handlers.replies import Form, Input, InputKind, Option, Reply

VIEW_TITLE = 24
LABEL_TEXT = 2000
OPTIONS_PER_SELECT = 100
OPTION_GROUPS = 100
OPTION_TEXT = 75
OPTION_VALUE = 150
CHECKBOX_OPTIONS = 10
PRIVATE_METADATA = 3000
CONSENT_VALUE = "yes"  # the one option of a CHECKBOX input


def render_modal(
    form: Form, *, intro: str = "", metadata: Mapping[str, Any] | None = None
) -> Block:
    """A modal view for the form; submitting it sends `form.submit_action` as the callback id."""
    check_length("form action id", form.submit_action, ACTION_ID)
    blocks = [*text_blocks(intro), *(_input_block(item) for item in form.inputs)]
    if len(blocks) > VIEW_BLOCKS:
        raise RenderError(f"a modal holds {VIEW_BLOCKS} blocks; this form needs {len(blocks)}")
    private = json.dumps(
        {
            "value": form.value,
            "checkboxes": [i.id for i in form.inputs if i.kind is InputKind.CHECKBOX],
            **(metadata or {}),
        },
        separators=(",", ":"),
    )
    check_length("private_metadata", private, PRIVATE_METADATA)
    return {
        "type": "modal",
        "callback_id": form.submit_action,
        "title": plain(form.title, VIEW_TITLE),
        "submit": plain(form.submit_label, VIEW_TITLE),
        "close": plain("Cancel", VIEW_TITLE),
        "private_metadata": private,
        "blocks": blocks,
    }


def _input_block(item: Input) -> Block:
    check_length("input id", item.id, ACTION_ID)
    block: Block = {
        "type": "input",
        "block_id": item.id,
        "label": plain(item.label, LABEL_TEXT),
        # An unticked consent box is an answer ("no"), so it can never be required.
        "optional": not item.required or item.kind is InputKind.CHECKBOX,
        "element": _element(item),
    }
    if item.hint:
        block["hint"] = plain(item.hint, LABEL_TEXT)
    return block


def _element(item: Input) -> dict[str, Any]:
    initial = item.initial
    if item.kind in (InputKind.TEXT, InputKind.LONG_TEXT):
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": item.id}
        if item.kind is InputKind.LONG_TEXT:
            element["multiline"] = True
        if isinstance(initial, str) and initial:
            element["initial_value"] = initial
        return element
    if item.kind is InputKind.CHECKBOX:
        element = {"type": "checkboxes", "action_id": item.id}
        yes = _option(Option(label="Yes", value=CONSENT_VALUE))
        element["options"] = [yes]
        if initial in (CONSENT_VALUE, ("yes",), "true"):
            element["initial_options"] = [yes]
        return element
    if not item.options:
        raise RenderError(f"input {item.id!r} is a {item.kind} without options")
    chosen = {initial} if isinstance(initial, str) else set(initial or ())
    if item.kind is InputKind.CHOICE:
        element = {"type": "static_select", "action_id": item.id} | _options(item.options)
        first = next((o for o in item.options if o.value in chosen), None)
        if first:
            element["initial_option"] = _option(first)
        return element
    many = len(item.options) <= CHECKBOX_OPTIONS
    kind = "checkboxes" if many else "multi_static_select"
    element = {"type": kind, "action_id": item.id}
    element |= {"options": [_option(o) for o in item.options]} if many else _options(item.options)
    picked = [_option(o) for o in item.options if o.value in chosen]
    if picked:
        element["initial_options"] = picked
    return element


def _options(options: Sequence[Option]) -> dict[str, Any]:
    """`options`, or `option_groups` of 100 when there are more than one select may hold."""
    rendered = [_option(o) for o in options]
    if len(rendered) <= OPTIONS_PER_SELECT:
        return {"options": rendered}
    groups = [
        rendered[i : i + OPTIONS_PER_SELECT] for i in range(0, len(rendered), OPTIONS_PER_SELECT)
    ]
    if len(groups) > OPTION_GROUPS:
        raise RenderError(f"{len(rendered)} options is more than a select can offer")
    return {
        "option_groups": [
            {
                "label": plain(
                    f"{start * OPTIONS_PER_SELECT + 1}–{start * OPTIONS_PER_SELECT + len(group)}",
                    OPTION_TEXT,
                ),
                "options": group,
            }
            for start, group in enumerate(groups)
        ]
    }


def _option(option: Option) -> dict[str, Any]:
    check_length("option value", option.value, OPTION_VALUE)
    return {"text": plain(option.label, OPTION_TEXT), "value": option.value}


# --- submitted modals -------------------------------------------------------------------------


def modal_metadata(view: Mapping[str, Any]) -> dict[str, Any]:
    """What `render_modal` stored in the view's private_metadata."""
    try:
        stored = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        stored = {}
    return stored if isinstance(stored, dict) else {}


def modal_answers(view: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """The answers of a submitted modal by input id (a consent box: "yes" or "no")."""
    checkboxes = set(modal_metadata(view).get("checkboxes", []))
    values = view.get("state", {}).get("values", {})
    answers: dict[str, str | list[str]] = {}
    for block_id, elements in values.items():
        for element in elements.values():
            answers[block_id] = _answer(element, consent=block_id in checkboxes)
    return answers


def _answer(element: Mapping[str, Any], *, consent: bool) -> str | list[str]:
    kind = element.get("type")
    if kind in ("checkboxes", "multi_static_select"):
        chosen = [str(o["value"]) for o in element.get("selected_options") or []]
        if consent:
            return "yes" if CONSENT_VALUE in chosen else "no"
        return chosen
    if kind == "static_select":
        selected = element.get("selected_option") or {}
        return str(selected.get("value", ""))
    return str(element.get("value") or "")


# --- a submission slower than its ack ---------------------------------------------------------


def saving_view(view: Mapping[str, Any]) -> Block:
    """What the modal shows between a fast ack and the handler's answer (no submit button)."""
    return _same_modal(view, [{"type": "section", "text": {"type": "mrkdwn", "text": "Saving…"}}])


def done_view(view: Mapping[str, Any], reply: Reply) -> Block:
    """The modal after a slow submission succeeded: what happened, and Close."""
    return _same_modal(view, text_blocks(TONE_PREFIX[reply.tone] + (reply.text or "Saved.")))


def view_with_errors(view: Mapping[str, Any], errors: Mapping[str, str]) -> Block:
    """The submitted modal again, the answers kept and each problem under its input.

    Slack shows native input errors only in an ack; after a slow answer the modal is updated
    with the problems as text instead, and can be submitted again.
    """
    values = view.get("state", {}).get("values", {})
    blocks: list[Block] = []
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            blocks.append(dict(block))
            continue
        answered: Mapping[str, Any] = next(iter(values.get(block["block_id"], {}).values()), {})
        blocks.append({**block, "element": _keep_answer(block["element"], answered)})
        if block["block_id"] in errors:
            warning = {"type": "mrkdwn", "text": f":warning: {errors[block['block_id']]}"}
            blocks.append({"type": "context", "elements": [warning]})
    stray = [message for key, message in errors.items() if key not in values]
    if stray:
        blocks = [*text_blocks(":warning: " + " ".join(stray)), *blocks]
    return {**_same_modal(view, blocks), "submit": view.get("submit")}


def _keep_answer(element: Mapping[str, Any], answered: Mapping[str, Any]) -> dict[str, Any]:
    """The element with what was submitted as its initial value."""
    kept = {k: v for k, v in element.items() if not k.startswith("initial_")}
    if answered.get("value"):
        kept["initial_value"] = answered["value"]
    if answered.get("selected_option"):
        kept["initial_option"] = answered["selected_option"]
    if answered.get("selected_options"):
        kept["initial_options"] = answered["selected_options"]
    return kept


def _same_modal(view: Mapping[str, Any], blocks: list[Block]) -> Block:
    keep = ("type", "callback_id", "title", "close", "private_metadata")
    return {key: view[key] for key in keep if key in view} | {"blocks": blocks}
