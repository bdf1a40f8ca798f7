"""Small helpers shared by `database` and `migrations`."""

from __future__ import annotations

import sqlite3

import aiosqlite


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
