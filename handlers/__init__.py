"""All handler routers, composed in one place. Scope filters sit on each module's router."""

from __future__ import annotations

from aiogram import Router

from bot.config import Settings
from handlers import private

# Every update type the bot handles. Telegram leaves `message_reaction` out unless it is asked
# for, and remembers the list across getUpdates calls and webhook registrations.
ALLOWED_UPDATES = ["message", "edited_message", "message_reaction", "my_chat_member"]


def setup_routers(settings: Settings) -> Router:
    root = Router(name="handlers")
    root.include_router(private.router)
    return root
