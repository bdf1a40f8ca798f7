"""`Conversations`: each user's forum topic in the operator group, open or closed."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from storage.core import NOW, Core, timestamp
from storage.models import Conversation, DeskState, OperatorProfile
from storage.people import SAVE_OPERATOR


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
                -- A new topic has no icon yet.
                icon = CASE WHEN topic_id = excluded.topic_id THEN icon END,
                -- Closed: nobody waits, nothing falls due.
                waiting_since = CASE WHEN excluded.active = 1 THEN waiting_since END,
                remind_at = CASE WHEN excluded.active = 1 THEN remind_at END,
                close_at = CASE WHEN excluded.active = 1 THEN close_at END,
                updated_at = {NOW}
            """,
            (user_id, topic_id, int(active)),
        )

    async def deactivate(self, user_id: int) -> bool:
        """Mark the user's conversation inactive (the topic was closed or deleted): closed on the
        desk, nobody waiting, nothing due. False (nothing changes) when it was not active.
        """
        changed = await self._core.execute(
            f"""
            UPDATE conversations
            SET active = 0, waiting_since = NULL, remind_at = NULL, close_at = NULL,
                updated_at = {NOW}
            WHERE user_id = ? AND active = 1
            """,
            (user_id,),
        )
        return changed > 0

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

    # --- the desk: each conversation's state (see storage.migrations, version 4) --------------

    async def customer_wrote(
        self, user_id: int, *, at: datetime, remind_at: datetime | None
    ) -> None:
        """A new customer message: the conversation waits, since `at` if it was not waiting.

        A wait already running keeps its start and its reminder (one per wait); a close that
        was due is off (a waiting conversation is never closed by itself).
        """
        await self._core.execute(
            """
            UPDATE conversations
            SET waiting_since = coalesce(waiting_since, ?),
                remind_at = CASE WHEN waiting_since IS NULL THEN ? ELSE remind_at END,
                close_at = NULL
            WHERE user_id = ? AND active = 1
            """,
            (timestamp(at), _optional(remind_at), user_id),
        )

    async def operator_answered(
        self,
        user_id: int,
        operator: OperatorProfile | None,
        *,
        at: datetime,
        close_at: datetime | None,
    ) -> None:
        """An operator answered at `at`: the wait is over; the first to answer becomes the
        assignee.

        A wait that began after `at` is not over: the customer wrote again while the answer was
        on its way (the two sides are handled side by side), and that message is unanswered.
        The operator's profile is kept too (names for the board, @username for /assign).
        Without an operator (an anonymous administrator) nobody becomes the assignee.
        """
        when = timestamp(at)
        answered = (when, _optional(close_at), user_id, when)
        assignee = (None if operator is None else operator.user_id, user_id)

        def answer(conn: sqlite3.Connection) -> None:
            conn.execute(
                """
                UPDATE conversations
                SET waiting_since = NULL, remind_at = NULL, answered_at = ?, close_at = ?
                WHERE user_id = ? AND active = 1
                  AND (waiting_since IS NULL OR waiting_since <= ?)
                """,
                answered,
            )
            conn.execute(
                """
                UPDATE conversations SET assignee_id = coalesce(assignee_id, ?)
                WHERE user_id = ? AND active = 1
                """,
                assignee,
            )
            if operator is not None:
                conn.execute(SAVE_OPERATOR, operator.row())

        await self._core.write(answer)

    async def reopened(self, user_id: int, topic_id: int, *, close_at: datetime | None) -> None:
        """An operator reopened the topic: active again, answered, quiet from now on."""
        await self._core.execute(
            f"""
            UPDATE conversations
            SET active = 1, topic_id = ?, waiting_since = NULL, remind_at = NULL, close_at = ?,
                updated_at = {NOW}
            WHERE user_id = ?
            """,
            (topic_id, _optional(close_at), user_id),
        )

    async def stop_waiting(self, user_id: int) -> None:
        """Nobody is waiting any more (the customer was banned): no wait, no reminder."""
        await self._core.execute(
            "UPDATE conversations SET waiting_since = NULL, remind_at = NULL WHERE user_id = ?",
            (user_id,),
        )

    async def assign(self, user_id: int, operator_id: int | None) -> None:
        """Hand the conversation to an operator (None: to nobody)."""
        await self._core.execute(
            "UPDATE conversations SET assignee_id = ? WHERE user_id = ?", (operator_id, user_id)
        )

    async def desk_state(self, user_id: int) -> DeskState | None:
        """The conversation's state on the desk, with its assignee; None without one."""
        row = await self._core.fetch_one(
            f"""
            SELECT {DeskState.COLUMNS}
            FROM conversations AS c
            LEFT JOIN operators AS o ON o.user_id = c.assignee_id
            WHERE c.user_id = ?
            """,
            (user_id,),
        )
        return None if row is None else DeskState.from_row(row)


def _optional(moment: datetime | None) -> str | None:
    return None if moment is None else timestamp(moment)
