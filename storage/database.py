"""`Database`: the storage of the bot — the core (connection, transactions) and its parts.

    db = Database("./support_bot.sqlite3")
    await db.connect(); await db.init()
    await db.people.save(...); await db.log.find_link(...); await db.inbox.add(...)

The parts share the core's one connection, so `async with db.transaction():` spans them all:

| part | module | holds |
|---|---|---|
| `db.people` | `storage.people` | users (profile, language) and bans |
| `db.conversations` | `storage.conversations` | each user's topic, open or closed |
| `db.log` | `storage.message_log` | every relayed message, and links to its copies |
| `db.inbox` | `storage.inbox` | raw Telegram updates until they are handled |
| `db.reports` | `storage.reports` | the counts behind /stats and /info |
| `db.desk` | `storage.desk` | the queue, what falls due, topic icons, the board |

The contract of the storage layer (the storage API specification) is kept as methods of
`Database` itself, with its names, parameters and semantics; they delegate to the parts.
"""

from __future__ import annotations

import os

from storage.conversations import Conversations
from storage.core import Core
from storage.desk import Desk
from storage.inbox import Inbox
from storage.message_log import MessageLog
from storage.models import Conversation
from storage.people import People
from storage.reports import Reports


class Database(Core):
    """One SQLite database, its core (see `Core`) and the parts that hold the data.

    `commit=` (every write of the contract takes it) is accepted and read nowhere: which
    transaction a write belongs to is decided by who calls (see `Core`). Inside the caller's
    `transaction()` the write is part of it whatever `commit=` says; outside any, it is applied
    and committed on its own, `commit=False` included, because an uncommitted write left on the
    shared connection would be published by an unrelated task's COMMIT (or discarded by its
    ROLLBACK).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self.people = People(self)
        self.conversations = Conversations(self)
        self.log = MessageLog(self)
        self.inbox = Inbox(self)
        self.reports = Reports(self)
        self.desk = Desk(self)

    # --- users ---------------------------------------------------------------------------------

    async def upsert_user(
        self,
        user_id: int,
        username: str | None,
        first_name: str | None,
        last_name: str | None,
        *,
        commit: bool = True,
    ) -> None:
        """Insert the user, or update the three profile fields if present.

        `username` is stored without its leading `@` (an empty one is stored as NULL).
        """
        await self.people.save(user_id, username, first_name, last_name)

    # --- conversations -------------------------------------------------------------------------

    async def get_active_conversation(self, user_id: int) -> Conversation | None:
        """The user's conversation if it is active, else None."""
        return await self.conversations.get_active(user_id)

    async def set_conversation(
        self, user_id: int, topic_id: int, active: bool = True, *, commit: bool = True
    ) -> None:
        """Create or update the user's mapping to a forum topic."""
        await self.conversations.set(user_id, topic_id, active)

    async def deactivate_conversation(self, user_id: int, *, commit: bool = True) -> None:
        """Mark the user's conversation inactive (the topic was closed or deleted)."""
        await self.conversations.deactivate(user_id)

    async def find_user_id_by_topic(self, topic_id: int) -> int | None:
        """The user whose *active* conversation uses the topic; None if none or inactive."""
        return await self.conversations.user_by_topic(topic_id)

    # --- messages ------------------------------------------------------------------------------

    async def log_message(
        self,
        *,
        user_id: int,
        direction: str,
        chat_id: int,
        message_id: int,
        content_type: str,
        text: str | None,
        caption: str | None,
        file_id: str | None,
        payload_json: str | None,
        commit: bool = True,
    ) -> None:
        """Record one relayed message; ignored if `(chat_id, message_id)` is already recorded.

        `direction` must be "user" or "operator" (else `sqlite3.IntegrityError`, from a CHECK).
        """
        await self.log.add(
            user_id=user_id,
            direction=direction,
            chat_id=chat_id,
            message_id=message_id,
            content_type=content_type,
            text=text,
            caption=caption,
            file_id=file_id,
            payload_json=payload_json,
        )

    async def log_message_link(
        self,
        *,
        user_id: int,
        source_chat_id: int,
        source_message_id: int,
        target_chat_id: int,
        target_message_id: int,
        commit: bool = True,
    ) -> None:
        """Record that the target message is a copy of the source one, in both directions."""
        await self.log.link(
            user_id=user_id,
            source_chat_id=source_chat_id,
            source_message_id=source_message_id,
            target_chat_id=target_chat_id,
            target_message_id=target_message_id,
        )

    async def find_linked_message_id(
        self,
        *,
        source_chat_id: int,
        source_message_id: int,
        target_chat_id: int | None = None,
    ) -> int | None:
        """The id of the message linked to the given one, in `target_chat_id` if given; or None.

        Without `target_chat_id`, the most recently linked message in any chat.
        """
        link = await self.log.find_link(
            source_chat_id=source_chat_id,
            source_message_id=source_message_id,
            target_chat_id=target_chat_id,
        )
        return None if link is None else link.target_message_id

    async def log_user_message(
        self,
        *,
        user_id: int,
        username: str | None,
        first_name: str | None,
        last_name: str | None,
        direction: str,
        chat_id: int,
        message_id: int,
        content_type: str,
        text: str | None,
        caption: str | None,
        file_id: str | None,
        payload_json: str | None,
        commit: bool = True,
    ) -> None:
        """Upsert the user and log the message atomically, in one transaction.

        Inside a transaction of the calling task it is a savepoint of that transaction.
        """
        async with self.transaction():
            await self.people.save(user_id, username, first_name, last_name)
            await self.log.add(
                user_id=user_id,
                direction=direction,
                chat_id=chat_id,
                message_id=message_id,
                content_type=content_type,
                text=text,
                caption=caption,
                file_id=file_id,
                payload_json=payload_json,
            )
