"""`phonebank role`: grant, revoke and list chat users' roles (audit-logged, like chat grants)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bot.cli.common import console, engine, fail
from bot.settings import ADMIN_PLATFORMS
from handlers.identity import UnknownUser, grant_role, revoke_role, role_holders
from storage.clock import Clock, SystemClock
from storage.models import Role

app = typer.Typer(no_args_is_help=True, help="Grant, revoke and list chat users' roles.")
clock: Clock = SystemClock()  # tests replace it
GRANTABLE = [role.value for role in Role if role is not Role.VOLUNTEER]

WhoArgument = Annotated[
    str, typer.Argument(help="The chat user as PLATFORM:USER_ID, like slack:U0123ABC.")
]
RoleArgument = Annotated[str, typer.Argument(help=f"One of: {', '.join(GRANTABLE)}.")]
WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        help="Slack team or Discord guild id; needed only for someone Phonebank has not met yet.",
    ),
]


@app.command("grant")
def grant(who: WhoArgument, role: RoleArgument, workspace: WorkspaceOption = None) -> None:
    """Give a chat user a role (in every workspace they use, or in --workspace)."""
    platform, user_id = _who(who)
    try:
        places = grant_role(
            engine(), clock, platform, user_id, _role(role), actor="cli", workspace=workspace
        )
    except UnknownUser as exc:
        fail(str(exc))
    _say(f"{who} is now {role} in {', '.join(places)}.")


@app.command("revoke")
def revoke(who: WhoArgument, role: RoleArgument, workspace: WorkspaceOption = None) -> None:
    """Take a role away from a chat user (everywhere, or in --workspace)."""
    platform, user_id = _who(who)
    places = revoke_role(
        engine(), clock, platform, user_id, _role(role), actor="cli", workspace=workspace
    )
    if not places:
        fail(f"{who} has no stored roles")
    _say(f"{who} is no longer {role} in {', '.join(places)}.")


@app.command("list")
def list_roles() -> None:
    """List chat users with roles beyond volunteer (PHONEBANK_ADMINS are admins besides)."""
    holders = role_holders(engine())
    if not holders:
        _say(
            "Nobody holds a role yet; grant one with `phonebank role grant slack:U0123ABC organizer`."
        )
        return
    table = Table("user", "workspace", "roles")
    for holder in holders:
        table.add_row(Text(holder.identity), Text(holder.workspace), Text(", ".join(holder.roles)))
    console.print(table)


def _who(text: str) -> tuple[str, str]:
    platform, _, user_id = (part.strip() for part in text.partition(":"))
    if platform not in ADMIN_PLATFORMS or not user_id:
        fail(f"{text!r} is not PLATFORM:USER_ID (platform one of {', '.join(ADMIN_PLATFORMS)})")
    return platform, user_id


def _role(text: str) -> Role:
    if text.strip().lower() not in GRANTABLE:
        fail(f"{text!r} is not a role (one of {', '.join(GRANTABLE)})")
    return Role(text.strip().lower())


def _say(message: str) -> None:
    console.print(message, markup=False, highlight=False, soft_wrap=True)
