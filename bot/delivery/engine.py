"""The delivery engine: durable intake, ordered handling, retries, and parking what cannot be done.

Every update is stored in the inbox (SQLite) before Telegram is told it was received, and leaves
it only when a handler has finished with it. Updates are handled through aiogram's `Dispatcher`
(`feed_update`), one queue per conversation side (see `ordering.queue_key`), several queues at
once. A handler that fails with a transient error (429, 5xx, network, a busy database) is tried
again with backoff, in place, so nothing behind it in its queue overtakes it; after
`max_attempts` it is parked as failed and a person is told. One that cannot be handled until
something outside the bot changes (`UpdateBlocked`: a right the bot lacks) is no failure: it
stays pending and its queue waits, without a retry, until the engine is told the reason is gone.

The engine knows nothing of the relay's rules: handlers decide what permanent errors (400, 403)
mean; an exception that reaches the engine is either transient or a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiogram
from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import Message, Update
from aiogram.types.update import UpdateTypeLookupError
from pydantic import ValidationError

from bot import logs
from bot.delivery.blocked import UpdateBlocked
from bot.delivery.ordering import queue_key
from bot.metrics import Metrics
from storage import Database, InboxItem

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TelegramRetryAfter,
    TelegramServerError,
    TelegramNetworkError,
    TimeoutError,
    sqlite3.OperationalError,  # "database is locked" and friends
)

INBOX_RETENTION = 48 * 3600.0  # seconds a handled update is remembered
PRUNE_INTERVAL = 3600.0
# Seconds from `resume` until the intake's first batch can be expected: deleteWebhook (or
# setWebhook) queued behind the resumed updates' calls at the global rate, a getUpdates round
# trip or Telegram's first webhook call, one 5xx retried by flood control, the inbox commit.
# A default `album_window` (1 s) is less than that on a slow link; see `resume`.
INTAKE_START_ALLOWANCE = 4.0

ParkedCallback = Callable[[InboxItem, str], Awaitable[None]]
BlockedCallback = Callable[[str], Awaitable[None]]  # the alert of an UpdateBlocked


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
        album_window: float = 1.0,
        on_parked: ParkedCallback | None = None,
        on_blocked: BlockedCallback | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._bot = bot
        self._dp = dispatcher
        self._max_attempts = max_attempts
        self._slots = asyncio.Semaphore(concurrency)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._on_parked = on_parked
        self._on_blocked = on_blocked
        # Reasons updates wait for (UpdateBlocked), each with the event that lifts it, and the
        # queues waiting for each: their heads stay pending, and what is behind them waits.
        self._lifted: dict[str, asyncio.Event] = {}
        self._waiting: dict[str, str] = {}  # queue key -> the reason its head waits for
        self._metrics = metrics if metrics is not None else Metrics()
        self._queues: dict[str, deque[InboxItem]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        # Update id -> monotonic time it counts as taken in (for resumed ones, see `resume`).
        self._arrived: dict[int, float] = {}
        # Handled (None) or given up on (the reason), but not yet recorded in the inbox because
        # the inbox failed: the next try only records it, it does not handle the update again.
        self._unrecorded: dict[int, str | None] = {}
        # Failed attempts in this run, for when the inbox cannot count them (see _handle).
        self._failures: dict[int, int] = {}
        self.album_window = album_window
        self._housekeeping: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.stats = EngineStats()

    # --- intake -----------------------------------------------------------------------------

    async def resume(self) -> int:
        """Queue what a previous run left in the inbox; call before taking new updates.

        An album the previous run was still holding for its late items may have them waiting
        in Telegram, for the intake's first batch. So the resumed updates count as taken in
        when that batch can be expected (`INTAKE_START_ALLOWANCE` from now), and an album at
        the end of a queue waits `album_window` after that, like one that has just arrived;
        the late items then join it. Nothing else waits: an update that is not an album
        item, or an album followed by anything in its queue, goes at once.
        """
        if self._housekeeping is None:
            self._housekeeping = asyncio.create_task(self._prune_forever(), name="inbox-prune")
        pending = await self._db.inbox.pending()
        taken_in = time.monotonic() + INTAKE_START_ALLOWANCE
        self._arrived.update((item.update_id, taken_in) for item in pending)
        self._enqueue(pending)
        if pending:
            logger.info("Resuming %d update(s) left in the inbox", len(pending))
        return len(pending)

    async def retry_failed(self) -> int:
        """Give every parked update a new set of attempts, now (an operator's /retry).

        Parked updates are in no queue, so none can run twice. Returns how many were requeued.
        Updates waiting for a reason (UpdateBlocked) are tried again too: a person asked; if
        the reason is still there, they wait again.
        """
        for reason in list(self._lifted):
            self.lift(reason)
        parked = await self._db.inbox.failed(limit=None)
        requeued = []
        for item in parked:
            if await self._db.inbox.requeue(item.update_id):
                requeued.append(item)
        self._enqueue(requeued)
        if requeued:
            logger.info("Trying %d parked update(s) again", len(requeued))
        return len(requeued)

    def lift(self, reason: str) -> int:
        """`reason` is gone (the bot has its right back): the queues that waited for it go on,
        each from the update that waited, in order. Returns how many updates waited."""
        keys = [key for key, waited in self._waiting.items() if waited == reason]
        count = sum(len(self._queues.get(key, ())) for key in keys)
        event = self._lifted.pop(reason, None)
        if event is not None:
            event.set()
        if count:
            logger.info("%d update(s) that waited for %s go on", count, reason)
        return count

    async def accept(self, updates: Iterable[dict[str, Any]]) -> list[int]:
        """Store raw updates durably (one transaction), then queue the new ones.

        Returns the ids that were new. When this returns, the updates are safe: the caller may
        confirm them to Telegram. Re-delivered updates (already in the inbox) are ignored.
        """
        rows = [(u["update_id"], queue_key(u), json.dumps(u, ensure_ascii=False)) for u in updates]
        if not rows:
            return []
        added = await self._db.inbox.add(rows)
        self.stats.received += len(added)
        self.stats.duplicates += len(rows) - len(added)
        self.stats.last_update_at = time.time()
        if len(added) < len(rows):
            logger.info("Ignored %d update(s) already in the inbox", len(rows) - len(added))
        new = set(added)
        now = time.monotonic()
        self._arrived.update((uid, now) for uid in added)
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
                self._workers[item.queue_key] = asyncio.create_task(
                    self._work(item.queue_key), name=f"delivery:{item.queue_key}"
                )

    # --- handling ---------------------------------------------------------------------------

    async def _work(self, key: str) -> None:
        queue = self._queues[key]
        troubles = 0  # inbox failures in a row, for the backoff
        try:
            while queue and not self._stopping.is_set():
                batch = next_batch(queue, self._arrived, self.album_window)
                if isinstance(batch, float):  # an album may still be arriving
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), timeout=batch)
                    continue
                async with self._slots:
                    try:
                        with logs.update_context(batch[0].update_id):
                            delay = await self._handle(batch)
                        troubles = 0
                    except Exception:
                        # The inbox itself failed (disk full, a locked file): the update stays
                        # pending there; keep the queue alive and try it again, ever later.
                        logger.exception(
                            "Inbox bookkeeping for update %d failed", batch[0].update_id
                        )
                        troubles += 1
                        delay = self._backoff(troubles, None)
                if isinstance(delay, Blocked):
                    # Outside the slot: other conversations go on while this one waits.
                    await self._wait_for_lift(key, delay.reason)
                    continue
                if delay is None:
                    for _ in batch:
                        update_id = queue.popleft().update_id
                        self._arrived.pop(update_id, None)
                        self._failures.pop(update_id, None)
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

    async def _handle(self, batch: list[InboxItem]) -> float | Blocked | None:
        """Handle one update (or one album). Returns None when done with it, a delay before the
        next attempt, or what it waits for (`Blocked`)."""
        head = batch[0]
        if head.update_id in self._unrecorded:
            await self._record(batch, self._unrecorded[head.update_id])
            return None
        try:
            updates = [
                Update.model_validate_json(item.payload, context={"bot": self._bot})
                for item in batch
            ]
        except ValidationError as error:
            logger.debug("Update %d does not decode", head.update_id, exc_info=True)
            await self._record(batch, f"cannot decode the update: {describe_error(error)}")
            return None
        unknown = _unknown_type(updates[0])
        if unknown is not None:
            # The Dispatcher would only warn, quoting the whole update (a customer's words) in
            # a multi-line RuntimeWarning, and skip it. No retry can help: it is done.
            logger.warning(
                "Update %d is of a type this bot does not know (%s) and is skipped; upgrade "
                "the bot (aiogram %s) to handle it",
                head.update_id,
                unknown,
                aiogram.__version__,
            )
            await self._record(batch, None)
            return None
        album = [u.message for u in updates if u.message is not None] if len(batch) > 1 else None
        try:
            await self._feed(updates[0], album)
        except TRANSIENT_ERRORS as error:
            description = describe_error(error)
            failures = self._failures[head.update_id] = self._failures.get(head.update_id, 0) + 1
            try:
                attempts = 0
                for item in batch:
                    attempts = await self._db.inbox.attempt_failed(
                        item.update_id, error=description
                    )
            except Exception:
                # The handler may have sent something before it failed: without a limit, it
                # would send it again and again. This run's count stands in for the inbox's.
                logger.exception("Could not count the failed attempt of update %d", head.update_id)
                attempts = failures
            if attempts >= self._max_attempts:
                await self._record(batch, f"gave up after {attempts} attempts: {description}")
                return None
            delay = self._backoff(attempts, error)
            logger.warning(
                "Update %d failed (attempt %d of %d), retrying in %.1f s: %s",
                head.update_id,
                attempts,
                self._max_attempts,
                delay,
                description,
            )
            return delay
        except UpdateBlocked as error:
            # Not a failure and not transient: it stays pending, its queue waits (see _work).
            logger.warning("Update %d waits: %s", head.update_id, error.description)
            if error.reason not in self._lifted:
                self._lifted[error.reason] = asyncio.Event()
                if self._on_blocked is not None:
                    try:
                        await self._on_blocked(error.alert)
                    except Exception:
                        logger.exception(
                            "Could not tell anybody why update %d waits", head.update_id
                        )
            return Blocked(error.reason)
        except Exception as error:
            if isinstance(error, ValidationError):
                # Its text quotes the input, which may be a customer's words: not above DEBUG.
                logger.debug("Update %d failed", head.update_id, exc_info=True)
                logger.error(
                    "Update %d failed with an unexpected error: %s",
                    head.update_id,
                    describe_error(error),
                )
            else:
                logger.exception("Update %d failed with an unexpected error", head.update_id)
            await self._record(batch, describe_error(error))
            return None
        await self._record(batch, None)
        return None

    async def _wait_for_lift(self, key: str, reason: str) -> None:
        """Wait until `reason` is lifted (or the engine stops): the update stays pending."""
        event = self._lifted.get(reason)
        if event is None:  # lifted meanwhile
            return
        self._waiting[key] = reason
        try:
            lifted = asyncio.create_task(event.wait())
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({lifted, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in (lifted, stopping):
                task.cancel()
        finally:
            self._waiting.pop(key, None)

    async def _record(self, batch: list[InboxItem], parked: str | None) -> None:
        """Store the end of an update (or album) in the inbox: done, or parked for `parked`.

        The end is remembered first: if the inbox fails now, the next try only records it.
        """
        for item in batch:
            self._unrecorded[item.update_id] = parked
        if parked is None:
            # At once, so that an album's items share one commit.
            await asyncio.gather(*(self._db.inbox.done(item.update_id) for item in batch))
            self.stats.handled += len(batch)
        else:
            await self._park(batch, parked)
        for item in batch:
            del self._unrecorded[item.update_id]

    async def _feed(self, update: Update, album: list[Message] | None) -> None:
        """The Dispatcher's handling of one update (or album), timed for the metrics."""
        started = time.monotonic()
        try:
            await self._dp.feed_update(self._bot, update, album=album)
        finally:
            self._metrics.update_handled(time.monotonic() - started)

    def _backoff(self, attempts: int, error: BaseException | None) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempts - 1))
        delay = random.uniform(ceiling / 2, ceiling)
        if isinstance(error, TelegramRetryAfter):
            delay = max(delay, float(error.retry_after))
        return delay

    async def _park(self, batch: list[InboxItem], reason: str) -> None:
        """Set an update (or a whole album) aside as failed, and tell a person once."""
        for item in batch:
            await self._db.inbox.park(item.update_id, error=reason)
            logger.error(
                "Update %d (queue %s) parked as failed: %s", item.update_id, item.queue_key, reason
            )
        self.stats.parked += len(batch)
        for _ in batch:
            self._metrics.delivery_failed("parked")
        item = batch[0]
        if self._on_parked is not None:
            try:
                await self._on_parked(item, reason)
            except Exception:
                logger.exception("Could not tell anybody that update %d failed", item.update_id)

    # --- lifecycle --------------------------------------------------------------------------

    async def _prune_forever(self) -> None:
        """Forget handled updates once Telegram can no longer send them again.

        Handled updates are kept so that a re-delivered one (an unconfirmed getUpdates batch, a
        webhook call whose answer was lost) is recognised as a duplicate. Telegram keeps an
        unconfirmed update for 24 hours; they are kept twice as long.
        """
        while not self._stopping.is_set():
            try:
                removed = await self._db.inbox.prune(older_than_seconds=INBOX_RETENTION)
                if removed:
                    logger.info("Pruned %d handled update(s) from the inbox", removed)
            except Exception:
                logger.exception("Pruning the inbox failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=PRUNE_INTERVAL)

    async def stop(self, grace: float) -> None:
        """Let running handlers finish for up to `grace` seconds; the rest stays in the inbox."""
        self._stopping.set()
        if self._housekeeping is not None:
            await asyncio.gather(self._housekeeping, return_exceptions=True)
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


@dataclass(frozen=True)
class Blocked:
    """What an update waits for (the reason of an UpdateBlocked)."""

    reason: str


def next_batch(
    queue: deque[InboxItem], arrived: dict[int, float], album_window: float
) -> list[InboxItem] | float:
    """The head of the queue: one update, or all the updates of one album.

    Telegram sends the items of an album as separate updates, one after another and usually in
    one batch. They are handed to the handler together (as `album`) so the relay can copy them
    with one `copyMessages` call and the album stays an album. When the album is at the end of
    the queue and its last item arrived (`arrived`: update id -> monotonic time it was taken
    in) less than `album_window` ago, more may come: the answer is then how long to wait before
    looking again.
    """
    head = queue[0]
    group = _media_group_id(head)
    if group is None:
        return [head]
    batch = [head]
    for item in itertools.islice(queue, 1, None):
        if _media_group_id(item) != group:
            return batch
        batch.append(item)
    taken_in = arrived.get(batch[-1].update_id)
    if taken_in is not None:
        wait = taken_in + album_window - time.monotonic()
        if wait > 0:
            # Look again within one window: the late items of a resumed album (see
            # `DeliveryEngine.resume`) usually come long before its allowance is up, and then
            # only their own window is left to wait.
            return min(wait, album_window)
    return batch


def _media_group_id(item: InboxItem) -> str | None:
    """The album an update's new message belongs to, if any (cheap: no model decoding)."""
    if '"media_group_id"' not in item.payload:
        return None
    message = json.loads(item.payload).get("message")
    if isinstance(message, dict):
        group = message.get("media_group_id")
        return str(group) if group is not None else None
    return None


def _unknown_type(update: Update) -> str | None:
    """The type of an update newer than the installed aiogram (its top-level key), else None.

    aiogram keeps the fields it does not know as extras, so the type's name is there; the
    update's content is not looked at.
    """
    try:
        _ = update.event_type
    except UpdateTypeLookupError:
        return ", ".join(sorted(update.model_extra or {})) or "no type at all"
    return None


def describe_error(error: BaseException) -> str:
    """An error in words fit for logs and for the operators' General topic.

    A pydantic ValidationError quotes the input it rejected, which may hold a customer's message:
    only where each problem is and what it is are kept.
    """
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(root)'}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        )
        return f"ValidationError for {error.title}: {problems}"
    return f"{type(error).__name__}: {error}"
