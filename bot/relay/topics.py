"""`Topics`: each user's forum topic — opened, reopened, re-created, renamed — and their profile.

One user's updates are handled one at a time (`Topics.lock`), so two first messages cannot
create two topics. A topic is recorded before anything is posted in it: whatever fails next, a
retry of the update finds it instead of creating another one.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message, User

from bot.metrics import Metrics
from bot.relay import errors
from bot.relay.errors import MissingRight
from bot.relay.texts import Texts, texts_for, topic_title
from storage import Conversation, Database, UserProfile, UserState

logger = logging.getLogger(__name__)

# Telegram's colours for topic icons; a user's topic gets one picked by their id.
TOPIC_ICON_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)


class LanguageCache:
    """Users' language codes as stored, so that operator-side updates need no extra query.

    Bounded: the least recently used entries go first; a missing one is read again.
    """

    def __init__(self, db: Database, *, size: int = 10_000) -> None:
        self._db = db
        self._size = size
        self._codes: OrderedDict[int, str | None] = OrderedDict()

    def remember(self, user_id: int, language_code: str | None) -> None:
        self._codes[user_id] = language_code
        self._codes.move_to_end(user_id)
        while len(self._codes) > self._size:
            self._codes.popitem(last=False)

    def forget(self, user_id: int) -> None:
        self._codes.pop(user_id, None)

    async def language_code(self, user_id: int) -> str | None:
        if user_id in self._codes:
            self._codes.move_to_end(user_id)
            return self._codes[user_id]
        stored = await self._db.people.get(user_id)
        code = stored.language_code if stored is not None else None
        self.remember(user_id, code)
        return code

    async def texts(self, user_id: int) -> Texts:
        """The texts in the user's language, for notes about them and texts to them."""
        return texts_for(await self.language_code(user_id))


class Topics:
    """The users' topics in the operator group, and the profiles they are named after."""

    def __init__(self, *, bot: Bot, db: Database, group_id: int, me: int, metrics: Metrics) -> None:
        self._bot = bot
        self._db = db
        self._group = group_id
        self._me = me
        self._metrics = metrics
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self.languages = LanguageCache(db)

    @asynccontextmanager
    async def lock(self, user_id: int) -> AsyncIterator[None]:
        """One user's updates one at a time, whoever calls (the engine already orders them)."""
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        async with lock:
            yield

    def topic_of(self, message: Message) -> int | None:
        """The forum topic of an operator group message; None for General and other chats."""
        if message.chat.id != self._group or not message.is_topic_message:
            return None
        return message.message_thread_id

    def sent_by_me(self, message: Message) -> bool:
        return message.from_user is not None and message.from_user.id == self._me

    async def open(self, user: User, state: UserState) -> Conversation:
        """The user's conversation, active: created, reopened, renamed as needed."""
        conversation = state.conversation
        if conversation is None:
            return await self.create(user, replacing=None)
        if not conversation.active:
            try:
                await self._bot.reopen_forum_topic(
                    chat_id=self._group, message_thread_id=conversation.topic_id
                )
            except TelegramBadRequest as error:
                if errors.topic_gone(error):
                    return await self.create(user, replacing=conversation.topic_id)
                right = errors.missing_right(error)
                if right is not None:
                    raise MissingRight(right) from error
                if not errors.topic_not_modified(error):  # already open: fine
                    raise
            await self._db.conversations.set(user.id, conversation.topic_id, True)
            conversation = Conversation(user.id, conversation.topic_id, True)
            logger.info("Reopened topic %d for user %d", conversation.topic_id, user.id)
        await self._sync_profile(user, conversation, state.user)
        return conversation

    async def create(self, user: User, *, replacing: int | None) -> Conversation:
        """Create the user's topic, record it, and post the user card in it.

        Raises `MissingRight` when the bot may not create topics (Manage topics was taken away).
        """
        try:
            topic = await self._bot.create_forum_topic(
                chat_id=self._group,
                name=topic_title(user),
                icon_color=TOPIC_ICON_COLORS[user.id % len(TOPIC_ICON_COLORS)],
            )
        except TelegramBadRequest as error:
            right = errors.missing_right(error)
            if right is None:
                raise
            raise MissingRight(right) from error
        self._metrics.topic_created()
        conversation = Conversation(user.id, topic.message_thread_id, True)
        # Recorded before anything else is sent: whatever fails next, a retry finds this topic
        # instead of creating another one.
        async with self._db.transaction():
            await self._db.conversations.set(user.id, conversation.topic_id, True)
            await self._save_profile(user, user.language_code)
        if replacing is None:
            logger.info("Created topic %d for user %d", conversation.topic_id, user.id)
        else:
            logger.info(
                "Created topic %d for user %d, replacing topic %d",
                conversation.topic_id,
                user.id,
                replacing,
            )
        await self._bot.send_message(
            chat_id=self._group,
            text=texts_for(user.language_code).user_card(user),
            message_thread_id=conversation.topic_id,
        )
        return conversation

    async def _sync_profile(
        self, user: User, conversation: Conversation, stored: UserProfile | None
    ) -> None:
        """A new name, username or language: rename the topic if need be, update the profile."""
        if stored is None:
            await self._save_profile(user, user.language_code)
            return
        # Telegram does not always send language_code: none means "unchanged", not "gone".
        language_code = user.language_code or stored.language_code
        self.languages.remember(user.id, language_code)
        name = (user.username, user.first_name, user.last_name)
        renamed = (stored.username, stored.first_name, stored.last_name) != name
        if not renamed and stored.language_code == language_code:
            return
        if renamed:
            try:
                await self._bot.edit_forum_topic(
                    chat_id=self._group,
                    message_thread_id=conversation.topic_id,
                    name=topic_title(user),
                )
                logger.info(
                    "Renamed topic %d after user %d's new name", conversation.topic_id, user.id
                )
            except TelegramBadRequest as error:
                # Not modified (the title did not change), the topic is gone (the copy that
                # follows re-creates it with the new title), or no right to rename: none of
                # them is worth holding the user's message back.
                logger.info(
                    "Could not rename topic %d of user %d: %s",
                    conversation.topic_id,
                    user.id,
                    error.message,
                )
        await self._save_profile(user, language_code)

    async def _save_profile(self, user: User, language_code: str | None) -> None:
        """The user's row: name, username and language (None keeps the stored one)."""
        await self._db.people.save(
            user.id, user.username, user.first_name, user.last_name, language_code=language_code
        )
        if language_code is not None:
            self.languages.remember(user.id, language_code)
        else:
            self.languages.forget(user.id)  # read from the database when next needed
