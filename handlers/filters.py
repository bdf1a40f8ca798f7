"""Scope filters for the routers, as coroutines.

aiogram runs a synchronous filter (a magic `F` expression included) in a worker thread through
`asyncio.to_thread`; these run inline. Every update passes several of them, so the thread hop
showed in the relay's profile (see bench/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from aiogram.enums import ChatType
from aiogram.types import Chat, Message


class _InChat(Protocol):
    @property
    def chat(self) -> Chat: ...


Filter = Callable[[_InChat], Awaitable[bool]]


def in_chat(chat_id: int) -> Filter:
    """The event happened in the chat with this id."""

    async def check(event: _InChat) -> bool:
        return event.chat.id == chat_id

    return check


async def in_private_chat(event: _InChat) -> bool:
    return event.chat.type == ChatType.PRIVATE


async def topic_closed(message: Message) -> bool:
    return message.forum_topic_closed is not None


async def topic_reopened(message: Message) -> bool:
    return message.forum_topic_reopened is not None


async def looks_like_command(message: Message) -> bool:
    """Text or caption starting with "/" (after blanks, as aiogram's `Command` reads it).

    Cheap, so that the operators' ordinary messages skip `Command`'s parsing.
    """
    written = message.text or message.caption
    return written is not None and written.lstrip().startswith("/")
