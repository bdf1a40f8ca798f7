"""The relay service without routing or the delivery engine: a `Relay` driven directly, its
Bot API calls going to the fake Telegram server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.types import Message, User

from bot.checks import BotIdentity
from bot.config import Settings
from bot.relay.service import Relay
from bot.telegram import create_bot
from storage import Database
from tests.fake_telegram import FakeTelegram, Group


@pytest.fixture
async def relay(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[Relay]:
    settings = Settings(_env_file=None, **bot_env)  # type: ignore[arg-type]
    db = Database(tmp_path / "relay.sqlite3")
    await db.connect()
    await db.init()
    bot = create_bot(settings)
    identity = BotIdentity(
        me=User(id=fake.bot.id, is_bot=True, first_name="Support Bot"),
        operator_chat_title=group.title,
    )
    try:
        yield Relay(bot=bot, db=db, settings=settings, identity=identity)
    finally:
        await bot.session.close()
        await db.close()


def as_message(data: dict[str, Any], bot: Bot | None = None) -> Message:
    return Message.model_validate(data, context={"bot": bot} if bot else None)


async def test_first_messages_handled_concurrently_create_exactly_one_topic(
    relay: Relay, fake: FakeTelegram, group: Group
) -> None:
    user = fake.add_user("Concurrent")
    first = as_message(await fake.user_sends(user, "one"))
    second = as_message(await fake.user_sends(user, "two"))

    await asyncio.gather(relay.user_message(first), relay.user_message(second))

    [topic] = fake.topics(group)
    texts = [m.get("text") for m in fake.topic_messages(group, topic.thread_id)[1:]]
    assert sorted(texts) == ["one", "two"]
    assert len(fake.calls_of("createForumTopic")) == 1


async def test_different_users_are_served_concurrently(
    relay: Relay, fake: FakeTelegram, group: Group
) -> None:
    users = [fake.add_user(f"Parallel{i}") for i in range(5)]
    messages = [as_message(await fake.user_sends(user, "hi")) for user in users]

    await asyncio.gather(*(relay.user_message(message) for message in messages))

    assert sorted(t.name for t in fake.topics(group)) == [f"Parallel{i}" for i in range(5)]


async def test_the_same_message_relayed_twice_is_copied_once(
    relay: Relay, fake: FakeTelegram, group: Group
) -> None:
    user = fake.add_user("Twice")
    message = as_message(await fake.user_sends(user, "hello"))

    await relay.user_message(message)
    await relay.user_message(message)

    [topic] = fake.topics(group)
    assert [m.get("text") for m in fake.topic_messages(group, topic.thread_id)[1:]] == ["hello"]
