"""Fixtures shared by the whole suite: the fake Telegram server and a bot configured for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from storage import Database
from tests.fake_telegram import FakeTelegram, Group
from tests.storage_helpers import open_database

pytest_plugins = ["tests.fake_telegram.pytest_plugin"]

# Shaped like a real token (the bot validates the shape); the fake accepts only this one.
BOT_TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"
OPERATOR_CHAT_ID = -1001234567890


@pytest.fixture(scope="session", autouse=True)
def no_bot_settings_from_the_runner() -> Iterator[None]:
    """The bots under test see only the settings their test gives them.

    Settings read the environment for every variable not passed explicitly: a WORKING_HOURS or
    LOG_LEVEL in the developer's shell would otherwise change what the tests see.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in Settings.model_fields:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """A running fake Telegram whose bot is the one `bot_env` configures."""
    # Imported here: pytest registers the plugin module itself (pytest_plugins, above) and
    # warns when it was imported first.
    from tests.fake_telegram.pytest_plugin import running_fake_telegram

    async with running_fake_telegram(token=BOT_TOKEN, bot_username="support_test_bot") as server:
        yield server


@pytest.fixture
def group(fake: FakeTelegram) -> Group:
    """The operators' forum supergroup; the bot is an administrator with Manage topics."""
    return fake.create_group(OPERATOR_CHAT_ID, "Support", is_forum=True)


@pytest.fixture
def bot_env(fake: FakeTelegram, tmp_path: Path) -> dict[str, str]:
    """The environment of a bot talking to `fake` (DATABASE_PATH and HTTP_PORT come from the
    harness)."""
    return {
        "BOT_TOKEN": BOT_TOKEN,
        "OPERATOR_CHAT_ID": str(OPERATOR_CHAT_ID),
        "TELEGRAM_API_URL": fake.base_url,
        # The board is the desk's (tests/test_desk_board.py): it would post in General, where
        # these tests look for the bot's alerts.
        "BOARD": "off",
    }


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Where a test's database file goes."""
    return tmp_path / "bot.sqlite3"


@pytest.fixture
async def db(path: Path) -> AsyncIterator[Database]:
    """A connected, initialised Database on `path`, closed after the test."""
    async with open_database(path) as database:
        yield database
