"""Pytest fixtures for the fake Telegram server.

Enable with ``pytest_plugins = ["tests.fake_telegram.pytest_plugin"]`` in tests/conftest.py.
Every fixture fails the test at teardown if the bot called a method the fake does not model.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from .fake import FakeTelegram
from .state import Group

TEST_TOKEN = "123456:TEST-token"
TEST_BOT_ID = 123456
TEST_BOT_USERNAME = "support_test_bot"
OPERATOR_GROUP_ID = -1001234567890


@contextlib.asynccontextmanager
async def running_fake_telegram(
    token: str = TEST_TOKEN, bot_id: int = TEST_BOT_ID, bot_username: str = TEST_BOT_USERNAME
) -> AsyncIterator[FakeTelegram]:
    """A started fake; on exit it stops and fails loudly on calls it does not model."""
    fake = FakeTelegram(token, bot_id=bot_id, bot_username=bot_username)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    if fake.unknown_calls:
        try:
            fake.assert_no_unknown_calls()
        except AssertionError as error:
            pytest.fail(str(error), pytrace=False)


class LoopbackSession(AiohttpSession):
    """aiogram's own session, minus the 250 ms that ``close()`` waits for SSL connections to
    shut down: over plain HTTP on loopback there are none, and 78 tests x 250 ms add up."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
            await asyncio.sleep(0)  # let the connector's transports close


def bot_for(fake: FakeTelegram) -> Bot:
    """A real aiogram Bot talking to the fake over loopback HTTP."""
    session = LoopbackSession(api=TelegramAPIServer.from_base(fake.base_url))
    return Bot(fake.token, session=session)


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A running FakeTelegram for the test's bot (token ``TEST_TOKEN``)."""
    async with running_fake_telegram() as fake:
        yield fake


@pytest.fixture
def operator_group(fake_telegram: FakeTelegram) -> Group:
    """The operators' forum supergroup; the bot is an admin with can_manage_topics."""
    return fake_telegram.create_group(OPERATOR_GROUP_ID, "Support", is_forum=True)


@pytest.fixture
async def telegram_bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    """An aiogram Bot pointed at the fake (its session is closed after the test)."""
    bot = bot_for(fake_telegram)
    try:
        yield bot
    finally:
        await bot.session.close()
