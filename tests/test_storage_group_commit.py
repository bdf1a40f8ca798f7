"""storage.Database group commit: writes made outside a transaction share one commit.

Each test holds the connection with an open transaction of task A while the other tasks make
their writes, so that those writes are certain to wait together for the same group. The
statements SQLite ran are read from the connection's trace callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from storage import Database, StorageError
from tests.storage_helpers import committed, log_message


async def trace(db: Database) -> list[str]:
    """Every statement the connection runs from now on, as SQLite reports it."""
    statements: list[str] = []
    await db.trace(statements.append)
    return statements


@asynccontextmanager
async def connection_held(db: Database) -> AsyncIterator[None]:
    """Task A keeps a transaction open until the block ends; writes made meanwhile wait."""
    holding, release = asyncio.Event(), asyncio.Event()

    async def task_a() -> None:
        async with db.transaction():
            holding.set()
            await release.wait()

    a = asyncio.create_task(task_a())
    await holding.wait()
    try:
        yield
    finally:
        release.set()
        await a


async def started(*calls: Awaitable[Any]) -> list[asyncio.Task[Any]]:
    """The calls as tasks, each of them already waiting in the database."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    await asyncio.sleep(0)
    assert not any(task.done() for task in tasks)
    return tasks


def messages(path: Path) -> list[tuple[Any, ...]]:
    return committed(path, "SELECT message_id FROM messages ORDER BY message_id")


async def test_writes_of_many_tasks_share_one_commit(db: Database, path: Path) -> None:
    statements = await trace(db)
    async with connection_held(db):
        writes = await started(*(log_message(db, message_id=n) for n in range(1, 11)))
    await asyncio.gather(*writes)

    assert messages(path) == [(n,) for n in range(1, 11)]
    # Task A's transaction, then one for all ten writes.
    assert statements.count("BEGIN IMMEDIATE") == 2
    assert statements.count("COMMIT") == 2


async def test_a_write_alone_is_committed_when_it_returns(db: Database, path: Path) -> None:
    await log_message(db, message_id=7)
    assert messages(path) == [(7,)]


async def test_a_failing_write_fails_alone_and_the_rest_of_its_group_commits(
    db: Database, path: Path
) -> None:
    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO users (user_id) VALUES (77)")
        raise sqlite3.IntegrityError("the second statement failed")

    async with connection_held(db):
        writes = await started(
            log_message(db, message_id=1),
            log_message(db, message_id=2, direction="sideways"),  # breaks the CHECK
            db.write(half_then_fail),
            log_message(db, message_id=3),
        )
    outcomes = await asyncio.gather(*writes, return_exceptions=True)

    assert outcomes[0] is None
    assert outcomes[3] is None
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert isinstance(outcomes[2], sqlite3.IntegrityError)
    assert messages(path) == [(1,), (3,)]
    # The failed write is undone whole: its first statement is not kept either.
    assert committed(path, "SELECT count(*) FROM users WHERE user_id = 77") == [(0,)]


async def test_an_error_that_ends_the_transaction_fails_every_write_of_the_group(
    db: Database, path: Path
) -> None:
    def disk_full(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")  # what SQLite does by itself after "database or disk is full"
        raise sqlite3.OperationalError("database or disk is full")

    async with connection_held(db):
        writes = await started(
            log_message(db, message_id=1),
            db.write(disk_full),
            log_message(db, message_id=2),
        )
    outcomes = await asyncio.gather(*writes, return_exceptions=True)

    assert [type(outcome) for outcome in outcomes] == [sqlite3.OperationalError] * 3
    assert messages(path) == []
    await log_message(db, message_id=3)  # the database works again
    assert messages(path) == [(3,)]


async def test_a_caller_cancelled_before_its_group_begins_writes_nothing(
    db: Database, path: Path
) -> None:
    async with connection_held(db):
        kept, cancelled = await started(
            log_message(db, message_id=1), log_message(db, message_id=2)
        )
        cancelled.cancel()
    await kept
    with pytest.raises(asyncio.CancelledError):
        await cancelled

    assert messages(path) == [(1,)]


async def test_close_commits_the_writes_already_made(path: Path) -> None:
    db = Database(path)
    await db.connect()
    await db.init()
    writes = await started(*(log_message(db, message_id=n) for n in range(1, 6)))
    await db.close()

    await asyncio.gather(*writes)
    assert messages(path) == [(n,) for n in range(1, 6)]
    with pytest.raises(StorageError, match="not connected"):
        await log_message(db, message_id=6)


@pytest.mark.parametrize("fails", [False, True], ids=["commits", "rolls-back"])
async def test_a_write_inside_a_transaction_goes_with_it(
    db: Database, path: Path, fails: bool
) -> None:
    statements = await trace(db)

    class Boom(Exception):
        pass

    with contextlib.suppress(Boom):
        async with db.transaction():
            await log_message(db, message_id=1)
            assert messages(path) == []  # not committed on its own
            if fails:
                raise Boom

    assert messages(path) == ([] if fails else [(1,)])
    assert statements.count("BEGIN IMMEDIATE") == 1


async def test_writes_survive_a_committer_cancelled_before_it_began(
    db: Database, path: Path
) -> None:
    # E.g. the event loop's teardown cancelling every task: the committer never ran at all.
    first = asyncio.ensure_future(log_message(db, message_id=1))
    await asyncio.sleep(0)  # the write is queued and its committer created, not yet started
    assert db._group_commit._committer is not None
    db._group_commit._committer.cancel()

    async with asyncio.timeout(5):
        await log_message(db, message_id=2)  # a new committer takes both
        await first
    assert messages(path) == [(1,), (2,)]


async def test_close_commits_writes_left_by_a_cancelled_committer(path: Path) -> None:
    db = Database(path)
    await db.connect()
    await db.init()
    write = asyncio.ensure_future(log_message(db, message_id=1))
    await asyncio.sleep(0)
    assert db._group_commit._committer is not None
    db._group_commit._committer.cancel()

    async with asyncio.timeout(5):
        await db.close()
        await write
    assert messages(path) == [(1,)]
