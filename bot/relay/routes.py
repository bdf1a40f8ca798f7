"""Where relayed messages go: the user's forum topic, or the user's private chat.

A destination wraps each Bot API call that puts something into it. The user's topic can vanish
at any moment (an operator deletes it; Telegram sends no update), and the bot learns it only when
a send fails: then the topic destination creates a new topic, posts the user card, and makes the
same call again — so nothing is lost, and nothing is sent without `message_thread_id` (which
would land it in the General topic).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import User

from bot.relay import errors
from storage import Conversation

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A Bot API call into a destination, given the topic's thread id (None outside a forum).
Send = Callable[[int | None], Awaitable[T]]


class TopicFactory(Protocol):
    async def __call__(self, user: User, *, replacing: int | None) -> Conversation: ...


class Destination(Protocol):
    @property
    def chat_id(self) -> int: ...

    async def call(self, send: Send[T]) -> T: ...


class UserChat:
    """The user's private chat with the bot."""

    def __init__(self, user_id: int) -> None:
        # A user's private chat has the user's id.
        self.chat_id = user_id

    async def call(self, send: Send[T]) -> T:
        return await send(None)


class UserTopic:
    """The user's topic in the operator group, re-created when it turns out to be deleted."""

    def __init__(
        self,
        *,
        chat_id: int,
        user: User,
        conversation: Conversation,
        new_topic: TopicFactory,
    ) -> None:
        self.chat_id = chat_id
        self.user = user
        self.conversation = conversation
        self._new_topic = new_topic

    @property
    def topic_id(self) -> int:
        return self.conversation.topic_id

    async def call(self, send: Send[T]) -> T:
        try:
            return await send(self.conversation.topic_id)
        except TelegramBadRequest as error:
            if not errors.topic_gone(error):
                raise
        gone = self.conversation.topic_id
        logger.warning(
            "Topic %d of user %d is gone (deleted?); creating a new one", gone, self.user.id
        )
        self.conversation = await self._new_topic(self.user, replacing=gone)
        return await send(self.conversation.topic_id)
