"""The `relay` every handler takes: built once at start-up, handed out by a middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Router
from aiogram.types import TelegramObject

from bot.checks import BotIdentity
from bot.config import Settings
from bot.relay.service import Relay
from storage import Database

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class RelayProvider(BaseMiddleware):
    """Builds the `Relay` from the Dispatcher's dependencies when the Dispatcher starts, and
    passes it to handlers as `relay` (unless the Dispatcher was given one itself)."""

    def __init__(self) -> None:
        self.relay: Relay | None = None

    def install(self, router: Router) -> None:
        router.startup.register(self.startup)
        # Outer middlewares of a parent router run for the events of its sub-routers too.
        for observer in (
            router.message,
            router.edited_message,
            router.message_reaction,
            router.my_chat_member,
        ):
            observer.outer_middleware(self)

    async def startup(
        self, bot: Bot, db: Database, settings: Settings, identity: BotIdentity
    ) -> None:
        self.relay = Relay(bot=bot, db=db, settings=settings, identity=identity)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if "relay" not in data:
            if self.relay is None:
                raise RuntimeError("the relay is built on start-up: emit the Dispatcher's startup")
            data["relay"] = self.relay
        return await handler(event, data)
