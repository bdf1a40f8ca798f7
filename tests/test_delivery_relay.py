"""Delivery guarantees with real conversations: crashes, order, and the operator group's limit."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

from storage import Database
from tests.fake_telegram import FakeTelegram, Group, User
from tests.harness import BotProcess, InProcessBot, settled_health


async def topic_of(db_path: Path, user: User) -> int | None:
    db = Database(db_path)
    await db.connect()
    try:
        conversation = await db.get_active_conversation(user.id)
    finally:
        await db.close()
    return conversation.topic_id if conversation else None


def texts_in_topic(fake: FakeTelegram, group: Group, topic_id: int, prefix: str) -> list[str]:
    return [
        m["text"]
        for m in fake.topic_messages(group, topic_id)
        if str(m.get("text", "")).startswith(prefix)
    ]


def texts_from_bot(fake: FakeTelegram, user: User, prefix: str) -> list[str]:
    return [
        m["text"] for m in fake.messages_from_bot(user) if str(m.get("text", "")).startswith(prefix)
    ]


def first_occurrences(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


async def test_sigkill_at_random_moments_loses_no_message(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    """Users and operators keep writing while the bot is killed (SIGKILL) again and again.

    After the last restart every message has reached the other side, in order. (A message
    whose copy Telegram accepted just before a kill, before the link was recorded, may arrive
    twice: the documented limit. Order is checked on first arrivals.)
    """
    rng = random.Random(20261126)
    users = [fake.add_user(f"User{i}") for i in range(3)]
    operator = fake.add_operator(group, "Olga")
    db_path = tmp_path / "bot.sqlite3"
    bot = BotProcess(tmp_path, bot_env)
    sent_by_user: dict[int, list[str]] = {u.id: [] for u in users}
    sent_by_operator: dict[int, list[str]] = {u.id: [] for u in users}
    topics: dict[int, int] = {}

    async def people_write() -> None:
        for n in range(25):
            for user in users:
                text = f"u{user.id}-{n:02d}"
                await fake.user_sends(user, text)
                sent_by_user[user.id].append(text)
                topic_id = topics.get(user.id)
                if topic_id is not None and n % 3 == 0:
                    answer = f"op{user.id}-{n:02d}"
                    await fake.operator_sends(operator, group, thread_id=topic_id, text=answer)
                    sent_by_operator[user.id].append(answer)
            await asyncio.sleep(rng.uniform(0.02, 0.12))

    async def learn_topics() -> None:
        while len(topics) < len(users):
            for user in users:
                if user.id not in topics and db_path.exists():
                    with contextlib.suppress(Exception):
                        topic_id = await topic_of(db_path, user)
                        if topic_id is not None:
                            topics[user.id] = topic_id
            await asyncio.sleep(0.1)

    try:
        await bot.start_and_wait_healthy()
        writing = asyncio.create_task(people_write())
        learning = asyncio.create_task(learn_topics())
        kills = 0
        while not writing.done() or kills < 3:
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            await bot.kill()
            kills += 1
            await bot.start_and_wait_healthy()
        await writing
        await asyncio.wait_for(learning, 30)

        def all_arrived() -> bool:
            return all(
                set(sent_by_user[u.id]) <= set(texts_in_topic(fake, group, topics[u.id], "u"))
                and set(sent_by_operator[u.id]) <= set(texts_from_bot(fake, u, "op"))
                for u in users
            )

        await fake.wait_for(all_arrived, timeout=60, what="every message on the other side")
        assert await bot.terminate() == 0
    finally:
        await bot.close()

    assert kills >= 3
    for user in users:
        in_topic = texts_in_topic(fake, group, topics[user.id], "u")
        assert first_occurrences(in_topic) == sent_by_user[user.id]
        to_user = texts_from_bot(fake, user, "op")
        assert first_occurrences(to_user) == sent_by_operator[user.id]
    # One topic per user, whatever the crashes.
    assert len([t for t in fake.topics(group) if not t.deleted]) == len(users)


async def test_bursts_from_many_users_arrive_in_order_one_topic_each(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    users = [fake.add_user(f"Burst{i}") for i in range(8)]
    # Everything is waiting in Telegram before the bot starts: one big getUpdates batch,
    # every user's first messages handled concurrently with the others'.
    await asyncio.gather(
        *(fake.user_sends(user, f"{user.id}:{n:02d}") for user in users for n in range(12))
    )
    bot = InProcessBot(tmp_path, bot_env)
    await bot.start()
    try:

        async def delivered() -> bool:
            for user in users:
                topic_id = await topic_of(tmp_path / "bot.sqlite3", user)
                if topic_id is None:
                    return False
                if len(texts_in_topic(fake, group, topic_id, f"{user.id}:")) < 12:
                    return False
            return True

        for _ in range(300):
            if await delivered():
                break
            await asyncio.sleep(0.05)
    finally:
        assert await bot.stop() == 0
    for user in users:
        topic_id = await topic_of(tmp_path / "bot.sqlite3", user)
        assert topic_id is not None
        expected = [f"{user.id}:{n:02d}" for n in range(12)]
        assert texts_in_topic(fake, group, topic_id, f"{user.id}:") == expected
    assert len(fake.topics(group)) == len(users)
    assert fake.general_messages(group) == []


async def test_a_rate_limited_operator_group_drains_a_burst_of_new_users(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    """Like Telegram's ~20 messages per minute per group, scaled down to seconds."""
    users = [fake.add_user(f"New{i}") for i in range(12)]
    fake.rate_limit(group.id, limit=10, window=1.0)
    bot = InProcessBot(tmp_path, bot_env)
    await bot.start()
    try:
        for user in users:
            await fake.user_sends(user, f"hello from {user.id}")

        async def drained() -> bool:
            for user in users:
                topic_id = await topic_of(tmp_path / "bot.sqlite3", user)
                if topic_id is None or not texts_in_topic(fake, group, topic_id, "hello from"):
                    return False
            return True

        for _ in range(400):
            if await drained():
                break
            await asyncio.sleep(0.05)
        health = await settled_health(bot, lambda body: body["inbox"]["pending"] == 0)
    finally:
        assert await bot.stop() == 0
    assert await drained()
    assert any(c.error_code == 429 for c in fake.calls if c.chat_id == group.id)
    assert fake.violations == []  # no call to the group while a retry_after was running
    assert health["inbox"] == {"pending": 0, "failed": 0}
