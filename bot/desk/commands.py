"""Operators' commands in the operator group.

In a customer's topic: /info /close /ban /unban /export /assign /unassign. Anywhere in the group
(General, mostly): /queue /mine /stats /retry /help.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
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
from bot.desk.queue import QUEUE_LENGTH, operator_name, render_queue
from bot.desk.stats import collect_stats, format_duration, format_stats
from bot.desk.transcript import render_transcript, transcript_filename
from bot.relay.content import shorten_plain
from bot.relay.service import Relay
from bot.relay.texts import LANGUAGES, Texts, person, texts_for
from storage import Conversation, Database, OperatorProfile, UserProfile

logger = logging.getLogger(__name__)

# A ban reason is shown in notes; a long one is cut to keep the note within Telegram's limit.
BAN_REASON_LIMIT = 1000


@dataclass(frozen=True)
class Invocation:
    """A command as an operator gave it: the message, their language, its arguments."""

    message: Message
    texts: Texts
    args: str | None  # None: none given


@dataclass(frozen=True)
class TopicCommand:
    """A command about one customer: given in their topic."""

    usage: str
    run: Callable[[OperatorCommands, Invocation, Conversation], Awaitable[None]]
    takes_args: bool = False


@dataclass(frozen=True)
class GroupCommand:
    """A command about the desk: given anywhere in the operator group."""

    usage: str
    run: Callable[[OperatorCommands, Invocation], Awaitable[None]]
    takes_args: bool = False


class OperatorCommands:
    """What the operators' commands do; `COMMANDS` (below the class) maps each name to its
    method. Handlers call `run` with the command's name."""

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
        for language_code, texts in LANGUAGES.items():
            code = None if language_code == "en" else language_code
            operator_menu = [
                BotCommand(command=name, description=texts.command_descriptions[name])
                for name in COMMANDS
            ]
            try:
                await self._bot.set_my_commands(
                    [BotCommand(command="start", description=texts.start_description)],
                    scope=BotCommandScopeAllPrivateChats(),
                    language_code=code,
                )
                await self._bot.set_my_commands(
                    operator_menu,
                    scope=BotCommandScopeChat(chat_id=self._group),
                    language_code=code,
                )
            except TelegramAPIError as error:
                logger.warning("Cannot set the command menu (%s): %s", language_code, error)
                return
        logger.info("Command menus set for private chats and the operator group")

    # --- commands ------------------------------------------------------------------------------

    async def run(self, name: str, message: Message, args: str | None) -> None:
        """Check where and how the command `name` (one of `COMMANDS`) was given, then do it."""
        operator = message.from_user
        call = Invocation(
            message=message,
            texts=texts_for(operator.language_code if operator is not None else None),
            args=(args or "").strip() or None,
        )
        await self._relay.states.operator_seen(operator)
        command = COMMANDS[name]
        if call.args is not None and not command.takes_args:
            await self._answer(message, call.texts.usage.format(usage=command.usage))
            return
        if isinstance(command, GroupCommand):
            await command.run(self, call)
            return
        topic_id = message.message_thread_id if message.is_topic_message else None
        if topic_id is None:
            await self._answer(message, call.texts.only_in_topic.format(command=f"/{name}"))
            return
        conversation = await self._db.conversations.by_topic(topic_id)
        if conversation is None:
            await self._answer(message, call.texts.not_a_conversation)
            return
        await command.run(self, call, conversation)

    async def unknown(self, message: Message, command: str) -> None:
        operator = message.from_user
        texts = texts_for(operator.language_code if operator is not None else None)
        await self._answer(message, texts.unknown_command.format(command=html.escape(command)))

    # --- in General (or anywhere in the group) -------------------------------------------------

    async def stats(self, call: Invocation) -> None:
        stats = await collect_stats(self._db, now=datetime.now(UTC), timezone=self._timezone)
        await self._answer(call.message, format_stats(stats, call.texts))

    async def retry(self, call: Invocation) -> None:
        count = await self._retry_failed()
        texts = call.texts
        await self._answer(
            call.message, texts.retry_started.format(count=count) if count else texts.retry_nothing
        )

    async def help(self, call: Invocation) -> None:
        await self._answer(call.message, self.help_text(call.texts))

    def help_text(self, texts: Texts) -> str:
        prefix = self._settings.NOTE_PREFIX
        prefix_line = (
            texts.help_note_prefix.format(prefix=html.escape(prefix))
            if prefix
            else texts.help_no_notes
        )
        hours_line = (
            texts.help_hours.format(
                hours=html.escape(self._hours.text), timezone=html.escape(self._settings.TIMEZONE)
            )
            if self._hours is not None
            else texts.help_always_open
        )
        return texts.help.format(prefix_line=prefix_line, hours_line=hours_line)

    # --- in a customer's topic -----------------------------------------------------------------

    async def info(self, call: Invocation, conversation: Conversation) -> None:
        texts, user_id = call.texts, conversation.user_id
        state = await self._db.people.state(user_id)
        activity = await self._db.reports.activity(user_id)
        ban = state.ban
        card = texts.user_card(_as_telegram_user(user_id, state.user), premium_known=False)
        lines = [card, ""]
        if activity.first_seen is not None:
            first = datetime.fromisoformat(activity.first_seen).astimezone(self._timezone)
            lines.append(f"{texts.info_first_contact}: {first:%Y-%m-%d %H:%M} ({self._timezone})")
        lines.append(
            texts.info_messages.format(
                from_user=activity.from_user, from_operators=activity.from_operators
            )
        )
        if ban is None:
            lines.append(texts.info_not_banned)
        elif ban.reason:
            lines.append(texts.info_banned.format(reason=html.escape(ban.reason)))
        else:
            lines.append(texts.info_banned_no_reason)
        desk = await self._db.conversations.desk_state(user_id)
        if desk is not None:
            lines.append(texts.info_state.format(state=texts.state_names[desk.state]))
            if desk.waiting_since is not None:
                waited = datetime.now(UTC) - datetime.fromisoformat(desk.waiting_since)
                lines.append(texts.info_waiting.format(wait=format_duration(waited, texts)))
            if desk.assignee is not None:
                operator = html.escape(operator_name(desk.assignee))
                lines.append(texts.info_assignee.format(operator=operator))
            else:
                lines.append(texts.info_unassigned)
        await self._answer(call.message, "\n".join(lines))

    async def close(self, call: Invocation, conversation: Conversation) -> None:
        if not conversation.active:
            await self._answer(call.message, call.texts.already_closed)
            return
        await self._relay.close_topic(conversation.topic_id)
        await self._relay.end_conversation(conversation.user_id, conversation.topic_id)
        # Last: a retry after a failure above must not post it twice. The bot manages topics,
        # so it may still write in the closed one.
        operator = person(call.message.from_user, call.texts)
        await self._answer(call.message, call.texts.closed_by.format(operator=operator))

    async def ban(self, call: Invocation, conversation: Conversation) -> None:
        texts = call.texts
        reason = None if call.args is None else shorten_plain(call.args, BAN_REASON_LIMIT)
        operator = call.message.from_user
        banned = await self._db.people.ban(
            conversation.user_id,
            reason=reason,
            banned_by=operator.id if operator is not None else None,
        )
        if not banned:
            await self._answer(call.message, texts.already_banned)
            return
        await self._relay.states.banned(conversation.user_id)
        logger.info("User %d banned by %s", conversation.user_id, operator.id if operator else "?")
        name = person(operator, texts)
        if reason is None:
            note = texts.banned_note.format(operator=name)
        else:
            note = texts.banned_note_reason.format(operator=name, reason=html.escape(reason))
        await self._answer(call.message, note)

    async def unban(self, call: Invocation, conversation: Conversation) -> None:
        if not await self._db.people.unban(conversation.user_id):
            await self._answer(call.message, call.texts.not_banned)
            return
        logger.info("User %d unbanned", conversation.user_id)
        operator = person(call.message.from_user, call.texts)
        await self._answer(call.message, call.texts.unbanned_note.format(operator=operator))

    async def export(self, call: Invocation, conversation: Conversation) -> None:
        user_id = conversation.user_id
        messages = await self._db.log.history(user_id)
        if not messages:
            await self._answer(call.message, call.texts.export_empty)
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
            message_thread_id=call.message.message_thread_id,
            document=BufferedInputFile(document, filename=filename),
            caption=call.texts.export_caption.format(count=len(messages)),
            reply_parameters=_reply_to(call.message),
        )
        logger.info("Transcript of user %d: %d messages", user_id, len(messages))

    async def assign(self, call: Invocation, conversation: Conversation) -> None:
        """Hand the conversation over: to the operator whose message the command replies to,
        to `@username`, or (neither) to the operator who gave it."""
        texts, message = call.texts, call.message
        operator: OperatorProfile | None
        if call.args is not None:
            username = call.args.split()[0].removeprefix("@")
            operator = await self._db.people.operator_by_username(username)
            if operator is None:
                unknown = texts.assign_unknown.format(username=html.escape(username))
                await self._answer(message, unknown)
                return
        else:
            target = _replied_to(message) or message.from_user
            # A bot: the bot's copy of a customer's message or one of its notes, or an
            # anonymous administrator (who writes as GroupAnonymousBot).
            if target is None or target.is_bot:
                await self._answer(message, texts.assign_not_an_operator)
                return
            operator = OperatorProfile(
                user_id=target.id,
                username=target.username,
                first_name=target.first_name,
                last_name=target.last_name,
            )
        await self._relay.states.assigned(conversation.user_id, operator)
        logger.info(
            "Conversation of user %d assigned to %d", conversation.user_id, operator.user_id
        )
        await self._answer(
            message,
            texts.assigned.format(
                operator=html.escape(operator_name(operator)),
                by=person(message.from_user, texts),
            ),
        )

    async def unassign(self, call: Invocation, conversation: Conversation) -> None:
        desk = await self._db.conversations.desk_state(conversation.user_id)
        if desk is None or desk.assignee is None:
            await self._answer(call.message, call.texts.already_unassigned)
            return
        await self._relay.states.assigned(conversation.user_id, None)
        logger.info("Conversation of user %d unassigned", conversation.user_id)
        by = person(call.message.from_user, call.texts)
        await self._answer(call.message, call.texts.unassigned.format(by=by))

    async def queue(self, call: Invocation) -> None:
        """Who waits for an answer, longest first: the board's list, on demand."""
        queue = await self._db.desk.queue(limit=QUEUE_LENGTH)
        text = render_queue(queue, now=datetime.now(UTC), texts=call.texts, group_id=self._group)
        await self._answer(call.message, text)

    async def mine(self, call: Invocation) -> None:
        """The waiting conversations of the operator who asks."""
        operator = call.message.from_user
        queue = await self._db.desk.queue(
            limit=QUEUE_LENGTH, assignee_id=operator.id if operator is not None else 0
        )
        if not queue.waiting_count:
            await self._answer(call.message, call.texts.mine_empty)
            return
        title = call.texts.mine_title.format(count=queue.waiting_count)
        text = render_queue(
            queue, now=datetime.now(UTC), texts=call.texts, group_id=self._group, title=title
        )
        await self._answer(call.message, text)

    async def _answer(self, message: Message, text: str) -> None:
        """A reply to the command, in its topic (or General)."""
        await self._bot.send_message(
            chat_id=message.chat.id,
            message_thread_id=message.message_thread_id if message.is_topic_message else None,
            text=text,
            reply_parameters=_reply_to(message),
        )


def _replied_to(message: Message) -> User | None:
    """The author of the message this one explicitly replies to; None when it is no reply.

    In a topic every message replies to the topic's first message implicitly: that is no reply.
    """
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return None
    return replied.from_user


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


# The operators' commands, in menu order, with their usage (for the answer to a wrong use).
COMMANDS: dict[str, TopicCommand | GroupCommand] = {
    "info": TopicCommand("/info", OperatorCommands.info),
    "close": TopicCommand("/close", OperatorCommands.close),
    "ban": TopicCommand("/ban [reason]", OperatorCommands.ban, takes_args=True),
    "unban": TopicCommand("/unban", OperatorCommands.unban),
    "export": TopicCommand("/export", OperatorCommands.export),
    "assign": TopicCommand("/assign [@username]", OperatorCommands.assign, takes_args=True),
    "unassign": TopicCommand("/unassign", OperatorCommands.unassign),
    "queue": GroupCommand("/queue", OperatorCommands.queue),
    "mine": GroupCommand("/mine", OperatorCommands.mine),
    "stats": GroupCommand("/stats", OperatorCommands.stats),
    "retry": GroupCommand("/retry", OperatorCommands.retry),
    "help": GroupCommand("/help", OperatorCommands.help),
}
