"""Roles in chat: admins grant and revoke them (`role grant @ana organizer`); audit-logged."""

from __future__ import annotations

from handlers.context import Context
from handlers.identity import UnknownUser, grant_role, parse_mention, revoke_role
from handlers.refusal import Refusal
from handlers.replies import Reply, Tone
from storage.models import Role

_GRANTABLE = {role.value: role for role in Role if role is not Role.VOLUNTEER}
USAGE = "`role grant @someone organizer` (roles: " + ", ".join(_GRANTABLE) + ")"


def grant(ctx: Context, args: list[str]) -> Reply:
    """Give someone a role: `role grant @someone organizer`."""
    user_id, role = _target(args)
    _change(ctx, user_id, role, granting=True)
    return Reply(text=f"{_who(args[0])} is now {_a(role)} here.", tone=Tone.SUCCESS)


def revoke(ctx: Context, args: list[str]) -> Reply:
    """Take a role away: `role revoke @someone organizer`."""
    user_id, role = _target(args)
    _change(ctx, user_id, role, granting=False)
    return Reply(text=f"{_who(args[0])} is no longer {_a(role)} here.", tone=Tone.SUCCESS)


def _change(ctx: Context, user_id: str, role: Role, *, granting: bool) -> None:
    change = grant_role if granting else revoke_role
    try:
        change(
            ctx.services.engine,
            ctx.services.clock,
            ctx.platform,
            user_id,
            role,
            actor=ctx.identity,
            workspace=ctx.workspace,
        )
    except UnknownUser as exc:  # pragma: no cover - a workspace is always given here
        raise Refusal(str(exc)) from None


def _target(args: list[str]) -> tuple[str, Role]:
    if len(args) != 2:
        raise Refusal(f"Say who and which role: {USAGE}.")
    user_id = parse_mention(args[0])
    if user_id is None:
        raise Refusal(f"{args[0]!r} is not someone I can find; mention them: {USAGE}.")
    role = _GRANTABLE.get(args[1].strip().lower())
    if role is None:
        raise Refusal(f"{args[1]!r} is not a role; the roles are {', '.join(_GRANTABLE)}.")
    return user_id, role


def _who(mention: str) -> str:
    return mention if mention.startswith("<@") else mention.lstrip("@")


def _a(role: Role) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"
