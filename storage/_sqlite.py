"""Small helpers shared by `database` and `migrations`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

import aiosqlite

T = TypeVar("T")


async def run(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn(connection)` on the connection's thread: any number of statements, one trip.

    Each `await conn.execute(...)` is a trip to aiosqlite's thread and back (a queue, a thread
    switch and a wake-up of the event loop: ~35 us, more than a small statement costs). aiosqlite
    has no public way to run a function of ours on its thread; `_execute` (queue a callable) and
    `_conn` (the sqlite3 connection, raises ValueError once closed) are what its own methods
    use, unchanged since aiosqlite 0.17. The storage tests exercise this on every query.
    """
    return await conn._execute(lambda: fn(conn._conn))  # type: ignore[no-untyped-call,no-any-return]


async def rollback(conn: aiosqlite.Connection) -> None:
    """Roll back the open transaction, if there still is one.

    Always sent, never guarded by `conn.in_transaction`: aiosqlite runs statements on its own
    thread in the order they were queued, so after a cancelled `BEGIN` the BEGIN may not have
    run yet when we look — but it will run before this ROLLBACK. SQLite itself may also have
    ended the transaction already (it does after some errors); that is not a second error.
    """
    try:
        await conn.execute("ROLLBACK")
    except sqlite3.OperationalError as error:
        if "no transaction is active" not in str(error):
            raise


def split_script(script: str) -> list[str]:
    """Split a SQL script into its statements, using SQLite's own idea of a complete statement.

    `executescript()` cannot be used for migrations: on Python 3.11 it first COMMITs whatever
    transaction is open, which would break "one migration, one transaction".
    `sqlite3.complete_statement` knows about string literals, comments and trigger bodies, so a
    `;` inside any of them does not end a statement.
    """
    statements: list[str] = []
    start = 0
    for index, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : index + 1]):
            statements.append(script[start : index + 1].strip())
            start = index + 1
    rest = "\n".join(
        line for line in script[start:].splitlines() if not line.strip().startswith("--")
    ).strip()
    if rest:
        raise ValueError(f"incomplete SQL statement at the end of the script: {rest[:60]!r}")
    return statements
