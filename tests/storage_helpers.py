"""Helpers for the storage tests: fresh databases, committed-state reads, schema snapshots."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import aiosqlite

from storage import Database
from storage.migrations import migrate

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
USER = 123  # a user's private chat id equals their user id


@asynccontextmanager
async def open_database(path: Path) -> AsyncIterator[Database]:
    """A connected, initialised `Database` on `path`, closed afterwards."""
    db = Database(path)
    await db.connect()
    try:
        await db.init()
        yield db
    finally:
        await db.close()


def committed(path: Path, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run a query on a separate connection: it sees only what is committed to the file."""
    with closing(sqlite3.connect(path)) as conn:
        return list(conn.execute(sql, parameters).fetchall())


def write_directly(path: Path, sql: str, parameters: tuple[Any, ...] = ()) -> None:
    """Change the file behind the bot's back (e.g. to age a timestamp), committed at once."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(sql, parameters)


async def build_database_at(
    path: Path,
    version: int,
    fill: Callable[[aiosqlite.Connection], Awaitable[None]] | None = None,
) -> None:
    """Create a database file at schema `version` (only the first `version` migrations)."""
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await migrate(conn, target_version=version)
        if fill is not None:
            await fill(conn)


def schema_snapshot(path: Path) -> dict[str, Any]:
    """Everything that defines the schema, normalised so two files can be compared."""
    with closing(sqlite3.connect(path)) as conn:
        objects = [
            (kind, name, table, " ".join(sql.split()) if sql else None)
            for kind, name, table, sql in conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
            )
        ]
        columns = {
            table: list(conn.execute("SELECT * FROM pragma_table_xinfo(?)", (table,)))
            for kind, table, _, _ in objects
            if kind == "table"
        }
        indexes = {
            index: list(conn.execute("SELECT * FROM pragma_index_xinfo(?)", (index,)))
            for kind, index, _, _ in objects
            if kind == "index"
        }
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    return {"objects": objects, "columns": columns, "indexes": indexes, "version": version}


async def statements_run_by(db: Database, action: Callable[[], Awaitable[Any]]) -> list[str]:
    """The SQL statements (with their values) that `action` makes `db` run."""
    statements: list[str] = []
    await db.trace(statements.append)
    try:
        await action()
    finally:
        await db.trace(None)
    return statements


def query_plan(path: Path, sql: str) -> list[str]:
    """The `EXPLAIN QUERY PLAN` lines of `sql` (with values inlined) on the file at `path`."""
    with closing(sqlite3.connect(path)) as conn:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]


MESSAGE_DEFAULTS: dict[str, Any] = {
    "user_id": USER,
    "direction": "user",
    "chat_id": USER,
    "message_id": 1,
    "content_type": "text",
    "text": "hello",
    "caption": None,
    "file_id": None,
    "payload_json": None,
}


async def log_message(db: Database, **overrides: Any) -> None:
    """`db.log_message` with defaults for the fields a test does not care about."""
    await db.log_message(**{**MESSAGE_DEFAULTS, **overrides})


async def log_relayed_message(
    db: Database, *, target_chat_id: int, target_message_id: int | None, **overrides: Any
) -> None:
    """`db.log.add_relayed` with the defaults of `log_message`."""
    await db.log.add_relayed(
        **{**MESSAGE_DEFAULTS, **overrides},
        target_chat_id=target_chat_id,
        target_message_id=target_message_id,  # type: ignore[arg-type]  # None: a broken write
    )


async def log_user_message(db: Database, **overrides: Any) -> None:
    """`db.log_user_message` with defaults for the fields a test does not care about."""
    profile = {"username": "@ann", "first_name": "Ann", "last_name": None}
    await db.log_user_message(**{**MESSAGE_DEFAULTS, **profile, **overrides})
