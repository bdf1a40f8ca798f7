"""`Conversations`: each user's forum topic in the operator group, open or closed."""

from __future__ import annotations

from storage.core import NOW, Core
from storage.models import Conversation


class Conversations:
    """User → topic mappings and what is kept per conversation (`db.conversations`)."""

    def __init__(self, core: Core) -> None:
        self._core = core

    async def get(self, user_id: int) -> Conversation | None:
        """The user's conversation, active or not; None if the user never had one.

        The relay reopens an inactive (closed) conversation's topic when the user writes again.
        """
        row = await self._core.fetch_one(
            f"SELECT {Conversation.COLUMNS} FROM conversations WHERE user_id = ?", (user_id,)
        )
        return None if row is None else Conversation.from_row(row)

    async def get_active(self, user_id: int) -> Conversation | None:
        """The user's conversation if it is active, else None."""
        conversation = await self.get(user_id)
        return conversation if conversation is not None and conversation.active else None

    async def set(self, user_id: int, topic_id: int, active: bool = True) -> None:
        """Create or update the user's mapping to a forum topic."""
        await self._core.execute(
            f"""
            INSERT INTO conversations (user_id, topic_id, active)
            VALUES (?, ?, ?)
            ON CONFLICT (user_id) DO UPDATE SET
                topic_id = excluded.topic_id,
                active = excluded.active,
                updated_at = {NOW}
            """,
            (user_id, topic_id, int(active)),
        )

    async def deactivate(self, user_id: int) -> None:
        """Mark the user's conversation inactive (the topic was closed or deleted).

        Does nothing when there is none.
        """
        await self._core.execute(
            f"""
            UPDATE conversations
            SET active = 0, updated_at = {NOW}
            WHERE user_id = ? AND active = 1
            """,
            (user_id,),
        )

    async def set_offline_notice(self, user_id: int, period: str) -> None:
        """Record that the user was told about the closed period `period` (any stable text)."""
        await self._core.execute(
            "UPDATE conversations SET offline_notice_for = ? WHERE user_id = ?",
            (period, user_id),
        )

    async def user_by_topic(self, topic_id: int) -> int | None:
        """The user whose *active* conversation uses the topic; None if none or inactive.

        Should two active conversations share a topic, the most recently updated one wins.
        """
        row = await self._core.fetch_one(
            """
            SELECT user_id
            FROM conversations
            WHERE topic_id = ? AND active = 1
            ORDER BY updated_at DESC, user_id DESC
            LIMIT 1
            """,
            (topic_id,),
        )
        return None if row is None else int(row[0])

    async def by_topic(self, topic_id: int) -> Conversation | None:
        """The conversation that uses the topic, active or not; None if none.

        Unlike `user_by_topic`, inactive conversations count (an operator reopening a closed
        topic). Should several share the topic, active ones win, then the most recently updated.
        """
        row = await self._core.fetch_one(
            f"""
            SELECT {Conversation.COLUMNS}
            FROM conversations
            WHERE topic_id = ?
            ORDER BY active DESC, updated_at DESC, user_id DESC
            LIMIT 1
            """,
            (topic_id,),
        )
        return None if row is None else Conversation.from_row(row)
