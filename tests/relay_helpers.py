"""Helpers for the relay's end-to-end tests: one fake Telegram and one running bot per module.

A test module makes its fixture with `desk = desk_fixture()` and marks its tests
`pytestmark = pytest.mark.asyncio(loop_scope="module")`. Each test then takes `desk: Desk` and
creates its own users (`desk.new_user()`), so that tests share the bot but not conversations.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from storage import Conversation, Database
from tests.fake_telegram import FakeTelegram, Group, User
from tests.harness import InProcessBot

# Shaped like a real token (the bot validates the shape); the fake accepts only this one.
BOT_TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"
OPERATOR_CHAT_ID = -1001234567890

Message = dict[str, Any]


@dataclass
class Desk:
    """The support desk under test: the fake Telegram, the operator group, the running bot."""

    fake: FakeTelegram
    group: Group
    operator: User
    bot: InProcessBot
    db: Database  # a second connection on the bot's file: reads what the bot committed
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # --- people ------------------------------------------------------------------------------

    def new_user(
        self,
        first_name: str | None = None,
        last_name: str | None = "Tester",
        username: str | None = None,
        **attributes: Any,
    ) -> User:
        """A user nobody has seen yet (unique name and username unless given)."""
        number = next(self._numbers)
        return self.fake.add_user(
            first_name if first_name is not None else f"User{number}",
            last_name,
            username if username is not None else f"user{number}_{int(time.time() * 1000) % 10**6}",
            **attributes,
        )

    # --- what people see ---------------------------------------------------------------------

    def topic_messages(self, topic_id: int) -> list[Message]:
        return self.fake.topic_messages(self.group, topic_id)

    def in_private_chat(self, user: User) -> list[Message]:
        """What the bot has sent to the user, oldest first."""
        return self.fake.messages_from_bot(user)

    async def wait_for(
        self, predicate: Callable[[], object], what: str, timeout: float = 5.0
    ) -> None:
        await self.fake.wait_for(predicate, timeout=timeout, what=what)

    async def first_message_topic(self, user: User, timeout: float = 5.0) -> int:
        """Wait for the user's conversation (and its first copy) and return the topic id."""
        conversation = await self.wait_conversation(user, timeout=timeout)
        topic_id = conversation.topic_id
        await self.wait_for(
            lambda: len(self.topic_messages(topic_id)) >= 2, "the user card and the first copy"
        )
        return topic_id

    async def copies_in_topic(
        self, topic_id: int, count: int, timeout: float = 5.0
    ) -> list[Message]:
        """Wait until the topic holds `count` messages after the user card; return them."""
        await self.wait_for(
            lambda: len(self.topic_messages(topic_id)) >= count + 1,
            f"{count} message(s) in topic {topic_id}",
            timeout,
        )
        return self.topic_messages(topic_id)[1:]

    async def sent_to(self, user: User, count: int, timeout: float = 5.0) -> list[Message]:
        """Wait until the bot has sent `count` messages to the user; return them."""
        await self.wait_for(
            lambda: len(self.in_private_chat(user)) >= count,
            f"{count} message(s) to {user.first_name}",
            timeout,
        )
        return self.in_private_chat(user)

    # --- the database ------------------------------------------------------------------------

    async def conversation(self, user: User) -> Conversation | None:
        return await self.db.conversations.get(user.id)

    async def wait_conversation(
        self, user: User, *, active: bool | None = True, timeout: float = 5.0
    ) -> Conversation:
        return await poll(
            lambda: self._conversation_if(user, active),
            f"{user.first_name}'s conversation",
            timeout,
        )

    async def _conversation_if(self, user: User, active: bool | None) -> Conversation | None:
        conversation = await self.db.conversations.get(user.id)
        if conversation is None or (active is not None and conversation.active != active):
            return None
        return conversation

    async def link(self, source_chat_id: int, source_message_id: int, target_chat_id: int) -> int:
        """Wait until the source message's copy in the target chat is recorded; its id."""

        async def probe() -> int | None:
            return await self.db.find_linked_message_id(
                source_chat_id=source_chat_id,
                source_message_id=source_message_id,
                target_chat_id=target_chat_id,
            )

        linked: int = await poll(probe, f"the link of message {source_message_id}")
        return linked

    async def parts(
        self, source_chat_id: int, source_message_id: int, target_chat_id: int, count: int
    ) -> list[int]:
        """Wait until `count` messages in the target chat are linked to the source one."""

        async def probe() -> list[int] | None:
            ids = await self.db.log.parts(
                source_chat_id=source_chat_id,
                source_message_id=source_message_id,
                target_chat_id=target_chat_id,
            )
            return ids if len(ids) >= count else None

        found: list[int] = await poll(probe, f"{count} parts of message {source_message_id}")
        return found

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every update Telegram has for the bot has been handled."""
        await self.wait_for(lambda: not self.fake.pending_updates(), "updates to be taken")

        async def idle() -> bool:
            return (await self.db.inbox.counts())["pending"] == 0

        await poll(idle, "the inbox to be empty", timeout)

    @property
    def db_path(self) -> Path:
        return self.bot.workdir / "bot.sqlite3"

    # --- the bot -----------------------------------------------------------------------------

    async def restart(self) -> None:
        """Stop the bot cleanly and start it again on the same database."""
        assert await self.bot.stop() == 0
        await self.bot.start()

    def calls_since(self, mark: int, method: str) -> list[Any]:
        return [call for call in self.fake.calls[mark:] if call.method == method]


async def poll(
    probe: Callable[[], Any], what: str, timeout: float = 5.0, interval: float = 0.02
) -> Any:
    """Await `probe()` until it returns something truthy (for state the fake does not see)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


async def open_desk(workdir: Path, **env: str) -> AsyncIterator[Desk]:
    """A running fake with the operator forum, an operator, and the bot (extra settings: env)."""
    from tests.fake_telegram.pytest_plugin import running_fake_telegram

    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(
            running_fake_telegram(token=BOT_TOKEN, bot_username="support_test_bot")
        )
        group = fake.create_group(OPERATOR_CHAT_ID, "Support", is_forum=True)
        operator = fake.add_operator(group, "Olga", "Operator", "olga")
        bot = InProcessBot(
            workdir,
            {
                "BOT_TOKEN": BOT_TOKEN,
                "OPERATOR_CHAT_ID": str(OPERATOR_CHAT_ID),
                "TELEGRAM_API_URL": fake.base_url,
                # The board posts in General; the desk's own tests turn it on.
                "BOARD": "off",
                **env,
            },
        )
        await bot.start()
        stack.push_async_callback(_stop, bot)
        db = Database(workdir / "bot.sqlite3")
        await db.connect()
        stack.push_async_callback(db.close)
        yield Desk(fake=fake, group=group, operator=operator, bot=bot, db=db)


async def _stop(bot: InProcessBot) -> None:
    assert await bot.stop() == 0


def desk_fixture(**env: str) -> Any:
    """A module-scoped `desk` fixture (assign it to `desk` in the test module)."""

    @pytest_asyncio.fixture(loop_scope="module", scope="module")
    async def desk(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Desk]:
        async for opened in open_desk(tmp_path_factory.mktemp("desk"), **env):
            yield opened

    return desk
