"""Small pieces of the delivery engine, tested alone: queue keys and flood control.

The guarantees themselves are proven end to end in test_delivery.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import EditMessageText, GetUpdates, Response, SendMessage, TelegramMethod

from bot.delivery import flood as flood_module
from bot.delivery.flood import FloodControl, TokenBucket, in_background
from bot.delivery.ordering import queue_key

GROUP = {"id": -1001, "type": "supergroup", "is_forum": True}
PRIVATE = {"id": 42, "type": "private"}


def message(chat: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"message_id": 1, "date": 0, "chat": chat, **fields}


def test_private_chat_updates_share_one_key() -> None:
    keys = {
        queue_key({"update_id": 1, "message": message(PRIVATE, text="hi")}),
        queue_key({"update_id": 2, "edited_message": message(PRIVATE, text="hi!")}),
        queue_key({"update_id": 3, "message_reaction": {"chat": PRIVATE, "message_id": 1}}),
        queue_key({"update_id": 4, "my_chat_member": {"chat": PRIVATE}}),
    }
    assert keys == {"chat:42"}


def test_each_forum_topic_has_its_own_key() -> None:
    in_topic = message(GROUP, message_thread_id=7, is_topic_message=True, text="a")
    other_topic = message(GROUP, message_thread_id=9, is_topic_message=True, text="b")
    general = message(GROUP, text="c")
    assert queue_key({"update_id": 1, "message": in_topic}) == "chat:-1001:topic:7"
    assert queue_key({"update_id": 2, "message": other_topic}) == "chat:-1001:topic:9"
    assert queue_key({"update_id": 3, "message": general}) == "chat:-1001"


def test_topic_service_messages_queue_with_their_topic() -> None:
    closed = message(
        GROUP, message_id=20, message_thread_id=7, is_topic_message=True, forum_topic_closed={}
    )
    created = message(GROUP, message_id=7, forum_topic_created={"name": "x", "icon_color": 1})
    assert queue_key({"update_id": 1, "message": closed}) == "chat:-1001:topic:7"
    assert queue_key({"update_id": 2, "message": created}) == "chat:-1001:topic:7"


def test_topics_of_a_private_chat_share_the_chat_key() -> None:
    """Bot API 9.3: a user's private chat may have topics; it is still one conversation."""
    in_topic = message(PRIVATE, message_thread_id=5, is_topic_message=True, text="a")
    created = message(PRIVATE, message_id=5, forum_topic_created={"name": "x", "icon_color": 1})
    outside = message(PRIVATE, text="b")
    keys = {
        queue_key({"update_id": n, "message": m})
        for n, m in enumerate((in_topic, created, outside))
    }
    assert keys == {"chat:42"}


def test_reply_threads_outside_forums_do_not_split_a_chat() -> None:
    plain_group = {"id": -5, "type": "group"}
    reply = message(plain_group, message_thread_id=3, text="re")
    assert queue_key({"update_id": 1, "message": reply}) == "chat:-5"


def test_unknown_update_types_are_keyed_by_sender() -> None:
    update = {"update_id": 5, "callback_query": {"id": "q", "from": {"id": 77}}}
    assert queue_key(update) == "user:77"


# --- flood control --------------------------------------------------------------------------


class Recorder:
    """Plays the network: answers each call from a script and records when calls were made."""

    def __init__(self, script: dict[int | None, list[BaseException | None]]) -> None:
        self.script = script
        self.calls: list[tuple[float, int | str | None]] = []

    async def __call__(self, bot: Bot, method: TelegramMethod[Any]) -> Response[Any]:
        chat_id = getattr(method, "chat_id", None)
        self.calls.append((time.monotonic(), chat_id))
        await asyncio.sleep(0.001)
        outcomes = self.script.get(chat_id) or []
        outcome = outcomes.pop(0) if outcomes else None
        if outcome is not None:
            raise outcome
        return Response[Any](ok=True, result=True)


def send(chat_id: int) -> SendMessage:
    return SendMessage(chat_id=chat_id, text="x")


def retry_after(seconds: int, chat_id: int) -> TelegramRetryAfter:
    return TelegramRetryAfter(
        method=send(chat_id), message="Too Many Requests", retry_after=seconds
    )


@pytest.fixture
def bot() -> Bot:
    return Bot("123456:" + "a" * 35)


async def test_a_429_holds_back_that_chat_only(bot: Bot) -> None:
    recorder = Recorder({1: [retry_after(1, 1)]})
    flood = FloodControl(global_rate=1000)
    started = time.monotonic()
    await asyncio.gather(
        flood(recorder, bot, send(1)),  # gets 429, waits 1 s, succeeds
        flood(recorder, bot, send(1)),  # queued behind it: must not be sent during the wait
        flood(recorder, bot, send(2)),  # another chat: goes straight through
    )
    times = {chat: [t - started for t, c in recorder.calls if c == chat] for chat in (1, 2)}
    assert len(times[1]) == 3
    assert times[1][0] < 0.2
    assert all(t >= 1.0 for t in times[1][1:]), times  # nothing during retry_after
    assert len(times[2]) == 1
    assert times[2][0] < 0.2
    assert flood.stats.retry_after_waits == 1


async def test_server_errors_are_retried_a_bounded_number_of_times(bot: Bot) -> None:
    failures: list[BaseException | None] = [
        TelegramServerError(method=send(1), message="Bad Gateway") for _ in range(10)
    ]
    recorder = Recorder({1: failures})
    flood = FloodControl(global_rate=1000, max_error_retries=3, backoff_base=0.01)
    with pytest.raises(TelegramServerError):
        await flood(recorder, bot, send(1))
    assert len(recorder.calls) == 4  # the call and three retries


async def test_a_network_error_then_success(bot: Bot) -> None:
    recorder = Recorder({1: [TelegramNetworkError(method=send(1), message="reset")]})
    flood = FloodControl(global_rate=1000, backoff_base=0.01)
    response = await flood(recorder, bot, send(1))
    assert response.result is True
    assert len(recorder.calls) == 2
    assert flood.stats.retried_errors == 1


async def test_repeated_429s_are_raised_to_the_engine_in_the_end(bot: Bot) -> None:
    recorder = Recorder({1: [retry_after(0, 1) for _ in range(10)]})
    flood = FloodControl(global_rate=1000, max_retry_after_waits=2)
    with pytest.raises(TelegramRetryAfter):
        await flood(recorder, bot, send(1))
    assert len(recorder.calls) == 3


async def test_long_polling_bypasses_flood_control(bot: Bot) -> None:
    recorder = Recorder({None: [TelegramServerError(method=GetUpdates(), message="Bad Gateway")]})
    flood = FloodControl(global_rate=1000)
    with pytest.raises(TelegramServerError):
        await flood(recorder, bot, GetUpdates())
    assert len(recorder.calls) == 1  # the poller has its own retry loop


async def test_token_bucket_keeps_the_rate() -> None:
    bucket = TokenBucket(50)
    started = time.monotonic()
    for _ in range(100):  # 50 from the full bucket at once, then 50 more at 50/s
        await bucket.acquire()
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.5


async def test_raw_long_polling_bypasses_flood_control_too(bot: Bot) -> None:
    from bot.delivery.intake import GetRawUpdates

    recorder = Recorder({None: [TelegramServerError(method=GetUpdates(), message="Bad Gateway")]})
    flood = FloodControl(global_rate=1000)
    with pytest.raises(TelegramServerError):
        await flood(recorder, bot, GetRawUpdates(timeout=1))
    assert len(recorder.calls) == 1


# --- the background lane (the desk's own calls) -----------------------------------------------


class Slow(Recorder):
    """Each call takes `delay` seconds and is recorded with the text it sent."""

    def __init__(self, delay: float) -> None:
        super().__init__({})
        self.delay = delay
        self.order: list[str] = []

    async def __call__(self, bot: Bot, method: TelegramMethod[Any]) -> Response[Any]:
        self.order.append(str(getattr(method, "text", type(method).__name__)))
        await asyncio.sleep(self.delay)
        return Response[Any](ok=True, result=True)


def named(chat_id: int, text: str) -> SendMessage:
    return SendMessage(chat_id=chat_id, text=text)


async def in_background_call(flood: FloodControl, session: Recorder, bot: Bot, method) -> None:
    with in_background():
        await flood(session, bot, method)


async def test_a_background_call_gives_way_to_every_waiting_message(bot: Bot) -> None:
    slow = Slow(0.05)
    flood = FloodControl(global_rate=1000)
    first = asyncio.create_task(flood(slow, bot, named(1, "customer 1")))
    await asyncio.sleep(0.01)  # customer 1 is on the wire
    icon = asyncio.create_task(in_background_call(flood, slow, bot, named(1, "icon")))
    await asyncio.sleep(0.01)
    later = [asyncio.create_task(flood(slow, bot, named(1, f"customer {n}"))) for n in (2, 3)]
    other_chat = asyncio.create_task(in_background_call(flood, slow, bot, named(2, "board")))

    await asyncio.gather(first, icon, *later, other_chat)

    in_chat_1 = [text for text in slow.order if text != "board"]
    assert in_chat_1 == ["customer 1", "customer 2", "customer 3", "icon"]
    assert slow.order.index("board") < slow.order.index("customer 2")  # another chat: no wait


async def test_a_background_post_waits_for_a_chat_to_cool_down_after_a_429(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flood_module, "QUIET_AFTER_429", 0.5)
    recorder = Recorder({1: [retry_after(0, 1)]})
    flood = FloodControl(global_rate=1000)
    await flood(recorder, bot, send(1))  # a 429, then sent
    after_429 = time.monotonic()

    # An edit posts nothing: it goes as soon as nothing else waits. A post waits out the calm.
    await in_background_call(
        flood, recorder, bot, EditMessageText(chat_id=1, message_id=5, text="board")
    )
    edited = time.monotonic()
    await in_background_call(flood, recorder, bot, send(1))
    posted = time.monotonic()

    assert edited - after_429 < 0.3
    assert posted - after_429 >= 0.5


async def test_a_background_call_that_meets_a_429_gives_its_turn_up(bot: Bot) -> None:
    recorder = Recorder({1: [retry_after(1, 1)]})
    flood = FloodControl(global_rate=1000)

    with pytest.raises(TelegramRetryAfter):
        await in_background_call(flood, recorder, bot, named(1, "icon"))
    started = time.monotonic()
    await flood(recorder, bot, named(1, "customer"))  # waits out the penalty, then goes

    assert len(recorder.calls) == 2  # the icon was not tried again
    assert time.monotonic() - started >= 1.0
