"""A `Reply` as Block Kit messages (modals.py does forms), within Slack's limits.

Slack's limits are kept here, once: 50 blocks a message (a longer reply becomes several
messages, split between sections), 3,000 characters a section text (longer text is split over
sections), 10 fields a section, 25 buttons an actions block, 255-character action ids and
2,000-character values (a handler that exceeds those has a bug: `RenderError`, never a silently
broken button). Text that is not ours (names, notes) is escaped so it cannot mention @channel
or fake a link, and anything shaped like a full phone number is masked before it leaves.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bot.slack.privacy import mask_phone_numbers
from handlers.markdown import RichText
from handlers.replies import Button, ButtonStyle, Reply, Tone
from handlers.times import render_times, slack_time

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
FALLBACK_TEXT = 3000
ALT_TEXT = 2000

TONE_PREFIX = {Tone.INFO: "", Tone.SUCCESS: ":white_check_mark: ", Tone.WARNING: ":warning: "}


class RenderError(ValueError):
    """A reply or form cannot be expressed in Block Kit (a handler bug, not user input)."""


# --- text -------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack's three control characters, so `<!channel>` or `<http://x|y>` in data stays text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_text(text: str) -> str:
    """What may leave for Slack: escaped, full phone numbers masked, times in Slack's markup."""
    return render_times(escape(mask_phone_numbers(text)), slack_time)


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
    """One chat.postMessage / response_url body, holding sections `first`..`last` of its reply."""

    text: str
    blocks: list[Block]
    first: int = 0
    last: int = 0

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


@dataclass(frozen=True)
class Page:
    """Which reply and which of its sections a message shows, read back from a pressed button."""

    update_key: str
    first: int
    last: int
    total: int  # sections the reply had then: a page that held them all is the whole reply

    @property
    def whole(self) -> bool:
        return self.first == 0 and self.last >= self.total


def render_messages(reply: Reply, page: Page | None = None) -> list[Message]:
    """The reply as messages of at most 50 blocks; with `page`, only that page's sections.

    A long reply is split between sections, never inside one, and each message says which
    sections it holds (in its buttons' block ids): when a button on one page answers with the
    whole reply again (`update_key`), the adapter replaces just that page with the same sections.
    """
    count = len(reply.sections)
    partial = page is not None and not page.whole
    first, last = (page.first, min(page.last, count)) if page and partial else (0, count)
    head = _head(reply) if first == 0 else []
    units = [(i, _section_blocks(reply, i)) for i in range(first, last)]
    tail = _actions(reply.buttons) if last >= count else []
    if len(head) + sum(len(u) for _, u in units) + len(tail) <= MESSAGE_BLOCKS:
        pages = [(first, last, [*head, *(b for _, u in units for b in u), *tail])]
    else:
        pages = _pack(head, units, tail, first, last, MESSAGE_BLOCKS - 1)  # room for a footer
    fallback = shorten(TONE_PREFIX[reply.tone] + safe_text(reply.text), FALLBACK_TEXT) or " "
    messages = []
    for start, end, blocks in pages:
        stamped = _stamp(blocks, reply.update_key or "", start, end, count)
        if len(pages) > 1 or partial:
            span = f"{start + 1}–{end} of {count}" if end > start else f"{count} of {count}"
            stamped.append({"type": "context", "elements": [mrkdwn(f"_{span}_")]})
            messages.append(
                Message(shorten(f"{fallback} ({span})", FALLBACK_TEXT), stamped, start, end)
            )
        else:
            messages.append(Message(fallback, stamped, start, end))
    return messages


def page_of(block_id: str) -> Page | None:
    """The page a button's block id names (see `render_messages`), if it is one of ours."""
    key, *numbers = block_id.rsplit("|", 4)
    if len(numbers) != 4 or not all(n.isdigit() for n in numbers):
        return None
    return Page(key, int(numbers[0]), int(numbers[1]), int(numbers[2]))


def reply_blocks(reply: Reply) -> list[Block]:
    """Every block of the reply, unpaginated (App Home and modals have room for 100)."""
    units = [_section_blocks(reply, i) for i in range(len(reply.sections))]
    blocks = [*_head(reply), *(b for unit in units for b in unit), *_actions(reply.buttons)]
    count = len(reply.sections)
    return _stamp(blocks, reply.update_key or "", 0, count, count)


def _head(reply: Reply) -> list[Block]:
    head = text_blocks(TONE_PREFIX[reply.tone] + reply.text)
    if reply.image_url:
        head.append(_image(reply.image_url, reply.text))
    return head


def _section_blocks(reply: Reply, index: int) -> list[Block]:
    """One section: a divider, its text (split if long), its facts as fields, its buttons."""
    section = reply.sections[index]
    has_head = bool(reply.text.strip() or reply.image_url)
    blocks: list[Block] = [{"type": "divider"}] if has_head or index else []
    body = _rich_blocks(section.rich) if section.rich else text_blocks(section.text)
    facts = [_field(fact.label, fact.value) for fact in section.facts]
    groups = [facts[i : i + FIELDS_PER_SECTION] for i in range(0, len(facts), FIELDS_PER_SECTION)]
    if body and groups:
        body[-1]["fields"] = groups.pop(0)
    blocks += body
    blocks += [{"type": "section", "fields": group} for group in groups]
    return blocks + _actions(section.buttons)


def _pack(
    head: list[Block],
    units: list[tuple[int, list[Block]]],
    tail: list[Block],
    first: int,
    last: int,
    per_page: int,
) -> list[tuple[int, int, list[Block]]]:
    """Whole sections onto pages of `per_page` blocks: (first section, end, blocks) each."""
    pages: list[tuple[int, int, list[Block]]] = []
    start, blocks = first, list(head)
    for index, unit in units:
        if blocks and len(blocks) + len(unit) > per_page:
            pages.append((start, index, blocks))
            start, blocks = index, []
        while len(unit) > per_page:  # one section longer than a page: its own pages
            pages.append((index, index + 1, unit[:per_page]))
            unit = unit[per_page:]
        blocks += unit
    if blocks and len(blocks) + len(tail) > per_page:
        pages.append((start, last, blocks))
        start, blocks = last, []
    pages.append((start, last, blocks + tail))
    return pages


def _stamp(blocks: list[Block], key: str, first: int, last: int, total: int) -> list[Block]:
    """Actions blocks get a block id naming the reply and the sections on this message."""
    stamped, count = [], 0
    for block in blocks:
        if block["type"] == "actions":
            count += 1
            block_id = f"{shorten(key, 200)}|{first}|{last}|{total}|{count}"
            block = {**block, "block_id": block_id}
        stamped.append(block)
    return stamped


def text_blocks(text: str) -> list[Block]:
    if not text.strip():
        return []
    return [
        {"type": "section", "text": mrkdwn(piece)}
        for piece in chunks(safe_text(text), SECTION_TEXT)
    ]


def _rich_blocks(rich: RichText) -> list[Block]:
    from bot.slack.markdown import to_mrkdwn  # it uses this module's escaping

    text = to_mrkdwn(rich)
    if not text.strip():
        return []
    return [{"type": "section", "text": mrkdwn(piece)} for piece in chunks(text, SECTION_TEXT)]


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
    check_length("action id", action_id, ACTION_ID)
    check_length("button value", button.value, BUTTON_VALUE)
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


def check_length(what: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise RenderError(f"{what} is {len(value)} characters; Slack allows {limit}: {value[:40]}…")
