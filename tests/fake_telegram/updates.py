"""The bot's update queue: long polling (getUpdates) and webhook delivery."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

# Without allowed_updates Telegram sends every type except these.
NOT_SENT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
FIRST_UPDATE_ID = 100001


class Changes:
    """A broadcast "something changed" signal: waiters wake on every change."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float | None) -> bool:
        """Wait for the next change; False on timeout."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await self.wait(remaining)
        return True


@dataclass(eq=False)
class Poll:
    """One getUpdates request in progress."""

    terminated_by: str | None = None


class UpdateQueue:
    def __init__(self, changes: Changes) -> None:
        self._changes = changes
        self._ids = itertools.count(FIRST_UPDATE_ID)
        self.pending: list[dict[str, Any]] = []
        # None: Telegram's default set. Persisted across getUpdates / setWebhook calls.
        self.allowed_updates: list[str] | None = None
        self.dropped: list[dict[str, Any]] = []
        self.active_poll: Poll | None = None

    def allows(self, update_type: str) -> bool:
        if not self.allowed_updates:
            return update_type not in NOT_SENT_BY_DEFAULT
        return update_type in self.allowed_updates

    def push(self, update_type: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Enqueue an update; like Telegram, a type not allowed right now is dropped for good."""
        update = {"update_id": next(self._ids), update_type: copy.deepcopy(payload)}
        if not self.allows(update_type):
            self.dropped.append(update)
            return None
        self.pending.append(update)
        self._changes.notify()
        return update

    def push_unfiltered(self, update_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Enqueue an update whatever ``allowed_updates`` says (see ``push_raw_update``)."""
        update = {"update_id": next(self._ids), update_type: copy.deepcopy(payload)}
        self.pending.append(update)
        self._changes.notify()
        return update

    def confirm(self, offset: int) -> None:
        if offset < 0:
            # "-N": keep only the last N updates, forget all previous ones.
            del self.pending[: max(len(self.pending) + offset, 0)]
        else:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]

    def peek(self, limit: int) -> list[dict[str, Any]]:
        return copy.deepcopy(self.pending[:limit])

    def drop_all(self) -> None:
        self.pending.clear()

    def begin_poll(self) -> Poll:
        """A new getUpdates terminates the one in progress (which answers 409)."""
        self.terminate_poll("getUpdates")
        self.active_poll = Poll()
        self._changes.notify()
        return self.active_poll

    def terminate_poll(self, by: str) -> None:
        if self.active_poll is not None:
            self.active_poll.terminated_by = by
            self.active_poll = None
            self._changes.notify()

    def end_poll(self, poll: Poll) -> None:
        if self.active_poll is poll:
            self.active_poll = None


@dataclass
class WebhookAttempt:
    update_id: int
    status: int | None  # None: the connection failed
    error: str | None = None


@dataclass
class Webhook:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def info(self, pending: int) -> dict[str, Any]:
        data: dict[str, Any] = {
            "url": self.url,
            "has_custom_certificate": False,
            "pending_update_count": pending,
            "max_connections": self.max_connections,
        }
        if self.last_error_date is not None:
            data["last_error_date"] = self.last_error_date
            data["last_error_message"] = self.last_error_message
        return data


class WebhookDelivery:
    """POSTs pending updates to the webhook one at a time, in order, retrying failures."""

    def __init__(
        self,
        queue: UpdateQueue,
        changes: Changes,
        now: Callable[[], int],
        on_response: Callable[[bytes, str], Any],
    ) -> None:
        self._queue = queue
        self._changes = changes
        self._now = now
        self._on_response = on_response
        self._session: aiohttp.ClientSession | None = None
        self.webhook: Webhook | None = None
        self.attempts: list[WebhookAttempt] = []
        self.retry_delay = 0.2
        self.request_timeout = 10.0

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    async def stop(self) -> None:
        await self.remove()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def set(self, webhook: Webhook) -> None:
        await self.remove()
        self.webhook = webhook
        webhook.task = asyncio.create_task(self._deliver(webhook), name="fake-telegram-webhook")

    async def remove(self) -> None:
        webhook, self.webhook = self.webhook, None
        if webhook is not None and webhook.task is not None:
            webhook.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await webhook.task

    async def _deliver(self, webhook: Webhook) -> None:
        while True:
            if not self._queue.pending:
                await self._changes.wait(None)
                continue
            update = self._queue.pending[0]
            status, error, body, content_type = await self._post(webhook, update)
            self.attempts.append(WebhookAttempt(update["update_id"], status, error))
            if status is not None and 200 <= status < 300:
                if self._queue.pending and self._queue.pending[0] is update:
                    self._queue.pending.pop(0)
                self._changes.notify()
                if body:
                    await self._on_response(body, content_type)
                continue
            webhook.last_error_date = self._now()
            webhook.last_error_message = error
            self._changes.notify()
            await asyncio.sleep(self.retry_delay)

    async def _post(
        self, webhook: Webhook, update: dict[str, Any]
    ) -> tuple[int | None, str | None, bytes, str]:
        assert self._session is not None, "FakeTelegram is not started"
        headers = {}
        if webhook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret_token
        try:
            async with self._session.post(
                webhook.url,
                json=update,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            ) as response:
                body = await response.read()
                if 200 <= response.status < 300:
                    return response.status, None, body, response.headers.get("Content-Type", "")
                reason = response.reason or ""
                message = f"Wrong response from the webhook: {response.status} {reason}".strip()
                return response.status, message, b"", ""
        except (aiohttp.ClientError, OSError) as error:
            logger.debug("webhook delivery failed: %r", error)
            message = "Connection refused"
            if isinstance(error, aiohttp.ServerDisconnectedError):
                message = "Connection closed"
            return None, message, b"", ""
        except TimeoutError:
            return None, "Read timeout expired", b"", ""
