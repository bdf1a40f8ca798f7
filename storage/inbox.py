"""`Inbox`: raw Telegram updates, stored before Telegram is told they arrived (bot/delivery)."""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Sequence

from storage.core import NOW, Core, check_limit
from storage.errors import UnknownUpdateError
from storage.models import InboxItem

logger = logging.getLogger(__name__)


class Inbox:
    """The inbox of updates (`db.inbox`): pending until handled, then done, or parked as failed.

    Writes made outside a transaction are on disk when they return (see `storage.core.Core`).
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    async def add(self, items: Sequence[tuple[int, str, str]]) -> list[int]:
        """Store `(update_id, queue_key, payload_json)` items, all in one write.

        An update_id already in the inbox, in any status, is ignored (that is how a re-delivered
        update is recognised), as is a repeat within `items`. Returns the update_ids newly added,
        in the order given.
        """
        if not items:
            return []
        rows = list(items)

        def add(conn: sqlite3.Connection) -> list[int]:
            added: list[int] = []
            for update_id, queue_key, payload in rows:
                inserted = conn.execute(
                    """
                    INSERT INTO inbox (update_id, queue_key, payload)
                    VALUES (?, ?, ?)
                    ON CONFLICT (update_id) DO NOTHING
                    """,
                    (update_id, queue_key, payload),
                ).rowcount
                if inserted:
                    added.append(update_id)
            return added

        return await self._core.write(add)

    async def pending(self, *, limit: int | None = None) -> list[InboxItem]:
        """Pending updates, oldest update_id first (at most `limit`, if given)."""
        return await self._items("pending", limit)

    async def failed(self, *, limit: int | None = 100) -> list[InboxItem]:
        """Parked (failed) updates, oldest update_id first, at most `limit` (None: all)."""
        return await self._items("failed", limit)

    async def _items(self, status: str, limit: int | None) -> list[InboxItem]:
        rows = await self._core.fetch_all(
            f"""
            SELECT {InboxItem.COLUMNS}
            FROM inbox
            WHERE status = ?
            ORDER BY update_id
            LIMIT ?
            """,
            (status, check_limit(limit)),
        )
        return [InboxItem.from_row(row) for row in rows]

    async def done(self, update_id: int) -> None:
        """Mark the update handled; an unknown update_id is logged and ignored.

        The row stays, so that a re-delivery is still recognised, until `prune` removes it.
        """
        changed = await self._core.execute(
            f"UPDATE inbox SET status = 'done', updated_at = {NOW} WHERE update_id = ?",
            (update_id,),
        )
        if not changed:
            logger.warning("inbox.done: update %d is not in the inbox", update_id)

    async def attempt_failed(self, update_id: int, *, error: str) -> int:
        """Count a failed attempt (the update stays in its status); return the new count.

        Raises `UnknownUpdateError` when the update is not in the inbox.
        """
        sql = f"""
            UPDATE inbox
            SET attempts = attempts + 1, last_error = ?, updated_at = {NOW}
            WHERE update_id = ?
            RETURNING attempts
        """
        # A write: through the group commit, not a read's fetch_one.
        row = await self._core.write(lambda conn: conn.execute(sql, (error, update_id)).fetchone())
        if row is None:
            raise UnknownUpdateError(update_id)
        return int(row[0])

    async def park(self, update_id: int, *, error: str) -> None:
        """Give up on the update: status 'failed' with the reason, until requeued by a person.

        An unknown update_id is logged and ignored.
        """
        changed = await self._core.execute(
            f"""
            UPDATE inbox
            SET status = 'failed', last_error = ?, updated_at = {NOW}
            WHERE update_id = ?
            """,
            (error, update_id),
        )
        if not changed:
            logger.warning("inbox.park: update %d is not in the inbox", update_id)

    async def counts(self) -> dict[str, int]:
        """How many updates are in each status: {"pending": n, "failed": n, "done": n}."""
        row = await self._core.fetch_one(
            """
            SELECT (SELECT count(*) FROM inbox WHERE status = 'pending'),
                   (SELECT count(*) FROM inbox WHERE status = 'failed'),
                   (SELECT count(*) FROM inbox WHERE status = 'done')
            """
        )
        assert row is not None  # a SELECT without FROM returns exactly one row
        pending, failed, done = row
        return {"pending": int(pending), "failed": int(failed), "done": int(done)}

    async def requeue_failed(self) -> int:
        """Put every parked update back to pending with its attempts reset; return how many.

        `last_error` is kept as a record of why it was parked.
        """
        return await self._core.execute(
            f"""
            UPDATE inbox
            SET status = 'pending', attempts = 0, updated_at = {NOW}
            WHERE status = 'failed'
            """
        )

    async def requeue(self, update_id: int) -> bool:
        """Put one parked update back to pending with its attempts reset; False if it was not
        parked. `last_error` is kept as a record of why it was parked."""
        changed = await self._core.execute(
            f"""
            UPDATE inbox
            SET status = 'pending', attempts = 0, updated_at = {NOW}
            WHERE update_id = ? AND status = 'failed'
            """,
            (update_id,),
        )
        return changed > 0

    async def prune(self, *, older_than_seconds: float) -> int:
        """Delete 'done' updates last updated more than `older_than_seconds` ago; return how many.

        Pending and failed updates are never pruned.
        """
        if not math.isfinite(older_than_seconds) or older_than_seconds < 0:
            raise ValueError(
                f"older_than_seconds must be a finite number >= 0, not {older_than_seconds}"
            )
        return await self._core.execute(
            """
            DELETE FROM inbox
            WHERE status = 'done'
              AND updated_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)
            """,
            (f"-{older_than_seconds:.3f} seconds",),
        )
