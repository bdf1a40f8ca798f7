"""The operators' commands in the operator group (see `bot.desk.commands`)."""

from __future__ import annotations

import re

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.config import Settings
from bot.desk.commands import COMMANDS, OperatorCommands
from handlers.filters import in_chat, looks_like_command


def create_router(settings: Settings) -> Router:
    router = Router(name=__name__)
    router.message.filter(in_chat(settings.OPERATOR_CHAT_ID), looks_like_command)
    # Command() also checks a "/info@name" mention against the bot's own username.
    router.message.register(on_command, Command(*COMMANDS))
    # The whole word, as Telegram's commands are: "/etc/hosts is wrong" is no command.
    router.message.register(on_unknown_command, Command(re.compile(r"[A-Za-z0-9_]{1,32}\Z")))
    return router


async def on_command(message: Message, command: CommandObject, commands: OperatorCommands) -> None:
    await commands.run(command.command, message, command.args)


async def on_unknown_command(
    message: Message, command: CommandObject, commands: OperatorCommands
) -> None:
    await commands.unknown(message, f"/{command.command}")
