"""The schema: numbered migrations (the "stairway"), refusing newer files, and index use."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from storage import (
    LATEST_VERSION,
    Conversation,
    Database,
    SchemaTooNewError,
    StorageError,
    UserProfile,
)
from storage._sqlite import split_script
from storage.migrations import MIGRATIONS, migrate, schema_version
from tests.storage_helpers import (
    build_database_at,
    committed,
    log_message,
    open_database,
    query_plan,
    schema_snapshot,
    statements_run_by,
    write_directly,
)

EXPECTED_COLUMNS = {
    "users": [
        "user_id",
        "username",
        "first_name",
        "last_name",
        "created_at",
        "updated_at",
        "language_code",
    ],
    "conversations": [
        "user_id",
        "topic_id",
        "active",
        "created_at",
        "updated_at",
        "offline_notice_for",
        "waiting_since",
        "answered_at",
        "assignee_id",
        "remind_at",
        "reminded_for",
        "close_at",
        "icon",
    ],
    "messages": [
        "id",
        "user_id",
        "direction",
        "chat_id",
        "message_id",
        "content_type",
        "text",
        "caption",
        "file_id",
        "payload_json",
        "created_at",
    ],
    "message_links": [
        "id",
        "source_chat_id",
        "source_message_id",
        "target_chat_id",
        "target_message_id",
        "user_id",
        "created_at",
    ],
    "inbox": [
        "update_id",
        "queue_key",
        "payload",
        "status",
        "attempts",
        "last_error",
        "received_at",
        "updated_at",
    ],
    "bans": ["user_id", "reason", "banned_by", "banned_at", "notified_at"],
    "operators": ["user_id", "username", "first_name", "last_name", "updated_at"],
    "board": ["id", "message_id", "text", "updated_at"],
}


# --- the fresh schema ------------------------------------------------------------------------


async def test_a_fresh_database_is_at_the_latest_version(db: Database, path: Path) -> None:
    assert LATEST_VERSION == len(MIGRATIONS) == 4
    assert committed(path, "PRAGMA user_version") == [(LATEST_VERSION,)]


async def test_the_tables_have_the_expected_columns(db: Database, path: Path) -> None:
    tables = {
        name
        for (name,) in committed(
            path, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }

    assert tables == set(EXPECTED_COLUMNS)
    for table, columns in EXPECTED_COLUMNS.items():
        actual = [
            name for (name,) in committed(path, "SELECT name FROM pragma_table_info(?)", (table,))
        ]
        assert actual == columns, table


async def test_no_foreign_key_makes_a_spec_compliant_call_fail(db: Database, path: Path) -> None:
    for table in EXPECTED_COLUMNS:
        assert committed(path, "SELECT * FROM pragma_foreign_key_list(?)", (table,)) == [], table


# --- the stairway ----------------------------------------------------------------------------


async def _fill_version_1(conn: aiosqlite.Connection) -> None:
    """Rows as the version-1 code wrote them."""
    await conn.execute(
        "INSERT INTO users (user_id, username, first_name, last_name) "
        "VALUES (1, 'ann', 'Ann', NULL)"
    )
    await conn.execute("INSERT INTO conversations (user_id, topic_id, active) VALUES (1, 42, 1)")
    await conn.execute(
        "INSERT INTO messages (user_id, direction, chat_id, message_id, content_type, text) "
        "VALUES (1, 'user', 1, 7, 'text', 'hello')"
    )
    await conn.executemany(
        "INSERT INTO message_links (source_chat_id, source_message_id, target_chat_id, "
        "target_message_id, user_id) VALUES (?, ?, ?, ?, 1)",
        [(1, 7, -100, 70), (-100, 70, 1, 7)],
    )


@pytest.mark.parametrize("start", range(LATEST_VERSION))
async def test_every_old_version_upgrades_to_the_fresh_schema(tmp_path: Path, start: int) -> None:
    old, fresh = tmp_path / "old.sqlite3", tmp_path / "fresh.sqlite3"
    await build_database_at(old, start)
    assert schema_snapshot(old)["version"] == start

    async with open_database(old):
        pass
    async with open_database(fresh):
        pass

    assert schema_snapshot(old) == schema_snapshot(fresh)
    assert schema_snapshot(old)["version"] == LATEST_VERSION


async def test_a_version_1_database_keeps_its_data_when_upgraded(path: Path) -> None:
    await build_database_at(path, 1, fill=_fill_version_1)
    assert "inbox" not in {o[1] for o in schema_snapshot(path)["objects"]}

    async with open_database(path) as db:
        assert await db.people.get(1) == UserProfile(1, "ann", "Ann", None)
        assert await db.get_active_conversation(1) == Conversation(1, 42, True)
        assert await db.find_user_id_by_topic(42) == 1
        assert (
            await db.find_linked_message_id(
                source_chat_id=-100, source_message_id=70, target_chat_id=1
            )
            == 7
        )
        assert await db.inbox.add([(10, "user:1", "{}")]) == [10]  # the new table works

    assert committed(path, "SELECT text FROM messages") == [("hello",)]
    assert committed(path, "PRAGMA user_version") == [(LATEST_VERSION,)]


@pytest.mark.parametrize("version", range(LATEST_VERSION + 1))
async def test_each_step_is_recorded_in_user_version(path: Path, version: int) -> None:
    await build_database_at(path, version)

    names = {o[1] for o in schema_snapshot(path)["objects"]}
    assert committed(path, "PRAGMA user_version") == [(version,)]
    assert ("users" in names) == (version >= 1)
    assert ("inbox" in names) == (version >= 2)
    assert ("bans" in names) == (version >= 3)


async def test_init_twice_applies_nothing_the_second_time(db: Database, path: Path) -> None:
    before = schema_snapshot(path)
    assert db._conn is not None

    assert await migrate(db._conn) == []
    await db.init()

    assert schema_snapshot(path) == before


async def test_two_processes_initialising_one_new_file_at_once(path: Path) -> None:
    first, second = Database(path), Database(path)
    await first.connect()
    await second.connect()
    try:
        await asyncio.gather(first.init(), second.init())
    finally:
        await first.close()
        await second.close()

    assert committed(path, "PRAGMA user_version") == [(LATEST_VERSION,)]


# --- refusing what cannot be done ------------------------------------------------------------


async def test_a_database_newer_than_the_code_is_refused(path: Path) -> None:
    write_directly(path, f"PRAGMA user_version = {LATEST_VERSION + 3}")
    db = Database(path)
    await db.connect()
    try:
        with pytest.raises(SchemaTooNewError) as raised:
            await db.init()
    finally:
        await db.close()

    error = raised.value
    assert isinstance(error, StorageError)
    assert (error.file_version, error.code_version) == (LATEST_VERSION + 3, LATEST_VERSION)
    message = str(error)
    assert f"schema version {LATEST_VERSION + 3}" in message
    assert f"versions up to {LATEST_VERSION}" in message
    assert "upgrade the bot" in message
    assert str(path) in message
    # The file is left as it was.
    assert committed(path, "PRAGMA user_version") == [(LATEST_VERSION + 3,)]
    assert committed(path, "SELECT count(*) FROM sqlite_master") == [(0,)]


async def test_a_failing_migration_leaves_the_file_at_the_previous_version(path: Path) -> None:
    broken = """
        CREATE TABLE extra (x INTEGER);
        INSERT INTO users (user_id) VALUES (1);
        CREATE TABLE broken (;
    """
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await migrate(conn)
        with pytest.raises(sqlite3.OperationalError, match="syntax error"):
            await migrate(conn, migrations=(*MIGRATIONS, broken))

        assert await schema_version(conn) == LATEST_VERSION
        assert not conn.in_transaction

    names = {o[1] for o in schema_snapshot(path)["objects"]}
    assert "extra" not in names
    assert committed(path, "SELECT count(*) FROM users") == [(0,)]


async def test_a_migration_can_be_a_python_function(path: Path) -> None:
    async def capitalise_names(conn: aiosqlite.Connection) -> None:
        await conn.execute("UPDATE users SET first_name = upper(first_name)")

    await build_database_at(path, 1, fill=_fill_version_1)
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        applied = await migrate(conn, migrations=(*MIGRATIONS, capitalise_names))

    assert applied == [2, 3, 4, 5]
    assert committed(path, "PRAGMA user_version") == [(5,)]
    assert committed(path, "SELECT first_name FROM users") == [("ANN",)]
    # ... and this code, which knows only 4 versions, now refuses the file.
    db = Database(path)
    await db.connect()
    try:
        with pytest.raises(SchemaTooNewError):
            await db.init()
    finally:
        await db.close()


@pytest.mark.parametrize("target", [-1, LATEST_VERSION + 1])
async def test_migrate_rejects_an_unknown_target(path: Path, target: int) -> None:
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        with pytest.raises(ValueError, match="target_version"):
            await migrate(conn, target_version=target)


# --- splitting scripts -----------------------------------------------------------------------


def test_split_script_respects_literals_comments_and_triggers() -> None:
    script = """
        -- a comment; with a semicolon
        CREATE TABLE a (x TEXT DEFAULT ';');
        CREATE TRIGGER t AFTER INSERT ON a BEGIN
            INSERT INTO a (x) VALUES ('nested;');
        END;
        -- trailing comment
    """

    statements = split_script(script)

    assert len(statements) == 2
    assert statements[0].endswith("CREATE TABLE a (x TEXT DEFAULT ';');")
    assert statements[1].startswith("CREATE TRIGGER t")
    assert statements[1].endswith("END;")


def test_split_script_refuses_an_unterminated_statement() -> None:
    with pytest.raises(ValueError, match="incomplete SQL statement"):
        split_script("CREATE TABLE a (x); CREATE TABLE b (y)")


def test_every_shipped_migration_splits_cleanly() -> None:
    scripts = [step for step in MIGRATIONS if isinstance(step, str)]

    assert [len(split_script(script)) for script in scripts] == [7, 2, 6, 16]


# --- every lookup is an index search ---------------------------------------------------------

Action = Callable[[Database], Awaitable[Any]]

LOOKUPS: list[tuple[str, Action, str]] = [
    ("get_user", lambda db: db.people.get(1), "users"),
    ("get_user_state", lambda db: db.people.state(1), "conversations"),
    ("get_ban", lambda db: db.people.get_ban(1), "bans"),
    ("inbox_requeue", lambda db: db.inbox.requeue(12), "inbox"),
    ("get_active_conversation", lambda db: db.get_active_conversation(1), "conversations"),
    ("find_user_id_by_topic", lambda db: db.find_user_id_by_topic(42), "conversations"),
    ("deactivate_conversation", lambda db: db.deactivate_conversation(2), "conversations"),
    (
        "find_linked_message_id_in_a_chat",
        lambda db: db.find_linked_message_id(
            source_chat_id=1, source_message_id=7, target_chat_id=-100
        ),
        "message_links",
    ),
    (
        "find_linked_message_id_in_any_chat",
        lambda db: db.find_linked_message_id(source_chat_id=-100, source_message_id=70),
        "message_links",
    ),
    ("inbox_pending", lambda db: db.inbox.pending(limit=10), "inbox"),
    ("inbox_failed", lambda db: db.inbox.failed(), "inbox"),
    ("inbox_done", lambda db: db.inbox.done(3), "inbox"),
    ("inbox_attempt_failed", lambda db: db.inbox.attempt_failed(4, error="x"), "inbox"),
    ("inbox_park", lambda db: db.inbox.park(5, error="x"), "inbox"),
    ("inbox_counts", lambda db: db.inbox.counts(), "inbox"),
    ("inbox_requeue_failed", lambda db: db.inbox.requeue_failed(), "inbox"),
    ("inbox_prune", lambda db: db.inbox.prune(older_than_seconds=60), "inbox"),
]


async def _some_rows(db: Database) -> None:
    for user_id in range(1, 20):
        await db.upsert_user(user_id, f"user{user_id}", None, None)
        await db.set_conversation(user_id, 40 + user_id, active=user_id % 2 == 0)
        await log_message(db, user_id=user_id, chat_id=user_id, message_id=7)
        await db.log_message_link(
            user_id=user_id,
            source_chat_id=user_id,
            source_message_id=7,
            target_chat_id=-100,
            target_message_id=70 + user_id,
        )
    await db.inbox.add([(update_id, f"user:{update_id}", "{}") for update_id in range(1, 40)])
    for update_id in range(1, 10):
        await db.inbox.done(update_id)
    await db.inbox.park(12, error="x")


@pytest.mark.parametrize(("action", "table"), [x[1:] for x in LOOKUPS], ids=[x[0] for x in LOOKUPS])
async def test_lookup_uses_an_index(db: Database, path: Path, action: Action, table: str) -> None:
    await _some_rows(db)

    statements = await statements_run_by(db, lambda: action(db))

    queries = [
        sql
        for sql in statements
        if sql.lstrip().split()[0].upper() in {"SELECT", "UPDATE", "DELETE"}
    ]
    assert queries, statements
    for sql in queries:
        plan = query_plan(path, sql)
        assert any(line.startswith(f"SEARCH {table} ") for line in plan), (sql, plan)
        assert not any(line.startswith(f"SCAN {table}") for line in plan), (sql, plan)
