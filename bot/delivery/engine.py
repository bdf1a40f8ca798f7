"""The delivery engine: durable intake, ordered handling, retries, and parking what cannot be done.

Every update is stored in the inbox (SQLite) before Telegram is told it was received, and leaves
it only when a handler has finished with it. Updates are handled through aiogram's `Dispatcher`
(`feed_update`), one queue per conversation side (see `ordering.queue_key`), several queues at
once. A handler that fails with a transient error (429, 5xx, network, a busy database) is tried
again with backoff, in place, so nothing behind it in its queue overtakes it; after
`max_attempts` it is parked as failed and a person is told.

The engine knows nothing of the relay's rules: handlers decide what permanent errors (400, 403)
mean; an exception that reaches the engine is either transient or a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import Update
from pydantic import ValidationError

from bot.delivery.ordering import queue_key
from storage import Database, InboxItem

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TelegramRetryAfter,
    TelegramServerError,
    TelegramNetworkError,
    TimeoutError,
    sqlite3.OperationalError,  # "database is locked" and friends
)

ParkedCallback = Callable[[InboxItem, str], Awaitable[None]]


@dataclass
class EngineStats:
    received: int = 0
    duplicates: int = 0
    handled: int = 0
    retried: int = 0
    parked: int = 0
    last_update_at: float | None = None  # wall-clock time of the last update taken in


class DeliveryEngine:
    """Takes raw updates into the inbox and feeds them to the Dispatcher, in order, with retries."""

    def __init__(
        self,
        *,
        db: Database,
        bot: Bot,
        dispatcher: Dispatcher,
        max_attempts: int = 8,
        concurrency: int = 16,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        on_parked: ParkedCallback | None = None,
    ) -> None:
        self._db = db
        self._bot = bot
        self._dp = dispatcher
        self._max_attempts = max_attempts
        self._slots = asyncio.Semaphore(concurrency)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._on_parked = on_parked
        self._queues: dict[str, deque[InboxItem]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.stats = EngineStats()

    # --- intake -----------------------------------------------------------------------------

    async def resume(self) -> int:
        """Queue what a previous run left in the inbox; call before taking new updates."""
        pending = await self._db.inbox_pending()
        self._enqueue(pending)
        if pending:
            logger.info("Resuming %d update(s) left in the inbox", len(pending))
        return len(pending)

    async def accept(self, updates: Iterable[dict[str, Any]]) -> list[int]:
        """Store raw updates durably (one transaction), then queue the new ones.

        Returns the ids that were new. When this returns, the updates are safe: the caller may
        confirm them to Telegram. Re-delivered updates (already in the inbox) are ignored.
        """
        rows = [(u["update_id"], queue_key(u), json.dumps(u, ensure_ascii=False)) for u in updates]
        if not rows:
            return []
        added = await self._db.inbox_add(rows)
        self.stats.received += len(added)
        self.stats.duplicates += len(rows) - len(added)
        self.stats.last_update_at = time.time()
        if len(added) < len(rows):
            logger.info("Ignored %d update(s) already in the inbox", len(rows) - len(added))
        new = set(added)
        self._enqueue(
            InboxItem(update_id=uid, queue_key=key, payload=payload, attempts=0)
            for uid, key, payload in rows
            if uid in new
        )
        return added

    def _enqueue(self, items: Iterable[InboxItem]) -> None:
        for item in items:
            self._queues.setdefault(item.queue_key, deque()).append(item)
            if item.queue_key not in self._workers and not self._stopping.is_set():
                self._idle.clear()
                self._workers[item.queue_key] = asyncio.create_task(
                    self._work(item.queue_key), name=f"delivery:{item.queue_key}"
                )

    # --- handling ---------------------------------------------------------------------------

    async def _work(self, key: str) -> None:
        queue = self._queues[key]
        try:
            while queue and not self._stopping.is_set():
                item = queue[0]
                async with self._slots:
                    delay = await self._handle(item)
                if delay is None:
                    queue.popleft()
                    continue
                self.stats.retried += 1
                # Sleep outside the slot so other conversations use it meanwhile; wake early on
                # stop (the update stays pending in the inbox for the next start).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
        finally:
            self._workers.pop(key, None)
            if not queue:
                self._queues.pop(key, None)
            if not self._workers:
                self._idle.set()

    async def _handle(self, item: InboxItem) -> float | None:
        """Handle one update. Returns None when it is finished with, else seconds to wait."""
        try:
            update = Update.model_validate_json(item.payload, context={"bot": self._bot})
        except ValidationError as error:
            await self._park(item, f"cannot decode the update: {error}")
            return None
        try:
            await self._dp.feed_update(self._bot, update)
        except TRANSIENT_ERRORS as error:
            description = f"{type(error).__name__}: {error}"
            attempts = await self._db.inbox_attempt_failed(item.update_id, error=description)
            if attempts >= self._max_attempts:
                await self._park(item, f"gave up after {attempts} attempts: {description}")
                return None
            delay = self._backoff(attempts, error)
            logger.warning(
                "Update %d failed (attempt %d of %d), retrying in %.1f s: %s",
                item.update_id,
                attempts,
                self._max_attempts,
                delay,
                description,
            )
            return delay
        except Exception as error:
            logger.exception("Update %d failed with an unexpected error", item.update_id)
            await self._park(item, f"{type(error).__name__}: {error}")
            return None
        await self._db.inbox_done(item.update_id)
        self.stats.handled += 1
        return None

    def _backoff(self, attempts: int, error: BaseException) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempts - 1))
        delay = random.uniform(ceiling / 2, ceiling)
        if isinstance(error, TelegramRetryAfter):
            delay = max(delay, float(error.retry_after))
        return delay

    async def _park(self, item: InboxItem, reason: str) -> None:
        await self._db.inbox_park(item.update_id, error=reason)
        self.stats.parked += 1
        logger.error(
            "Update %d (queue %s) parked as failed: %s", item.update_id, item.queue_key, reason
        )
        if self._on_parked is not None:
            try:
                await self._on_parked(item, reason)
            except Exception:
                logger.exception("Could not tell anybody that update %d failed", item.update_id)

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def busy(self) -> int:
        """Updates queued in memory (being handled or waiting their turn)."""
        return sum(len(queue) for queue in self._queues.values())

    async def wait_idle(self) -> None:
        """Wait until every queued update has been handled (tests and benchmarks use this)."""
        await self._idle.wait()

    async def stop(self, grace: float) -> None:
        """Let running handlers finish for up to `grace` seconds; the rest stays in the inbox."""
        self._stopping.set()
        workers = list(self._workers.values())
        if not workers:
            return
        _, still_running = await asyncio.wait(workers, timeout=grace)
        for task in still_running:
            task.cancel()
        if still_running:
            logger.warning(
                "%d conversation queue(s) did not finish in %.0f s; their updates stay in the "
                "inbox for the next start",
                len(still_running),
                grace,
            )
            await asyncio.gather(*still_running, return_exceptions=True)
