"""A `Reply` as Block Kit messages, a `Form` as a modal, and a submitted modal back as answers.

Slack's limits are kept here, once: 50 blocks a message (a longer reply becomes several
messages, "page i of n"), 3,000 characters a section text (longer text is split over
sections), 10 fields a section, 25 buttons an actions block, 100 options a select (more go into
option groups), 255-character action ids and 2,000-character values (a handler that exceeds
those has a bug: `RenderError`, never a silently broken button). Text that is not ours (names,
notes) is escaped so it cannot mention @channel or fake a link, and anything shaped like a full
phone number is masked before it leaves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.slack.privacy import mask_phone_numbers
from handlers.replies import Button, ButtonStyle, Form, Input, InputKind, Option, Reply, Tone

Block = dict[str, Any]

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
FIELD_TEXT = 2000
FIELDS_PER_SECTION = 10
ACTION_ID = 255
BUTTON_VALUE = 2000
BUTTON_TEXT = 75
BUTTONS_PER_ACTIONS = 25
OPTIONS_PER_SELECT = 100
OPTION_GROUPS = 100
OPTION_TEXT = 75
OPTION_VALUE = 150
CHECKBOX_OPTIONS = 10
LABEL_TEXT = 2000
VIEW_TITLE = 24
PRIVATE_METADATA = 3000
FALLBACK_TEXT = 3000
ALT_TEXT = 2000

TONE_PREFIX = {Tone.INFO: "", Tone.SUCCESS: ":white_check_mark: ", Tone.WARNING: ":warning: "}
CONSENT_VALUE = "yes"  # the one option of a CHECKBOX input


class RenderError(ValueError):
    """A reply or form cannot be expressed in Block Kit (a handler bug, not user input)."""


# --- text -------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack's three control characters, so `<!channel>` or `<http://x|y>` in data stays text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_text(text: str) -> str:
    """What may leave for Slack: escaped, full phone numbers masked."""
    return escape(mask_phone_numbers(text))


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chunks(text: str, limit: int) -> list[str]:
    """Split at line breaks (else spaces, else anywhere but inside an `&amp;`) to fit `limit`."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit + 1)
        if cut > 0:
            pieces.append(text[:cut])
            text = text[cut + 1 :]
            continue
        cut = limit
        entity = text.rfind("&", 0, cut)
        if entity > 0 and ";" not in text[entity:cut]:
            cut = entity  # never split an escaped character
        pieces.append(text[:cut])
        text = text[cut:]
    return [*pieces, text]


def plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": shorten(mask_phone_numbers(text), limit), "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One chat.postMessage / response_url body: the notification text and the blocks."""

    text: str
    blocks: list[Block]

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def render_messages(reply: Reply) -> list[Message]:
    """The reply as one message, or several when it needs more than 50 blocks."""
    units = list(_units(reply))
    pages = _paginate(units, MESSAGE_BLOCKS - 1)  # room for the "page i of n" line
    fallback = shorten(TONE_PREFIX[reply.tone] + safe_text(reply.text), FALLBACK_TEXT)
    if len(pages) == 1:
        return [Message(fallback or " ", pages[0])]
    messages = []
    for number, blocks in enumerate(pages, start=1):
        marker = f"page {number} of {len(pages)}"
        footer = {"type": "context", "elements": [mrkdwn(f"_{marker}_")]}
        text = shorten(f"{fallback} ({marker})", FALLBACK_TEXT)
        messages.append(Message(text, [*blocks, footer]))
    return messages


def reply_blocks(reply: Reply) -> list[Block]:
    """Every block of the reply, unpaginated (App Home and modals have room for 100)."""
    return [block for unit in _units(reply) for block in unit]


def _units(reply: Reply) -> Iterator[list[Block]]:
    """Groups of blocks that stay together on one page: the text, each section, the buttons."""
    head = [*_text_blocks(TONE_PREFIX[reply.tone] + reply.text)]
    if reply.image_url:
        head.append(_image(reply.image_url, reply.text))
    if head:
        yield head
    for index, section in enumerate(reply.sections):
        blocks: list[Block] = [{"type": "divider"}] if head or index else []
        text_blocks = _text_blocks(section.text)
        facts = [_field(fact.label, fact.value) for fact in section.facts]
        fact_groups = [
            facts[i : i + FIELDS_PER_SECTION] for i in range(0, len(facts), FIELDS_PER_SECTION)
        ]
        if text_blocks and fact_groups:
            text_blocks[-1]["fields"] = fact_groups.pop(0)
        blocks += text_blocks
        blocks += [{"type": "section", "fields": group} for group in fact_groups]
        blocks += _actions(section.buttons)
        yield blocks
    if reply.buttons:
        yield _actions(reply.buttons)


def _text_blocks(text: str) -> list[Block]:
    if not text.strip():
        return []
    return [
        {"type": "section", "text": mrkdwn(piece)}
        for piece in chunks(safe_text(text), SECTION_TEXT)
    ]


def _field(label: str, value: str) -> dict[str, Any]:
    text = f"*{safe_text(label)}*\n{safe_text(value)}"
    return mrkdwn(shorten(text, FIELD_TEXT))


def _image(url: str, alt: str) -> Block:
    return {"type": "image", "image_url": url, "alt_text": shorten(alt or "image", ALT_TEXT)}


def _actions(buttons: Sequence[Button]) -> list[Block]:
    """Actions blocks of at most 25 buttons; a repeated action id gets a `#n` suffix."""
    blocks = []
    for start in range(0, len(buttons), BUTTONS_PER_ACTIONS):
        group = buttons[start : start + BUTTONS_PER_ACTIONS]
        blocks.append({"type": "actions", "elements": [*_buttons(group)]})
    return blocks


def _buttons(buttons: Sequence[Button]) -> Iterator[dict[str, Any]]:
    seen: dict[str, int] = {}
    for button in buttons:
        count = seen[button.action_id] = seen.get(button.action_id, 0) + 1
        action_id = button.action_id if count == 1 else f"{button.action_id}#{count}"
        yield _button(button, action_id)


def _button(button: Button, action_id: str) -> dict[str, Any]:
    _check_length("action id", action_id, ACTION_ID)
    _check_length("button value", button.value, BUTTON_VALUE)
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": plain(button.label, BUTTON_TEXT),
    }
    if button.value:
        element["value"] = button.value
    if button.style is not ButtonStyle.DEFAULT:
        element["style"] = str(button.style)
    return element


def action_id_of(slack_action_id: str) -> str:
    """The handler's action id: without the `#n` that keeps repeated ids unique in a block."""
    return slack_action_id.partition("#")[0]


def _check_length(what: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise RenderError(f"{what} is {len(value)} characters; Slack allows {limit}: {value[:40]}…")


def _paginate(units: Iterable[list[Block]], per_page: int) -> list[list[Block]]:
    pages: list[list[Block]] = [[]]
    for unit in units:
        for piece in (unit[i : i + per_page] for i in range(0, len(unit), per_page)):
            if pages[-1] and len(pages[-1]) + len(piece) > per_page:
                pages.append([])
            pages[-1].extend(piece)
    return pages


# --- modals -----------------------------------------------------------------------------------


def render_modal(
    form: Form, *, intro: str = "", metadata: Mapping[str, Any] | None = None
) -> Block:
    """A modal view for the form; submitting it sends `form.submit_action` as the callback id."""
    _check_length("form action id", form.submit_action, ACTION_ID)
    blocks = [*_text_blocks(intro), *(_input_block(item) for item in form.inputs)]
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
    _check_length("private_metadata", private, PRIVATE_METADATA)
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
    _check_length("input id", item.id, ACTION_ID)
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
    _check_length("option value", option.value, OPTION_VALUE)
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
