"""The user's side: the private chat with the bot."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import CommandStart
from aiogram.types import Message

router = Router(name=__name__)
router.message.filter(F.chat.type == ChatType.PRIVATE)
router.edited_message.filter(F.chat.type == ChatType.PRIVATE)

WELCOME_TEXT = "Hello! Write your question here and our support team will answer in this chat."


@router.message(CommandStart())
async def on_start(message: Message) -> None:
    await message.answer(WELCOME_TEXT)
