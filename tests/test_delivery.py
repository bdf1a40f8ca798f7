"""The delivery engine's guarantees, end to end: the real bot against the fake Telegram server.

These tests use the simplest thing the bot answers (the welcome text on /start) so that they
speak about delivery itself; the relay's own tests cover what is delivered.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message

from bot.delivery.engine import DeliveryEngine
from bot.delivery.flood import FloodControl
from bot.delivery.intake import Poller
from bot.http_server import HealthCheck, build_http_app
from storage import Database
from tests.fake_telegram import FakeTelegram, Group, User
from tests.harness import BotProcess, InProcessBot, free_port, settled_health
from tests.relay_helpers import poll


def welcomes(fake: FakeTelegram, user: User) -> list[dict[str, object]]:
    return fake.messages_from_bot(user)


async def start_bot(tmp_path: Path, env: dict[str, str], **extra: str) -> InProcessBot:
    bot = InProcessBot(tmp_path, {**env, **extra})
    await bot.start()
    return bot


async def test_polling_deletes_a_stale_webhook_first_and_asks_for_every_update_type(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    bot = await start_bot(tmp_path, bot_env)
    try:
        await fake.wait_for(lambda: fake.calls_of("getUpdates"), what="a long poll")
    finally:
        assert await bot.stop() == 0
    methods = [call.method for call in fake.calls]
    assert methods.index("deleteWebhook") < methods.index("getUpdates")
    allowed = fake.calls_of("getUpdates")[0].params["allowed_updates"]
    allowed = json.loads(allowed) if isinstance(allowed, str) else allowed
    assert {"message", "edited_message", "message_reaction", "my_chat_member"} <= set(allowed)


async def test_an_update_confirmed_to_telegram_survives_sigkill(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    """Telegram forgets an update once the bot confirms it; the inbox must not."""
    alice = fake.add_user("Alice")
    # Telegram is down for Alice's chat: the update cannot be handled yet.
    fake.fail_next("sendMessage", error_code=502, times=10_000, chat_id=alice.id)
    bot = BotProcess(tmp_path, bot_env)
    try:
        await bot.start_and_wait_healthy()
        sent = await fake.user_sends_command(alice, "/start")
        # Wait until the bot has confirmed the update (a getUpdates with a higher offset):
        # from now on Telegram would never send it again.
        await fake.wait_for(
            lambda: (
                not fake.pending_updates()
                and any(
                    int(call.params.get("offset") or 0) > sent["message_id"]
                    for call in fake.calls_of("getUpdates")
                )
                and fake.calls_of("sendMessage")
            ),
            timeout=15,
            what="the update to be confirmed and tried",
        )
        await bot.kill()
        assert welcomes(fake, alice) == []
        fake.faults.failures.clear()  # Telegram is back
        await bot.start_and_wait_healthy()
        await fake.wait_for(lambda: welcomes(fake, alice), timeout=15, what="the welcome")
        assert await bot.terminate() == 0
    finally:
        await bot.close()
    assert len(welcomes(fake, alice)) == 1
    assert "Resuming 1 update(s) left in the inbox" in bot.log


async def test_transient_failures_are_retried_then_parked_and_operators_told(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    alice = fake.add_user("Alice", "Smith", "alice")
    bob = fake.add_user("Bob")
    fake.fail_next("sendMessage", error_code=500, times=10_000, chat_id=alice.id)
    bot = await start_bot(tmp_path, bot_env, MAX_ATTEMPTS="2")
    try:
        await fake.user_sends_command(alice, "/start")
        await fake.user_sends_command(bob, "/start")
        # Bob is not held up by Alice's trouble.
        await fake.wait_for(lambda: welcomes(fake, bob), timeout=10, what="Bob's welcome")
        await fake.wait_for(
            lambda: fake.general_messages(group), timeout=30, what="an alert in General"
        )
        status, health = await bot.health()
        alert = fake.general_messages(group)[0]["text"]
        # Alice's chat works again; her next message is handled: the queue moved on.
        fake.faults.failures.clear()
        await fake.user_sends_command(alice, "/start")
        await fake.wait_for(lambda: welcomes(fake, alice), timeout=10, what="Alice's welcome")
    finally:
        assert await bot.stop() == 0
    assert status == 200
    assert health["inbox"]["failed"] == 1
    assert health["parked"] == 1
    assert health["retried"] == 1  # attempt 1 failed, attempt 2 failed and was the last
    assert health["telegram"]["retried_errors"] == 2 * 3
    assert "could not be handled and was set aside" in alert
    assert "Alice Smith @alice" in alert
    assert "gave up after 2 attempts" in alert
    # Each attempt made several calls (flood control retries 5xx a few times) and then gave up.
    tried = [c for c in fake.calls_of("sendMessage") if c.chat_id == alice.id and not c.ok]
    assert len(tried) == 2 * 4


async def test_a_rate_limited_chat_waits_out_retry_after_and_loses_nothing(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    alice = fake.add_user("Alice")
    bob = fake.add_user("Bob")
    fake.rate_limit(alice.id, limit=2, window=1.0)
    bot = await start_bot(tmp_path, bot_env)
    started = time.monotonic()
    try:
        for _ in range(6):
            await fake.user_sends_command(alice, "/start")
        await fake.user_sends_command(bob, "/start")
        await fake.wait_for(lambda: welcomes(fake, bob), timeout=10, what="Bob's welcome")
        bob_done = time.monotonic() - started
        await fake.wait_for(lambda: len(welcomes(fake, alice)) == 6, timeout=20, what="6")
        _, health = await bot.health()
    finally:
        assert await bot.stop() == 0
    assert fake.violations == []
    assert any(c.error_code == 429 for c in fake.calls_of("sendMessage"))
    assert bob_done < 1.0  # another chat is not slowed down by Alice's limit
    refused = [c for c in fake.calls_of("sendMessage") if c.error_code == 429]
    assert health["telegram"]["retry_after_waits"] == len(refused)
    assert health["retried"] == 0  # flood control waited; no update had to be tried again


async def test_webhook_mode_stores_answers_and_refuses_wrong_secrets(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    fake.webhook_retry_delay = 0.1
    alice = fake.add_user("Alice")
    mallory = fake.add_user("Mallory", user_id=666)
    bot = await start_bot(
        tmp_path, bot_env, HTTP_PORT=str(port), WEBHOOK_URL=url, WEBHOOK_SECRET="s3cret"
    )
    try:
        set_webhook = fake.calls_of("setWebhook")[0].params
        assert set_webhook["url"] == url
        assert set_webhook["secret_token"] == "s3cret"
        assert "message_reaction" in str(set_webhook["allowed_updates"])
        await fake.user_sends_command(alice, "/start")
        await fake.wait_for(lambda: welcomes(fake, alice), timeout=10, what="the welcome")
        assert fake.webhook_attempts[-1].status == 200

        forged = {
            "update_id": 999_999,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": mallory.id, "type": "private", "first_name": "Mallory"},
                "from": {"id": mallory.id, "is_bot": False, "first_name": "Mallory"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        async with aiohttp.ClientSession() as session:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                async with session.post(url, json=forged, headers=headers) as response:
                    assert response.status == 401
            async with session.post(
                url, data=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
            ) as response:
                assert response.status == 400
        health = await settled_health(bot, lambda body: body["handled"] == 1)
    finally:
        assert await bot.stop() == 0
    assert welcomes(fake, mallory) == []
    assert health["handled"] == 1
    assert health["received"] == 1  # refused calls never reached the inbox
    assert health["intake"] == {"mode": "webhook", "alive": True}
    assert not fake.calls_of("getUpdates")
    db = Database(tmp_path / "bot.sqlite3")
    await db.connect()
    try:
        counts = await db.inbox.counts()
    finally:
        await db.close()
    assert counts == {"pending": 0, "failed": 0, "done": 1}


async def test_health_reports_the_inbox_and_the_last_update(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    alice = fake.add_user("Alice")
    bot = await start_bot(tmp_path, bot_env)
    try:
        status, before = await bot.health()
        await fake.user_sends_command(alice, "/start")
        await fake.wait_for(lambda: welcomes(fake, alice), timeout=10, what="the welcome")
        after = await settled_health(bot, lambda body: body["handled"] == 1)
    finally:
        assert await bot.stop() == 0
    assert status == 200
    assert before["ok"] is True
    assert before["database"]["ok"] is True
    assert before["intake"] == {"mode": "polling", "alive": True}
    assert before["inbox"] == {"pending": 0, "failed": 0}
    assert before["last_update_at"] is None
    assert after["last_update_at"] is not None
    assert after["handled"] == 1


async def test_health_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    db = Database(tmp_path / "db.sqlite3")
    await db.connect()
    await db.init()
    bot = Bot("123456:" + "a" * 35)
    engine = DeliveryEngine(db=db, bot=bot, dispatcher=Dispatcher())
    poller = Poller(bot=bot, engine=engine, allowed_updates=["message"])
    app = build_http_app(
        health=HealthCheck(db=db, engine=engine, intake=poller, flood=FloodControl()),
        intake=poller,
        webhook_path="/",
    )
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/healthz")
        not_polling = await response.json()
        assert response.status == 503  # the poller is not running
        # A transaction that does not end: the inbox's counts wait for it, /healthz does not.
        db.HEALTHCHECK_TIMEOUT = 0.2
        release = asyncio.Event()
        holding = asyncio.Event()

        async def long_transaction() -> None:
            async with db.transaction():
                holding.set()
                await release.wait()

        holder = asyncio.create_task(long_transaction())
        await holding.wait()
        async with asyncio.timeout(3):
            response = await client.get("/healthz")
        stuck = await response.json()
        release.set()
        await holder
        await db.close()
        response = await client.get("/healthz")
        closed = await response.json()
        assert response.status == 503
    await bot.session.close()
    assert not_polling["database"]["ok"] is True
    assert not_polling["intake"]["alive"] is False
    assert stuck["database"] == {"ok": False, "error": "the inbox did not answer in time"}
    assert closed["database"]["ok"] is False
    assert closed["ok"] is False


async def test_sigterm_lets_a_running_handler_finish(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    alice = fake.add_user("Alice")
    fake.fail_next("sendMessage", error_code=429, retry_after=2, chat_id=alice.id)
    bot = BotProcess(tmp_path, bot_env)
    try:
        await bot.start_and_wait_healthy()
        await fake.user_sends_command(alice, "/start")
        await fake.wait_for(lambda: fake.calls_of("sendMessage"), timeout=10, what="a 429")
        assert await bot.terminate() == 0
    finally:
        await bot.close()
    assert len(welcomes(fake, alice)) == 1  # sent after the 429, before the exit
    assert fake.violations == []  # not before retry_after had passed


async def test_what_does_not_finish_before_the_shutdown_timeout_is_done_after_restart(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    alice = fake.add_user("Alice")
    fake.fail_next("sendMessage", error_code=429, retry_after=30, chat_id=alice.id)
    bot = BotProcess(tmp_path, {**bot_env, "SHUTDOWN_TIMEOUT": "0.5"})
    try:
        await bot.start_and_wait_healthy()
        await fake.user_sends_command(alice, "/start")
        await fake.wait_for(lambda: fake.calls_of("sendMessage"), timeout=10, what="a 429")
        stopping = time.monotonic()
        assert await bot.terminate() == 0
        assert time.monotonic() - stopping < 5
        assert welcomes(fake, alice) == []
        # Later: Telegram is fine again and the 30 s penalty on Alice's chat has run out.
        fake.faults.failures.clear()
        fake.limits.per_chat.pop(alice.id)
        await bot.start_and_wait_healthy()
        await fake.wait_for(lambda: welcomes(fake, alice), timeout=15, what="the welcome")
        assert await bot.terminate() == 0
    finally:
        await bot.close()
    assert len(welcomes(fake, alice)) == 1


@pytest.mark.parametrize("after_effect", [False, True])
async def test_a_dropped_connection_is_retried(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path, after_effect: bool
) -> None:
    alice = fake.add_user("Alice")
    fake.drop_connection_next("sendMessage", after_effect=after_effect, chat_id=alice.id)
    bot = await start_bot(tmp_path, bot_env)
    try:
        await fake.user_sends_command(alice, "/start")
        expected = 2 if after_effect else 1
        await fake.wait_for(lambda: len(welcomes(fake, alice)) == expected, timeout=10)
    finally:
        assert await bot.stop() == 0
    # Without idempotency keys in the Bot API, an answer lost after the message was created
    # means a second copy: the documented limit of the guarantee.
    assert len(welcomes(fake, alice)) == expected


@asynccontextmanager
async def bare_engine_parts(tmp_path: Path) -> AsyncIterator[tuple[Database, Bot, Dispatcher]]:
    """A database, a Bot that is never called, and an empty Dispatcher: for engine tests whose
    handlers are written on the spot."""
    db = Database(tmp_path / "db.sqlite3")
    await db.connect()
    await db.init()
    bot = Bot("123456:" + "a" * 35)
    try:
        yield db, bot, Dispatcher()
    finally:
        await db.close()
        await bot.session.close()


def text_update(update_id: int, text: str) -> dict[str, object]:
    chat = {"id": 7, "type": "private", "first_name": "A"}
    message = {"message_id": update_id, "date": 0, "chat": chat, "text": text}
    return {"update_id": update_id, "message": message}


def inbox_has(db: Database, status: str, count: int) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return (await db.inbox.counts())[status] == count

    return probe


async def test_a_failing_inbox_write_does_not_stall_the_conversation(tmp_path: Path) -> None:
    """Regression: an error marking an update done killed its queue's worker for good."""
    handled: list[str] = []
    failures = [sqlite3.OperationalError("disk I/O error")]
    async with bare_engine_parts(tmp_path) as (db, bot, dispatcher):

        @dispatcher.message()
        async def remember(message: Message) -> None:
            handled.append(str(message.text))

        real_done = db.inbox.done

        async def flaky_done(update_id: int) -> None:
            if failures:
                raise failures.pop()
            await real_done(update_id)

        db.inbox.done = flaky_done  # type: ignore[method-assign]
        engine = DeliveryEngine(db=db, bot=bot, dispatcher=dispatcher, backoff_base=0.01)
        try:
            await engine.accept([text_update(1, "one")])
            # Nothing else arrives in this conversation: the queue must recover on its own.
            await poll(inbox_has(db, "done", 1), "update 1 done")
            recovered = await db.inbox.counts()
            await engine.accept([text_update(2, "two")])
            await poll(inbox_has(db, "done", 2), "update 2 done")
            counts = await db.inbox.counts()
        finally:
            await engine.stop(1)
    # "one" was handled once: only marking it done was tried again. The queue then went on.
    assert recovered == {"pending": 0, "failed": 0, "done": 1}
    assert handled == ["one", "two"]
    assert counts == {"pending": 0, "failed": 0, "done": 2}


async def test_when_failed_attempts_cannot_be_counted_the_update_is_still_parked(
    tmp_path: Path,
) -> None:
    """A handler that fails after sending something must not run forever when the inbox is
    failing too (a full disk): the engine counts the attempts itself and gives up."""
    runs: list[int] = []
    async with bare_engine_parts(tmp_path) as (db, bot, dispatcher):

        @dispatcher.message()
        async def fail(message: Message) -> None:
            runs.append(message.message_id)
            raise TimeoutError("Telegram did not answer")

        async def no_count(update_id: int, *, error: str) -> int:
            raise sqlite3.OperationalError("database or disk is full")

        db.inbox.attempt_failed = no_count  # type: ignore[method-assign]
        engine = DeliveryEngine(
            db=db, bot=bot, dispatcher=dispatcher, max_attempts=3, backoff_base=0.01
        )
        try:
            await engine.accept([text_update(1, "x")])
            await poll(inbox_has(db, "failed", 1), "the update parked")
            await asyncio.sleep(0.1)  # time for more runs, were there any
        finally:
            await engine.stop(1)
    assert runs == [1, 1, 1]
    assert engine.stats.parked == 1


async def test_an_update_that_does_not_decode_is_parked_without_quoting_it(
    fake: FakeTelegram,
    group: Group,
    bot_env: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Pydantic's error text quotes the input: a customer's words must not reach the logs
    above DEBUG, nor the alert in General."""
    alice = fake.add_user("Alice")
    secret = "my card is 4242 4242 4242 4242"
    bot = await start_bot(tmp_path, bot_env)
    try:
        # A message without its chat: Telegram would never send it, a bug somewhere might.
        fake.updates.push(
            "message",
            {"message_id": 7, "date": 1, "text": secret, "from": {"id": alice.id, "is_bot": 1}},
        )
        await fake.wait_for(lambda: fake.general_messages(group), timeout=10, what="the alert")
        _, health = await bot.health()
    finally:
        assert await bot.stop() == 0
    assert health["inbox"]["failed"] == 1
    alert = fake.general_messages(group)[0]["text"]
    assert "cannot decode the update: ValidationError for Update: message.chat" in alert
    assert "4242" not in alert
    shown = [r.getMessage() for r in caplog.records if r.levelno > 10]
    assert any("parked as failed" in line for line in shown)
    assert not any("4242" in line for line in shown)


async def test_retry_in_general_tries_the_set_aside_updates_again(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    alice = fake.add_user("Alice")
    olga = fake.add_operator(group, "Olga")
    fake.fail_next("sendMessage", error_code=500, times=10_000, chat_id=alice.id)
    bot = await start_bot(tmp_path, bot_env, MAX_ATTEMPTS="1")

    async def retry() -> str:
        sent = await fake.operator_sends(olga, group, content=fake.content.command("/retry"))

        def answer() -> str | None:
            for message in fake.messages_from_bot(group):
                if (message.get("reply_to_message") or {}).get("message_id") == sent["message_id"]:
                    return str(message["text"])
            return None

        await fake.wait_for(answer, timeout=10, what="the answer to /retry")
        return answer() or ""

    try:
        await fake.user_sends_command(alice, "/start")
        await fake.wait_for(lambda: fake.general_messages(group), timeout=30, what="the alert")
        alert = fake.general_messages(group)[0]["text"]
        fake.faults.failures.clear()  # the cause is fixed

        first = await retry()
        await fake.wait_for(lambda: welcomes(fake, alice), timeout=10, what="Alice's welcome")
        second = await retry()
        _, health = await bot.health()
    finally:
        assert await bot.stop() == 0
    assert "/retry here tries it again" in alert
    assert first == "🔁 Trying 1 set-aside update(s) again."
    assert second == "Nothing is set aside: every update was handled."
    assert health["inbox"]["failed"] == 0
    assert len(welcomes(fake, alice)) == 1
