"""A handler that cannot go on raises `Refusal`; the router answers with its reply."""

from __future__ import annotations

from handlers.context import Context
from handlers.replies import Button, ButtonStyle, Reply, Tone, problem


class Refusal(Exception):
    """Stop here and answer with `reply` (not signed up, not your batch, a stale button ...)."""

    def __init__(self, reply: Reply | str) -> None:
        self.reply = problem(reply) if isinstance(reply, str) else reply
        super().__init__(self.reply.text)


def int_value(value: str, what: str = "button") -> int:
    """A button's or form's id value, or a refusal saying the message is out of date."""
    try:
        return int(value)
    except ValueError:
        raise Refusal(f"That {what} is out of date; ask for it again.") from None


def signed_up(ctx: Context) -> int:
    """The asker's volunteer id, or a refusal offering the signup form."""
    if ctx.volunteer_id is None:
        raise Refusal(
            Reply(
                text="Sign up first: we need your phone number and languages to match you.",
                tone=Tone.WARNING,
                buttons=(Button("Sign up", "pb:signup:open", style=ButtonStyle.PRIMARY),),
            )
        )
    return ctx.volunteer_id
