"""The `Bot`: one aiohttp session to the configured Bot API server, with flood control."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from bot.config import Settings
from bot.delivery.flood import FloodControl


def create_bot(settings: Settings, flood_control: FloodControl | None = None) -> Bot:
    """Build the Bot; the token is unwrapped here and nowhere else."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.TELEGRAM_API_URL))
    session.middleware(KeepResponseTypes())
    if flood_control is not None:
        session.middleware(flood_control)
    return Bot(
        token=settings.BOT_TOKEN.get_secret_value(),
        session=session,
        # Every text the bot composes is HTML with user-provided parts escaped (html.escape).
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


class KeepResponseTypes(BaseRequestMiddleware):
    """Keeps the `Response[...]` class of each method's result type alive.

    aiogram parses every answer with `Response[method.__returning__]`; pydantic caches that
    class only weakly, so each garbage collection drops it and the next call builds it again
    (about 2 ms, dozens of times per few hundred calls in bench/relay.py's profile).
    """

    def __init__(self) -> None:
        self._kept: dict[Any, Any] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._kept:
            self._kept[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)
