"""`Copier`: a message (or album) copied along a route, its copy linked to it.

The chain for one message: `copyMessage`; a caption longer than a bot may send is shortened and
the full text follows as a reply to the copy; what Telegram will not copy is forwarded (a user's
message only: a forward would show an operator's name) and, failing that, a note says what was
sent. An album goes in one `copyMessages` call, so that it stays an album.

Every update may be handled more than once (the delivery engine retries after transient failures
and after a crash): before copying, the copier looks for the link recorded after an earlier copy,
and records each link right after its copy.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import CopyMessage, CopyMessages, ForwardMessage, SendMessage, TelegramMethod
from aiogram.types import Message, MessageEntity

from bot import logs
from bot.metrics import Metrics
from bot.relay import content, errors
from bot.relay.notices import Notices
from bot.relay.routes import Direction, Route, reply
from bot.relay.topics import Topics
from storage import Database

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Copier:
    """Copies messages along routes and records what stands for what."""

    def __init__(
        self, *, bot: Bot, db: Database, topics: Topics, notices: Notices, metrics: Metrics
    ) -> None:
        self._bot = bot
        self._db = db
        self._topics = topics
        self._notices = notices
        self._metrics = metrics

    async def send(self, route: Route, method: TelegramMethod[T]) -> T:
        """Make a Bot API call that puts something along the route, and return its result.

        Into the operators' topic, the call carries the topic's thread id. If the topic turns
        out to be gone (an operator deleted it: Telegram sends no update, a send fails), a new
        topic is opened, with the user card, and the same call is made there: nothing is lost,
        and nothing lands in General for want of a thread id.
        """
        try:
            return await self._bot(_in_thread(method, route.thread_id))
        except TelegramBadRequest as error:
            if not (route.into_topic and errors.topic_gone(error)):
                raise
        assert route.user is not None  # a route into a topic comes from a user's message
        logger.warning(
            "Topic %d of user %d is gone (deleted?); creating a new one",
            route.topic_id,
            route.user_id,
        )
        conversation = await self._topics.create(route.user, replacing=route.topic_id)
        route.moved_to(conversation.topic_id)
        logs.bind(topic_id=route.topic_id)
        return await self._bot(_in_thread(method, route.thread_id))

    async def reply_target(self, message: Message, target_chat_id: int) -> int | None:
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
        return await self._copy_id(message.chat.id, replied.message_id, target_chat_id)

    async def _copy_id(self, chat_id: int, message_id: int, target_chat_id: int) -> int | None:
        link = await self._db.log.find_link(
            source_chat_id=chat_id, source_message_id=message_id, target_chat_id=target_chat_id
        )
        return None if link is None else link.target_message_id

    # --- one message ---------------------------------------------------------------------------

    async def relay(self, route: Route, source: Message, reply_to: int | None) -> None:
        """Copy one message along the route (once, however often the update is handled)."""
        main = await self._copy_id(source.chat.id, source.message_id, route.chat_id)
        cut = content.caption_too_long(source)
        if main is None:
            copied = await self._copy(route, source, reply_to)
            if copied is None:
                main = await self._unsupported(route, source, reply_to)
                if main is None:
                    return
                cut = False
            else:
                main, cut = copied
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

    async def _copy(
        self, route: Route, source: Message, reply_to: int | None
    ) -> tuple[int, bool] | None:
        """copyMessage, else (a user's message only) forwardMessage; None when refused.

        Returns the copy's id, and whether its caption was shortened (the full text must follow).
        """
        caption: str | None = None
        entities: list[MessageEntity] | None = None
        if content.caption_too_long(source) and source.caption is not None:
            caption, entities = content.shorten(
                source.caption, source.caption_entities, content.CAPTION_LIMIT
            )
        try:
            copied = await self.send(route, copy_of(source, route, reply_to, caption, entities))
            return copied.message_id, caption is not None
        except TelegramBadRequest as error:
            refusal = error
        if errors.caption_too_long(refusal) and source.caption and caption is None:
            # Telegram counted differently from us: leave a wide margin.
            caption, entities = content.shorten(
                source.caption, source.caption_entities, content.CAPTION_LIMIT // 2
            )
            try:
                copied = await self.send(route, copy_of(source, route, reply_to, caption, entities))
                return copied.message_id, True
            except TelegramBadRequest as error:
                refusal = error
        kind = content.kind(source)
        if not route.into_topic:
            # A forward would show the operator's name: operators answer as the bot, always.
            logger.info(
                "Cannot copy %s message %d of chat %d (%s); not forwarding an operator's message",
                kind,
                source.message_id,
                source.chat.id,
                refusal.message,
            )
            return None
        logger.info(
            "Cannot copy %s message %d of chat %d (%s); forwarding it",
            kind,
            source.message_id,
            source.chat.id,
            refusal.message,
        )
        forward = ForwardMessage(
            chat_id=route.chat_id, from_chat_id=source.chat.id, message_id=source.message_id
        )
        try:
            forwarded = await self.send(route, forward)
        except TelegramBadRequest as error:
            logger.warning(
                "Cannot forward %s message %d of chat %d either (%s)",
                kind,
                source.message_id,
                source.chat.id,
                error.message,
            )
            return None
        return forwarded.message_id, False

    async def _unsupported(self, route: Route, source: Message, reply_to: int | None) -> int | None:
        """Neither copy nor forward worked: a note in the topic says what was sent.

        Returns the note's id when it stands in for the message (user → operators).
        """
        kind = content.kind(source)
        note_id: int | None = None
        if route.into_topic:
            note = SendMessage(
                chat_id=route.chat_id,
                text=route.texts.note_unsupported(kind),
                reply_parameters=reply(reply_to),
            )
            note_id = (await self.send(route, note)).message_id
        else:
            reason = route.texts.why_unsupported(kind)
            await self._notices.note_in_topic(
                route.topic_id, route.texts.note_undelivered(reason), reply_to=source.message_id
            )
        # Counted once the note is out: a retry after a failed note does not count it twice.
        self._metrics.delivery_failed("unsupported")
        return note_id

    # --- albums --------------------------------------------------------------------------------

    async def relay_album(self, route: Route, album: list[Message]) -> None:
        """An album stays an album: its items go in one copyMessages call."""
        copies: dict[int, int] = {}
        pending: list[Message] = []
        for item in album:
            linked = await self._copy_id(item.chat.id, item.message_id, route.chat_id)
            if linked is None:
                pending.append(item)
            else:
                copies[item.message_id] = linked
        # A bot cannot send a caption longer than 1024 characters, and copyMessages cannot
        # change captions: it can only drop them all. Then each caption follows as text.
        cut = any(content.caption_too_long(item) for item in album)
        if pending:
            try:
                new_ids = await self._copy_album(route, pending, drop_captions=cut)
            except TelegramBadRequest as error:
                if cut or not errors.caption_too_long(error):
                    logger.info(
                        "Cannot copy album of chat %d (%s); relaying its items one by one",
                        pending[0].chat.id,
                        error.message,
                    )
                    for item in pending:
                        await self.relay(route, item, None)
                    return
                cut = True
                new_ids = await self._copy_album(route, pending, drop_captions=True)
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

    async def _copy_album(
        self, route: Route, items: list[Message], *, drop_captions: bool
    ) -> list[int]:
        copied = await self.send(
            route,
            CopyMessages(
                chat_id=route.chat_id,
                from_chat_id=items[0].chat.id,
                message_ids=[item.message_id for item in items],
                remove_caption=True if drop_captions else None,
            ),
        )
        return [copy.message_id for copy in copied]

    async def _album_incomplete(
        self, route: Route, pending: list[Message], new_ids: list[int]
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
            await self.log(route.user_id, route.direction, item)
        texts, counts = route.texts, {"copied": len(new_ids), "total": len(pending)}
        if route.into_topic:
            note = texts.album_incomplete_note.format(**counts)
            reply_to = new_ids[0] if new_ids else None
        else:
            note = texts.note_undelivered(texts.reason_album_incomplete.format(**counts))
            reply_to = pending[0].message_id
        await self._notices.note_in_topic(route.topic_id, note, reply_to=reply_to)
        self._metrics.delivery_failed("unsupported")

    # --- long captions and further parts -------------------------------------------------------

    async def _ensure_full_text(self, route: Route, source: Message, main: int) -> None:
        """The full caption, as a text replying to the copy whose caption was cut or dropped."""
        parts = await self._db.log.parts(
            source_chat_id=source.chat.id,
            source_message_id=source.message_id,
            target_chat_id=route.chat_id,
        )
        if len(parts) > 1 or source.caption is None:
            return  # sent before this update was retried
        await self.send_text_part(
            route, source, source.caption, source.caption_entities, reply_to=main
        )

    async def send_text_part(
        self,
        route: Route,
        source: Message,
        text: str,
        entities: list[MessageEntity] | None,
        *,
        reply_to: int,
    ) -> int:
        """A text standing for (part of) `source`, linked back to it; returns its id.

        A text longer than a message may be goes as several messages, each replying to the one
        before, so that nothing of it is lost (a full caption after an "✏️ Edited:" marker).
        """
        first: int | None = None
        for part, part_entities in content.split(text, entities, content.TEXT_LIMIT):
            sent = await self.send(
                route,
                SendMessage(
                    chat_id=route.chat_id,
                    text=part,
                    entities=part_entities,
                    parse_mode=None,
                    reply_parameters=reply(reply_to),
                ),
            )
            await self.link_part(route, source, sent.message_id)
            first = sent.message_id if first is None else first
            reply_to = sent.message_id
        assert first is not None  # split always gives at least one part
        return first

    async def link_part(self, route: Route, source: Message, target_message_id: int) -> None:
        """Record that `target_message_id` in the route's chat stands for (part of) `source`.

        The source keeps its first copy as its link; this adds the way back from the part, so
        that a reply to it threads to the source too.
        """
        await self._db.log.link(
            user_id=route.user_id,
            source_chat_id=source.chat.id,
            source_message_id=source.message_id,
            target_chat_id=route.chat_id,
            target_message_id=target_message_id,
        )

    # --- the log -------------------------------------------------------------------------------

    async def _record(self, route: Route, source: Message, target_message_id: int) -> None:
        """Log the source message and link it to what stands for it in the other chat."""
        # The user's profile row is already current: Topics.open wrote it if it changed.
        await self._db.log.add_relayed(
            user_id=route.user_id,
            direction=route.direction,
            **content.logged_fields(source),
            target_chat_id=route.chat_id,
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
            route.chat_id,
            target_message_id,
        )

    async def log(self, user_id: int, direction: Direction, source: Message) -> None:
        """Record a message in the conversation's log (ignored when recorded already)."""
        await self._db.log.add(
            user_id=user_id, direction=direction, **content.logged_fields(source)
        )


def copy_of(
    source: Message,
    route: Route,
    reply_to: int | None,
    caption: str | None,
    entities: list[MessageEntity] | None,
) -> CopyMessage:
    """copyMessage of `source` along the route; `caption` (with its entities) replaces the
    original caption when given."""
    return CopyMessage(
        chat_id=route.chat_id,
        from_chat_id=source.chat.id,
        message_id=source.message_id,
        caption=caption,
        caption_entities=entities,
        # Without a caption the copy keeps the original entities; with one, the entities are
        # given: nothing may be re-parsed as HTML.
        parse_mode=None,
        reply_parameters=reply(reply_to),
    )


def _in_thread(method: TelegramMethod[T], thread_id: int | None) -> TelegramMethod[T]:
    """The call with the thread id of the route (None outside a forum topic)."""
    return method.model_copy(update={"message_thread_id": thread_id})
