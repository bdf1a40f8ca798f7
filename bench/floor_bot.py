"""The floor for the relay benchmarks: a minimal aiogram bot making the same Bot API calls.

`BOT_TOKEN=... OPERATOR_CHAT_ID=... TELEGRAM_API_URL=... python bench/floor_bot.py`

Like the real bot it gives each user a forum topic (createForumTopic, then a user card), copies
each user message into the topic with one copyMessage, and copies each operator message in a
topic back to its user. Unlike it, it stores nothing (the topic map lives in memory), has no
inbox, no ordering and no retries: aiogram's own `start_polling`, one task per update, logging
at INFO like the real bot. Whatever the real bot spends beyond this is storage and engine.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatType
from aiogram.types import Message

ALLOWED_UPDATES = ["message", "edited_message", "message_reaction", "my_chat_member"]


def build(group_id: int) -> Dispatcher:
    dp = Dispatcher()
    topic_of_user: dict[int, int] = {}
    user_of_topic: dict[int, int] = {}
    locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    @dp.message(F.chat.type == ChatType.PRIVATE)
    async def from_user(message: Message, bot: Bot) -> None:
        user_id = message.chat.id
        topic_id = topic_of_user.get(user_id)
        if topic_id is None:
            async with locks[user_id]:  # one topic per user, even for concurrent first messages
                topic_id = topic_of_user.get(user_id)
                if topic_id is None:
                    name = message.chat.full_name or str(user_id)
                    topic = await bot.create_forum_topic(chat_id=group_id, name=name)
                    topic_id = topic.message_thread_id
                    await bot.send_message(
                        chat_id=group_id, message_thread_id=topic_id, text=f"User {user_id}"
                    )
                    topic_of_user[user_id] = topic_id
                    user_of_topic[topic_id] = user_id
        await bot.copy_message(
            chat_id=group_id,
            from_chat_id=user_id,
            message_id=message.message_id,
            message_thread_id=topic_id,
        )

    @dp.message(F.chat.id == group_id, F.is_topic_message)
    async def from_operator(message: Message, bot: Bot) -> None:
        assert message.message_thread_id is not None
        user_id = user_of_topic.get(message.message_thread_id)
        if user_id is None or (message.from_user and message.from_user.id == bot.id):
            return
        await bot.copy_message(
            chat_id=user_id, from_chat_id=group_id, message_id=message.message_id
        )

    return dp


async def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]))
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    dp = build(int(os.environ["OPERATOR_CHAT_ID"]))
    await bot.delete_webhook(drop_pending_updates=False)
    await dp.start_polling(bot, allowed_updates=ALLOWED_UPDATES)


if __name__ == "__main__":
    asyncio.run(main())
