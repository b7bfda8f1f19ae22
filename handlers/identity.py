"""Who is asking: a chat user (platform, workspace, user id), the volunteer they are, their roles.

A chat user is linked to at most one volunteer (signup links them). Roles are stored on the chat
identity; everyone is a volunteer, and the bootstrap admins of PHONEBANK_ADMINS (`slack:U123`)
are admins wherever they speak. Every grant and revocation is written to the audit log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from handlers.context import Context, Platform, Services
from storage.clock import Clock
from storage.db import insert_ignoring_duplicates, read_session, session_scope
from storage.models import AuditLog, ChatIdentity, Role

CONSOLE_WORKSPACE = "local"
# Marks a role the platform itself vouched for at the user's last request from a server
# (Discord's DISCORD_ROLE_MAP), stored beside the grants only so that what Phonebank says unasked
# (organizer alerts) reaches its holder. It grants nothing (`roles_of` skips it: permissions
# come from the request itself) and is replaced at each such request (`remember_mapped_roles`).
MAPPED = "mapped:"
# Slack `<@U123|name>` (with escaping on), Discord `<@123>` / `<@!123>`, or a bare `@name`.
_MENTION = re.compile(r"<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>|@?([\w.@-]+)")


@dataclass(frozen=True)
class RoleHolder:
    """A chat user and the roles stored for them in one workspace."""

    identity: str  # platform:user_id
    workspace: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class KnownUser:
    """What is stored about a chat user: their roles and the volunteer they are."""

    roles: tuple[str, ...]
    volunteer_id: int | None


@dataclass(frozen=True)
class ChatAddress:
    """Where a volunteer can be reached in chat."""

    platform: Platform
    workspace: str
    user_id: str


def context_for(
    services: Services,
    platform: Platform,
    workspace: str,
    user_id: str,
    *,
    display_name: str = "",
    channel: str | None = None,
    request_key: str | None = None,
) -> Context:
    """The Context of a request: the chat identity (created on first contact), volunteer, roles."""
    known = find_identity(services.engine, platform, workspace, user_id)
    if known is None:
        known = _create_identity(services.engine, services.clock, platform, workspace, user_id)
    return Context(
        platform=platform,
        workspace=workspace,
        user_id=user_id,
        services=services,
        display_name=display_name,
        roles=roles_of(known.roles, f"{platform}:{user_id}", services.admins),
        volunteer_id=known.volunteer_id,
        channel=channel,
        request_key=request_key,
    )


def roles_of(
    stored: tuple[str, ...] | list[str], identity: str, admins: frozenset[str]
) -> frozenset[Role]:
    """Everyone volunteers; stored roles that still exist; admin for PHONEBANK_ADMINS."""
    roles = {Role.VOLUNTEER} | {Role(r) for r in stored if r in Role.__members__.values()}
    if identity in admins:
        roles.add(Role.ADMIN)
    return frozenset(roles)


def remember_mapped_roles(
    engine: Engine, platform: str, workspace: str, user_id: str, roles: frozenset[Role]
) -> None:
    """Store the roles the platform vouches for now in place of those it vouched for before
    (grants untouched); written only when they changed."""
    with session_scope(engine) as session:
        identity = _identity(session, platform, workspace, user_id)
        if identity is None:
            return
        held = set(identity.roles)
        now = {r for r in held if not r.startswith(MAPPED)} | {f"{MAPPED}{r}" for r in roles}
        if now != held:
            identity.roles = sorted(now)
            session.add(identity)


def find_identity(engine: Engine, platform: str, workspace: str, user_id: str) -> KnownUser | None:
    """What is stored about this chat user, if they have spoken to Phonebank before."""
    with read_session(engine) as session:
        identity = _identity(session, platform, workspace, user_id)
        return _known(identity) if identity else None


def link_volunteer(session: Session, ctx: Context, volunteer_id: int) -> None:
    """Make the asking chat user this volunteer (within the caller's transaction)."""
    identity = _identity(session, ctx.platform, ctx.workspace, ctx.user_id)
    if identity is None:
        raise LookupError(f"no chat identity for {ctx.identity}")
    identity.volunteer_id = volunteer_id
    session.add(identity)


def chat_addresses(engine: Engine, volunteer_id: int) -> list[ChatAddress]:
    """Every chat identity linked to the volunteer, oldest first."""
    with read_session(engine) as session:
        identities = session.exec(
            select(ChatIdentity)
            .where(col(ChatIdentity.volunteer_id) == volunteer_id)
            .order_by(col(ChatIdentity.id))
        ).all()
        return [ChatAddress(Platform(i.platform), i.workspace, i.user_id) for i in identities]


def parse_mention(text: str) -> str | None:
    """The user id in `<@U123|ana>`, `<@123>` or `@ana`; None if `text` names nobody."""
    match = _MENTION.fullmatch(text.strip())
    if match is None:
        return None
    return match.group(1) or match.group(2)


def grant_role(
    engine: Engine,
    clock: Clock,
    platform: str,
    user_id: str,
    role: Role,
    *,
    actor: str,
    workspace: str | None = None,
) -> list[str]:
    """Give `role` to the user (in `workspace`, else wherever they are known); the workspaces."""
    return _change_role(engine, clock, platform, user_id, role, actor, workspace, grant=True)


def revoke_role(
    engine: Engine,
    clock: Clock,
    platform: str,
    user_id: str,
    role: Role,
    *,
    actor: str,
    workspace: str | None = None,
) -> list[str]:
    """Take `role` away from the user (in `workspace`, else everywhere); the workspaces."""
    return _change_role(engine, clock, platform, user_id, role, actor, workspace, grant=False)


def role_holders(engine: Engine) -> list[RoleHolder]:
    """Every chat user with a stored role beyond volunteer."""
    with read_session(engine) as session:
        identities = session.exec(
            select(ChatIdentity).order_by(
                col(ChatIdentity.platform), col(ChatIdentity.user_id), col(ChatIdentity.workspace)
            )
        ).all()
        return [
            RoleHolder(f"{i.platform}:{i.user_id}", i.workspace, tuple(sorted(i.roles)))
            for i in identities
            if set(i.roles) - {Role.VOLUNTEER}
        ]


class UnknownUser(LookupError):
    """A role change for someone Phonebank has never seen, without a workspace to put them in."""


def _change_role(
    engine: Engine,
    clock: Clock,
    platform: str,
    user_id: str,
    role: Role,
    actor: str,
    workspace: str | None,
    *,
    grant: bool,
) -> list[str]:
    if workspace is None and platform == Platform.CONSOLE:
        workspace = CONSOLE_WORKSPACE
    with session_scope(engine) as session:
        identities = _identities(session, platform, user_id, workspace)
        if not identities and grant:
            if workspace is None:
                raise UnknownUser(
                    f"{platform}:{user_id} has not used Phonebank yet: give the workspace"
                    " (--workspace), or ask them to run /phonebank help once"
                )
            identities = [_new_identity(platform, workspace, user_id, clock)]
        for identity in identities:
            held = set(identity.roles)
            identity.roles = sorted(held | {role} if grant else held - {role})
            session.add(identity)
        session.add(
            AuditLog(
                at=clock.now(),
                actor=actor,
                action="role.grant" if grant else "role.revoke",
                target=f"{platform}:{user_id}",
                detail={"role": str(role), "workspaces": [i.workspace for i in identities]},
            )
        )
        return [identity.workspace for identity in identities]


def _identities(
    session: Session, platform: str, user_id: str, workspace: str | None
) -> list[ChatIdentity]:
    query = select(ChatIdentity).where(
        col(ChatIdentity.platform) == platform, col(ChatIdentity.user_id) == user_id
    )
    if workspace is not None:
        query = query.where(col(ChatIdentity.workspace) == workspace)
    return list(session.exec(query.order_by(col(ChatIdentity.id))).all())


def _identity(session: Session, platform: str, workspace: str, user_id: str) -> ChatIdentity | None:
    found = _identities(session, platform, user_id, workspace)
    return found[0] if found else None


def _new_identity(platform: str, workspace: str, user_id: str, clock: Clock) -> ChatIdentity:
    return ChatIdentity(
        platform=platform, workspace=workspace, user_id=user_id, roles=[], created_at=clock.now()
    )


def _known(identity: ChatIdentity) -> KnownUser:
    return KnownUser(tuple(identity.roles), identity.volunteer_id)


def _create_identity(
    engine: Engine, clock: Clock, platform: str, workspace: str, user_id: str
) -> KnownUser:
    """Insert the identity unless a concurrent first request already did; the stored row."""
    table = ChatIdentity.__table__  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        session.execute(
            insert_ignoring_duplicates(
                table,
                engine.dialect.name,
                ["platform", "workspace", "user_id"],
                platform=platform,
                workspace=workspace,
                user_id=user_id,
                roles=[],
                created_at=clock.now(),
            )
        )
        identity = _identity(session, platform, workspace, user_id)
        if identity is None:  # pragma: no cover - the insert or a concurrent one made it
            raise LookupError(f"{platform}:{user_id} could not be stored")
        return _known(identity)
