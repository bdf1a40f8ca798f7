"""The relay's settings: WELCOME_TEXT and CLOSED_TEXT, from the environment to the user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import Settings, describe_validation_error
from storage import Database
from tests.fake_telegram import FakeTelegram, Group
from tests.harness import InProcessBot
from tests.relay_helpers import poll


def settings(**env: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        BOT_TOKEN="123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_",
        OPERATOR_CHAT_ID=-1001234567890,
        **env,
    )


def test_texts_take_backslash_n_as_a_line_break_and_closed_text_may_be_empty() -> None:
    configured = settings(WELCOME_TEXT="Hi!\\n<b>We answer fast</b>", CLOSED_TEXT="")
    assert configured.WELCOME_TEXT == "Hi!\n<b>We answer fast</b>"
    assert configured.CLOSED_TEXT == ""


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WELCOME_TEXT": "  "}, "WELCOME_TEXT must not be empty (it answers /start)"),
        ({"CLOSED_TEXT": "x" * 4097}, "CLOSED_TEXT must be at most 4096 characters"),
    ],
)
def test_bad_texts_are_named_in_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(**env)
    assert message in describe_validation_error(caught.value)


@asynccontextmanager
async def running_bot(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[Database]:
    bot = InProcessBot(tmp_path, env)
    await bot.start()
    db = Database(tmp_path / "bot.sqlite3")
    await db.connect()
    try:
        yield db
    finally:
        await db.close()
        assert await bot.stop() == 0


async def test_a_configured_welcome_text_is_html(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    user = fake.add_user("Welcomed")
    env = {**bot_env, "WELCOME_TEXT": "Hi!\\nWe answer <b>fast</b> &amp; well."}
    async with running_bot(tmp_path, env):
        await fake.user_sends_command(user, "/start")
        await fake.wait_for(lambda: fake.messages_from_bot(user), what="the welcome")
    [welcome] = fake.messages_from_bot(user)
    assert welcome["text"] == "Hi!\nWe answer fast & well."
    assert welcome["entities"][0]["type"] == "bold"


async def test_a_welcome_text_that_is_not_valid_html_is_sent_as_plain_text(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    user = fake.add_user("Welcomed")
    async with running_bot(tmp_path, {**bot_env, "WELCOME_TEXT": "Q&A: x < y <3"}):
        await fake.user_sends_command(user, "/start")
        await fake.wait_for(lambda: fake.messages_from_bot(user), what="the welcome")
    [welcome] = fake.messages_from_bot(user)
    assert welcome["text"] == "Q&A: x < y <3"


async def test_an_empty_closed_text_closes_silently(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    operator = fake.add_operator(group, "Olga")
    user = fake.add_user("Quiet")
    async with running_bot(tmp_path, {**bot_env, "CLOSED_TEXT": ""}) as db:
        await fake.user_sends(user, "hi")
        await fake.wait_for(lambda: fake.topics(group), what="the topic")
        [topic] = fake.topics(group)
        await fake.wait_for(lambda: len(fake.topic_messages(group, topic.thread_id)) == 2)
        await fake.operator_closes_topic(operator, group, topic.thread_id)
        await poll(_conversation_ended(db, user.id), "the conversation to end")
        await fake.operator_sends(operator, group, "not sent", thread_id=topic.thread_id)
        await fake.wait_for(lambda: not fake.pending_updates())
        await poll(_inbox_empty(db), "the inbox to be empty")
    assert fake.messages_from_bot(user) == []


def _conversation_ended(db: Database, user_id: int) -> Callable[[], object]:
    async def probe() -> bool:
        conversation = await db.conversations.get(user_id)
        return conversation is not None and not conversation.active

    return probe


def _inbox_empty(db: Database) -> Callable[[], object]:
    async def probe() -> bool:
        return (await db.inbox.counts())["pending"] == 0

    return probe
