"""A `RichText` (handlers/markdown.py) as Slack mrkdwn, every piece of text escaped and masked."""

from __future__ import annotations

from bot.slack.render import safe_text
from handlers.markdown import Block, BlockKind, RichText, Span


def to_mrkdwn(rich: RichText) -> str:
    """Slack's markup for the text: *bold*, _italic_, `code`, <link|text>, bullets and quotes."""
    return rich.join([_block(block) for block in rich.blocks])


def _block(block: Block) -> str:
    if block.kind is BlockKind.CODE:
        return "```" + safe_text("".join(s.text for s in block.spans)).replace("```", "'''") + "```"
    text = "".join(_span(span) for span in block.spans)
    indent = "    " * block.depth
    if block.kind is BlockKind.HEADING:
        return f"*{text}*" if text.strip() else ""
    if block.kind is BlockKind.BULLET:
        return f"{indent}• {text}"
    if block.kind is BlockKind.NUMBERED:
        return f"{indent}{block.number}. {text}"
    if block.kind is BlockKind.QUOTE:
        return f"> {text}"
    return text


def _span(span: Span) -> str:
    text = safe_text(span.text)
    if not text.strip():
        return text
    if span.code:
        text = "`" + text.replace("`", "'") + "`"
    if span.italic:
        text = f"_{text}_"
    if span.bold:
        text = f"*{text}*"
    if span.link and span.link.startswith(("https://", "http://", "mailto:")):
        link = safe_text(span.link).replace("|", "%7C")
        text = f"<{link}|{text}>"
    return text
