"""The operators' side: the forum supergroup (`OPERATOR_CHAT_ID`)."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import ChatMemberUpdated, Message, MessageReactionUpdated

from bot.config import Settings
from bot.relay.rights import BotRights
from bot.relay.service import Relay
from handlers.filters import in_chat, topic_closed, topic_reopened


def create_router(settings: Settings) -> Router:
    router = Router(name=__name__)
    operator_group = in_chat(settings.OPERATOR_CHAT_ID)
    for observer in (
        router.message,
        router.edited_message,
        router.message_reaction,
        router.my_chat_member,
    ):
        observer.filter(operator_group)
    router.message.register(on_topic_closed, topic_closed)
    router.message.register(on_topic_reopened, topic_reopened)
    router.message.register(on_message)
    router.edited_message.register(on_edit)
    router.message_reaction.register(on_reaction)
    router.my_chat_member.register(on_bot_membership)
    return router


async def on_topic_closed(message: Message, relay: Relay) -> None:
    await relay.topic_closed(message)


async def on_topic_reopened(message: Message, relay: Relay) -> None:
    await relay.topic_reopened(message)


async def on_message(message: Message, relay: Relay, album: list[Message] | None = None) -> None:
    await relay.operator_message(message, album)


async def on_edit(message: Message, relay: Relay) -> None:
    await relay.operator_edit(message)


async def on_reaction(event: MessageReactionUpdated, relay: Relay) -> None:
    await relay.operator_reaction(event)


async def on_bot_membership(event: ChatMemberUpdated, rights: BotRights) -> None:
    await rights.changed(event)
