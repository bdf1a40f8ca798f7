"""`Relay`: the rules of the support desk, between the handlers and Telegram / storage.

User -> operators: each user has one forum topic in the operator group, created on their first
real message (with a user card), reopened when they write after it was closed, re-created when
it was deleted. Their messages are copied into it; operators' messages in it are copied back.

Every update may be handled more than once (the delivery engine retries after transient
failures and after a crash), so before copying anything the relay looks for the link recorded
after an earlier copy, and records each link right after its copy.

Error handling: transient errors (429, 5xx, network) propagate, and the engine retries the whole
update. Permanent ones are handled here, where their meaning is known (see `bot.relay.errors`).
"""

from __future__ import annotations

import asyncio
import html
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, TypedDict

from aiogram import Bot
from aiogram.enums import ChatMemberStatus, ContentType
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import (
    ChatMemberUpdated,
    Message,
    MessageEntity,
    MessageReactionUpdated,
    ReactionTypeEmoji,
    ReplyParameters,
    User,
)

from bot import logs
from bot.checks import BotIdentity
from bot.config import Settings
from bot.metrics import Metrics
from bot.relay import content, errors, texts
from bot.relay.routes import Destination, UserChat, UserTopic
from bot.relay.texts import Texts
from storage import Ban, Conversation, Database, UserProfile, UserState

logger = logging.getLogger(__name__)

UserText = Literal["welcome", "closed", "banned", "offline"]

# Telegram's colours for topic icons; a user's topic gets one picked by their id.
TOPIC_ICON_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)


class _LoggedFields(TypedDict):
    """What the conversation's log keeps of a message (`Database.log_message`'s fields)."""

    chat_id: int
    message_id: int
    content_type: str
    text: str | None
    caption: str | None
    file_id: str | None
    payload_json: str | None


def _logged_fields(source: Message) -> _LoggedFields:
    return {
        "chat_id": source.chat.id,
        "message_id": source.message_id,
        "content_type": content.kind(source),
        "text": source.text,
        "caption": source.caption,
        "file_id": content.file_id(source),
        "payload_json": content.payload_json(source),
    }


def _reply(message_id: int | None) -> ReplyParameters | None:
    """Reply parameters that never make a send fail when the target is gone."""
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


@dataclass
class _Route:
    """One direction of one conversation, for the handling of one update."""

    direction: Literal["user", "operator"]
    user_id: int
    dest: Destination
    # The user's language: of texts sent to them and of notes about them in the topic.
    lang: Texts
    # The operators' topic of this conversation (the destination itself, for user -> operators).
    topic_id: int | None = None


@dataclass(frozen=True)
class _Copied:
    message_id: int
    caption_cut: bool  # the copy carries a shortened caption: the full text must follow


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
        self._bot = bot
        self._metrics = metrics if metrics is not None else Metrics()
        self._db = db
        self._settings = settings
        self._group = settings.OPERATOR_CHAT_ID
        self._me = identity.me.id
        # One user's updates are already handled one at a time by the delivery engine; the lock
        # keeps it so for any other caller too (two first messages must not create two topics).
        self._user_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._hours = settings.working_hours()
        # Users' language codes as stored, so that operator-side updates need no extra query.
        self._languages: dict[int, str | None] = {}

    # ============================================================================================
    # The user's side: the private chat
    # ============================================================================================

    async def welcome(self, message: Message) -> None:
        """`/start`: the welcome text. No topic yet: it comes with the first real message."""
        user = message.from_user
        if user is not None:
            ban = await self._db.people.get_ban(user.id)
            if ban is not None:
                await self._refuse_banned(user, [message], ban)
                return
        language = user.language_code if user is not None else None
        text = self.user_text("welcome", language)
        await self._send_configured_text(message.chat.id, text)

    async def user_message(self, message: Message, album: list[Message] | None = None) -> None:
        """A user's message (or album) goes to their topic, creating or reopening it.

        A banned user's message is logged and goes no further. Outside working hours the user
        is told so once per closed period.
        """
        user = message.from_user
        if user is None or not content.is_relayed(message):
            return
        logs.bind(user_id=user.id)
        async with self._user_lock(user.id):
            state = await self._db.people.state(user.id)
            if state.ban is not None:
                await self._refuse_banned(user, album or [message], state.ban)
                return
            conversation = await self._open_conversation(user, state)
            logs.bind(topic_id=conversation.topic_id)
            route = self._to_operators(user, conversation)
            if album and len(album) > 1:
                await self._relay_album(route, album)
            else:
                reply_to = await self._reply_target(message, self._group)
                await self._relay_single(route, message, reply_to)
            await self._tell_if_offline(user, message, state.offline_notice_for)

    async def user_edit(self, message: Message) -> None:
        """A user edited a message: update its copy in the topic (a banned user's: the log)."""
        user = message.from_user
        if user is None or not content.is_relayed(message):
            return
        async with self._user_lock(user.id):
            state = await self._db.people.state(user.id)
            if state.ban is not None:
                await self._update_logged(message)
                return
            copy_id = await self._db.find_linked_message_id(
                source_chat_id=message.chat.id,
                source_message_id=message.message_id,
                target_chat_id=self._group,
            )
            conversation = state.conversation
            if copy_id is None or conversation is None:
                logger.debug("Edit of unrelayed message %d of user %d", message.message_id, user.id)
                return
            await self._mirror_edit(self._to_operators(user, conversation), message, copy_id)

    async def user_reaction(self, event: MessageReactionUpdated) -> None:
        """A user's reaction is mirrored on the linked message in the topic (not a banned one's)."""
        if await self._db.people.get_ban(event.chat.id) is not None:
            return
        target = await self._db.find_linked_message_id(
            source_chat_id=event.chat.id,
            source_message_id=event.message_id,
            target_chat_id=self._group,
        )
        if target is not None:
            await self._set_reaction(self._group, target, event)

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
            lang = await self._texts_of(event.chat.id)
            note = lang.user_blocked if blocked else lang.user_unblocked
            await self._note_in_topic(conversation.topic_id, note)

    # ============================================================================================
    # The operators' side: the forum group
    # ============================================================================================

    async def operator_message(self, message: Message, album: list[Message] | None = None) -> None:
        """An operator's message in a user's topic goes to that user.

        Never relayed: messages in General, in topics of no active conversation, service
        messages, bot commands.
        """
        topic_id = self._topic_of(message)
        if topic_id is None or not content.is_relayed(message) or content.is_command(message):
            return
        prefix = self._settings.NOTE_PREFIX
        if any(content.is_note(item, prefix) for item in album or [message]):
            logger.debug("Internal note %d in topic %d", message.message_id, topic_id)
            return
        user_id = await self._db.conversations.user_by_topic(topic_id)
        if user_id is None:
            return
        logs.bind(user_id=user_id, topic_id=topic_id)
        lang = await self._texts_of(user_id)
        route = _Route("operator", user_id, UserChat(user_id), lang, topic_id=topic_id)
        try:
            if album and len(album) > 1:
                await self._relay_album(route, album)
            else:
                reply_to = await self._reply_target(message, user_id)
                await self._relay_single(route, message, reply_to)
        except TelegramForbiddenError as error:
            await self._note_undelivered(route, message.message_id, error)

    async def operator_edit(self, message: Message) -> None:
        """An operator edited a message: update its copy in the user's chat."""
        topic_id = self._topic_of(message)
        if topic_id is None or not content.is_relayed(message):
            return
        link = await self._db.log.find_link(
            source_chat_id=message.chat.id, source_message_id=message.message_id
        )
        if link is None:
            return
        lang = await self._texts_of(link.user_id)
        route = _Route(
            "operator", link.user_id, UserChat(link.target_chat_id), lang, topic_id=topic_id
        )
        try:
            await self._mirror_edit(route, message, link.target_message_id)
        except TelegramForbiddenError as error:
            await self._note_undelivered(route, message.message_id, error)

    async def operator_reaction(self, event: MessageReactionUpdated) -> None:
        """An operator's reaction is mirrored on the linked message in the user's chat."""
        link = await self._db.log.find_link(
            source_chat_id=event.chat.id, source_message_id=event.message_id
        )
        if link is not None and link.target_chat_id != self._group:
            await self._set_reaction(link.target_chat_id, link.target_message_id, event)

    async def topic_closed(self, message: Message) -> None:
        """An operator closed a topic: the conversation ends, and the user is told."""
        topic_id = message.message_thread_id
        if topic_id is None or self._sent_by_me(message):
            return
        user_id = await self._db.conversations.user_by_topic(topic_id)
        if user_id is None:
            return
        await self.end_conversation(user_id, topic_id)

    async def end_conversation(self, user_id: int, topic_id: int) -> None:
        """The topic was closed: the conversation is inactive, and the user gets CLOSED_TEXT."""
        await self._db.conversations.deactivate(user_id)
        logger.info("Topic %d closed: conversation of user %d is inactive", topic_id, user_id)
        text = self.user_text("closed", await self._language_of(user_id))
        if text:
            await self._send_configured_text(user_id, text)

    async def topic_reopened(self, message: Message) -> None:
        """An operator reopened a topic: its conversation is active again."""
        topic_id = message.message_thread_id
        if topic_id is None or self._sent_by_me(message):
            return  # the bot's own reopen already did this
        conversation = await self._db.conversations.by_topic(topic_id)
        if conversation is None or conversation.active:
            return
        await self._db.conversations.set(conversation.user_id, topic_id, True)
        logger.info(
            "Topic %d reopened: conversation of user %d is active", topic_id, conversation.user_id
        )

    # ============================================================================================
    # Conversations and topics
    # ============================================================================================

    @asynccontextmanager
    async def _user_lock(self, user_id: int) -> AsyncIterator[None]:
        lock = self._user_locks.get(user_id)
        if lock is None:
            lock = self._user_locks[user_id] = asyncio.Lock()
        async with lock:
            yield

    def _to_operators(self, user: User, conversation: Conversation) -> _Route:
        topic = UserTopic(
            chat_id=self._group, user=user, conversation=conversation, new_topic=self._new_topic
        )
        lang = texts.texts_for(user.language_code)
        return _Route("user", user.id, topic, lang, topic_id=conversation.topic_id)

    async def _open_conversation(self, user: User, state: UserState) -> Conversation:
        """The user's conversation, active: created, reopened, renamed as needed."""
        conversation = state.conversation
        if conversation is None:
            return await self._new_topic(user, replacing=None)
        if not conversation.active:
            try:
                await self._bot.reopen_forum_topic(
                    chat_id=self._group, message_thread_id=conversation.topic_id
                )
            except TelegramBadRequest as error:
                if errors.topic_gone(error):
                    return await self._new_topic(user, replacing=conversation.topic_id)
                if not errors.topic_not_modified(error):  # already open: fine
                    raise
            await self._db.conversations.set(user.id, conversation.topic_id, True)
            conversation = Conversation(user.id, conversation.topic_id, True)
            logger.info("Reopened topic %d for user %d", conversation.topic_id, user.id)
        await self._sync_profile(user, conversation, state.user)
        return conversation

    async def _new_topic(self, user: User, *, replacing: int | None) -> Conversation:
        """Create the user's topic, record it, and post the user card in it."""
        topic = await self._bot.create_forum_topic(
            chat_id=self._group,
            name=texts.topic_title(user),
            icon_color=TOPIC_ICON_COLORS[user.id % len(TOPIC_ICON_COLORS)],
        )
        self._metrics.topic_created()
        conversation = Conversation(user.id, topic.message_thread_id, True)
        # Recorded before anything else is sent: whatever fails next, a retry finds this topic
        # instead of creating another one.
        async with self._db.transaction():
            await self._db.conversations.set(user.id, conversation.topic_id, True)
            await self._store_profile(user)  # a savepoint of this transaction
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
            text=texts.texts_for(user.language_code).user_card(user),
            message_thread_id=conversation.topic_id,
        )
        return conversation

    async def _sync_profile(
        self, user: User, conversation: Conversation, stored: UserProfile | None
    ) -> None:
        """A new name, username or language: rename the topic if need be, update the profile."""
        if stored is None:
            await self._store_profile(user)
            return
        # Telegram does not always send language_code: none means "unchanged", not "gone".
        language = user.language_code or stored.language_code
        self._languages[user.id] = language
        name = (user.username, user.first_name, user.last_name)
        renamed = (stored.username, stored.first_name, stored.last_name) != name
        if not renamed and stored.language_code == language:
            return
        if renamed:
            try:
                await self._bot.edit_forum_topic(
                    chat_id=self._group,
                    message_thread_id=conversation.topic_id,
                    name=texts.topic_title(user),
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
        await self._store_profile(user, language)

    async def _store_profile(self, user: User, language: str | None = None) -> None:
        """The user's row: name, username and language (`language`, else the update's).

        Without a language (Telegram does not always send one) the stored one stays.
        """
        language = language or user.language_code
        await self._db.people.save(
            user.id, user.username, user.first_name, user.last_name, language_code=language
        )
        if language is not None:
            self._languages[user.id] = language
        else:
            self._languages.pop(user.id, None)  # read from the database when next needed

    def _topic_of(self, message: Message) -> int | None:
        """The forum topic of an operator group message; None for General and other chats."""
        if message.chat.id != self._group or not message.is_topic_message:
            return None
        return message.message_thread_id

    def _sent_by_me(self, message: Message) -> bool:
        return message.from_user is not None and message.from_user.id == self._me

    # ============================================================================================
    # Copying messages
    # ============================================================================================

    async def _reply_target(self, message: Message, target_chat_id: int) -> int | None:
        """The message the copy should reply to in the target chat, if any.

        In a forum topic every message that is not an explicit reply still carries
        `reply_to_message`: the topic's `forum_topic_created` message. That is not a reply.
        """
        replied = message.reply_to_message
        if replied is None:
            return None
        if replied.forum_topic_created is not None or (
            message.is_topic_message and replied.message_id == message.message_thread_id
        ):
            return None
        return await self._db.find_linked_message_id(
            source_chat_id=message.chat.id,
            source_message_id=replied.message_id,
            target_chat_id=target_chat_id,
        )

    async def _relay_single(self, route: _Route, source: Message, reply_to: int | None) -> None:
        main = await self._db.find_linked_message_id(
            source_chat_id=source.chat.id,
            source_message_id=source.message_id,
            target_chat_id=route.dest.chat_id,
        )
        cut = content.caption_too_long(source)
        if main is None:
            copied = await self._copy(route, source, reply_to)
            if copied is None:
                main = await self._unsupported(route, source, reply_to)
                if main is None:
                    return
                cut = False
            else:
                main, cut = copied.message_id, copied.caption_cut
            await self._record(route, source, main)
        else:
            logger.info(
                "Message %d of chat %d was already relayed as %d; not copying it again",
                source.message_id,
                source.chat.id,
                main,
            )
        if cut:
            await self._ensure_full_text(route, source, main)

    async def _copy(self, route: _Route, source: Message, reply_to: int | None) -> _Copied | None:
        """copyMessage, else (a user's message only) forwardMessage; None when refused."""
        dest = route.dest
        caption: str | None = None
        entities: list[MessageEntity] | None = None
        if content.caption_too_long(source) and source.caption is not None:
            caption, entities = content.shorten(
                source.caption, source.caption_entities, content.CAPTION_LIMIT
            )

        async def copy(thread_id: int | None) -> int:
            copied = await self._bot.copy_message(
                chat_id=dest.chat_id,
                from_chat_id=source.chat.id,
                message_id=source.message_id,
                message_thread_id=thread_id,
                caption=caption,
                caption_entities=entities,
                # Without a caption the copy keeps the original entities; with one, the
                # entities are given: nothing may be re-parsed as HTML.
                parse_mode=None,
                reply_parameters=_reply(reply_to),
            )
            return copied.message_id

        try:
            return _Copied(await dest.call(copy), caption is not None)
        except TelegramBadRequest as error:
            refusal = error
        if errors.caption_too_long(refusal) and source.caption and caption is None:
            # Telegram counted differently from us: leave a wide margin.
            caption, entities = content.shorten(
                source.caption, source.caption_entities, content.CAPTION_LIMIT // 2
            )
            try:
                return _Copied(await dest.call(copy), True)
            except TelegramBadRequest as error:
                refusal = error
        if route.direction == "operator":
            # A forward would show the operator's name: operators answer as the bot, always.
            logger.info(
                "Cannot copy %s message %d of chat %d (%s); not forwarding an operator's message",
                content.kind(source),
                source.message_id,
                source.chat.id,
                refusal.message,
            )
            return None
        logger.info(
            "Cannot copy %s message %d of chat %d (%s); forwarding it",
            content.kind(source),
            source.message_id,
            source.chat.id,
            refusal.message,
        )

        async def forward(thread_id: int | None) -> int:
            forwarded = await self._bot.forward_message(
                chat_id=dest.chat_id,
                from_chat_id=source.chat.id,
                message_id=source.message_id,
                message_thread_id=thread_id,
            )
            return forwarded.message_id

        try:
            return _Copied(await dest.call(forward), False)
        except TelegramBadRequest as error:
            logger.warning(
                "Cannot forward %s message %d of chat %d either (%s)",
                content.kind(source),
                source.message_id,
                source.chat.id,
                error.message,
            )
        return None

    async def _unsupported(
        self, route: _Route, source: Message, reply_to: int | None
    ) -> int | None:
        """Neither copy nor forward worked: a note in the topic says what was sent.

        Returns the note's id when it stands in for the message (user -> operators).
        """
        if route.direction == "user":

            async def note(thread_id: int | None) -> int:
                sent = await self._bot.send_message(
                    chat_id=route.dest.chat_id,
                    text=route.lang.note_unsupported(content.kind(source)),
                    message_thread_id=thread_id,
                    reply_parameters=_reply(reply_to),
                )
                return sent.message_id

            note_id = await route.dest.call(note)
            self._metrics.delivery_failed("unsupported")
            return note_id
        assert route.topic_id is not None
        reason = route.lang.why_unsupported(content.kind(source))
        await self._note_in_topic(
            route.topic_id, route.lang.note_undelivered(reason), reply_to=source.message_id
        )
        self._metrics.delivery_failed("unsupported")
        return None

    async def _relay_album(self, route: _Route, album: list[Message]) -> None:
        """An album stays an album: its items go in one copyMessages call."""
        dest = route.dest
        copies: dict[int, int] = {}
        pending: list[Message] = []
        for item in album:
            linked = await self._db.find_linked_message_id(
                source_chat_id=item.chat.id,
                source_message_id=item.message_id,
                target_chat_id=dest.chat_id,
            )
            if linked is None:
                pending.append(item)
            else:
                copies[item.message_id] = linked
        # A bot cannot send a caption longer than 1024 characters, and copyMessages cannot
        # change captions: it can only drop them all. Then each caption follows as text.
        cut = any(content.caption_too_long(item) for item in album)
        if pending:
            ids = [item.message_id for item in pending]

            async def copy(thread_id: int | None) -> list[int]:
                copied = await self._bot.copy_messages(
                    chat_id=dest.chat_id,
                    from_chat_id=pending[0].chat.id,
                    message_ids=ids,
                    message_thread_id=thread_id,
                    remove_caption=True if cut else None,
                )
                return [c.message_id for c in copied]

            try:
                new_ids = await dest.call(copy)
            except TelegramBadRequest as error:
                if not (errors.caption_too_long(error) and not cut):
                    logger.info(
                        "Cannot copy album of chat %d (%s); relaying its items one by one",
                        pending[0].chat.id,
                        error.message,
                    )
                    for item in pending:
                        await self._relay_single(route, item, None)
                    return
                cut = True
                new_ids = await dest.call(copy)
            if len(new_ids) != len(pending):
                await self._album_incomplete(route, pending, new_ids)
                return
            async with self._db.transaction():
                for item, new_id in zip(pending, new_ids, strict=True):
                    await self._record(route, item, new_id)
                    copies[item.message_id] = new_id
        if cut:
            for item in album:
                if item.caption:
                    await self._ensure_full_text(route, item, copies[item.message_id])

    async def _album_incomplete(
        self, route: _Route, pending: list[Message], new_ids: list[int]
    ) -> None:
        """copyMessages copied only some items (deleted meanwhile, or not copyable).

        It does not say which: the copies cannot be linked to their sources. The items are
        logged all the same, and the operators are told what is missing, next to the album.
        """
        logger.warning(
            "copyMessages copied %d of %d album items of chat %d; links not recorded",
            len(new_ids),
            len(pending),
            pending[0].chat.id,
        )
        for item in pending:
            await self._log(route.user_id, route.direction, item)
        assert route.topic_id is not None
        lang, counts = route.lang, {"copied": len(new_ids), "total": len(pending)}
        if route.direction == "user":
            note = lang.album_incomplete_note.format(**counts)
            reply_to = new_ids[0] if new_ids else None
        else:
            note = lang.note_undelivered(lang.reason_album_incomplete.format(**counts))
            reply_to = pending[0].message_id
        await self._note_in_topic(route.topic_id, note, reply_to=reply_to)
        self._metrics.delivery_failed("unsupported")

    async def _ensure_full_text(self, route: _Route, source: Message, main: int) -> None:
        """The full caption, as a text replying to the copy whose caption was cut or dropped."""
        parts = await self._db.log.parts(
            source_chat_id=source.chat.id,
            source_message_id=source.message_id,
            target_chat_id=route.dest.chat_id,
        )
        if len(parts) > 1 or source.caption is None:
            return  # sent before this update was retried
        await self._send_text_part(
            route, source, source.caption, source.caption_entities, reply_to=main
        )

    async def _send_text_part(
        self,
        route: _Route,
        source: Message,
        text: str,
        entities: list[MessageEntity] | None,
        *,
        reply_to: int,
    ) -> int:
        """A text standing for (part of) `source`, linked back to it."""
        text, entities = content.shorten(text, entities, content.TEXT_LIMIT)

        async def send(thread_id: int | None) -> int:
            sent = await self._bot.send_message(
                chat_id=route.dest.chat_id,
                text=text,
                entities=entities,
                parse_mode=None,
                message_thread_id=thread_id,
                reply_parameters=_reply(reply_to),
            )
            return sent.message_id

        message_id = await route.dest.call(send)
        # The source keeps its first copy as its link; this adds the way back from the part,
        # so that a reply to it threads to the source too.
        await self._link(route, source, message_id)
        return message_id

    async def _link(self, route: _Route, source: Message, target_message_id: int) -> None:
        """Record that `target_message_id` in the route's chat stands for `source`."""
        await self._db.log.link(
            user_id=route.user_id,
            source_chat_id=source.chat.id,
            source_message_id=source.message_id,
            target_chat_id=route.dest.chat_id,
            target_message_id=target_message_id,
        )

    async def _record(self, route: _Route, source: Message, target_message_id: int) -> None:
        """Log the source message and link it to what stands for it in the other chat."""
        # The user's profile row is already current: _open_conversation wrote it if it changed.
        await self._db.log.add_relayed(
            user_id=route.user_id,
            direction=route.direction,
            **_logged_fields(source),
            target_chat_id=route.dest.chat_id,
            target_message_id=target_message_id,
        )
        # Once per copy: a retried update finds the link and does not come here again.
        self._metrics.message_relayed(route.direction, content.kind(source))
        logs.bind(user_id=route.user_id, topic_id=route.topic_id)
        logger.info(
            "Relayed %s message %d of chat %d to chat %d as %d",
            content.kind(source),
            source.message_id,
            source.chat.id,
            route.dest.chat_id,
            target_message_id,
        )

    # ============================================================================================
    # Edits
    # ============================================================================================

    async def _log(
        self, user_id: int, direction: Literal["user", "operator"], source: Message
    ) -> None:
        """Record a message in the conversation's log (ignored when recorded already)."""
        await self._db.log.add(user_id=user_id, direction=direction, **_logged_fields(source))

    async def _mirror_edit(self, route: _Route, edited: Message, copy_id: int) -> None:
        """Apply an edit to the copy; when that cannot be done, post the new version."""
        kind = content.kind(edited)
        chat_id = route.dest.chat_id
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
                await self._update_logged(edited)
                return
        if cut and edited.caption:
            text, entities = content.prefixed(
                route.lang.edited_marker + "\n", edited.caption, edited.caption_entities
            )
            await self._send_text_part(route, edited, text, entities, reply_to=copy_id)
        await self._update_logged(edited)
        logger.info("Mirrored edit of message %d of chat %d", edited.message_id, edited.chat.id)

    async def _media_replaced(self, edited: Message) -> bool:
        """Did the edit put another file in the message (not only change its caption)?"""
        logged = await self._db.log.get(chat_id=edited.chat.id, message_id=edited.message_id)
        if logged is None:
            return False
        before: str | None = logged.file_id
        if logged.payload_json:
            try:
                old = Message.model_validate_json(logged.payload_json)
            except ValueError:
                old = None
            if old is not None:
                return content.file_unique_id(old) != content.file_unique_id(edited)
        return before != content.file_id(edited)

    async def _post_edited_version(self, route: _Route, edited: Message, copy_id: int) -> None:
        """The new version of an edited message as a reply to its copy, marked as edited."""
        marker = route.lang.edited_marker + "\n"
        if content.kind(edited) == ContentType.TEXT and edited.text is not None:
            text, entities = content.prefixed(marker, edited.text, edited.entities)
            await self._send_text_part(route, edited, text, entities, reply_to=copy_id)
            return
        full, full_entities = content.prefixed(
            marker, edited.caption or "", edited.caption_entities
        )
        caption, entities = content.shorten(full, full_entities, content.CAPTION_LIMIT)

        async def copy(thread_id: int | None) -> int:
            copied = await self._bot.copy_message(
                chat_id=route.dest.chat_id,
                from_chat_id=edited.chat.id,
                message_id=edited.message_id,
                message_thread_id=thread_id,
                caption=caption,
                caption_entities=entities,
                parse_mode=None,
                reply_parameters=_reply(copy_id),
            )
            return copied.message_id

        new_id = await route.dest.call(copy)
        await self._link(route, edited, new_id)
        if caption != full:
            await self._send_text_part(route, edited, full, full_entities, reply_to=new_id)

    async def _update_logged(self, edited: Message) -> None:
        await self._db.log.update(**_logged_fields(edited))

    # ============================================================================================
    # Reactions, notes, configured texts
    # ============================================================================================

    async def _set_reaction(
        self, chat_id: int, message_id: int, event: MessageReactionUpdated
    ) -> None:
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

    async def _note_in_topic(
        self, topic_id: int, text: str, *, reply_to: int | None = None
    ) -> int | None:
        """A note for the operators in a topic; dropped (and logged) if the topic is gone."""
        try:
            sent = await self._bot.send_message(
                chat_id=self._group,
                text=text,
                message_thread_id=topic_id,
                reply_parameters=_reply(reply_to),
            )
        except TelegramBadRequest as error:
            logger.warning("Cannot post a note in topic %d: %s", topic_id, error.message)
            return None
        return sent.message_id

    async def _note_undelivered(
        self, route: _Route, message_id: int, error: TelegramForbiddenError
    ) -> None:
        lang, topic_id = route.lang, route.topic_id
        assert topic_id is not None
        if errors.user_blocked(error):
            reason, label = lang.reason_blocked, "blocked"
        elif errors.user_deactivated(error):
            reason, label = lang.reason_deactivated, "deactivated"
        else:
            reason, label = lang.why_refused(error.message), "refused"
        logger.info("Message %d of topic %d not delivered: %s", message_id, topic_id, error.message)
        await self._note_in_topic(topic_id, lang.note_undelivered(reason), reply_to=message_id)
        # Counted once the note is out: a retry after a failed note does not count it twice.
        self._metrics.delivery_failed(label)

    async def _send_configured_text(self, chat_id: int, text: str) -> None:
        """A text for a user (welcome, closed, banned, offline): HTML, or plain text when the HTML
        of a configured text does not parse."""
        try:
            await self._bot.send_message(chat_id=chat_id, text=text)
        except TelegramForbiddenError as error:
            logger.info("Cannot write to user %d: %s", chat_id, error.message)
        except TelegramBadRequest as error:
            if not errors.cant_parse_entities(error):
                logger.warning("Cannot write to user %d: %s", chat_id, error.message)
                return
            logger.warning(
                "The configured text is not valid HTML (%s); sent as plain text", error.message
            )
            try:
                await self._bot.send_message(chat_id=chat_id, text=text, parse_mode=None)
            except (TelegramBadRequest, TelegramForbiddenError) as again:
                logger.warning("Cannot write to user %d: %s", chat_id, again.message)

    # ============================================================================================
    # Languages, bans, working hours
    # ============================================================================================

    def user_text(self, kind: UserText, language_code: str | None) -> str:
        """The text of `kind` for a user: the setting when it is set (for everyone; empty means
        none), else the built-in text in the user's language."""
        configured = {
            "welcome": self._settings.WELCOME_TEXT,
            "closed": self._settings.CLOSED_TEXT,
            "banned": self._settings.BANNED_TEXT,
            "offline": self._settings.OFFLINE_TEXT,
        }[kind]
        if configured is not None:
            return configured
        lang = texts.texts_for(language_code)
        if kind == "offline":
            if self._hours is None:
                return lang.offline
            hours = lang.offline_hours.format(
                hours=html.escape(self._hours.text), timezone=html.escape(self._settings.TIMEZONE)
            )
            return f"{lang.offline}\n{hours}"
        text: str = getattr(lang, kind)
        return text

    async def _language_of(self, user_id: int) -> str | None:
        if user_id not in self._languages:
            stored = await self._db.people.get(user_id)
            self._languages[user_id] = stored.language_code if stored is not None else None
        return self._languages[user_id]

    async def _texts_of(self, user_id: int) -> Texts:
        """The texts in the user's language, for notes about them and texts to them."""
        return texts.texts_for(await self._language_of(user_id))

    async def _refuse_banned(self, user: User, messages: list[Message], ban: Ban) -> None:
        """A banned user's message: logged, not relayed; BANNED_TEXT once per ban."""
        for message in messages:
            await self._log(user.id, "user", message)
        logger.info(
            "Message %d of banned user %d logged, not relayed", messages[0].message_id, user.id
        )
        if ban.notified:
            return
        text = self.user_text("banned", user.language_code)
        if text:
            await self._send_configured_text(user.id, text)
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
        text = self.user_text("offline", user.language_code)
        if text:
            await self._send_configured_text(user.id, text)
        await self._db.conversations.set_offline_notice(user.id, period)
        logger.info("User %d told that the desk is closed (since %s)", user.id, period)
