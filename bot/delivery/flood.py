"""Flood control: every Bot API call of the bot passes through here.

Telegram enforces its limits with HTTP 429 and a `retry_after`; calling the same chat again
before that time is up extends the penalty. It does not publish exact per-chat limits, so this
middleware does not guess them: it learns each chat's pace from the 429 answers it gets.

- Calls to one chat are made one at a time (a per-chat FIFO lock), so when a 429 arrives no other
  call to that chat is already on the wire, and the next one waits for the whole `retry_after`.
  Other chats carry on meanwhile.
- The whole bot stays under a global rate (a token bucket, `GLOBAL_RATE_LIMIT` calls/s).
- 5xx answers and network errors are retried a bounded number of times with exponential
  backoff and full jitter; what still fails is raised to the delivery engine, which retries the
  whole update later and finally parks it.
- The desk's own calls (the board, topic icons, reminders) are made `in_background()`: they
  use what customers' and operators' messages leave of a chat's limits. A background call to
  a chat waits while any other call to it is waiting or under way, and while a `retry_after`
  holds it; one that posts a message there (an icon change posts a service message) also
  waits until the chat has been free of 429s for a while, so that it does not spend the room
  the next customer's message needs.

https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

logger = logging.getLogger(__name__)

# Seconds a chat must be free of 429s before a background call posts a message there.
QUIET_AFTER_429 = 60.0
# How often a waiting background call looks again.
BACKGROUND_POLL = 0.2
# Methods that post a message (or a service message) into their chat, so count against its
# rate limit. Edits, reactions, deletions and reads do not.
_POSTING_PREFIXES = ("send", "copy", "forward")
_POSTING_METHODS = frozenset(
    {"createForumTopic", "editForumTopic", "closeForumTopic", "reopenForumTopic", "pinChatMessage"}
)

_background: ContextVar[bool] = ContextVar("flood_background", default=False)
_after_calm: ContextVar[bool] = ContextVar("flood_after_calm", default=True)


@contextmanager
def in_background(*, after_calm: bool = True) -> Iterator[None]:
    """Bot API calls made inside the block give way to every other call (see above).

    `after_calm=False`: a post that must not wait for a minute without 429s (a reminder: under
    steady load that minute never comes); it still waits for every queued call and penalty.
    """
    tokens = (_background.set(True), _after_calm.set(after_calm))
    try:
        yield
    finally:
        _after_calm.reset(tokens[1])
        _background.reset(tokens[0])


@dataclass
class FloodStats:
    """Counters a person (or /healthz, or metrics) may want to see."""

    retry_after_waits: int = 0
    retried_errors: int = 0


@dataclass
class _ChatGate:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    blocked_until: float = 0.0
    users: int = 0  # tasks holding or waiting for the lock; the gate is dropped at zero
    foreground: int = 0  # of them, the calls that are not in the background


class TokenBucket:
    """At most `rate` acquisitions per second on average, bursts of up to `rate`."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._clock = clock
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:  # FIFO: waiting callers are served in order
            while True:
                now = self._clock()
                self._tokens = min(
                    self._capacity, self._tokens + (now - self._updated) * self._rate
                )
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self._rate)


class FloodControl(BaseRequestMiddleware):
    """aiogram request middleware: per-chat 429 gates, a global rate, bounded retries."""

    def __init__(
        self,
        *,
        global_rate: float = 30.0,
        max_retry_after_waits: int = 5,
        max_error_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
    ) -> None:
        self._bucket = TokenBucket(global_rate)
        self._gates: dict[int | str, _ChatGate] = {}
        self._max_retry_after_waits = max_retry_after_waits
        self._max_error_retries = max_error_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self.stats = FloodStats()
        # When each chat last answered 429 (monotonic), for the background's cool-down.
        self._last_429: dict[int | str, float] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ == "getUpdates":
            # Long polling (also the raw variant the poller uses) has its own retry loop and
            # is not a message to anybody.
            return await make_request(bot, method)
        chat_id = _target_chat(method)
        if chat_id is None:
            return await self._call_with_retries(make_request, bot, method, None)
        background = _background.get()
        if background:
            await self.wait_for_room(chat_id, posts=_posts(method) and _after_calm.get())
        gate = self._gates.setdefault(chat_id, _ChatGate())
        gate.users += 1
        gate.foreground += not background
        try:
            async with gate.lock:
                return await self._call_with_retries(make_request, bot, method, gate)
        finally:
            gate.users -= 1
            gate.foreground -= not background
            if gate.users == 0 and gate.blocked_until <= time.monotonic():
                self._gates.pop(chat_id, None)

    async def wait_for_room(self, chat_id: int | str, *, posts: bool) -> None:
        """Wait until a background call to the chat takes nothing from the others (see above):
        `posts`, a call that posts a message there.

        Background work that decides what to send from the current state waits here first and
        reads the state afterwards, so that what it sends is the latest.
        """
        while True:
            now = time.monotonic()
            gate = self._gates.get(chat_id)
            busy = gate is not None and (gate.foreground > 0 or gate.blocked_until > now)
            last_429 = self._last_429.get(chat_id)
            cooling = posts and last_429 is not None and now - last_429 < QUIET_AFTER_429
            if not busy and not cooling:
                return
            await asyncio.sleep(BACKGROUND_POLL)

    async def _call_with_retries(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
        gate: _ChatGate | None,
    ) -> Response[TelegramType]:
        waits = 0
        errors = 0
        while True:
            if gate is not None:
                delay = gate.blocked_until - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await self._bucket.acquire()
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                waits += 1
                self.stats.retry_after_waits += 1
                chat = getattr(method, "chat_id", None)
                logger.warning(
                    "429 from Telegram on %s (chat %s): waiting %s s",
                    type(method).__name__,
                    chat,
                    error.retry_after,
                )
                if gate is None:
                    if waits > self._max_retry_after_waits:
                        raise
                    await asyncio.sleep(error.retry_after)
                    continue
                # A small margin: Telegram counts the penalty from its own clock.
                gate.blocked_until = time.monotonic() + error.retry_after + 0.05
                self._note_429(chat)
                # A background call does not wait its turn again at the head of the chat: the
                # calls queued behind it go first once the penalty is over; its caller tries
                # again later, from what is then the latest state.
                if waits > self._max_retry_after_waits or _background.get():
                    raise
            except (TelegramServerError, TelegramNetworkError) as error:
                errors += 1
                if errors > self._max_error_retries:
                    raise
                self.stats.retried_errors += 1
                delay = random.uniform(
                    0, min(self._backoff_cap, self._backoff_base * 2 ** (errors - 1))
                )
                logger.warning(
                    "%s on %s: retry %d of %d in %.2f s",
                    type(error).__name__,
                    type(method).__name__,
                    errors,
                    self._max_error_retries,
                    delay,
                )
                await asyncio.sleep(delay)

    def _note_429(self, chat_id: int | str | None) -> None:
        if chat_id is None:
            return
        now = time.monotonic()
        self._last_429[chat_id] = now
        # Forget chats whose cool-down is long over (private chats come and go).
        if len(self._last_429) > 1000:
            self._last_429 = {
                chat: at for chat, at in self._last_429.items() if now - at < QUIET_AFTER_429
            }


def _posts(method: TelegramMethod[Any]) -> bool:
    name = method.__api_method__
    return name in _POSTING_METHODS or name.startswith(_POSTING_PREFIXES)


def _target_chat(method: TelegramMethod[Any]) -> int | str | None:
    chat_id = getattr(method, "chat_id", None)
    if isinstance(chat_id, int | str):
        return chat_id
    return None
