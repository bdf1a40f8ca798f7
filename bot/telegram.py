"""The `Bot`: one aiohttp session to the configured Bot API server, with flood control."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot.config import Settings
from bot.delivery.flood import FloodControl


def create_bot(settings: Settings, flood_control: FloodControl | None = None) -> Bot:
    """Build the Bot; the token is unwrapped here and nowhere else."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.TELEGRAM_API_URL))
    if flood_control is not None:
        session.middleware(flood_control)
    return Bot(
        token=settings.BOT_TOKEN.get_secret_value(),
        session=session,
        # Every text the bot composes is HTML with user-provided parts escaped (html.escape).
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
