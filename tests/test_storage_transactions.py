"""storage.Database transactions: commit, rollback, savepoints, and the rule for concurrent tasks.

The concurrency tests interleave two tasks with events, never with sleeps. The proof that task B
was kept out of task A's transaction is a probe that A runs on the shared connection after B has
started its call: aiosqlite runs statements in the order they were queued, so had B's statement
not been held back by the lock, it would already have run inside A's transaction and A would see
it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from storage import Database, StorageError, TransactionAbortedError, UserProfile
from tests.storage_helpers import (
    committed,
    log_message,
    log_user_message,
)


class Boom(Exception):
    """The failure a test provokes on purpose."""


async def probe(db: Database, sql: str) -> list[Any]:
    """Query the shared connection directly, inside whatever transaction is open on it."""
    assert db._conn is not None
    return list(await db._conn.execute_fetchall(sql))


def count(path: Path, sql: str) -> int:
    return int(committed(path, sql)[0][0])


# --- one task --------------------------------------------------------------------------------


async def test_transaction_commits_when_the_block_succeeds(db: Database, path: Path) -> None:
    async with db.transaction():
        await db.upsert_user(1, "ann", "Ann", None, commit=False)
        await db.set_conversation(1, 42, commit=False)
        await log_message(db, user_id=1, chat_id=1, commit=False)
        # Visible inside the transaction, not yet to anybody else.
        assert await db.people.get(1) == UserProfile(1, "ann", "Ann", None)
        assert count(path, "SELECT count(*) FROM users") == 0

    assert committed(path, "SELECT user_id FROM users") == [(1,)]
    assert committed(path, "SELECT user_id, topic_id FROM conversations") == [(1, 42)]
    assert committed(path, "SELECT user_id FROM messages") == [(1,)]


async def test_transaction_rolls_back_and_reraises_when_the_block_raises(
    db: Database, path: Path
) -> None:
    async def write_then_fail() -> None:
        async with db.transaction():
            await db.upsert_user(1, "ann", "Ann", None, commit=False)
            await db.set_conversation(1, 42, commit=False)
            await log_message(db, user_id=1, chat_id=1, commit=False)
            raise Boom

    with pytest.raises(Boom):
        await write_then_fail()

    assert count(path, "SELECT count(*) FROM users") == 0
    assert count(path, "SELECT count(*) FROM conversations") == 0
    assert count(path, "SELECT count(*) FROM messages") == 0
    assert await db.people.get(1) is None
    # The connection is usable again, outside any transaction.
    await db.upsert_user(2, None, None, None)
    assert committed(path, "SELECT user_id FROM users") == [(2,)]


async def test_a_failed_statement_inside_a_transaction_does_not_end_it(
    db: Database, path: Path
) -> None:
    async with db.transaction():
        await db.upsert_user(1, None, None, None, commit=False)
        with pytest.raises(sqlite3.IntegrityError):
            await log_message(db, direction="sideways", commit=False)
        await db.upsert_user(2, None, None, None, commit=False)

    assert committed(path, "SELECT user_id FROM users ORDER BY user_id") == [(1,), (2,)]


async def test_cancelled_transaction_is_rolled_back(db: Database, path: Path) -> None:
    inside = asyncio.Event()

    async def writer() -> None:
        async with db.transaction():
            await db.upsert_user(1, None, None, None, commit=False)
            inside.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(writer())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert count(path, "SELECT count(*) FROM users") == 0
    async with asyncio.timeout(5):  # the lock was released
        await db.upsert_user(2, None, None, None)
    assert committed(path, "SELECT user_id FROM users") == [(2,)]


async def test_cancelled_while_beginning_leaves_no_transaction_open(
    db: Database, path: Path
) -> None:
    async def writer() -> None:
        async with db.transaction():
            await db.upsert_user(1, None, None, None, commit=False)

    task = asyncio.create_task(writer())
    await asyncio.sleep(0)  # the task has queued its BEGIN and waits for it
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async with asyncio.timeout(5), db.transaction():
        await db.upsert_user(2, None, None, None, commit=False)
    assert committed(path, "SELECT user_id FROM users") == [(2,)]
    assert not db.in_transaction


async def test_commit_false_outside_a_transaction_is_committed_on_its_own(
    db: Database, path: Path
) -> None:
    await db.upsert_user(1, "ann", None, None, commit=False)

    assert committed(path, "SELECT user_id FROM users") == [(1,)]
    assert not db.in_transaction

    # ... so a later, unrelated rollback cannot take it away.
    async def unrelated_failure() -> None:
        async with db.transaction():
            await db.upsert_user(2, None, None, None, commit=False)
            raise Boom

    with pytest.raises(Boom):
        await unrelated_failure()
    assert committed(path, "SELECT user_id FROM users") == [(1,)]


async def test_commit_true_inside_the_transaction_joins_it(db: Database, path: Path) -> None:
    async def write_then_fail() -> None:
        async with db.transaction():
            await db.upsert_user(1, None, None, None)  # commit=True, the default
            await db.set_conversation(1, 42)
            assert count(path, "SELECT count(*) FROM users") == 0  # not committed early
            raise Boom

    with pytest.raises(Boom):
        await write_then_fail()

    assert count(path, "SELECT count(*) FROM users") == 0
    assert count(path, "SELECT count(*) FROM conversations") == 0


async def test_helper_coroutines_awaited_inside_a_transaction_join_it(
    db: Database, path: Path
) -> None:
    async def record(user_id: int) -> None:
        await db.upsert_user(user_id, None, None, None, commit=False)
        await log_message(db, user_id=user_id, chat_id=user_id, commit=False)

    async with asyncio.timeout(5):  # a helper that took the lock would hang here
        async with db.transaction():
            await record(1)
            await record(2)

    assert committed(path, "SELECT user_id FROM users ORDER BY user_id") == [(1,), (2,)]
    assert count(path, "SELECT count(*) FROM messages") == 2


async def test_nested_transaction_failure_undoes_only_its_own_writes(
    db: Database, path: Path
) -> None:
    async def inner_write_then_fail() -> None:
        async with db.transaction():
            await db.upsert_user(2, None, None, None, commit=False)
            raise Boom

    async with db.transaction():
        await db.upsert_user(1, None, None, None, commit=False)
        with pytest.raises(Boom):
            await inner_write_then_fail()
        await db.upsert_user(3, None, None, None, commit=False)

    assert committed(path, "SELECT user_id FROM users ORDER BY user_id") == [(1,), (3,)]


async def test_nested_transaction_commits_or_rolls_back_with_the_outer_one(
    db: Database, path: Path
) -> None:
    async def nested_then_fail() -> None:
        async with db.transaction():
            async with db.transaction():
                await db.upsert_user(1, None, None, None, commit=False)
            assert count(path, "SELECT count(*) FROM users") == 0  # not committed by the inner
            raise Boom

    with pytest.raises(Boom):
        await nested_then_fail()

    assert count(path, "SELECT count(*) FROM users") == 0


async def test_log_user_message_inside_a_transaction_rolls_back_with_it(
    db: Database, path: Path
) -> None:
    async def log_then_fail() -> None:
        async with db.transaction():
            await log_user_message(db)
            raise Boom

    with pytest.raises(Boom):
        await log_then_fail()

    assert count(path, "SELECT count(*) FROM users") == 0
    assert count(path, "SELECT count(*) FROM messages") == 0


async def test_failed_log_user_message_inside_a_transaction_stays_atomic(
    db: Database, path: Path
) -> None:
    async with db.transaction():
        await db.set_conversation(1, 42, commit=False)
        with pytest.raises(sqlite3.IntegrityError):
            await log_user_message(db, direction="sideways")
        # The caller caught the error and goes on: the half-done call must not be committed.

    assert count(path, "SELECT count(*) FROM users") == 0
    assert committed(path, "SELECT user_id FROM conversations") == [(1,)]


async def test_a_transaction_abandoned_by_sqlite_cannot_be_committed(
    db: Database, path: Path
) -> None:
    conn = db._conn
    assert conn is not None

    async def abandoned() -> None:
        async with db.transaction():
            await db.upsert_user(1, None, None, None, commit=False)
            # What SQLite does by itself after e.g. "database or disk is full".
            await conn.execute("ROLLBACK")
            with pytest.raises(sqlite3.IntegrityError):
                await log_message(db, direction="sideways", commit=False)
            with pytest.raises(TransactionAbortedError):
                await db.upsert_user(2, None, None, None, commit=False)

    with pytest.raises(TransactionAbortedError):
        await abandoned()

    assert count(path, "SELECT count(*) FROM users") == 0
    await db.upsert_user(3, None, None, None)  # the database works again
    assert committed(path, "SELECT user_id FROM users") == [(3,)]


async def test_close_inside_a_transaction_is_refused(db: Database, path: Path) -> None:
    async with db.transaction():
        await db.upsert_user(1, None, None, None, commit=False)
        with pytest.raises(StorageError, match="inside a transaction"):
            await db.close()

    assert committed(path, "SELECT user_id FROM users") == [(1,)]


async def test_init_inside_a_transaction_is_refused(db: Database) -> None:
    async with db.transaction():
        with pytest.raises(StorageError, match="inside a transaction"):
            await db.init()


# --- two tasks -------------------------------------------------------------------------------

# Writes that task B makes while task A has a transaction open, with a query that counts B's
# effect in the file.
Write = Callable[[Database], Awaitable[Any]]


async def _b_in_its_own_transaction(db: Database) -> None:
    async with db.transaction():
        await db.upsert_user(2, "bob", None, None, commit=False)


B_WRITES: list[tuple[str, Write, str]] = [
    (
        "upsert_user",
        lambda db: db.upsert_user(2, "bob", None, None),
        "SELECT count(*) FROM users WHERE user_id = 2",
    ),
    (
        "upsert_user_commit_false",
        lambda db: db.upsert_user(2, "bob", None, None, commit=False),
        "SELECT count(*) FROM users WHERE user_id = 2",
    ),
    (
        "set_conversation",
        lambda db: db.set_conversation(2, 77),
        "SELECT count(*) FROM conversations WHERE user_id = 2",
    ),
    (
        "log_message",
        lambda db: log_message(db, user_id=2, chat_id=2),
        "SELECT count(*) FROM messages WHERE user_id = 2",
    ),
    (
        "log_message_link",
        lambda db: db.log_message_link(
            user_id=2,
            source_chat_id=2,
            source_message_id=1,
            target_chat_id=-100,
            target_message_id=9,
        ),
        "SELECT count(*) FROM message_links WHERE user_id = 2",
    ),
    (
        "log_user_message",
        lambda db: log_user_message(db, user_id=2, chat_id=2),
        "SELECT count(*) FROM messages WHERE user_id = 2",
    ),
    (
        "inbox_add",
        lambda db: db.inbox.add([(2, "user:2", "{}")]),
        "SELECT count(*) FROM inbox WHERE update_id = 2",
    ),
    (
        "transaction",
        _b_in_its_own_transaction,
        "SELECT count(*) FROM users WHERE user_id = 2",
    ),
]


@pytest.mark.parametrize("a_fails", [True, False], ids=["A-rolls-back", "A-commits"])
@pytest.mark.parametrize(
    ("b_write", "b_effect"), [w[1:] for w in B_WRITES], ids=[w[0] for w in B_WRITES]
)
async def test_a_write_from_another_task_waits_for_the_open_transaction(
    db: Database, path: Path, a_fails: bool, b_write: Write, b_effect: str
) -> None:
    order: list[str] = []
    a_wrote, a_may_finish, b_started = asyncio.Event(), asyncio.Event(), asyncio.Event()
    seen_by_a: list[Any] = []

    async def task_a() -> None:
        try:
            async with db.transaction():
                await db.upsert_user(1, "ann", None, None, commit=False)
                a_wrote.set()
                await a_may_finish.wait()
                seen_by_a.extend(await probe(db, b_effect))
                if a_fails:
                    raise Boom
        finally:
            order.append("A done")

    async def task_b() -> None:
        b_started.set()  # then, in the same step, B calls into the database
        await b_write(db)
        order.append("B done")

    a = asyncio.create_task(task_a())
    await a_wrote.wait()
    b = asyncio.create_task(task_b())
    await b_started.wait()

    assert not b.done()
    assert count(path, b_effect) == 0
    a_may_finish.set()
    if a_fails:
        with pytest.raises(Boom):
            await a
    else:
        await a
    await b

    assert seen_by_a == [(0,)]  # B's write never ran inside A's transaction
    assert order == ["A done", "B done"]
    assert count(path, b_effect) > 0  # B's write is kept either way
    assert count(path, "SELECT count(*) FROM users WHERE user_id = 1") == (0 if a_fails else 1)


@pytest.mark.parametrize("a_fails", [True, False], ids=["A-rolls-back", "A-commits"])
async def test_a_read_from_another_task_never_sees_uncommitted_writes(
    db: Database, a_fails: bool
) -> None:
    a_wrote, a_may_finish, b_started = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def task_a() -> None:
        async with db.transaction():
            await db.set_conversation(1, 42, commit=False)
            a_wrote.set()
            await a_may_finish.wait()
            if a_fails:
                raise Boom

    async def task_b() -> int | None:
        b_started.set()
        return await db.find_user_id_by_topic(42)

    a = asyncio.create_task(task_a())
    await a_wrote.wait()
    b = asyncio.create_task(task_b())
    await b_started.wait()
    a_may_finish.set()
    with pytest.raises(Boom) if a_fails else contextlib.nullcontext():
        await a

    assert await b == (None if a_fails else 1)


async def test_many_concurrent_transactions_each_stay_whole(db: Database, path: Path) -> None:
    async def conversation(user_id: int) -> None:
        async with db.transaction():
            await db.upsert_user(user_id, None, None, None, commit=False)
            await asyncio.sleep(0)  # let the other tasks run in between
            await db.set_conversation(user_id, 1000 + user_id, commit=False)
            if user_id % 3 == 0:
                raise Boom

    async def plain_write(message_id: int) -> None:
        await log_message(db, user_id=999, chat_id=999, message_id=message_id)

    results = await asyncio.gather(
        *(conversation(user_id) for user_id in range(1, 31)),
        *(plain_write(message_id) for message_id in range(1, 11)),
        return_exceptions=True,
    )

    failed = [r for r in results if r is not None]
    assert len(failed) == 10
    assert all(isinstance(r, Boom) for r in failed)
    kept = [(user_id,) for user_id in range(1, 31) if user_id % 3]
    assert committed(path, "SELECT user_id FROM users ORDER BY user_id") == kept
    assert committed(path, "SELECT user_id FROM conversations ORDER BY user_id") == kept
    assert count(path, "SELECT count(*) FROM messages WHERE user_id = 999") == 10


async def test_close_lets_a_transaction_in_progress_finish(path: Path) -> None:
    db = Database(path)
    await db.connect()
    await db.init()
    a_wrote, a_may_finish = asyncio.Event(), asyncio.Event()

    async def task_a() -> None:
        async with db.transaction():
            await db.upsert_user(1, None, None, None, commit=False)
            a_wrote.set()
            await a_may_finish.wait()
            await db.upsert_user(2, None, None, None, commit=False)

    a = asyncio.create_task(task_a())
    await a_wrote.wait()
    closing = asyncio.create_task(db.close())
    await asyncio.sleep(0)
    assert not closing.done()
    a_may_finish.set()
    await a
    await closing

    assert committed(path, "SELECT user_id FROM users ORDER BY user_id") == [(1,), (2,)]
    assert (await db.healthcheck())["ok"] is False


async def test_a_task_started_inside_a_transaction_waits_for_it_and_warns(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="storage")
    children: list[asyncio.Task[UserProfile | None]] = []

    async def start_a_reader_then_fail() -> None:
        async with db.transaction():
            await db.upsert_user(1, "ann", None, None, commit=False)
            children.append(asyncio.create_task(db.people.get(1)))
            await asyncio.sleep(0)  # the child asks for the user now
            assert not children[0].done()
            raise Boom

    with pytest.raises(Boom):
        await start_a_reader_then_fail()

    # The child is another task: it waited, and the rollback happened before it read.
    assert await children[0] is None
    assert "started inside a transaction is waiting for that transaction" in caplog.text


async def test_a_task_waiting_for_the_lock_finds_the_database_closed(path: Path) -> None:
    db = Database(path)
    await db.connect()
    await db.init()
    a_wrote, a_may_finish = asyncio.Event(), asyncio.Event()

    async def task_a() -> None:
        async with db.transaction():
            await db.upsert_user(1, None, None, None, commit=False)
            a_wrote.set()
            await a_may_finish.wait()

    a = asyncio.create_task(task_a())
    await a_wrote.wait()
    closing = asyncio.create_task(db.close())
    await asyncio.sleep(0)
    late = asyncio.create_task(db.upsert_user(2, None, None, None))
    await asyncio.sleep(0)
    a_may_finish.set()
    await a
    await closing

    with pytest.raises(StorageError, match="not connected"):
        await late
    assert committed(path, "SELECT user_id FROM users") == [(1,)]
