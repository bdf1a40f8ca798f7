"""The user's side: the private chat with the bot."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandStart
from aiogram.types import ChatMemberUpdated, Message, MessageReactionUpdated

from bot.relay.service import Relay
from handlers.filters import in_private_chat


def create_router() -> Router:
    router = Router(name=__name__)
    for observer in (
        router.message,
        router.edited_message,
        router.message_reaction,
        router.my_chat_member,
    ):
        observer.filter(in_private_chat)
    router.message.register(on_start, CommandStart())
    router.message.register(on_message)
    router.edited_message.register(on_edit)
    router.message_reaction.register(on_reaction)
    router.my_chat_member.register(on_membership)
    return router


async def on_start(message: Message, relay: Relay) -> None:
    await relay.welcome(message)


async def on_message(message: Message, relay: Relay, album: list[Message] | None = None) -> None:
    await relay.user_message(message, album)


async def on_edit(message: Message, relay: Relay) -> None:
    await relay.user_edit(message)


async def on_reaction(event: MessageReactionUpdated, relay: Relay) -> None:
    await relay.user_reaction(event)


async def on_membership(event: ChatMemberUpdated, relay: Relay) -> None:
    await relay.user_membership(event)
