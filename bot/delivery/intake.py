"""Intake: how updates get from Telegram into the inbox, by long polling or by webhook.

Both modes store an update before Telegram is told it arrived: polling moves the `getUpdates`
offset past a batch only after the batch is committed; the webhook answers 200 only after the
update is committed (anything else makes Telegram send it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import random
import time
from typing import Any, ClassVar

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramConflictError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiohttp import web

from bot.delivery.engine import DeliveryEngine

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class GetRawUpdates(TelegramMethod[list[dict[str, Any]]]):
    """`getUpdates` that returns the updates as JSON objects, exactly as Telegram sent them.

    The inbox stores the raw JSON; decoding each update into aiogram's models only to dump it
    back to JSON would cost time on every message and could drop fields newer than aiogram.
    """

    __returning__: ClassVar[Any] = list[dict[str, Any]]
    __api_method__: ClassVar[str] = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


class Poller:
    """Long polling that confirms a batch to Telegram only after it is in the inbox."""

    mode = "polling"

    def __init__(
        self,
        *,
        bot: Bot,
        engine: DeliveryEngine,
        allowed_updates: list[str],
        poll_timeout: int = 25,
        backoff_cap: float = 30.0,
    ) -> None:
        self._bot = bot
        self._engine = engine
        self._allowed_updates = allowed_updates
        self._poll_timeout = poll_timeout
        self._backoff_cap = backoff_cap
        self._last_contact: float | None = None  # monotonic time of the last answer
        self._running = False

    def alive(self) -> bool:
        """Running, and Telegram answered recently (a long poll lasts `poll_timeout`)."""
        if not self._running or self._last_contact is None:
            return False
        return time.monotonic() - self._last_contact < self._poll_timeout + 60

    async def prepare(self) -> None:
        # A webhook left by an earlier deployment makes getUpdates fail with 409.
        await self._bot.delete_webhook(drop_pending_updates=False)
        self._last_contact = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set. Raises TelegramUnauthorizedError (fatal) only."""
        self._running = True
        offset: int | None = None
        failures = 0
        stop_waiter = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                request = GetRawUpdates(
                    offset=offset,
                    timeout=self._poll_timeout,
                    allowed_updates=self._allowed_updates,
                )
                poll = asyncio.create_task(
                    self._bot(request, request_timeout=self._poll_timeout + 15)
                )
                # Only the network call is cancelled on stop, never the inbox write below:
                # an unconfirmed batch is simply sent again by Telegram after a restart.
                await asyncio.wait({poll, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                if not poll.done():
                    poll.cancel()
                    await asyncio.gather(poll, return_exceptions=True)
                    break
                try:
                    updates = poll.result()
                    self._last_contact = time.monotonic()
                    if updates:
                        await self._engine.accept(updates)
                        offset = updates[-1]["update_id"] + 1
                    failures = 0
                except TelegramUnauthorizedError:
                    logger.critical("Telegram rejected BOT_TOKEN (401): stopping")
                    raise
                except Exception as error:
                    failures += 1
                    delay = self._delay(failures)
                    if isinstance(error, TelegramConflictError):
                        logger.error(
                            "getUpdates conflict: is another instance of this bot running, "
                            "or a webhook set? (%s); retrying in %.1f s",
                            error,
                            delay,
                        )
                    else:
                        level = logging.WARNING if isinstance(error, TelegramAPIError) else 0
                        logger.log(
                            level or logging.ERROR,
                            "Polling failed (%s: %s); retrying in %.1f s",
                            type(error).__name__,
                            error,
                            delay,
                            exc_info=not level,
                        )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=delay)
        finally:
            self._running = False
            stop_waiter.cancel()
            await asyncio.gather(stop_waiter, return_exceptions=True)

    def _delay(self, failures: int) -> float:
        ceiling = min(self._backoff_cap, 0.5 * 2 ** (failures - 1))
        return random.uniform(ceiling / 2, ceiling)


class WebhookIntake:
    """The webhook endpoint: checks the secret, stores the update, answers 200."""

    mode = "webhook"

    def __init__(
        self,
        *,
        bot: Bot,
        engine: DeliveryEngine,
        url: str,
        secret: str,
        allowed_updates: list[str],
    ) -> None:
        self._bot = bot
        self._engine = engine
        self._url = url
        self._secret = secret
        self._allowed_updates = allowed_updates
        self._registered = False

    def alive(self) -> bool:
        return self._registered

    async def prepare(self) -> None:
        await self._bot.set_webhook(
            url=self._url,
            secret_token=self._secret,
            allowed_updates=self._allowed_updates,
            drop_pending_updates=False,
        )
        self._registered = True
        logger.info("Webhook set; Telegram will post updates to the configured WEBHOOK_URL")

    async def run(self, stop: asyncio.Event) -> None:
        # The HTTP server does the work; nothing to poll.
        await stop.wait()

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            logger.warning(
                "Webhook call with a missing or wrong secret token from %s", request.remote
            )
            return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
        try:
            update = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"ok": False, "error": "body is not JSON"}, status=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        # Shielded: a client that hangs up must not cancel the inbox write half-way.
        await asyncio.shield(self._engine.accept([update]))
        return web.json_response({"ok": True})


Intake = Poller | WebhookIntake
