"""`Core`: the bot's one SQLite connection, its transactions, savepoints and group commit.

`storage.Database` is a `Core` with the parts that hold the data (`people`, `conversations`,
`log`, `inbox`, `reports`); each part runs its SQL through the core's four seams (`fetch_all`,
`fetch_one`, `execute`, `write`), so one `db.transaction()` spans them all.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import aiosqlite

from storage._sqlite import rollback, run
from storage.errors import (
    NotConnectedError,
    StorageError,
    TransactionAbortedError,
)
from storage.group_commit import GroupCommit, atomically
from storage.migrations import migrate

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The moment a statement runs, in the form of every timestamp column (see storage.migrations).
NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


def timestamp(moment: datetime) -> str:
    """`moment` in the form of the timestamp columns, so that they compare as text."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a moment must carry its time zone, not {moment!r}")
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def check_limit(limit: int | None) -> int:
    """A row limit for SQL's LIMIT: -1 (none) for None; a negative one is refused."""
    if limit is None:
        return -1
    if limit < 0:
        raise ValueError(f"limit must not be negative, not {limit}")
    return limit


@dataclass(eq=False)
class _Transaction:
    """The transaction open on the connection, and the task that owns it."""

    task: asyncio.Task[Any] | None
    # SQLite rolled it back on its own after an error inside it (see TransactionAbortedError).
    aborted: bool = False


class Core:
    """One long-lived aiosqlite connection shared by every task, and its transactions.

    Transactions
        `async with db.transaction():` opens one transaction (`BEGIN IMMEDIATE`), commits it when
        the block succeeds, and rolls it back and re-raises when the block raises (cancellation
        included). A cancellation that arrives while the COMMIT itself is under way cannot stop
        it: the transaction is then committed, and the CancelledError still propagates. An
        `asyncio.Lock` lets one transaction at a time use the connection.

        Which transaction a call belongs to is decided by *who* calls:

        * a call made by the task that opened the transaction (directly or through helper
          coroutines it awaits) is part of that transaction: it does not take the lock and does
          not commit on its own;
        * any other call waits for the lock, and is then applied on its own, atomically and
          committed — so it never commits, or is rolled back with, another task's work. Reads by
          other tasks wait too, so they never see another task's uncommitted writes.

        Writes made outside any transaction are committed in groups (`storage.group_commit`):
        a call returns once its write is on disk, and a write that fails is undone alone.

        A `transaction()` opened inside a transaction by its owner is a SAVEPOINT inside it: when
        the inner block raises, only its own writes are undone (and the error propagates); when
        it succeeds, its writes commit or roll back with the outer transaction. That keeps
        methods like `Database.log_user_message` atomic even when a caller catches their error
        and goes on.

        Tasks started inside a transaction (`asyncio.gather`, `asyncio.TaskGroup`, and
        `asyncio.wait_for` on Python 3.11) are other tasks: their calls wait until the
        transaction ends. Awaiting such a task from inside the transaction therefore never ends
        (a warning is logged when such a task starts waiting); make storage calls from the task
        that opened the transaction.

    Errors
        Calls before `connect()` or after `close()` raise `NotConnectedError` (a `StorageError`).
        SQLite's own errors (`sqlite3.IntegrityError`, `sqlite3.OperationalError` such as
        "database is locked", ...) pass through unchanged.
    """

    #: Seconds `healthcheck()` waits for an answer before reporting the database as not ok.
    HEALTHCHECK_TIMEOUT: ClassVar[float] = 5.0

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._tx: _Transaction | None = None
        # The transaction the running code is inside of. A ContextVar follows the code through
        # every coroutine it awaits; the task check in `_owned_transaction` then leaves out tasks
        # started inside the block, which copy the context but run concurrently with it.
        self._tx_var: ContextVar[_Transaction | None] = ContextVar(
            f"storage.Database({self.path!r}).transaction", default=None
        )
        # Writes from outside any transaction are committed in groups (`write`).
        self._group_commit = GroupCommit(self._lock, self._connection)

    def __repr__(self) -> str:
        state = "connected" if self._conn is not None else "not connected"
        return f"<Database {self.path!r} ({state})>"

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether `connect()` has opened the connection (and `close()` has not closed it)."""
        return self._conn is not None

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on the connection, as SQLite sees it."""
        return self._conn is not None and self._conn.in_transaction

    async def trace(self, callback: Callable[[str], object] | None) -> None:
        """Hand every statement the connection runs, values inlined, to `callback` (None: stop).

        For debugging and tests: the statements carry message contents.
        """
        await self._connection().set_trace_callback(callback)  # type: ignore[arg-type]

    async def connect(self) -> None:
        """Open the connection (WAL, foreign keys, busy timeout, synchronous=FULL).

        Calling it again while connected does nothing.
        """
        if self._conn is None:
            async with self._lock:
                await self._open()

    async def _open(self) -> None:
        if self._conn is not None:  # opened by another task while this one waited for the lock
            return
        # isolation_level=None: the sqlite3 module never opens or commits a transaction on
        # its own; every BEGIN / COMMIT / ROLLBACK on this connection is ours.
        conn = aiosqlite.connect(self.path, isolation_level=None)
        try:
            await conn
        except BaseException:
            await _join_worker(conn)
            raise
        try:
            rows = list(await conn.execute_fetchall("PRAGMA journal_mode = WAL"))
            if str(rows[0][0]).lower() != "wal":
                logger.warning(
                    "SQLite refused WAL mode for %s (journal mode is %s)", self.path, rows[0][0]
                )
            await conn.execute("PRAGMA foreign_keys = ON")
            # Wait up to 5 s for another process's write lock instead of failing at once.
            await conn.execute("PRAGMA busy_timeout = 5000")
            # FULL, not the usual WAL pairing NORMAL: this file holds the inbox of Telegram
            # updates that were already confirmed to Telegram, which will not send them again.
            # With NORMAL, a committed transaction survives a crash of the process but not a
            # power loss or OS crash (the WAL is not fsynced at each commit); FULL fsyncs the
            # WAL on every commit, so "committed" means "on disk".
            await conn.execute("PRAGMA synchronous = FULL")
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def init(self) -> None:
        """Create or upgrade the schema (numbered migrations); safe to call on every start.

        Raises `SchemaTooNewError` when the file was written by a newer version of the bot.
        """
        if self._owned_transaction() is not None:
            raise StorageError("init() cannot run inside a transaction")
        self._connection()
        async with self._locked():
            applied = await migrate(self._connection(), path=self.path)
        if applied:
            logger.info("Database %s: applied schema migration(s) %s", self.path, applied)

    async def close(self) -> None:
        """Close the connection if it is open; calling it again is harmless.

        A transaction that another task has open is allowed to finish first.
        """
        if self._conn is None:
            return
        if self._owned_transaction() is not None:
            raise StorageError("close() cannot be called inside a transaction")
        await self._group_commit.drain()  # writes already made are committed first
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()

    async def healthcheck(self) -> dict[str, Any]:
        """Ask the database a trivial question; never raises.

        Returns `{"ok": True, "schema_version": ..., "journal_mode": ..., "foreign_keys": ...,
        "synchronous": ...}` when it answers, `{"ok": False, "error": "..."}` when it does not
        (not connected, closed, no answer within `HEALTHCHECK_TIMEOUT` seconds, ...).
        """
        # No lock: a read-only query may run in the middle of another task's transaction, and a
        # health check should not queue behind a long one.
        try:
            conn = self._connection()
            async with asyncio.timeout(self.HEALTHCHECK_TIMEOUT):
                rows = list(
                    await conn.execute_fetchall(
                        """
                        SELECT 1,
                               (SELECT user_version FROM pragma_user_version),
                               (SELECT journal_mode FROM pragma_journal_mode),
                               (SELECT foreign_keys FROM pragma_foreign_keys),
                               (SELECT synchronous FROM pragma_synchronous)
                        """
                    )
                )
        except TimeoutError:
            return {"ok": False, "error": f"no answer within {self.HEALTHCHECK_TIMEOUT} s"}
        except Exception as error:
            return {"ok": False, "error": f"{type(error).__name__}: {error}"}
        answer, version, journal_mode, foreign_keys, synchronous = rows[0]
        return {
            "ok": answer == 1,
            "schema_version": version,
            "journal_mode": journal_mode,
            "foreign_keys": bool(foreign_keys),
            "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
                synchronous, synchronous
            ),
        }

    # --- transactions --------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One transaction: commit when the block succeeds, roll back and re-raise when it raises.

        Inside a transaction of the same task this is a savepoint (see the class docstring).
        """
        owned = self._owned_transaction()
        if owned is not None:
            async with self._savepoint(owned):
                yield
            return
        self._connection()
        async with self._locked():
            conn = self._connection()
            tx = _Transaction(task=asyncio.current_task())
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                # Cancelled while waiting: the BEGIN is queued on the connection's thread and
                # still runs, so undo it (the ROLLBACK is queued behind it) before unlocking.
                await rollback(conn)
                raise
            self._tx = tx
            token = self._tx_var.set(tx)
            try:
                yield
                if tx.aborted:
                    raise TransactionAbortedError(
                        "SQLite rolled this transaction back after an error inside it; "
                        "nothing of it was committed"
                    )
            except BaseException:
                await rollback(conn)
                raise
            else:
                try:
                    await conn.execute("COMMIT")
                except BaseException:
                    await rollback(conn)
                    raise
            finally:
                self._tx_var.reset(token)
                self._tx = None

    @asynccontextmanager
    async def _savepoint(self, tx: _Transaction) -> AsyncIterator[None]:
        conn = self._connection()
        self._refuse_if_aborted(tx)
        # Savepoints nest strictly, and ROLLBACK TO / RELEASE address the innermost one with the
        # name, so one fixed name serves any depth.
        await conn.execute("SAVEPOINT nested")
        try:
            yield
            self._refuse_if_aborted(tx)
        except BaseException:
            if tx.aborted or not conn.in_transaction:
                tx.aborted = True  # the savepoint went with the whole transaction
            else:
                await conn.execute("ROLLBACK TO nested")
                await conn.execute("RELEASE nested")
            raise
        await conn.execute("RELEASE nested")

    def _owned_transaction(self) -> _Transaction | None:
        """The open transaction, if the running code is inside it; else None."""
        tx = self._tx
        if tx is not None and self._tx_var.get() is tx and tx.task is asyncio.current_task():
            return tx
        return None

    @staticmethod
    def _refuse_if_aborted(tx: _Transaction) -> None:
        if tx.aborted:
            raise TransactionAbortedError(
                "SQLite rolled this transaction back after an error inside it; end the block "
                "(nothing of it will be committed) and retry it from the start"
            )

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        self._warn_if_waiting_for_own_transaction()
        async with self._lock:
            yield

    def _warn_if_waiting_for_own_transaction(self) -> None:
        if self._lock.locked() and self._tx is not None and self._tx_var.get() is self._tx:
            logger.warning(
                "A task started inside a transaction is waiting for that transaction to end; "
                "if the transaction awaits this task, neither will ever finish"
            )

    @asynccontextmanager
    async def _access(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, for one statement: inside the caller's transaction, else alone.

        A single statement is atomic by itself, so outside a transaction it runs in autocommit
        mode under the lock: applied and committed on its own.
        """
        tx = self._owned_transaction()
        if tx is None:
            self._connection()
            async with self._locked():
                yield self._connection()
            return
        conn = self._connection()
        self._refuse_if_aborted(tx)
        try:
            yield conn
        except Exception:
            # Most errors (constraints) undo only the failed statement; a few (disk full, I/O
            # errors) make SQLite roll the whole transaction back. Later writes would then run
            # outside any transaction, so mark it and refuse them.
            if self._conn is conn and not conn.in_transaction:
                tx.aborted = True
            raise

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise NotConnectedError
        return self._conn

    # --- the seams the parts run their SQL through -------------------------------------------

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        """Run one write statement (see `write`); return the number of rows it changed."""
        return await self.write(lambda conn: conn.execute(sql, parameters).rowcount)

    async def fetch_all(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run one query: inside the caller's transaction, or alone (seeing only what is
        committed, never another task's open transaction)."""
        async with self._access() as conn:
            return await run(conn, lambda c: c.execute(sql, parameters).fetchall())

    async def fetch_one(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of `fetch_all`, or None."""
        rows = await self.fetch_all(sql, parameters)
        return rows[0] if rows else None

    async def write(self, apply: Callable[[sqlite3.Connection], T]) -> T:
        """Apply a write atomically (`apply` runs its statements on the database thread).

        Inside the caller's transaction it is a savepoint of it; otherwise it joins the next
        group commit (see the class docstring) and returns once that is on disk.
        """
        if self._owned_transaction() is not None:
            async with self._access() as conn:
                return await run(conn, functools.partial(atomically, apply))
        self._connection()
        self._warn_if_waiting_for_own_transaction()
        return await self._group_commit.submit(apply)


async def _join_worker(conn: aiosqlite.Connection) -> None:
    """Wait for the worker thread of a connection that failed to open.

    aiosqlite stops that thread with a future nobody awaits; if the event loop closed first (a
    process exiting with "cannot open the database"), the thread would die with a traceback
    on stderr after the bot's one-line error. `_thread` is aiosqlite's own attribute.
    """
    thread = getattr(conn, "_thread", None)
    if isinstance(thread, threading.Thread) and thread.is_alive():
        await asyncio.to_thread(thread.join, 5.0)
        await asyncio.sleep(0)  # let the thread's last callback run on this loop
