"""`Desk`: the desk's view of the conversations — the queue, what falls due, topic icons, and
the board message. Each question runs on a partial index that holds only the rows it is about
(storage.migrations, version 4): the waiting conversations, the due ones, the stale icons, the
open answered ones (counted, for the board); never the closed ones, which are most of them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from storage.core import NOW, Core, timestamp
from storage.models import DeskState, Queue, QueueEntry

# A conversation's state, as the icon of its topic shows it.
_STATE = """CASE WHEN active = 0 THEN 'closed'
                 WHEN waiting_since IS NOT NULL THEN 'waiting'
                 ELSE 'answered' END"""
# Exactly the WHERE of the conversations_icon_stale index, so that SQLite uses it.
_ICON_STALE = f"(active = 1 OR icon IS NOT NULL) AND icon IS NOT ({_STATE})"


class Desk:
    """Queries and records of the desk (`db.desk`)."""

    def __init__(self, core: Core) -> None:
        self._core = core

    # --- the queue -----------------------------------------------------------------------------

    async def queue(self, *, limit: int, assignee_id: int | None = None) -> Queue:
        """The waiting conversations, longest wait first (at most `limit`), and the counts.

        With `assignee_id`, only that operator's waiting conversations (and their count).
        """
        mine = "" if assignee_id is None else "AND c.assignee_id = ?"
        mine_parameters = () if assignee_id is None else (assignee_id,)
        rows = await self._core.fetch_all(
            f"""
            SELECT {QueueEntry.COLUMNS}
            FROM conversations AS c
            LEFT JOIN users AS u ON u.user_id = c.user_id
            LEFT JOIN operators AS o ON o.user_id = c.assignee_id
            WHERE c.active = 1 AND c.waiting_since IS NOT NULL {mine}
            ORDER BY c.waiting_since, c.user_id
            LIMIT ?
            """,
            (*mine_parameters, limit),
        )
        counts = await self._core.fetch_one(
            f"""
            SELECT
                (SELECT count(*) FROM conversations AS c
                 WHERE c.active = 1 AND c.waiting_since IS NOT NULL {mine}),
                (SELECT count(*) FROM conversations AS c
                 WHERE c.active = 1 AND c.waiting_since IS NULL)
            """,
            mine_parameters,
        )
        assert counts is not None  # a SELECT without FROM has one row
        return Queue(
            waiting=[QueueEntry.from_row(row) for row in rows],
            waiting_count=int(counts[0]),
            answered_count=int(counts[1]),
        )

    # --- what falls due ------------------------------------------------------------------------

    async def due_reminders(self, now: datetime, *, limit: int) -> list[DeskState]:
        """Waits whose reminder is due at `now`, the earliest first."""
        return await self._due("remind_at", now, limit)

    async def due_closes(self, now: datetime, *, limit: int) -> list[DeskState]:
        """Quiet answered conversations due to close by themselves at `now`, earliest first."""
        return await self._due("close_at", now, limit)

    async def _due(self, column: str, now: datetime, limit: int) -> list[DeskState]:
        # `column` is one of two names of ours, never a value from outside.
        rows = await self._core.fetch_all(
            f"""
            SELECT {DeskState.COLUMNS}
            FROM conversations AS c
            LEFT JOIN operators AS o ON o.user_id = c.assignee_id
            WHERE c.{column} IS NOT NULL AND c.{column} <= ? AND c.active = 1
            ORDER BY c.{column}
            LIMIT ?
            """,
            (timestamp(now), limit),
        )
        return [DeskState.from_row(row) for row in rows]

    async def next_due(self) -> str | None:
        """The earliest reminder or close still to come (or overdue); None when nothing is."""
        row = await self._core.fetch_one(
            """
            SELECT (SELECT min(remind_at) FROM conversations WHERE remind_at IS NOT NULL),
                   (SELECT min(close_at) FROM conversations WHERE close_at IS NOT NULL)
            """
        )
        assert row is not None  # a SELECT without FROM has one row
        due = [str(value) for value in row if value is not None]
        return min(due) if due else None

    async def reminded(self, user_id: int, waiting_since: str) -> bool:
        """The reminder of the wait that began at `waiting_since` was sent: not again.

        False (nothing changes) when that wait is over already.
        """
        changed = await self._core.execute(
            """
            UPDATE conversations SET remind_at = NULL, reminded_for = waiting_since
            WHERE user_id = ? AND waiting_since = ?
            """,
            (user_id, waiting_since),
        )
        return changed > 0

    async def postpone(
        self, user_id: int, *, remind_at: datetime | None, close_at: datetime | None
    ) -> None:
        """Push a due reminder or close of the conversation later (it failed for now)."""
        await self._core.execute(
            """
            UPDATE conversations
            SET remind_at = CASE WHEN remind_at IS NOT NULL THEN coalesce(?, remind_at) END,
                close_at = CASE WHEN close_at IS NOT NULL THEN coalesce(?, close_at) END
            WHERE user_id = ?
            """,
            (_optional(remind_at), _optional(close_at), user_id),
        )

    async def reschedule(
        self,
        remind_at: Callable[[datetime], datetime | None],
        close_at: Callable[[datetime], datetime | None],
    ) -> int:
        """Compute every open conversation's due times again with today's settings (the
        functions map the start of a wait, or the last answer, to the due time; None: off).

        A wait whose reminder was sent keeps it sent. Run at start: settings may have changed,
        and an upgraded database has the states but no due times. Returns how many changed.
        """

        def due(moment: str | None, rule: Callable[[datetime], datetime | None]) -> str | None:
            if moment is None:
                return None
            return _optional(rule(datetime.fromisoformat(moment)))

        def reschedule(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                """
                SELECT user_id, waiting_since, reminded_for, answered_at, remind_at, close_at
                FROM conversations
                WHERE active = 1 AND waiting_since IS NOT NULL
                UNION ALL
                SELECT user_id, waiting_since, reminded_for, answered_at, remind_at, close_at
                FROM conversations
                WHERE active = 1 AND waiting_since IS NULL
                """
            ).fetchall()
            changes = []
            for user_id, waiting, reminded_for, answered, old_remind, old_close in rows:
                if waiting is not None:
                    new_remind = None if reminded_for == waiting else due(waiting, remind_at)
                    new_close = None
                else:
                    new_remind, new_close = None, due(answered, close_at)
                if (new_remind, new_close) != (old_remind, old_close):
                    changes.append((new_remind, new_close, user_id))
            conn.executemany(
                "UPDATE conversations SET remind_at = ?, close_at = ? WHERE user_id = ?", changes
            )
            return len(changes)

        return await self._core.write(reschedule)

    # --- topic icons ---------------------------------------------------------------------------

    async def stale_icons(self, *, limit: int) -> list[DeskState]:
        """Conversations whose topic icon does not show their state (open ones, and those whose
        icon the bot set), in no particular order."""
        rows = await self._core.fetch_all(
            f"""
            SELECT {DeskState.COLUMNS}
            FROM conversations AS c
            LEFT JOIN operators AS o ON o.user_id = c.assignee_id
            WHERE c.user_id IN (SELECT user_id FROM conversations WHERE {_ICON_STALE} LIMIT ?)
            """,
            (limit,),
        )
        return [DeskState.from_row(row) for row in rows]

    async def icon_shown(self, user_id: int, topic_id: int, state: str) -> None:
        """The topic's icon now shows `state` (ignored if the conversation moved to another
        topic meanwhile: that one's icon is still to be set)."""
        await self._core.execute(
            "UPDATE conversations SET icon = ? WHERE user_id = ? AND topic_id = ?",
            (state, user_id, topic_id),
        )

    # --- the board -----------------------------------------------------------------------------

    async def board(self) -> tuple[int, str] | None:
        """The board message in General and the text it shows; None before the first one."""
        row = await self._core.fetch_one("SELECT message_id, text FROM board WHERE id = 1")
        return None if row is None else (int(row[0]), str(row[1]))

    async def set_board(self, message_id: int, text: str) -> None:
        await self._core.execute(
            f"""
            INSERT INTO board (id, message_id, text) VALUES (1, ?, ?)
            ON CONFLICT (id) DO UPDATE SET
                message_id = excluded.message_id, text = excluded.text, updated_at = {NOW}
            """,
            (message_id, text),
        )


def _optional(moment: datetime | None) -> str | None:
    return None if moment is None else timestamp(moment)
