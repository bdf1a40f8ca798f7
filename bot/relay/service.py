"""`Relay`: the rules of the support desk, between the handlers and Telegram / storage.

User -> operators: each user has one forum topic in the operator group, created on their first
real message (with a user card), reopened when they write after it was closed, re-created when
it was deleted. Their messages are copied into it; operators' messages in it are copied back.

The relay decides who may reach whom (bans, internal notes, working hours) and hands the work
to its parts: `Topics` (the user's topic and profile), `Copier` (copies and links), `Mirror`
(edits and reactions) and `Notices` (what the bot itself says).

Error handling: transient errors (429, 5xx, network) propagate, and the engine retries the whole
update. Permanent ones are handled where their meaning is known (see `bot.relay.errors`).
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import ChatMemberUpdated, Message, MessageReactionUpdated, User

from bot import logs
from bot.checks import BotIdentity
from bot.config import Settings
from bot.metrics import Metrics
from bot.relay import content, errors
from bot.relay.copier import Copier
from bot.relay.mirror import Mirror
from bot.relay.notices import Notices
from bot.relay.routes import Route
from bot.relay.states import ConversationStates, DeskTimers
from bot.relay.texts import texts_for
from bot.relay.topics import Topics
from storage import Ban, Database

logger = logging.getLogger(__name__)


class Relay:
    """Relays messages, edits and reactions between users and the operators' forum topics."""

    def __init__(
        self,
        *,
        bot: Bot,
        db: Database,
        settings: Settings,
        identity: BotIdentity,
        metrics: Metrics | None = None,
    ) -> None:
        metrics = metrics if metrics is not None else Metrics()
        self._bot = bot
        self._db = db
        self._settings = settings
        self._group = settings.OPERATOR_CHAT_ID
        self._hours = settings.working_hours()
        self.topics = Topics(
            bot=bot, db=db, group_id=self._group, me=identity.me.id, metrics=metrics
        )
        self.notices = Notices(bot=bot, settings=settings, metrics=metrics)
        self._copier = Copier(
            bot=bot, db=db, topics=self.topics, notices=self.notices, metrics=metrics
        )
        self._mirror = Mirror(bot=bot, db=db, copier=self._copier)
        timers = DeskTimers(
            remind_after=settings.REMIND_AFTER,
            auto_close_after=settings.AUTO_CLOSE_AFTER,
            hours=self._hours,
        )
        self.states = ConversationStates(db=db, timers=timers)

    # --- the user's side: the private chat -----------------------------------------------------

    async def welcome(self, message: Message) -> None:
        """`/start`: the welcome text. No topic yet: it comes with the first real message."""
        user = message.from_user
        if user is not None:
            ban = await self._db.people.get_ban(user.id)
            if ban is not None:
                await self._refuse_banned(user, [message], ban)
                return
        language_code = user.language_code if user is not None else None
        await self.notices.tell_user(message.chat.id, "welcome", language_code)

    async def user_message(self, message: Message, album: list[Message] | None = None) -> None:
        """A user's message (or album) goes to their topic, creating or reopening it.

        A banned user's message is logged and goes no further. Outside working hours the user
        is told so once per closed period.
        """
        user = message.from_user
        if user is None or not content.is_relayed(message):
            return
        logs.bind(user_id=user.id)
        async with self.topics.lock(user.id):
            state = await self._db.people.state(user.id)
            if state.ban is not None:
                await self._refuse_banned(user, album or [message], state.ban)
                return
            conversation = await self.topics.open(user, state)
            logs.bind(topic_id=conversation.topic_id)
            # The customer waits from the moment they wrote, whatever the copy meets on its way.
            await self.states.customer_wrote(user.id, message.date)
            route = Route.to_operators(
                user,
                chat_id=self._group,
                topic_id=conversation.topic_id,
                texts=texts_for(user.language_code),
            )
            if album and len(album) > 1:
                await self._copier.relay_album(route, album)
            else:
                reply_to = await self._copier.reply_target(message, self._group)
                await self._copier.relay(route, message, reply_to)
            await self._tell_if_offline(user, message, state.offline_notice_for)

    async def user_edit(self, message: Message) -> None:
        """A user edited a message: update its copy in the topic (a banned user's: the log)."""
        user = message.from_user
        if user is None or not content.is_relayed(message):
            return
        async with self.topics.lock(user.id):
            state = await self._db.people.state(user.id)
            if state.ban is not None:
                await self._mirror.update_logged(message)
                return
            link = await self._db.log.find_link(
                source_chat_id=message.chat.id,
                source_message_id=message.message_id,
                target_chat_id=self._group,
            )
            conversation = state.conversation
            if link is None or conversation is None:
                logger.debug("Edit of unrelayed message %d of user %d", message.message_id, user.id)
                return
            route = Route.to_operators(
                user,
                chat_id=self._group,
                topic_id=conversation.topic_id,
                texts=texts_for(user.language_code),
            )
            await self._mirror.edit(route, message, link.target_message_id)

    async def user_reaction(self, event: MessageReactionUpdated) -> None:
        """A user's reaction is mirrored on the linked message in the topic (not a banned one's)."""
        if await self._db.people.get_ban(event.chat.id) is not None:
            return
        link = await self._db.log.find_link(
            source_chat_id=event.chat.id,
            source_message_id=event.message_id,
            target_chat_id=self._group,
        )
        if link is not None:
            await self._mirror.react(self._group, link.target_message_id, event)

    async def user_membership(self, event: ChatMemberUpdated) -> None:
        """The user blocked or unblocked the bot: say so in their topic, if they have one."""
        old, new = event.old_chat_member.status, event.new_chat_member.status
        if new == ChatMemberStatus.KICKED and old != ChatMemberStatus.KICKED:
            blocked = True
        elif old == ChatMemberStatus.KICKED and new == ChatMemberStatus.MEMBER:
            blocked = False
        else:
            return
        logger.info("User %d %s the bot", event.chat.id, "blocked" if blocked else "unblocked")
        conversation = await self._db.conversations.get(event.chat.id)
        if conversation is not None:
            texts = await self.topics.languages.texts(event.chat.id)
            note = texts.user_blocked if blocked else texts.user_unblocked
            await self.notices.note_in_topic(conversation.topic_id, note)

    # --- the operators' side: the forum group --------------------------------------------------

    async def operator_message(self, message: Message, album: list[Message] | None = None) -> None:
        """An operator's message in a user's topic goes to that user.

        Never relayed: messages in General, in topics of no active conversation, service
        messages, bot commands, internal notes.
        """
        topic_id = self.topics.topic_of(message)
        if topic_id is None or not content.is_relayed(message) or content.is_command(message):
            await self.states.operator_seen(message.from_user)
            return
        prefix = self._settings.NOTE_PREFIX
        if any(content.is_note(item, prefix) for item in album or [message]):
            logger.debug("Internal note %d in topic %d", message.message_id, topic_id)
            await self.states.operator_seen(message.from_user)
            return
        user_id = await self._db.conversations.user_by_topic(topic_id)
        if user_id is None:
            return
        logs.bind(user_id=user_id, topic_id=topic_id)
        texts = await self.topics.languages.texts(user_id)
        route = Route.to_user(user_id, topic_id=topic_id, texts=texts)
        # Answered from the moment an operator wrote to the customer, even when the customer
        # cannot receive it: the operator did their part (and a note below says why).
        await self.states.operator_answered(user_id, message.from_user, message.date)
        try:
            if album and len(album) > 1:
                await self._copier.relay_album(route, album)
            else:
                reply_to = await self._copier.reply_target(message, user_id)
                await self._copier.relay(route, message, reply_to)
        except TelegramForbiddenError as error:
            await self.notices.undelivered(route, message.message_id, error)

    async def operator_edit(self, message: Message) -> None:
        """An operator edited a message: update its copy in the user's chat."""
        topic_id = self.topics.topic_of(message)
        if topic_id is None or not content.is_relayed(message):
            return
        link = await self._db.log.find_link(
            source_chat_id=message.chat.id, source_message_id=message.message_id
        )
        if link is None:
            return
        texts = await self.topics.languages.texts(link.user_id)
        route = Route.to_user(link.user_id, topic_id=topic_id, texts=texts)
        try:
            await self._mirror.edit(route, message, link.target_message_id)
        except TelegramForbiddenError as error:
            await self.notices.undelivered(route, message.message_id, error)

    async def operator_reaction(self, event: MessageReactionUpdated) -> None:
        """An operator's reaction is mirrored on the linked message in the user's chat."""
        link = await self._db.log.find_link(
            source_chat_id=event.chat.id, source_message_id=event.message_id
        )
        if link is not None and link.target_chat_id != self._group:
            await self._mirror.react(link.target_chat_id, link.target_message_id, event)

    async def topic_closed(self, message: Message) -> None:
        """An operator closed a topic: the conversation ends, and the user is told."""
        topic_id = message.message_thread_id
        if topic_id is None or self.topics.sent_by_me(message):
            return
        user_id = await self._db.conversations.user_by_topic(topic_id)
        if user_id is None:
            return
        await self.end_conversation(user_id, topic_id)

    async def close_topic(self, topic_id: int) -> None:
        """Close the topic in Telegram; one closed already, or deleted, is fine too."""
        try:
            await self._bot.close_forum_topic(chat_id=self._group, message_thread_id=topic_id)
        except TelegramBadRequest as error:
            if not (errors.topic_not_modified(error) or errors.topic_gone(error)):
                raise

    async def reopen_topic(self, topic_id: int) -> None:
        """Reopen the topic in Telegram; one open already, or deleted, is fine too."""
        try:
            await self._bot.reopen_forum_topic(chat_id=self._group, message_thread_id=topic_id)
        except TelegramBadRequest as error:
            if not (errors.topic_not_modified(error) or errors.topic_gone(error)):
                raise

    async def end_conversation(self, user_id: int, topic_id: int) -> None:
        """The topic was closed: the conversation is inactive, and the user gets CLOSED_TEXT."""
        if not await self.states.closed(user_id):
            return  # closed already: the customer was told then
        logger.info("Topic %d closed: conversation of user %d is inactive", topic_id, user_id)
        language_code = await self.topics.languages.language_code(user_id)
        await self.notices.tell_user(user_id, "closed", language_code)

    async def topic_reopened(self, message: Message) -> None:
        """An operator reopened a topic: its conversation is active again."""
        topic_id = message.message_thread_id
        if topic_id is None or self.topics.sent_by_me(message):
            return  # the bot's own reopen already did this
        conversation = await self._db.conversations.by_topic(topic_id)
        if conversation is None or conversation.active:
            return
        await self.states.reopened(conversation.user_id, topic_id, message.date)
        logger.info(
            "Topic %d reopened: conversation of user %d is active", topic_id, conversation.user_id
        )

    # --- bans and working hours ----------------------------------------------------------------

    async def _refuse_banned(self, user: User, messages: list[Message], ban: Ban) -> None:
        """A banned user's message: logged, not relayed; BANNED_TEXT once per ban."""
        for message in messages:
            await self._copier.log(user.id, "user", message)
        logger.info(
            "Message %d of banned user %d logged, not relayed", messages[0].message_id, user.id
        )
        if ban.notified:
            return
        await self.notices.tell_user(user.id, "banned", user.language_code)
        await self._db.people.mark_ban_notified(user.id)

    async def _tell_if_offline(self, user: User, message: Message, told_for: str | None) -> None:
        """Outside working hours: OFFLINE_TEXT, once per conversation per closed period.

        `told_for`: the period the user was last told about, as read before relaying.
        """
        if self._hours is None:
            return
        closed_since = self._hours.closed_since(message.date)
        if closed_since is None:
            return
        period = closed_since.isoformat()
        if told_for == period:
            return
        await self.notices.tell_user(user.id, "offline", user.language_code)
        await self._db.conversations.set_offline_notice(user.id, period)
        logger.info("User %d told that the desk is closed (since %s)", user.id, period)
