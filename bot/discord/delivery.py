"""Sending a Reply to Discord: in answer to an interaction, in a DM, or in a channel.

In answer to an interaction: a reply with a form opens its modal (a modal cannot answer a modal
or follow a deferral: then a button opens it); a keyed reply (`update_key`) to a button on the
message that shows it replaces that message; anything else is a new message, ephemeral where
the reply is. Once the interaction's token is older than its 15 minutes, the answer goes to the
user's DMs instead. Where a keyed reply ends up is kept in `LiveMessages` for the Notifier.

discord.py waits out 429s itself; a 403 or 404 is logged and never retried here.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import discord

from bot.discord import forms
from bot.discord.live import TOKEN_LIFETIME_S, LiveMessages, Posted
from bot.discord.render import ButtonSpec, Page, render_pages
from handlers.replies import Button, ButtonStyle, Reply

log = logging.getLogger(__name__)

STYLES = {
    ButtonStyle.DEFAULT: discord.ButtonStyle.secondary,
    ButtonStyle.PRIMARY: discord.ButtonStyle.primary,
    ButtonStyle.DANGER: discord.ButtonStyle.danger,
}
OPEN_FORM = "Open the form"


def view_of(page: Page) -> discord.ui.View | None:
    """The page's buttons as a persistent View (timeout=None, a custom id on every button)."""
    if not page.rows:
        return None
    from bot.discord.app import PhonebankButton  # the one class that dispatches them

    view = discord.ui.View(timeout=None)
    for row, buttons in enumerate(page.rows):
        for spec in buttons:
            view.add_item(PhonebankButton(_button(spec, row)))
    return view


def _button(spec: ButtonSpec, row: int) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        label=spec.label, custom_id=spec.custom_id, style=STYLES[spec.style], row=row
    )


def message_kwargs(page: Page) -> dict[str, Any]:
    """What send/edit take for one page."""
    view = view_of(page)
    kwargs: dict[str, Any] = {"embeds": [discord.Embed.from_dict(e) for e in page.embeds]}
    kwargs["view"] = view if view is not None else discord.utils.MISSING
    return kwargs


def edit_kwargs(page: Page) -> dict[str, Any]:
    """What an edit takes: like a send, but no buttons means the old ones go."""
    kwargs = message_kwargs(page)
    if kwargs["view"] is discord.utils.MISSING:
        kwargs["view"] = None
    return kwargs


def custom_ids_on(message: discord.Message | None) -> set[str]:
    if message is None:
        return set()
    found: set[str] = set()
    for row in message.components:
        for child in getattr(row, "children", []):
            if getattr(child, "custom_id", None):
                found.add(str(child.custom_id))
    return found


def page_for(pages: list[Page], pressed: set[str]) -> Page:
    """The page of a new rendering that stands where the pressed message stood."""
    return max(pages, key=lambda page: len(_values(page.custom_ids) & _values(pressed)))


def _values(custom_ids: set[str]) -> set[str]:
    return {c.partition("#")[0] for c in custom_ids}


class Delivery:
    """Answers interactions, and posts or edits DMs and channel messages."""

    def __init__(self, client: discord.Client, live: LiveMessages, drafts: forms.Drafts) -> None:
        self.client = client
        self.live = live
        self.drafts = drafts

    async def defer(self, interaction: discord.Interaction[Any]) -> None:
        """Tell Discord the answer is coming: quietly for a button, "thinking…" for a command."""
        if interaction.response.is_done():
            return
        try:
            if interaction.message is not None:
                await interaction.response.defer()
            else:
                await interaction.response.defer(ephemeral=True, thinking=True)
        except discord.HTTPException as exc:  # too late (10062): the answer will say so too
            log.warning(
                "Could not defer interaction %s: %s %s", interaction.id, exc.status, exc.code
            )

    async def respond(
        self, interaction: discord.Interaction[Any], reply: Reply, *, arrived: float | None = None
    ) -> None:
        """Answer the interaction with the reply (a DM once its token has expired)."""
        try:
            if arrived is not None and time.monotonic() - arrived >= TOKEN_LIFETIME_S:
                await self.to_user(
                    interaction.user.id, _without_form(reply, self.drafts, interaction)
                )
                return
            if reply.form is not None:
                draft = self.drafts.open(str(interaction.user.id), reply.form, reply.text)
                if _may_open_modal(interaction):
                    await interaction.response.send_modal(forms.modal_for(draft, 0))
                    return
                reply = _with_form_button(reply, draft)
            await self._show(interaction, reply)
        except discord.HTTPException as exc:
            log.warning(
                "Could not answer interaction %s: %s %s", interaction.id, exc.status, exc.code
            )

    async def _show(self, interaction: discord.Interaction[Any], reply: Reply) -> None:
        pages = render_pages(reply)
        message = interaction.message
        key = reply.update_key
        if message is not None and key and self._may_replace(interaction, message, key):
            page = page_for(pages, custom_ids_on(message))
            if interaction.response.is_done():
                await interaction.edit_original_response(**edit_kwargs(page))
            else:
                await interaction.response.edit_message(**edit_kwargs(page))
            self.live.shown_via_interaction(key, interaction, None)
            self.live.showing(message.id, key)
            return
        original, message_id = await self._send_first(interaction, pages[0], reply.ephemeral)
        for page in pages[1:]:
            await interaction.followup.send(
                **message_kwargs(page), ephemeral=reply.ephemeral, wait=True
            )
        if key:
            self.live.shown_via_interaction(key, interaction, None if original else message_id)
            if message_id is not None:
                self.live.showing(message_id, key)

    def _may_replace(
        self, interaction: discord.Interaction[Any], message: discord.Message, key: str
    ) -> bool:
        """A keyed reply replaces the pressed message when that message shows the same reply,
        or, if this process does not know, when only the asker sees it (ephemeral, or their
        DM): a personal card never replaces a message the whole channel reads."""
        shown = self.live.key_of(message.id)
        if shown is not None:
            return shown == key
        return bool(message.flags.ephemeral) or interaction.guild_id is None

    async def _send_first(
        self, interaction: discord.Interaction[Any], page: Page, ephemeral: bool
    ) -> tuple[bool, int | None]:
        """The first page as the interaction's response, or else its first follow-up: whether
        it is the original response, and its message id when Discord said it."""
        if not interaction.response.is_done():
            answer = await interaction.response.send_message(
                **message_kwargs(page), ephemeral=ephemeral
            )
            message_id = getattr(answer, "message_id", None)
            return True, int(message_id) if message_id is not None else None
        sent = await interaction.followup.send(
            **message_kwargs(page), ephemeral=ephemeral, wait=True
        )
        return False, int(sent.id)

    # --- unasked: DMs and channels ------------------------------------------------------------

    async def edit_via_interaction(self, reply: Reply) -> bool:
        """Edit a keyed reply through the interaction that showed it, while its token lasts."""
        key = reply.update_key
        via = self.live.fresh_interaction(key) if key else None
        if via is None or key is None:
            return False
        page = render_pages(reply)[0]
        interaction: discord.Interaction[Any] = via.interaction
        try:
            if via.message_id is None:
                await interaction.edit_original_response(**edit_kwargs(page))
            else:
                await interaction.followup.edit_message(via.message_id, **edit_kwargs(page))
        except discord.HTTPException as exc:
            log.info("Could not edit via interaction (%s); sending a DM instead", exc.status)
            self.live.forget_interaction(key)
            return False
        return True

    async def to_user(self, user_id: int | str, reply: Reply) -> list[Posted]:
        """The reply in the user's DMs; a keyed reply already there is edited in place."""
        try:
            channel = await self.client.create_dm(discord.Object(id=int(user_id)))
            return await self._post(channel, reply)
        except discord.HTTPException as exc:
            log.warning("Could not message Discord user %s: %s %s", user_id, exc.status, exc.code)
            return []

    async def to_channel(self, channel_id: int | str, reply: Reply) -> list[Posted]:
        """The reply in a channel the bot may post to."""
        try:
            channel = self.client.get_partial_messageable(int(channel_id))
            return await self._post(channel, reply)
        except discord.HTTPException as exc:
            log.warning("Could not post to channel %s: %s %s", channel_id, exc.status, exc.code)
            return []

    async def _post(self, channel: Any, reply: Reply) -> list[Posted]:
        key = reply.update_key
        earlier = [p for p in self.live.posts(key) if p.channel_id == channel.id] if key else []
        posted: list[Posted] = []
        for index, page in enumerate(render_pages(reply)):
            if index < len(earlier):
                await channel.get_partial_message(earlier[index].message_id).edit(
                    **edit_kwargs(page)
                )
                posted.append(earlier[index])
                continue
            message = await channel.send(**message_kwargs(page))
            posted.append(Posted(int(channel.id), int(message.id)))
        if key:
            self.live.shown_as_posts(key, posted)
        return posted


def _may_open_modal(interaction: discord.Interaction[Any]) -> bool:
    return not interaction.response.is_done() and interaction.type in (
        discord.InteractionType.application_command,
        discord.InteractionType.component,
    )


def _with_form_button(reply: Reply, draft: forms.Draft) -> Reply:
    """Instead of a modal: the reply's text and a button that opens it."""
    button = Button(OPEN_FORM, forms.OPEN, f"{draft.id}.0", ButtonStyle.PRIMARY)
    return dataclasses.replace(reply, form=None, buttons=(*reply.buttons, button))


def _without_form(
    reply: Reply, drafts: forms.Drafts, interaction: discord.Interaction[Any]
) -> Reply:
    if reply.form is None:
        return reply
    return _with_form_button(reply, drafts.open(str(interaction.user.id), reply.form, reply.text))
