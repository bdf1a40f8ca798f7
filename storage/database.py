"""`Database`: the bot's one SQLite connection, its transactions, and every query it runs."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import math
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
    UnknownUpdateError,
)
from storage.migrations import migrate
from storage.models import (
    Ban,
    Conversation,
    InboxItem,
    LoggedMessage,
    MessageLink,
    ReplyWait,
    User,
    UserActivity,
    UserState,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(eq=False)
class _Transaction:
    """The transaction open on the connection, and the task that owns it."""

    task: asyncio.Task[Any] | None
    # SQLite rolled it back on its own after an error inside it (see TransactionAbortedError).
    aborted: bool = False


@dataclass(eq=False)
class _Write:
    """A write waiting for the next group commit, and the caller waiting for its outcome."""

    apply: Callable[[sqlite3.Connection], Any]
    outcome: asyncio.Future[Any]


class Database:
    """The storage of the bot: one long-lived aiosqlite connection shared by every task.

    Transactions and `commit=`
        `async with db.transaction():` opens one transaction (`BEGIN IMMEDIATE`), commits it when
        the block succeeds, and rolls it back and re-raises when the block raises (cancellation
        included). A cancellation that arrives while the COMMIT itself is under way cannot stop
        it: the transaction is then committed, and the CancelledError still propagates. An
        `asyncio.Lock` lets one transaction at a time use the connection.

        Which transaction a call belongs to is decided by *who* calls, not by `commit=`:

        * a call made by the task that opened the transaction (directly or through helper
          coroutines it awaits) is part of that transaction, whatever its `commit=`: it does not
          take the lock and does not commit on its own;
        * any other call waits for the lock, and is then applied on its own, atomically and
          committed — so it never commits, or is rolled back with, another task's work. This
          includes a `commit=False` write made outside any transaction: it is applied as if
          `commit=True`, because leaving an uncommitted write on the shared connection would let
          an unrelated task's COMMIT publish it (or its ROLLBACK discard it). Reads by other tasks
          wait too, so they never see another task's uncommitted writes.

        Writes made outside any transaction are committed in groups: while one group is being
        written (a commit waits for the disk), the writes of other tasks gather, and the next
        commit takes them all, each in its own savepoint. A call still returns only once its
        write is on disk, and a write that fails (a constraint) is undone alone and raises in
        its caller; only an error that makes SQLite abandon the whole transaction (disk full,
        I/O) fails the group, each caller with that error. One disk flush then serves many
        messages at once, which is what keeps a burst of messages from queueing behind one
        flush each.

        A `transaction()` opened inside a transaction by its owner is a SAVEPOINT inside it: when
        the inner block raises, only its own writes are undone (and the error propagates); when
        it succeeds, its writes commit or roll back with the outer transaction. That keeps
        methods like `log_user_message` atomic even when a caller catches their error and goes on.

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
        # Writes from outside any transaction, waiting for the group commit (`_write`).
        self._writes: list[_Write] = []
        self._committer: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "connected" if self._conn is not None else "not connected"
        return f"<Database {self.path!r} ({state})>"

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether `connect()` has opened the connection (and `close()` has not closed it)."""
        return self._conn is not None

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
        while self._committer is not None:  # writes already made are committed first
            await asyncio.wait({self._committer})
            await asyncio.sleep(0)  # its done callback: cleared, or a new committer started
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

    async def _execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        """Run one write statement; return the number of rows it changed."""
        return await self._write(lambda conn: conn.execute(sql, parameters).rowcount)

    async def _fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self._access() as conn:
            return await run(conn, lambda c: c.execute(sql, parameters).fetchall())

    async def _write(self, apply: Callable[[sqlite3.Connection], T]) -> T:
        """Apply a write atomically (`apply` runs its statements on the database thread).

        Inside the caller's transaction it is a savepoint of it; otherwise it joins the next
        group commit (see the class docstring) and returns once that is on disk.
        """
        if self._owned_transaction() is not None:
            async with self._access() as conn:
                return await run(conn, functools.partial(_atomically, apply))
        self._connection()
        self._warn_if_waiting_for_own_transaction()
        write = _Write(apply, asyncio.get_running_loop().create_future())
        self._writes.append(write)
        self._start_committer()
        result: T = await write.outcome
        return result

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

    async def _fetchone(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._fetchall(sql, parameters)
        return rows[0] if rows else None

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
        """Insert the user, or update the three profile fields (and `updated_at`) if present.

        `username` is stored without its leading `@` (an empty one is stored as NULL).
        `commit`: see the class docstring.
        """
        if username is not None:
            username = username.removeprefix("@") or None
        await self._execute(
            """
            INSERT INTO users (user_id, username, first_name, last_name)
            VALUES (?, ?, ?, ?)
            ON CONFLICT (user_id) DO UPDATE SET
                username = excluded.username,
                first_name = excluded.first_name,
                last_name = excluded.last_name,
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            """,
            (user_id, username, first_name, last_name),
        )

    async def get_user(self, user_id: int) -> User | None:
        """The stored profile of the user, or None."""
        row = await self._fetchone(
            """
            SELECT user_id, username, first_name, last_name, language_code
            FROM users
            WHERE user_id = ?
            """,
            (user_id,),
        )
        return None if row is None else _user(row)

    async def get_user_state(self, user_id: int) -> UserState:
        """The user's profile, conversation and ban in one query (the relay's per-message read)."""
        row = await self._fetchone(
            """
            SELECT users.user_id, username, first_name, last_name, language_code,
                   bans.user_id, reason, banned_by, banned_at, notified_at,
                   topic_id, active, offline_notice_for
            FROM (SELECT ? AS user_id) AS wanted
            LEFT JOIN users ON users.user_id = wanted.user_id
            LEFT JOIN conversations ON conversations.user_id = wanted.user_id
            LEFT JOIN bans ON bans.user_id = wanted.user_id
            """,
            (user_id,),
        )
        assert row is not None  # the one-row derived table always yields a row
        conversation = None
        if row[10] is not None:
            conversation = Conversation(user_id=user_id, topic_id=row[10], active=bool(row[11]))
        return UserState(
            user=None if row[0] is None else _user(row[0:5]),
            conversation=conversation,
            ban=None if row[5] is None else _ban(row[5:10]),
            offline_notice_for=row[12],
        )

    async def set_user_language(
        self, user_id: int, language_code: str | None, *, commit: bool = True
    ) -> None:
        """Record the user's Telegram `language_code`; does nothing for an unknown user."""
        await self._execute(
            "UPDATE users SET language_code = ? WHERE user_id = ?", (language_code, user_id)
        )

    async def get_user_activity(self, user_id: int) -> UserActivity:
        """First contact and the number of logged messages each way, for /info."""
        row = await self._fetchone(
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

    # --- bans ----------------------------------------------------------------------------------

    async def ban_user(
        self, user_id: int, *, reason: str | None, banned_by: int | None, commit: bool = True
    ) -> bool:
        """Ban the user; False (and nothing changes) when they are banned already."""
        changed = await self._execute(
            """
            INSERT INTO bans (user_id, reason, banned_by)
            VALUES (?, ?, ?)
            ON CONFLICT (user_id) DO NOTHING
            """,
            (user_id, reason, banned_by),
        )
        return changed > 0

    async def unban_user(self, user_id: int, *, commit: bool = True) -> bool:
        """Lift the user's ban; False when they were not banned."""
        return await self._execute("DELETE FROM bans WHERE user_id = ?", (user_id,)) > 0

    async def get_ban(self, user_id: int) -> Ban | None:
        row = await self._fetchone(
            """
            SELECT user_id, reason, banned_by, banned_at, notified_at
            FROM bans
            WHERE user_id = ?
            """,
            (user_id,),
        )
        return None if row is None else _ban(row)

    async def mark_ban_notified(self, user_id: int, *, commit: bool = True) -> None:
        """The banned user has been told (BANNED_TEXT): not again during this ban."""
        await self._execute(
            """
            UPDATE bans SET notified_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            WHERE user_id = ? AND notified_at IS NULL
            """,
            (user_id,),
        )

    # --- conversations -------------------------------------------------------------------------

    async def get_active_conversation(self, user_id: int) -> Conversation | None:
        """The user's conversation if it is active, else None."""
        row = await self._fetchone(
            """
            SELECT user_id, topic_id, active
            FROM conversations
            WHERE user_id = ? AND active = 1
            """,
            (user_id,),
        )
        if row is None:
            return None
        return Conversation(user_id=row[0], topic_id=row[1], active=bool(row[2]))

    async def set_conversation(
        self, user_id: int, topic_id: int, active: bool = True, *, commit: bool = True
    ) -> None:
        """Create or update the user's mapping to a forum topic.

        `commit`: see the class docstring.
        """
        await self._execute(
            """
            INSERT INTO conversations (user_id, topic_id, active)
            VALUES (?, ?, ?)
            ON CONFLICT (user_id) DO UPDATE SET
                topic_id = excluded.topic_id,
                active = excluded.active,
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            """,
            (user_id, topic_id, int(active)),
        )

    async def deactivate_conversation(self, user_id: int, *, commit: bool = True) -> None:
        """Mark the user's conversation inactive (the topic was closed or deleted).

        Does nothing when there is none. `commit`: see the class docstring.
        """
        await self._execute(
            """
            UPDATE conversations
            SET active = 0, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            WHERE user_id = ? AND active = 1
            """,
            (user_id,),
        )

    async def set_offline_notice(self, user_id: int, period: str, *, commit: bool = True) -> None:
        """Record that the user was told about the closed period `period` (any stable text)."""
        await self._execute(
            "UPDATE conversations SET offline_notice_for = ? WHERE user_id = ?",
            (period, user_id),
        )

    async def find_user_id_by_topic(self, topic_id: int) -> int | None:
        """The user whose *active* conversation uses the topic; None if none or inactive.

        Should two active conversations share a topic, the most recently updated one wins.
        """
        row = await self._fetchone(
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

    async def get_conversation(self, user_id: int) -> Conversation | None:
        """The user's conversation, active or not; None if the user never had one.

        The relay reopens an inactive (closed) conversation's topic when the user writes again.
        """
        row = await self._fetchone(
            """
            SELECT user_id, topic_id, active
            FROM conversations
            WHERE user_id = ?
            """,
            (user_id,),
        )
        if row is None:
            return None
        return Conversation(user_id=row[0], topic_id=row[1], active=bool(row[2]))

    async def find_conversation_by_topic(self, topic_id: int) -> Conversation | None:
        """The conversation that uses the topic, active or not; None if none.

        Unlike `find_user_id_by_topic`, inactive conversations count (an operator reopening a
        closed topic). Should several share the topic, active ones win, then the most recently
        updated.
        """
        row = await self._fetchone(
            """
            SELECT user_id, topic_id, active
            FROM conversations
            WHERE topic_id = ?
            ORDER BY active DESC, updated_at DESC, user_id DESC
            LIMIT 1
            """,
            (topic_id,),
        )
        if row is None:
            return None
        return Conversation(user_id=row[0], topic_id=row[1], active=bool(row[2]))

    # --- messages ------------------------------------------------------------------------------

    # ON CONFLICT, not INSERT OR IGNORE: OR IGNORE would also silently skip a row that breaks
    # the CHECK on direction.
    _LOG_MESSAGE: ClassVar[str] = """
        INSERT INTO messages (
            user_id, direction, chat_id, message_id, content_type,
            text, caption, file_id, payload_json
        )
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (chat_id, message_id) DO NOTHING
    """

    # One statement for both directions of a link: atomic on its own.
    _LOG_LINK: ClassVar[str] = """
        INSERT INTO message_links (
            source_chat_id, source_message_id, target_chat_id, target_message_id, user_id
        )
        VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)
        ON CONFLICT (source_chat_id, source_message_id, target_chat_id) DO NOTHING
    """

    @staticmethod
    def _link_parameters(
        user_id: int,
        source_chat_id: int,
        source_message_id: int,
        target_chat_id: int,
        target_message_id: int,
    ) -> tuple[int, ...]:
        """The parameters of `_LOG_LINK`: the way there and the way back."""
        return (
            *(source_chat_id, source_message_id, target_chat_id, target_message_id, user_id),
            *(target_chat_id, target_message_id, source_chat_id, source_message_id, user_id),
        )

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
        `commit`: see the class docstring.
        """
        await self._execute(
            self._LOG_MESSAGE,
            (
                user_id,
                direction,
                chat_id,
                message_id,
                content_type,
                text,
                caption,
                file_id,
                payload_json,
            ),
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
        """Record that the target message is a copy of the source one, in both directions.

        Idempotent. A message keeps the first copy recorded per chat: linking it again to a
        different message in the same chat adds only the way back from that message.
        `commit`: see the class docstring.
        """
        await self._execute(
            self._LOG_LINK,
            self._link_parameters(
                user_id, source_chat_id, source_message_id, target_chat_id, target_message_id
            ),
        )

    async def log_relayed_message(
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
        target_chat_id: int,
        target_message_id: int,
    ) -> None:
        """`log_message` and `log_message_link` (from the message to its copy) as one write.

        Atomic, and one trip to the database thread; outside a transaction it is on disk when it
        returns, inside the caller's transaction it is a savepoint of it.
        """
        message = (
            user_id,
            direction,
            chat_id,
            message_id,
            content_type,
            text,
            caption,
            file_id,
            payload_json,
        )
        link = self._link_parameters(
            user_id, chat_id, message_id, target_chat_id, target_message_id
        )

        def log(conn: sqlite3.Connection) -> None:
            conn.execute(self._LOG_MESSAGE, message)
            conn.execute(self._LOG_LINK, link)

        await self._write(log)

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
        if target_chat_id is None:
            row = await self._fetchone(
                """
                SELECT target_message_id
                FROM message_links
                WHERE source_chat_id = ? AND source_message_id = ?
                ORDER BY id DESC
                LIMIT 1
                """,
                (source_chat_id, source_message_id),
            )
        else:
            row = await self._fetchone(
                """
                SELECT target_message_id
                FROM message_links
                WHERE source_chat_id = ? AND source_message_id = ? AND target_chat_id = ?
                """,
                (source_chat_id, source_message_id, target_chat_id),
            )
        return None if row is None else int(row[0])

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
        `commit`: see the class docstring.
        """
        async with self.transaction():
            await self.upsert_user(user_id, username, first_name, last_name, commit=False)
            await self.log_message(
                user_id=user_id,
                direction=direction,
                chat_id=chat_id,
                message_id=message_id,
                content_type=content_type,
                text=text,
                caption=caption,
                file_id=file_id,
                payload_json=payload_json,
                commit=False,
            )

    async def get_message(self, *, chat_id: int, message_id: int) -> LoggedMessage | None:
        """The logged message `(chat_id, message_id)` as last recorded, or None."""
        row = await self._fetchone(
            """
            SELECT user_id, direction, chat_id, message_id, content_type,
                   text, caption, file_id, payload_json, created_at
            FROM messages
            WHERE chat_id = ? AND message_id = ?
            """,
            (chat_id, message_id),
        )
        return None if row is None else self._logged_message(row)

    async def update_message(
        self,
        *,
        chat_id: int,
        message_id: int,
        content_type: str,
        text: str | None,
        caption: str | None,
        file_id: str | None,
        payload_json: str | None,
        commit: bool = True,
    ) -> bool:
        """Replace the content of a logged message (it was edited); False if it is not logged.

        `commit`: see the class docstring.
        """
        changed = await self._execute(
            """
            UPDATE messages
            SET content_type = ?, text = ?, caption = ?, file_id = ?, payload_json = ?
            WHERE chat_id = ? AND message_id = ?
            """,
            (content_type, text, caption, file_id, payload_json, chat_id, message_id),
        )
        return changed > 0

    async def find_message_link(
        self,
        *,
        source_chat_id: int,
        source_message_id: int,
        target_chat_id: int | None = None,
    ) -> MessageLink | None:
        """Like `find_linked_message_id`, but the whole link: which chat, and whose.

        Without `target_chat_id`, the most recently linked message in any chat.
        """
        row = await self._fetchone(
            """
            SELECT user_id, source_chat_id, source_message_id, target_chat_id, target_message_id
            FROM message_links
            WHERE source_chat_id = ? AND source_message_id = ?
              AND (? IS NULL OR target_chat_id = ?)
            ORDER BY id DESC
            LIMIT 1
            """,
            (source_chat_id, source_message_id, target_chat_id, target_chat_id),
        )
        if row is None:
            return None
        return MessageLink(
            user_id=row[0],
            source_chat_id=row[1],
            source_message_id=row[2],
            target_chat_id=row[3],
            target_message_id=row[4],
        )

    async def find_linked_message_ids(
        self, *, source_chat_id: int, source_message_id: int, target_chat_id: int
    ) -> list[int]:
        """Every message in `target_chat_id` linked to the given one, in id order.

        That is its first copy (what `find_linked_message_id` answers) and the further parts
        linked to it later: `log_message_link` keeps only the way back from those (a long
        caption's full text sent after the media, a new version posted after an edit). Empty
        when it has no copy there.

        Further parts are always sent after the first copy, and message ids only grow within
        a chat, so the search for them starts at the first copy's id: it runs on the
        `message_links_source` index and reads only links made after the first copy.
        """
        rows = await self._fetchall(
            """
            SELECT target_message_id
            FROM message_links
            WHERE source_chat_id = ? AND source_message_id = ? AND target_chat_id = ?
            UNION
            SELECT source_message_id
            FROM message_links
            WHERE source_chat_id = ?
              AND source_message_id > (
                  SELECT target_message_id
                  FROM message_links
                  WHERE source_chat_id = ? AND source_message_id = ? AND target_chat_id = ?
              )
              AND target_chat_id = ?
              AND target_message_id = ?
            ORDER BY 1
            """,
            (
                source_chat_id,
                source_message_id,
                target_chat_id,
                target_chat_id,
                source_chat_id,
                source_message_id,
                target_chat_id,
                source_chat_id,
                source_message_id,
            ),
        )
        return [int(row[0]) for row in rows]

    # --- history and statistics (transcripts, /stats) -----------------------------------------

    @staticmethod
    def _logged_message(row: sqlite3.Row) -> LoggedMessage:
        """A `messages` row, selected as in `get_message`, as a record."""
        return LoggedMessage(
            user_id=row[0],
            direction=row[1],
            chat_id=row[2],
            message_id=row[3],
            content_type=row[4],
            text=row[5],
            caption=row[6],
            file_id=row[7],
            payload_json=row[8],
            created_at=row[9],
        )

    @staticmethod
    def _timestamp(moment: datetime) -> str:
        """`moment` in the form of the `created_at` columns, so that they compare as text."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"a moment must carry its time zone, not {moment!r}")
        utc = moment.astimezone(UTC)
        return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"

    async def list_messages(self, user_id: int, *, limit: int | None = None) -> list[LoggedMessage]:
        """The user's logged messages, both directions, in the order they were logged.

        With `limit`, only the most recent `limit` of them (still oldest first). Runs on the
        `messages_user_id` index.
        """
        if limit is None:
            rows = await self._fetchall(
                """
                SELECT user_id, direction, chat_id, message_id, content_type,
                       text, caption, file_id, payload_json, created_at
                FROM messages
                WHERE user_id = ?
                ORDER BY id
                """,
                (user_id,),
            )
            return [self._logged_message(row) for row in rows]
        if limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}")
        # The most recent `limit`, read newest first along the index, then put back in order.
        rows = await self._fetchall(
            """
            SELECT user_id, direction, chat_id, message_id, content_type,
                   text, caption, file_id, payload_json, created_at
            FROM (
                SELECT id, user_id, direction, chat_id, message_id, content_type,
                       text, caption, file_id, payload_json, created_at
                FROM messages
                WHERE user_id = ?
                ORDER BY id DESC
                LIMIT ?
            )
            ORDER BY id
            """,
            (user_id, limit),
        )
        return [self._logged_message(row) for row in rows]

    async def list_links(self, user_id: int) -> list[MessageLink]:
        """Every link row recorded for the user's messages (both directions), oldest first.

        Together with `list_messages`, enough to tell which logged message a reply to a copy
        (or to a further part) stands for, without one query per reply.
        """
        rows = await self._fetchall(
            """
            SELECT user_id, source_chat_id, source_message_id, target_chat_id, target_message_id
            FROM message_links
            WHERE user_id = ?
            ORDER BY id
            """,
            (user_id,),
        )
        return [
            MessageLink(
                user_id=row[0],
                source_chat_id=row[1],
                source_message_id=row[2],
                target_chat_id=row[3],
                target_message_id=row[4],
            )
            for row in rows
        ]

    async def count_open_conversations(self) -> int:
        """How many conversations are active (their topic is open)."""
        row = await self._fetchone("SELECT count(*) FROM conversations WHERE active = 1")
        return 0 if row is None else int(row[0])

    async def count_conversations_since(self, since: datetime) -> int:
        """How many conversations were created at or after `since` (an aware datetime).

        A conversation is created on a user's first message; closing and reopening it keeps
        its creation time, so this counts users who wrote for the first time.
        """
        row = await self._fetchone(
            "SELECT count(*) FROM conversations WHERE created_at >= ?",
            (self._timestamp(since),),
        )
        return 0 if row is None else int(row[0])

    async def count_messages_since(self, since: datetime) -> dict[str, int]:
        """How many messages were logged at or after `since`: {"user": n, "operator": n}."""
        row = await self._fetchone(
            """
            SELECT count(*) FILTER (WHERE direction = 'user'),
                   count(*) FILTER (WHERE direction = 'operator')
            FROM messages
            WHERE created_at >= ?
            """,
            (self._timestamp(since),),
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
        rows = await self._fetchall(
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
            (self._timestamp(since),),
        )
        return [ReplyWait(user_id=row[0], started_at=row[1], answered_at=row[2]) for row in rows]

    # --- inbox of Telegram updates -------------------------------------------------------------

    async def inbox_add(self, items: Sequence[tuple[int, str, str]]) -> list[int]:
        """Store `(update_id, queue_key, payload_json)` items, all in one transaction.

        An update_id already in the inbox, in any status, is ignored (that is how a re-delivered
        update is recognised), as is a repeat within `items`. Returns the update_ids newly added,
        in the order given. When it returns outside a transaction, they are on disk.
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

        return await self._write(add)

    async def inbox_pending(self, *, limit: int | None = None) -> list[InboxItem]:
        """Pending updates, oldest update_id first (at most `limit`, if given)."""
        return await self._inbox_items("pending", limit)

    async def inbox_failed(self, *, limit: int | None = 100) -> list[InboxItem]:
        """Parked (failed) updates, oldest update_id first, at most `limit` (None: all)."""
        return await self._inbox_items("failed", limit)

    async def _inbox_items(self, status: str, limit: int | None) -> list[InboxItem]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}")
        rows = await self._fetchall(
            """
            SELECT update_id, queue_key, payload, attempts
            FROM inbox
            WHERE status = ?
            ORDER BY update_id
            LIMIT ?
            """,
            (status, -1 if limit is None else limit),  # LIMIT -1: no limit
        )
        return [
            InboxItem(update_id=row[0], queue_key=row[1], payload=row[2], attempts=row[3])
            for row in rows
        ]

    async def inbox_done(self, update_id: int) -> None:
        """Mark the update handled; an unknown update_id is logged and ignored.

        The row stays, so that a re-delivery is still recognised, until `inbox_prune` removes it.
        """
        changed = await self._execute(
            """
            UPDATE inbox
            SET status = 'done', updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            WHERE update_id = ?
            """,
            (update_id,),
        )
        if not changed:
            logger.warning("inbox_done: update %d is not in the inbox", update_id)

    async def inbox_attempt_failed(self, update_id: int, *, error: str) -> int:
        """Count a failed attempt (the update stays in its status); return the new count.

        Raises `UnknownUpdateError` when the update is not in the inbox.
        """
        sql = """
            UPDATE inbox
            SET attempts = attempts + 1,
                last_error = ?,
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            WHERE update_id = ?
            RETURNING attempts
        """
        # A write: through _write (group commit), not a read's _fetchone.
        row = await self._write(lambda conn: conn.execute(sql, (error, update_id)).fetchone())
        if row is None:
            raise UnknownUpdateError(update_id)
        return int(row[0])

    async def inbox_park(self, update_id: int, *, error: str) -> None:
        """Give up on the update: status 'failed' with the reason, until requeued by a person.

        An unknown update_id is logged and ignored.
        """
        changed = await self._execute(
            """
            UPDATE inbox
            SET status = 'failed',
                last_error = ?,
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            WHERE update_id = ?
            """,
            (error, update_id),
        )
        if not changed:
            logger.warning("inbox_park: update %d is not in the inbox", update_id)

    async def inbox_counts(self) -> dict[str, int]:
        """How many updates are in each status: {"pending": n, "failed": n, "done": n}."""
        rows = await self._fetchall(
            """
            SELECT (SELECT count(*) FROM inbox WHERE status = 'pending'),
                   (SELECT count(*) FROM inbox WHERE status = 'failed'),
                   (SELECT count(*) FROM inbox WHERE status = 'done')
            """
        )
        pending, failed, done = rows[0]  # a SELECT without FROM returns exactly one row
        return {"pending": int(pending), "failed": int(failed), "done": int(done)}

    async def inbox_requeue_failed(self) -> int:
        """Put every parked update back to pending with its attempts reset; return how many.

        `last_error` is kept as a record of why it was parked.
        """
        return await self._execute(
            """
            UPDATE inbox
            SET status = 'pending',
                attempts = 0,
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            WHERE status = 'failed'
            """
        )

    async def inbox_requeue(self, update_id: int) -> bool:
        """Put one parked update back to pending with its attempts reset; False if it was not
        parked. `last_error` is kept as a record of why it was parked."""
        changed = await self._execute(
            """
            UPDATE inbox
            SET status = 'pending',
                attempts = 0,
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            WHERE update_id = ? AND status = 'failed'
            """,
            (update_id,),
        )
        return changed > 0

    async def inbox_prune(self, *, older_than_seconds: float) -> int:
        """Delete 'done' updates last updated more than `older_than_seconds` ago; return how many.

        Pending and failed updates are never pruned.
        """
        if not math.isfinite(older_than_seconds) or older_than_seconds < 0:
            raise ValueError(
                f"older_than_seconds must be a finite number >= 0, not {older_than_seconds}"
            )
        return await self._execute(
            """
            DELETE FROM inbox
            WHERE status = 'done'
              AND updated_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)
            """,
            (f"-{older_than_seconds:.3f} seconds",),
        )


def _user(row: Sequence[Any]) -> User:
    """A `User` from user_id, username, first_name, last_name, language_code."""
    return User(
        user_id=row[0], username=row[1], first_name=row[2], last_name=row[3], language_code=row[4]
    )


def _ban(row: Sequence[Any]) -> Ban:
    """A `Ban` from user_id, reason, banned_by, banned_at, notified_at."""
    return Ban(
        user_id=row[0],
        reason=row[1],
        banned_by=row[2],
        banned_at=row[3],
        notified=row[4] is not None,
    )


def _atomically(apply: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection) -> T:
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
                outcomes.append((True, _atomically(apply, conn)))
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
