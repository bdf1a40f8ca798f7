"""Operators' commands in the operator group: /info /close /ban /unban /export /stats /help.

Commands never reach the user (the relay does not copy bot commands). Each answers in the place
it was given, as a reply to it, in the language of the operator who gave it. A command with
arguments it does not take, or given where it does not work, gets a one-line answer saying so.

Like every update, a command may be handled again after a crash; each is safe to repeat (a
second /ban finds the user banned, a second /close finds the conversation closed).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BufferedInputFile,
    Message,
    ReplyParameters,
    User,
)

from bot.config import Settings
from bot.relay import errors, texts
from bot.relay.content import shorten_plain
from bot.relay.service import Relay
from bot.relay.stats import collect_stats, format_stats
from bot.relay.texts import Texts
from bot.relay.transcript import render_transcript, transcript_filename
from storage import Conversation, Database, UserProfile

logger = logging.getLogger(__name__)

# The operators' commands, in menu order, with their arguments for usage answers.
TOPIC_COMMANDS = {
    "info": "/info",
    "close": "/close",
    "ban": "/ban [reason]",
    "unban": "/unban",
    "export": "/export",
}
GROUP_COMMANDS = {"stats": "/stats", "retry": "/retry", "help": "/help"}
USAGE = {**TOPIC_COMMANDS, **GROUP_COMMANDS}
# A ban reason is shown in notes; a long one is cut to keep the note within Telegram's limit.
BAN_REASON_LIMIT = 1000

Command = Literal["info", "close", "ban", "unban", "export", "stats", "retry", "help"]


class OperatorCommands:
    """What the operators' commands do. Handlers call one method per command."""

    def __init__(
        self,
        *,
        bot: Bot,
        db: Database,
        settings: Settings,
        relay: Relay,
        retry_failed: Callable[[], Awaitable[int]],
    ) -> None:
        self._bot = bot
        self._retry_failed = retry_failed
        self._db = db
        self._settings = settings
        self._relay = relay
        self._group = settings.OPERATOR_CHAT_ID
        self._timezone = ZoneInfo(settings.TIMEZONE)
        self._hours = settings.working_hours()

    # --- the command menu ----------------------------------------------------------------------

    async def register_menu(self) -> None:
        """setMyCommands: /start in private chats, the operators' commands in the group only.

        A failure is logged and the bot runs on: the menu is a convenience.
        """
        for language, lang in texts.LANGUAGES.items():
            code = None if language == "en" else language
            operator_menu = [
                BotCommand(command=name, description=lang.command_descriptions[name])
                for name in USAGE
            ]
            try:
                await self._bot.set_my_commands(
                    [BotCommand(command="start", description=lang.start_description)],
                    scope=BotCommandScopeAllPrivateChats(),
                    language_code=code,
                )
                await self._bot.set_my_commands(
                    operator_menu,
                    scope=BotCommandScopeChat(chat_id=self._group),
                    language_code=code,
                )
            except TelegramAPIError as error:
                logger.warning("Cannot set the command menu (%s): %s", language, error)
                return
        logger.info("Command menus set for private chats and the operator group")

    # --- commands ------------------------------------------------------------------------------

    async def run(self, command: Command, message: Message, args: str | None) -> None:
        """Check where and how `command` was given, then do it."""
        lang = texts.texts_for(message.from_user.language_code if message.from_user else None)
        args = (args or "").strip() or None
        if args is not None and command != "ban":
            await self._answer(message, lang.usage.format(usage=USAGE[command]))
            return
        if command == "stats":
            await self._stats(message, lang)
            return
        if command == "help":
            await self._answer(message, self.help_text(lang))
            return
        if command == "retry":
            count = await self._retry_failed()
            text = lang.retry_started.format(count=count) if count else lang.retry_nothing
            await self._answer(message, text)
            return
        topic_id = message.message_thread_id if message.is_topic_message else None
        if topic_id is None:
            await self._answer(message, lang.only_in_topic.format(command=f"/{command}"))
            return
        conversation = await self._db.conversations.by_topic(topic_id)
        if conversation is None:
            await self._answer(message, lang.not_a_conversation)
            return
        if command == "info":
            await self._info(message, lang, conversation)
        elif command == "close":
            await self._close(message, lang, conversation)
        elif command == "ban":
            await self._ban(message, lang, conversation, args)
        elif command == "unban":
            await self._unban(message, lang, conversation)
        else:
            await self._export(message, lang, conversation)

    async def unknown(self, message: Message, command: str) -> None:
        lang = texts.texts_for(message.from_user.language_code if message.from_user else None)
        await self._answer(message, lang.unknown_command.format(command=html.escape(command)))

    def help_text(self, lang: Texts) -> str:
        prefix = self._settings.NOTE_PREFIX
        prefix_line = (
            lang.help_note_prefix.format(prefix=html.escape(prefix))
            if prefix
            else lang.help_no_notes
        )
        hours_line = (
            lang.help_hours.format(
                hours=html.escape(self._hours.text), timezone=html.escape(self._settings.TIMEZONE)
            )
            if self._hours is not None
            else lang.help_always_open
        )
        return lang.help.format(prefix_line=prefix_line, hours_line=hours_line)

    async def _info(self, message: Message, lang: Texts, conversation: Conversation) -> None:
        user_id = conversation.user_id
        state = await self._db.people.state(user_id)
        activity = await self._db.reports.activity(user_id)
        ban = state.ban
        card = lang.user_card(_as_telegram_user(user_id, state.user), premium_known=False)
        lines = [card, ""]
        if activity.first_seen is not None:
            first = datetime.fromisoformat(activity.first_seen).astimezone(self._timezone)
            lines.append(f"{lang.info_first_contact}: {first:%Y-%m-%d %H:%M} ({self._timezone})")
        lines.append(
            lang.info_messages.format(
                from_user=activity.from_user, from_operators=activity.from_operators
            )
        )
        if ban is None:
            lines.append(lang.info_not_banned)
        elif ban.reason:
            lines.append(lang.info_banned.format(reason=html.escape(ban.reason)))
        else:
            lines.append(lang.info_banned_no_reason)
        lines.append(lang.info_open if conversation.active else lang.info_closed)
        await self._answer(message, "\n".join(lines))

    async def _close(self, message: Message, lang: Texts, conversation: Conversation) -> None:
        if not conversation.active:
            await self._answer(message, lang.already_closed)
            return
        try:
            await self._bot.close_forum_topic(
                chat_id=self._group, message_thread_id=conversation.topic_id
            )
        except TelegramBadRequest as error:
            # Closed in Telegram already, or deleted: the conversation ends all the same.
            if not (errors.topic_not_modified(error) or errors.topic_gone(error)):
                raise
        await self._relay.end_conversation(conversation.user_id, conversation.topic_id)
        # Last: a retry after a failure above must not post it twice. The bot manages topics,
        # so it may still write in the closed one.
        operator = texts.person(message.from_user, lang)
        await self._answer(message, lang.closed_by.format(operator=operator))

    async def _ban(
        self, message: Message, lang: Texts, conversation: Conversation, reason: str | None
    ) -> None:
        if reason is not None:
            reason = shorten_plain(reason, BAN_REASON_LIMIT)
        operator = message.from_user
        banned = await self._db.people.ban(
            conversation.user_id,
            reason=reason,
            banned_by=operator.id if operator is not None else None,
        )
        if not banned:
            await self._answer(message, lang.already_banned)
            return
        logger.info("User %d banned by %s", conversation.user_id, operator.id if operator else "?")
        name = texts.person(operator, lang)
        if reason is None:
            note = lang.banned_note.format(operator=name)
        else:
            note = lang.banned_note_reason.format(operator=name, reason=html.escape(reason))
        await self._answer(message, note)

    async def _unban(self, message: Message, lang: Texts, conversation: Conversation) -> None:
        if not await self._db.people.unban(conversation.user_id):
            await self._answer(message, lang.not_banned)
            return
        logger.info("User %d unbanned", conversation.user_id)
        await self._answer(
            message, lang.unbanned_note.format(operator=texts.person(message.from_user, lang))
        )

    async def _export(self, message: Message, lang: Texts, conversation: Conversation) -> None:
        user_id = conversation.user_id
        messages = await self._db.log.history(user_id)
        if not messages:
            await self._answer(message, lang.export_empty)
            return
        stored = await self._db.people.get(user_id) or UserProfile(user_id, None, None, None)
        now = datetime.now(UTC)
        document = render_transcript(
            user=stored,
            messages=messages,
            generated_at=now,
            timezone=self._timezone,
            links=await self._db.log.links(user_id),
        )
        filename = transcript_filename(user_id, now.astimezone(self._timezone))
        await self._bot.send_document(
            chat_id=self._group,
            message_thread_id=message.message_thread_id,
            document=BufferedInputFile(document, filename=filename),
            caption=lang.export_caption.format(count=len(messages)),
            reply_parameters=_reply_to(message),
        )
        logger.info("Transcript of user %d: %d messages", user_id, len(messages))

    async def _stats(self, message: Message, lang: texts.Texts) -> None:
        stats = await collect_stats(self._db, now=datetime.now(UTC), timezone=self._timezone)
        await self._answer(message, format_stats(stats, lang))

    async def _answer(self, message: Message, text: str) -> None:
        """A reply to the command, in its topic (or General)."""
        await self._bot.send_message(
            chat_id=message.chat.id,
            message_thread_id=message.message_thread_id if message.is_topic_message else None,
            text=text,
            reply_parameters=_reply_to(message),
        )


def _reply_to(message: Message) -> ReplyParameters:
    return ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)


def _as_telegram_user(user_id: int, stored: UserProfile | None) -> User:
    """The stored profile in the shape of Telegram's User, for the user card."""
    if stored is None:
        return User(id=user_id, is_bot=False, first_name="")
    return User(
        id=user_id,
        is_bot=False,
        first_name=stored.first_name or "",
        last_name=stored.last_name,
        username=stored.username,
        language_code=stored.language_code,
    )
