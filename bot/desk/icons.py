"""`TopicIcons`: with `TOPIC_ICONS=on`, each topic's icon shows its conversation's state.

Telegram lets a bot use only the custom emoji of its default topic icons
(`getForumTopicIconStickers`); the emoji of `TOPIC_ICON_WAITING`, `_ANSWERED` and `_CLOSED`
are looked up there at start, and one that is not offered is a configuration error.

Every icon change posts a service message in the topic ("… changed the topic icon",
`forum_topic_edited`), and such a message counts against the group's rate limit like any other:
that is why icons are opt-in. Changes are coalesced — the icons that do not show their
conversation's state are read from the database, so only the latest state is ever applied,
however often it changed — and made in flood control's background lane, after everything
customers and operators send.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from bot.config import Settings
from bot.delivery.flood import in_background
from bot.relay import errors
from storage import Database

logger = logging.getLogger(__name__)

# Settings of the icon of each state.
ICON_SETTINGS = {
    "waiting": "TOPIC_ICON_WAITING",
    "answered": "TOPIC_ICON_ANSWERED",
    "closed": "TOPIC_ICON_CLOSED",
}
# Icons applied per pass; the rest wait for the next one.
BATCH = 20


class IconConfigError(Exception):
    """A TOPIC_ICON_* setting names an emoji Telegram does not offer as a topic icon."""


def _bare(emoji: str) -> str:
    """An emoji without variation selectors: "❗️" and "❗" are the same icon."""
    return emoji.replace("\ufe0f", "")


async def resolve_icons(bot: Bot, settings: Settings) -> dict[str, str]:
    """The custom emoji id of each state's icon; IconConfigError names a setting that is wrong.

    Raises TelegramAPIError when Telegram cannot be asked.
    """
    stickers = await bot.get_forum_topic_icon_stickers()
    offered = {_bare(s.emoji): s.custom_emoji_id for s in stickers if s.emoji and s.custom_emoji_id}
    chosen: dict[str, str] = {}
    for state, name in ICON_SETTINGS.items():
        emoji = getattr(settings, name)
        custom_emoji_id = offered.get(_bare(emoji))
        if custom_emoji_id is None:
            choices = " ".join(s.emoji for s in stickers if s.emoji)
            raise IconConfigError(
                f"{name} {emoji!r} is not one of Telegram's topic icons; choose one of {choices}"
            )
        chosen[state] = custom_emoji_id
    return chosen


class TopicIcons:
    """Keeps topic icons in line with their conversations' states."""

    def __init__(
        self,
        *,
        bot: Bot,
        db: Database,
        group_id: int,
        icons: dict[str, str],
        room: Callable[[int], Awaitable[None]],
    ) -> None:
        self._bot = bot
        self._db = db
        self._group = group_id
        self._icons = icons
        # Waits until an icon change (a service message) takes nothing from customers.
        self._room = room
        # Topics Telegram refused an icon in this run (no right to edit someone else's topic):
        # not asked again until the bot restarts.
        self._refused: set[tuple[int, int]] = set()

    async def apply(self) -> int:
        """Set the icons that do not show their state (a batch); return how many were set.

        The states are read once the group has room: however often a conversation's state
        changed while the icons waited, only the latest is shown.
        """
        if not await self._db.desk.stale_icons(limit=1):
            return 0
        await self._room(self._group)
        stale = await self._db.desk.stale_icons(limit=BATCH + len(self._refused))
        applied = 0
        for conversation in stale:
            key = (conversation.user_id, conversation.topic_id)
            if key in self._refused:
                continue
            state = conversation.state
            try:
                with in_background():
                    await self._bot.edit_forum_topic(
                        chat_id=self._group,
                        message_thread_id=conversation.topic_id,
                        icon_custom_emoji_id=self._icons[state],
                    )
            except TelegramBadRequest as error:
                # Shown already, or the topic is gone (a new one gets its own icon): done.
                if not (errors.topic_not_modified(error) or errors.topic_gone(error)):
                    logger.warning(
                        "Cannot set the icon of topic %d: %s", conversation.topic_id, error.message
                    )
                    self._refused.add(key)
                    continue
            await self._db.desk.icon_shown(conversation.user_id, conversation.topic_id, state)
            applied += 1
            if applied >= BATCH:
                break
        return applied
