"""Markdown from a campaign file, parsed once (markdown-it-py) into a neutral form.

A `RichText` is blocks (paragraphs, headings, list items, code, quotes) of `Span`s (plain,
bold, italic, code, link). Adapters render it in their own markup (Slack mrkdwn, Discord
markdown, console text); `plain()` is the fallback every adapter can show. Raw HTML in the
source stays literal text: nothing the organizer writes becomes markup we did not choose.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from markdown_it import MarkdownIt
from markdown_it.token import Token

_PARSER = MarkdownIt("commonmark", {"html": False}).disable(["image"])
STEP_BREAK = "hr"


class BlockKind(StrEnum):
    PARAGRAPH = "paragraph"
    HEADING = "heading"
    BULLET = "bullet"
    NUMBERED = "numbered"
    CODE = "code"
    QUOTE = "quote"


_LIST_KINDS = frozenset({BlockKind.BULLET, BlockKind.NUMBERED})


@dataclass(frozen=True)
class Span:
    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    link: str | None = None


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    spans: tuple[Span, ...]
    number: int | None = None  # a numbered item's number
    depth: int = 0  # how deep the list item is nested


@dataclass(frozen=True)
class RichText:
    blocks: tuple[Block, ...]

    def plain(self) -> str:
        """The text with no markup: list items keep their bullet or number."""
        return self.join([_plain_block(block) for block in self.blocks])

    def join(self, shown: list[str]) -> str:
        """Each block's rendering (in order) joined: a blank line between paragraphs, none
        between the items of a list."""
        text = ""
        for index, piece in enumerate(shown):
            if index:
                both_items = {self.blocks[index - 1].kind, self.blocks[index].kind} <= _LIST_KINDS
                text += "\n" if both_items else "\n\n"
            text += piece
        return text


def _plain_block(block: Block) -> str:
    text = "".join(span.text + (f" ({span.link})" if span.link else "") for span in block.spans)
    indent = "  " * block.depth
    if block.kind is BlockKind.BULLET:
        return f"{indent}• {text}"
    if block.kind is BlockKind.NUMBERED:
        return f"{indent}{block.number}. {text}"
    if block.kind is BlockKind.QUOTE:
        return f"> {text}"
    return text


def steps(source: str) -> list[RichText]:
    """The markdown split at its thematic breaks (`---`): one `RichText` per step, empty dropped."""
    parts: list[list[Token]] = [[]]
    for token in _PARSER.parse(source):
        if token.type == STEP_BREAK:
            parts.append([])
        else:
            parts[-1].append(token)
    texts = [_rich(tokens) for tokens in parts]
    return [text for text in texts if text.blocks] or [RichText(())]


def parse(source: str) -> RichText:
    """The whole markdown as one `RichText` (thematic breaks dropped)."""
    return _rich([t for t in _PARSER.parse(source) if t.type != STEP_BREAK])


def _rich(tokens: list[Token]) -> RichText:
    blocks: list[Block] = []
    lists: list[list[int]] = []  # open lists: [next number] for ordered, [] for bullets
    kind = BlockKind.PARAGRAPH
    in_item = quote = 0
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrGet("start") or 1)
            lists.append([start] if token.type == "ordered_list_open" else [])
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif token.type == "list_item_open":
            in_item += 1
        elif token.type == "list_item_close":
            in_item -= 1
        elif token.type == "blockquote_open":
            quote += 1
        elif token.type == "blockquote_close":
            quote -= 1
        elif token.type == "heading_open":
            kind = BlockKind.HEADING
        elif token.type in ("fence", "code_block"):
            blocks.append(Block(BlockKind.CODE, (Span(token.content.rstrip("\n"), code=True),)))
        elif token.type == "inline":
            blocks.append(_inline_block(token, kind, lists, in_item, quote))
            kind = BlockKind.PARAGRAPH
    return RichText(tuple(blocks))


def _inline_block(
    token: Token, kind: BlockKind, lists: list[list[int]], item: int, quote: int
) -> Block:
    spans = tuple(_spans(token.children or []))
    if kind is BlockKind.HEADING:
        return Block(BlockKind.HEADING, spans)
    if item and lists:
        current = lists[-1]
        depth = len(lists) - 1
        if current:
            number = current[0]
            current[0] += 1
            return Block(BlockKind.NUMBERED, spans, number=number, depth=depth)
        return Block(BlockKind.BULLET, spans, depth=depth)
    return Block(BlockKind.QUOTE if quote else BlockKind.PARAGRAPH, spans)


def _spans(children: list[Token]) -> list[Span]:
    spans: list[Span] = []
    style = Span("")
    for child in children:
        if child.type == "strong_open":
            style = replace(style, bold=True)
        elif child.type == "strong_close":
            style = replace(style, bold=False)
        elif child.type == "em_open":
            style = replace(style, italic=True)
        elif child.type == "em_close":
            style = replace(style, italic=False)
        elif child.type == "link_open":
            style = replace(style, link=str(child.attrGet("href") or ""))
        elif child.type == "link_close":
            style = replace(style, link=None)
        elif child.type == "code_inline":
            spans.append(replace(style, text=child.content, code=True))
        elif child.type in ("softbreak", "hardbreak"):
            spans.append(replace(style, text=" " if child.type == "softbreak" else "\n", link=None))
        elif child.type in ("text", "html_inline"):
            spans.append(replace(style, text=child.content))
    return [span for span in spans if span.text]
