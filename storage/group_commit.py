"""`GroupCommit`: writes made outside any transaction, committed to disk in groups.

While one group is being written (a commit waits for the disk), the writes of other tasks
gather, and the next commit takes them all, each in its own savepoint. A caller still gets its
answer only once its write is on disk, and a write that fails (a constraint) is undone alone and
raises in its caller; only an error that makes SQLite abandon the whole transaction (disk full,
I/O) fails the group, each caller with that error. One disk flush then serves many messages at
once, which is what keeps a burst of messages from queueing behind one flush each.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiosqlite

from storage._sqlite import run

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(eq=False)
class _Write:
    """A write waiting for the next group commit, and the caller waiting for its outcome."""

    apply: Callable[[sqlite3.Connection], Any]
    outcome: asyncio.Future[Any]


class GroupCommit:
    """Commits submitted writes in groups, one group at a time, under the connection's lock."""

    def __init__(self, lock: asyncio.Lock, connection: Callable[[], aiosqlite.Connection]) -> None:
        self._lock = lock
        self._connection = connection
        self._writes: list[_Write] = []
        self._committer: asyncio.Task[None] | None = None

    async def submit(self, apply: Callable[[sqlite3.Connection], T]) -> T:
        """Apply `apply` in the next group; return its result once the group is on disk."""
        write = _Write(apply, asyncio.get_running_loop().create_future())
        self._writes.append(write)
        self._start_committer()
        result: T = await write.outcome
        return result

    async def drain(self) -> None:
        """Wait until every write submitted so far is committed (or has failed)."""
        while self._committer is not None:
            await asyncio.wait({self._committer})
            await asyncio.sleep(0)  # its done callback: cleared, or a new committer started

    def _committing(self) -> bool:
        return self._committer is not None and not self._committer.done()

    def _start_committer(self) -> None:
        """A committer for the waiting writes, unless one is at work."""
        if not self._committing():
            # A context of its own: the committer serves every task, and belongs to none of
            # their transactions or log contexts.
            self._committer = asyncio.create_task(
                self._commit_writes(), name="storage-group-commit", context=contextvars.Context()
            )
            self._committer.add_done_callback(self._committer_ended)

    def _committer_ended(self, committer: asyncio.Task[None]) -> None:
        """A committer that was cancelled (even before its first step) leaves no write behind
        while its caller still waits: another committer takes them."""
        if self._committer is committer:
            self._committer = None
        if any(not write.outcome.done() for write in self._writes):
            self._start_committer()

    async def _commit_writes(self) -> None:
        """Commit the waiting writes, a group at a time, until none are left."""
        while self._writes:
            async with self._lock:
                writes = [write for write in self._writes if not write.outcome.done()]
                self._writes = []  # callers cancelled before their group began drop out
                if writes:
                    await self._commit_group(writes)

    async def _commit_group(self, writes: list[_Write]) -> None:
        try:
            outcomes = await run(
                self._connection(),
                functools.partial(_apply_group, [write.apply for write in writes]),
            )
        except Exception as error:  # nothing of the group was committed
            for write in writes:
                if not write.outcome.done():
                    write.outcome.set_exception(error)
            return
        except BaseException:  # cancelled (the loop is shutting down): the outcome is unknown
            for write in writes:
                write.outcome.cancel()
            raise
        for write, (ok, value) in zip(writes, outcomes, strict=True):
            if write.outcome.done():
                continue
            if ok:
                write.outcome.set_result(value)
            else:
                write.outcome.set_exception(value)


def atomically(apply: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection) -> T:
    """Run `apply` in a savepoint of the open transaction: all of its statements or none."""
    conn.execute("SAVEPOINT write")
    try:
        result = apply(conn)
    except BaseException:
        if conn.in_transaction:  # else SQLite abandoned the whole transaction already
            conn.execute("ROLLBACK TO write")
            conn.execute("RELEASE write")
        raise
    conn.execute("RELEASE write")
    return result


def _apply_group(
    writes: list[Callable[[sqlite3.Connection], Any]], conn: sqlite3.Connection
) -> list[tuple[bool, Any]]:
    """One transaction for a group of writes, on the database thread: `(ok, result or error)`.

    A write that fails is undone alone (its savepoint) and the others commit; an error after
    which SQLite is no longer in the transaction leaves nothing to commit and is raised.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        outcomes: list[tuple[bool, Any]] = []
        for apply in writes:
            try:
                outcomes.append((True, atomically(apply, conn)))
            except Exception as error:
                if not conn.in_transaction:
                    raise
                outcomes.append((False, error))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:  # the error that brought us here is the one to report
                logger.exception("ROLLBACK of a group commit failed")
        raise
    return outcomes
