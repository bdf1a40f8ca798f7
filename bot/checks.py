"""Start-up checks: fail fast, with one line that says what to fix, before taking any update."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramUnauthorizedError,
)
from aiogram.types import ChatMemberAdministrator, User

from bot.config import Settings

logger = logging.getLogger(__name__)


class StartupCheckError(Exception):
    """A start-up check failed; the message is the one line shown to the person deploying."""


@dataclass(frozen=True)
class BotIdentity:
    """What the checks learned and the rest of the bot reuses instead of asking again."""

    me: User
    operator_chat_title: str


async def run_startup_checks(bot: Bot, settings: Settings) -> BotIdentity:
    """Token accepted; operator chat is a forum supergroup; the bot may manage its topics."""
    chat_id = settings.OPERATOR_CHAT_ID
    try:
        # me() keeps the answer: command filters ask for it again on every command.
        me = await bot.me()
    except TelegramUnauthorizedError:
        raise StartupCheckError(
            "BOT_TOKEN was rejected by Telegram (401 Unauthorized): copy the token again "
            "from @BotFather"
        ) from None
    except TelegramNotFound:
        raise StartupCheckError(
            f"TELEGRAM_API_URL {settings.TELEGRAM_API_URL} answered 404 Not Found: "
            "is it the address of a Bot API server, and is BOT_TOKEN complete?"
        ) from None
    except TelegramNetworkError as error:
        raise StartupCheckError(
            f"cannot reach the Bot API at TELEGRAM_API_URL {settings.TELEGRAM_API_URL}: {error}"
        ) from None
    except TelegramAPIError as error:
        raise StartupCheckError(f"getMe failed: {error}") from None

    try:
        chat = await bot.get_chat(chat_id)
    except (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound):
        raise StartupCheckError(
            f"OPERATOR_CHAT_ID {chat_id}: chat not found, or the bot is not a member: add "
            f"@{me.username} to the operator group and check the id"
        ) from None
    except TelegramAPIError as error:
        raise StartupCheckError(f"OPERATOR_CHAT_ID {chat_id}: getChat failed: {error}") from None
    if chat.type != ChatType.SUPERGROUP:
        raise StartupCheckError(
            f"OPERATOR_CHAT_ID {chat_id} is a {chat.type}, not a supergroup: enable Topics in "
            "the group's settings (that makes it a supergroup) and use its new -100... id"
        )
    if not chat.is_forum:
        raise StartupCheckError(
            f"OPERATOR_CHAT_ID {chat_id} ({chat.title}) does not have Topics enabled: turn on "
            "Topics in the group's settings"
        )

    try:
        member = await bot.get_chat_member(chat_id, me.id)
    except TelegramAPIError as error:
        raise StartupCheckError(
            f"OPERATOR_CHAT_ID {chat_id}: cannot read the bot's rights: {error}"
        ) from None
    if member.status == ChatMemberStatus.CREATOR:
        pass
    elif isinstance(member, ChatMemberAdministrator):
        if not member.can_manage_topics:
            raise StartupCheckError(
                f"the bot is an administrator of {chat.title} ({chat_id}) without the "
                "'Manage topics' right: edit its admin rights and turn it on"
            )
    else:
        raise StartupCheckError(
            f"the bot is not an administrator of {chat.title} ({chat_id}): make @{me.username} "
            "an admin with the 'Manage topics' right"
        )
    logger.info(
        "Start-up checks passed: @%s, operator group %r (%s)", me.username, chat.title, chat_id
    )
    return BotIdentity(me=me, operator_chat_title=chat.title or str(chat_id))
