"""All handler routers, composed in one place. Scope filters sit on each module's router.

Routers are built by `setup_routers` on every call (not at import time): an aiogram router can
belong to one parent only, and a process may build more than one Dispatcher (a restart in the
same process, tests).
"""

from __future__ import annotations

from aiogram import Router

from bot.config import Settings
from handlers import commands, operator, private

# Every update type the bot handles. Telegram leaves `message_reaction` out unless it is asked
# for, and remembers the list across getUpdates calls and webhook registrations.
ALLOWED_UPDATES = ["message", "edited_message", "message_reaction", "my_chat_member"]


def setup_routers(settings: Settings) -> Router:
    root = Router(name="handlers")
    root.include_router(private.create_router())
    # Before the operator router: commands are answered, never relayed.
    root.include_router(commands.create_router(settings))
    root.include_router(operator.create_router(settings))
    return root
