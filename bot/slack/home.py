"""The App Home tab: who I am to Phonebank today, my training, and a "Get a batch" button."""

from __future__ import annotations

from typing import Any

from bot.slack.render import VIEW_BLOCKS, plain, reply_blocks
from handlers.replies import Reply, Tone

GET_BATCH_ACTION = "pb:batch:claim"  # the batch conversation's claim (handlers/cards.py)
STATUS_COMMAND = "stats"  # what the tab shows: my dials, contacts and the campaign's totals
TRAINING_COMMAND = "train"  # and my training: modules passed, Start or Continue training


def home_view(status: Reply, training: Reply | None = None) -> dict[str, Any]:
    """The tab: a header, Get a batch, my status as the stats conversation tells it, then my
    training as `/phonebank train` tells it (left out when it is a refusal)."""
    header = {"type": "header", "text": plain("Phonebank", 150)}
    get_batch = {
        "type": "actions",
        "block_id": "home",
        "elements": [
            {
                "type": "button",
                "action_id": GET_BATCH_ACTION,
                "text": plain("Get a batch", 75),
                "style": "primary",
            }
        ],
    }
    room = VIEW_BLOCKS - 2
    status_blocks = reply_blocks(status)
    if training is not None and training.tone is not Tone.WARNING:
        status_blocks = [*reply_blocks(training), {"type": "divider"}, *status_blocks]
    if len(status_blocks) > room:  # the tab holds 100 blocks; the status is a summary anyway
        status_blocks = status_blocks[: room - 1] + [
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "_…more in /phonebank stats_"}],
            }
        ]
    return {"type": "home", "blocks": [header, get_batch, *status_blocks]}
