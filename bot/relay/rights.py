"""`BotRights`: the bot's administrator rights in the operator group, as Telegram reports them.

When a right the bot needs is taken away, the operators are told in General; updates that need
it wait (see `MissingRight`). When Telegram tells the bot it has the right again (a
`my_chat_member` update for the group), what waited for it goes on at once, in order, and
General says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiogram import Bot
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ChatMemberUpdated
from aiogram.types.chat_member_union import ChatMemberUnion

from bot.relay.errors import blocked_reason
from bot.relay.texts import ENGLISH

logger = logging.getLogger(__name__)

# The rights the relay cannot work without (createForumTopic needs Manage topics).
NEEDED_RIGHTS = ("can_manage_topics",)


class BotRights:
    """Reacts to changes of the bot's own rights in the operator group."""

    def __init__(
        self,
        *,
        bot: Bot,
        group_id: int,
        me: int,
        lift: Callable[[str], int],
    ) -> None:
        self._bot = bot
        self._group = group_id
        self._me = me
        self._lift = lift

    async def changed(self, event: ChatMemberUpdated) -> None:
        """The bot's membership in the group changed (`my_chat_member`)."""
        if event.chat.id != self._group or event.new_chat_member.user.id != self._me:
            return
        texts = ENGLISH  # General is everybody's: the bot's own notes there are in English
        for right in NEEDED_RIGHTS:
            had, has = _has(event.old_chat_member, right), _has(event.new_chat_member, right)
            name = texts.right_names[right]
            if had and not has:
                logger.warning("The bot lost the %s right in the operator group", right)
                await self._tell(texts.right_lost.format(right=name))
            elif has and not had:
                count = self._lift(blocked_reason(right))
                logger.info(
                    "The bot has the %s right again; %d waiting update(s) tried again",
                    right,
                    count,
                )
                # Said when it was taken away (or something waited): not when first given.
                was_admin = event.old_chat_member.status == ChatMemberStatus.ADMINISTRATOR
                if count or was_admin:
                    await self._tell(texts.right_back.format(right=name, count=count))

    async def _tell(self, text: str) -> None:
        try:
            await self._bot.send_message(chat_id=self._group, text=text)
        except TelegramAPIError as error:
            logger.warning("Cannot post in General about the bot's rights: %s", error)


def _has(member: ChatMemberUnion, right: str) -> bool:
    if member.status == ChatMemberStatus.CREATOR:
        return True
    return member.status == ChatMemberStatus.ADMINISTRATOR and bool(getattr(member, right, False))
