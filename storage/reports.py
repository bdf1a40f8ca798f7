"""`Reports`: the counts behind `/stats` and `/info`, read from the log and the conversations."""

from __future__ import annotations

from datetime import datetime

from storage.core import Core, timestamp
from storage.models import ReplyWait, UserActivity


class Reports:
    """Read-only questions about what happened (`db.reports`)."""

    def __init__(self, core: Core) -> None:
        self._core = core

    async def activity(self, user_id: int) -> UserActivity:
        """First contact and the number of logged messages each way, for /info."""
        row = await self._core.fetch_one(
            """
            SELECT
                (SELECT created_at FROM users WHERE user_id = ?),
                count(*) FILTER (WHERE direction = 'user'),
                count(*) FILTER (WHERE direction = 'operator')
            FROM messages
            WHERE user_id = ?
            """,
            (user_id, user_id),
        )
        assert row is not None  # an aggregate always has a row
        return UserActivity(first_seen=row[0], from_user=row[1], from_operators=row[2])

    async def open_conversations(self) -> int:
        """How many conversations are active (their topic is open)."""
        row = await self._core.fetch_one("SELECT count(*) FROM conversations WHERE active = 1")
        return 0 if row is None else int(row[0])

    async def new_conversations_since(self, since: datetime) -> int:
        """How many conversations were created at or after `since` (an aware datetime).

        A conversation is created on a user's first message; closing and reopening it keeps
        its creation time, so this counts users who wrote for the first time.
        """
        row = await self._core.fetch_one(
            "SELECT count(*) FROM conversations WHERE created_at >= ?", (timestamp(since),)
        )
        return 0 if row is None else int(row[0])

    async def messages_since(self, since: datetime) -> dict[str, int]:
        """How many messages were logged at or after `since`: {"user": n, "operator": n}."""
        row = await self._core.fetch_one(
            """
            SELECT count(*) FILTER (WHERE direction = 'user'),
                   count(*) FILTER (WHERE direction = 'operator')
            FROM messages
            WHERE created_at >= ?
            """,
            (timestamp(since),),
        )
        user, operator = (0, 0) if row is None else (int(row[0]), int(row[1]))
        return {"user": user, "operator": operator}

    async def reply_waits_since(self, since: datetime) -> list[ReplyWait]:
        """The waits for an answer that started at or after `since`, in the order they started.

        A wait starts with a user message that is the user's first logged message, or whose
        previous logged message (of that user) is an operator's: the user writes and nobody has
        answered yet. It ends with the user's next operator message (`answered_at`; None when
        there is none yet). Further user messages during a wait do not start another one.
        """
        rows = await self._core.fetch_all(
            """
            SELECT m.user_id,
                   m.created_at,
                   (
                       SELECT a.created_at
                       FROM messages AS a
                       WHERE a.user_id = m.user_id AND a.id > m.id AND a.direction = 'operator'
                       ORDER BY a.id
                       LIMIT 1
                   )
            FROM messages AS m
            WHERE m.created_at >= ?
              AND m.direction = 'user'
              AND coalesce(
                  (
                      SELECT p.direction
                      FROM messages AS p
                      WHERE p.user_id = m.user_id AND p.id < m.id
                      ORDER BY p.id DESC
                      LIMIT 1
                  ),
                  'operator'
              ) = 'operator'
            ORDER BY m.created_at, m.id
            """,
            (timestamp(since),),
        )
        return [ReplyWait(user_id=row[0], started_at=row[1], answered_at=row[2]) for row in rows]
