"""`Mirror`: edits and reactions on one side of a conversation, applied to the other side.

An edit changes the copy (text, caption, or the file itself). When the copy cannot be edited (it
was deleted, or is not the bot's to edit), the new version is posted as a reply to the copy,
marked "✏️ Edited:". A reaction is set on the linked message; a bot can show one per message.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.enums import ContentType
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import Message, MessageReactionUpdated, ReactionTypeEmoji

from bot.relay import content, errors
from bot.relay.copier import Copier, copy_of
from bot.relay.routes import Route
from storage import Database

logger = logging.getLogger(__name__)


class Mirror:
    """Applies edits and reactions to the linked copies."""

    def __init__(self, *, bot: Bot, db: Database, copier: Copier) -> None:
        self._bot = bot
        self._db = db
        self._copier = copier

    async def edit(self, route: Route, edited: Message, copy_id: int) -> None:
        """Apply an edit to the copy; when that cannot be done, post the new version."""
        kind = content.kind(edited)
        chat_id = route.chat_id
        cut = False
        try:
            if kind == ContentType.TEXT and edited.text is not None:
                await self._bot.edit_message_text(
                    chat_id=chat_id,
                    message_id=copy_id,
                    text=edited.text,
                    entities=edited.entities,
                    parse_mode=None,
                )
            elif kind in content.CAPTIONED_CONTENT_TYPES:
                caption, entities = content.shorten(
                    edited.caption or "", edited.caption_entities, content.CAPTION_LIMIT
                )
                cut = caption != (edited.caption or "")
                media = content.input_media(edited, caption or None, entities)
                if media is not None and await self._media_replaced(edited):
                    await self._bot.edit_message_media(
                        chat_id=chat_id, message_id=copy_id, media=media
                    )
                else:
                    await self._bot.edit_message_caption(
                        chat_id=chat_id,
                        message_id=copy_id,
                        caption=caption or None,
                        caption_entities=entities,
                        parse_mode=None,
                    )
            else:
                # Live locations and the like: Telegram sends an edit every few seconds; a
                # copy cannot follow them.
                logger.debug("Edit of a %s message is not mirrored", kind)
                return
        except TelegramBadRequest as error:
            if not errors.message_not_modified(error):
                logger.info(
                    "Cannot edit copy %d in chat %d (%s); posting the new version",
                    copy_id,
                    chat_id,
                    error.message,
                )
                await self._post_edited_version(route, edited, copy_id)
                await self.update_logged(edited)
                return
        if cut and edited.caption:
            text, entities = content.prefixed(
                route.texts.edited_marker + "\n", edited.caption, edited.caption_entities
            )
            await self._copier.send_text_part(route, edited, text, entities, reply_to=copy_id)
        await self.update_logged(edited)
        logger.info("Mirrored edit of message %d of chat %d", edited.message_id, edited.chat.id)

    async def _media_replaced(self, edited: Message) -> bool:
        """Did the edit put another file in the message (not only change its caption)?"""
        logged = await self._db.log.get(chat_id=edited.chat.id, message_id=edited.message_id)
        if logged is None:
            return False
        if logged.payload_json:
            try:
                old = Message.model_validate_json(logged.payload_json)
            except ValueError:
                old = None
            if old is not None:
                return content.file_unique_id(old) != content.file_unique_id(edited)
        return logged.file_id != content.file_id(edited)

    async def _post_edited_version(self, route: Route, edited: Message, copy_id: int) -> None:
        """The new version of an edited message as a reply to its copy, marked as edited."""
        marker = route.texts.edited_marker + "\n"
        if content.kind(edited) == ContentType.TEXT and edited.text is not None:
            text, entities = content.prefixed(marker, edited.text, edited.entities)
            await self._copier.send_text_part(route, edited, text, entities, reply_to=copy_id)
            return
        full, full_entities = content.prefixed(
            marker, edited.caption or "", edited.caption_entities
        )
        caption, entities = content.shorten(full, full_entities, content.CAPTION_LIMIT)
        copied = await self._copier.send(route, copy_of(edited, route, copy_id, caption, entities))
        await self._copier.link_part(route, edited, copied.message_id)
        if caption != full:
            await self._copier.send_text_part(
                route, edited, full, full_entities, reply_to=copied.message_id
            )

    async def update_logged(self, edited: Message) -> None:
        """The log keeps the latest version of a message."""
        await self._db.log.update(**content.logged_fields(edited))

    async def react(self, chat_id: int, message_id: int, event: MessageReactionUpdated) -> None:
        """Mirror a reaction change. A bot sets at most one reaction: the newest emoji."""
        old = {r.emoji for r in event.old_reaction if isinstance(r, ReactionTypeEmoji)}
        new = [r.emoji for r in event.new_reaction if isinstance(r, ReactionTypeEmoji)]
        added = [emoji for emoji in new if emoji not in old]
        chosen = (added or new)[-1] if new else None
        try:
            await self._bot.set_message_reaction(
                chat_id=chat_id,
                message_id=message_id,
                reaction=[ReactionTypeEmoji(emoji=chosen)] if chosen else [],
            )
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            # Not a reaction bots may use, the message is gone, the user blocked the bot.
            logger.info(
                "Cannot mirror a reaction on message %d in chat %d: %s",
                message_id,
                chat_id,
                error.message,
            )
