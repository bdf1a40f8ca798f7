"""Telling a person when an update could not be handled."""

from __future__ import annotations

import html
import json
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from storage import InboxItem

logger = logging.getLogger(__name__)


class ParkedAlert:
    """Posts a note in the operator group's General topic for each parked update.

    The note names the update, who it came from and why it failed, never its content. Operators
    see it where they look for things that are not a conversation; the update stays in the
    inbox as failed, and `/healthz` counts it.
    """

    def __init__(self, bot: Bot, operator_chat_id: int) -> None:
        self._bot = bot
        self._chat_id = operator_chat_id

    async def __call__(self, item: InboxItem, reason: str) -> None:
        sender = _describe_sender(item.payload)
        text = (
            f"⚠️ An update could not be handled and was set aside (update {item.update_id}"
            f"{', from ' + html.escape(sender) if sender else ''}).\n"
            f"Reason: <code>{html.escape(reason[:500])}</code>\n"
            "When the cause is fixed, /retry here tries it again."
        )
        try:
            await self._bot.send_message(self._chat_id, text)
        except TelegramAPIError as error:
            logger.error("Could not post the alert for update %d: %s", item.update_id, error)

    async def tell(self, text: str) -> None:
        """Post a note (HTML) in General: why updates wait, and what would let them go on."""
        try:
            await self._bot.send_message(self._chat_id, text)
        except TelegramAPIError as error:
            logger.error("Could not post a note in General: %s", error)


def _describe_sender(payload: str) -> str:
    try:
        update = json.loads(payload)
    except json.JSONDecodeError:
        return ""
    for value in update.values():
        if isinstance(value, dict):
            user = value.get("from") or value.get("user")
            if isinstance(user, dict):
                name = " ".join(filter(None, (user.get("first_name"), user.get("last_name"))))
                username = f" @{user['username']}" if user.get("username") else ""
                return f"{name}{username} (id {user.get('id')})"
    return ""
