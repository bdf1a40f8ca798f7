"""storage.Database, the public contract: lifecycle, users, conversations, messages, links."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from storage import (
    LATEST_VERSION,
    Conversation,
    Database,
    NotConnectedError,
    StorageError,
    UserProfile,
    UserState,
)
from tests.storage_helpers import (
    ISO_UTC,
    USER,
    committed,
    log_user_message,
    open_database,
    write_directly,
)
from tests.storage_helpers import log_message as log

GROUP = -100789  # the operator forum group
ARCHIVE = -100555  # some other chat a message is copied to


async def link(db: Database, source: tuple[int, int], target: tuple[int, int]) -> None:
    await db.log_message_link(
        user_id=USER,
        source_chat_id=source[0],
        source_message_id=source[1],
        target_chat_id=target[0],
        target_message_id=target[1],
    )


async def linked(db: Database, source: tuple[int, int], target_chat_id: int | None = None) -> Any:
    return await db.find_linked_message_id(
        source_chat_id=source[0], source_message_id=source[1], target_chat_id=target_chat_id
    )


# --- the contract's surface ------------------------------------------------------------------


def test_conversation_is_a_frozen_dataclass() -> None:
    conversation = Conversation(user_id=1, topic_id=2, active=True)

    assert [f.name for f in dataclasses.fields(Conversation)] == ["user_id", "topic_id", "active"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        conversation.active = False  # type: ignore[misc]


KW = inspect.Parameter.KEYWORD_ONLY
POS = inspect.Parameter.POSITIONAL_OR_KEYWORD
REQUIRED = inspect.Parameter.empty

# (method, [(parameter, kind, default), ...], return annotation) exactly as the spec writes them;
# extra keyword-only parameters with defaults are allowed after these.
CONTRACT: list[tuple[str, list[tuple[str, Any, Any]], str]] = [
    ("connect", [], "None"),
    ("init", [], "None"),
    ("close", [], "None"),
    (
        "upsert_user",
        [
            ("user_id", POS, REQUIRED),
            ("username", POS, REQUIRED),
            ("first_name", POS, REQUIRED),
            ("last_name", POS, REQUIRED),
            ("commit", KW, True),
        ],
        "None",
    ),
    ("get_active_conversation", [("user_id", POS, REQUIRED)], "Conversation | None"),
    (
        "set_conversation",
        [("user_id", POS, REQUIRED), ("topic_id", POS, REQUIRED), ("active", POS, True)],
        "None",
    ),
    ("deactivate_conversation", [("user_id", POS, REQUIRED)], "None"),
    ("find_user_id_by_topic", [("topic_id", POS, REQUIRED)], "int | None"),
    (
        "log_message",
        [
            (name, KW, REQUIRED)
            for name in (
                "user_id",
                "direction",
                "chat_id",
                "message_id",
                "content_type",
                "text",
                "caption",
                "file_id",
                "payload_json",
            )
        ]
        + [("commit", KW, True)],
        "None",
    ),
    (
        "log_message_link",
        [
            (name, KW, REQUIRED)
            for name in (
                "user_id",
                "source_chat_id",
                "source_message_id",
                "target_chat_id",
                "target_message_id",
            )
        ]
        + [("commit", KW, True)],
        "None",
    ),
    (
        "find_linked_message_id",
        [
            ("source_chat_id", KW, REQUIRED),
            ("source_message_id", KW, REQUIRED),
            ("target_chat_id", KW, None),
        ],
        "int | None",
    ),
    (
        "log_user_message",
        [
            (name, KW, REQUIRED)
            for name in (
                "user_id",
                "username",
                "first_name",
                "last_name",
                "direction",
                "chat_id",
                "message_id",
                "content_type",
                "text",
                "caption",
                "file_id",
                "payload_json",
            )
        ],
        "None",
    ),
    ("healthcheck", [], "dict[str, Any]"),
]


@pytest.mark.parametrize(("name", "parameters", "returns"), CONTRACT, ids=[c[0] for c in CONTRACT])
def test_signature_matches_the_spec(name: str, parameters: list[Any], returns: str) -> None:
    method = getattr(Database, name)
    signature = inspect.signature(method)
    actual = list(signature.parameters.values())[1:]  # without self

    assert inspect.iscoroutinefunction(method)
    assert [(p.name, p.kind, p.default) for p in actual[: len(parameters)]] == parameters
    for extra in actual[len(parameters) :]:
        assert extra.kind is KW
        assert extra.default is not REQUIRED
    assert signature.return_annotation == returns


def test_the_constructor_takes_the_path_only(path: Path) -> None:
    parameters = list(inspect.signature(Database).parameters)

    assert parameters == ["path"]
    assert Database(path).path == str(path)


# --- lifecycle -------------------------------------------------------------------------------


async def test_connect_and_init_create_the_tables(db: Database, path: Path) -> None:
    tables = {name for (name,) in committed(path, "SELECT name FROM sqlite_master")}

    assert {"users", "conversations", "messages", "message_links", "inbox"} <= tables


async def test_init_is_safe_to_call_on_every_start(db: Database, path: Path) -> None:
    await db.upsert_user(1, "ann", "Ann", None)

    await db.init()
    await db.init()

    assert await db.people.get(1) == UserProfile(1, "ann", "Ann", None)


async def test_data_survives_close_and_reopen(path: Path) -> None:
    async with open_database(path) as db:
        await db.upsert_user(1, "ann", "Ann", "Lee")
        await db.set_conversation(1, 42)
        await log(db, user_id=1, chat_id=1, message_id=7)
        await link(db, (1, 7), (GROUP, 70))

    async with open_database(path) as reopened:
        assert await reopened.people.get(1) == UserProfile(1, "ann", "Ann", "Lee")
        assert await reopened.get_active_conversation(1) == Conversation(1, 42, True)
        assert await reopened.find_user_id_by_topic(42) == 1
        assert committed(path, "SELECT chat_id, message_id FROM messages") == [(1, 7)]
        assert await linked(reopened, (GROUP, 70), 1) == 7


async def test_close_twice_is_harmless(path: Path) -> None:
    db = Database(path)
    await db.connect()

    await db.close()
    await db.close()

    assert (await db.healthcheck())["ok"] is False


async def test_close_without_connect_is_harmless(path: Path) -> None:
    await Database(path).close()


async def test_connect_twice_keeps_one_connection(db: Database) -> None:
    first = db._conn

    await db.connect()

    assert db._conn is first


async def test_concurrent_connects_open_one_connection(path: Path) -> None:
    db = Database(path)
    try:
        await asyncio.gather(db.connect(), db.connect(), db.connect())
        first = db._conn
        await db.connect()
        assert first is not None
        assert db._conn is first
    finally:
        await db.close()


async def test_connected_follows_the_lifecycle(path: Path) -> None:
    db = Database(path)
    assert not db.connected
    await db.connect()
    assert db.connected
    await db.close()
    assert not db.connected


async def test_connect_to_an_impossible_path_fails_and_leaves_it_closed(tmp_path: Path) -> None:
    db = Database(tmp_path / "no" / "such" / "dir" / "bot.sqlite3")

    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        await db.connect()

    assert not db.connected
    assert (await db.healthcheck())["ok"] is False


async def test_wal_foreign_keys_and_full_synchronous_are_on(db: Database, path: Path) -> None:
    health = await db.healthcheck()

    assert health["journal_mode"] == "wal"
    assert health["foreign_keys"] is True
    assert health["synchronous"] == "FULL"
    # WAL is a property of the file: another connection sees it too.
    assert committed(path, "PRAGMA journal_mode") == [("wal",)]
    assert [tuple(row) for row in await db.fetch_all("PRAGMA busy_timeout")] == [(5000,)]


def _calls() -> list[tuple[str, Callable[[Database], Awaitable[Any]]]]:
    async def use_transaction(db: Database) -> None:
        async with db.transaction():
            pass

    return [
        ("init", lambda db: db.init()),
        ("transaction", use_transaction),
        ("upsert_user", lambda db: db.upsert_user(1, None, None, None)),
        ("get_user", lambda db: db.people.get(1)),
        ("get_active_conversation", lambda db: db.get_active_conversation(1)),
        ("set_conversation", lambda db: db.set_conversation(1, 2)),
        ("deactivate_conversation", lambda db: db.deactivate_conversation(1)),
        ("find_user_id_by_topic", lambda db: db.find_user_id_by_topic(2)),
        ("log_message", lambda db: log(db)),
        (
            "log_message_link",
            lambda db: db.log_message_link(
                user_id=1,
                source_chat_id=1,
                source_message_id=2,
                target_chat_id=3,
                target_message_id=4,
            ),
        ),
        (
            "find_linked_message_id",
            lambda db: db.find_linked_message_id(source_chat_id=1, source_message_id=2),
        ),
        (
            "log_user_message",
            lambda db: db.log_user_message(
                user_id=1,
                username=None,
                first_name=None,
                last_name=None,
                direction="user",
                chat_id=1,
                message_id=1,
                content_type="text",
                text="hi",
                caption=None,
                file_id=None,
                payload_json=None,
            ),
        ),
        ("inbox_add", lambda db: db.inbox.add([(1, "k", "{}")])),
        ("inbox_pending", lambda db: db.inbox.pending()),
        ("inbox_done", lambda db: db.inbox.done(1)),
        ("inbox_attempt_failed", lambda db: db.inbox.attempt_failed(1, error="x")),
        ("inbox_park", lambda db: db.inbox.park(1, error="x")),
        ("inbox_counts", lambda db: db.inbox.counts()),
        ("inbox_failed", lambda db: db.inbox.failed()),
        ("inbox_requeue_failed", lambda db: db.inbox.requeue_failed()),
        ("inbox_prune", lambda db: db.inbox.prune(older_than_seconds=1)),
    ]


CALLS = _calls()


@pytest.mark.parametrize("call", [c[1] for c in CALLS], ids=[c[0] for c in CALLS])
async def test_calls_before_connect_raise_a_clear_storage_error(
    path: Path, call: Callable[[Database], Awaitable[Any]]
) -> None:
    db = Database(path)

    with pytest.raises(StorageError, match=r"not connected; call connect\(\) first"):
        await call(db)


@pytest.mark.parametrize("call", [c[1] for c in CALLS], ids=[c[0] for c in CALLS])
async def test_calls_after_close_raise_a_clear_storage_error(
    path: Path, call: Callable[[Database], Awaitable[Any]]
) -> None:
    async with open_database(path) as db:
        pass

    with pytest.raises(NotConnectedError):
        await call(db)


# --- health ----------------------------------------------------------------------------------


async def test_healthcheck_is_ok_when_the_database_answers(db: Database) -> None:
    assert await db.healthcheck() == {
        "ok": True,
        "schema_version": LATEST_VERSION,
        "journal_mode": "wal",
        "foreign_keys": True,
        "synchronous": "FULL",
    }


async def test_healthcheck_reports_not_connected_without_raising(path: Path) -> None:
    health = await Database(path).healthcheck()

    assert health["ok"] is False
    assert "not connected" in health["error"]


async def test_healthcheck_reports_a_closed_database_without_raising(path: Path) -> None:
    async with open_database(path) as db:
        pass

    health = await db.healthcheck()

    assert health == {
        "ok": False,
        "error": "NotConnectedError: database is not connected; call connect() first",
    }


async def test_healthcheck_reports_a_broken_connection_without_raising(db: Database) -> None:
    # The connection object is there but its worker has gone (as after a crash of the thread).
    assert db._conn is not None
    real = db._conn
    await real.close()

    health = await db.healthcheck()

    assert health["ok"] is False
    assert health["error"]


# --- users -----------------------------------------------------------------------------------


async def test_upsert_user_inserts_a_new_user(db: Database, path: Path) -> None:
    await db.upsert_user(1, "ann", "Ann", "Lee")

    assert await db.people.get(1) == UserProfile(1, "ann", "Ann", "Lee")
    assert committed(path, "SELECT user_id, username, first_name, last_name FROM users") == [
        (1, "ann", "Ann", "Lee")
    ]


async def test_upsert_user_strips_the_leading_at(db: Database) -> None:
    await db.upsert_user(1, "@ann", "Ann", None)
    await db.upsert_user(2, "@", "Bob", None)

    assert await db.people.get(1) == UserProfile(1, "ann", "Ann", None)
    assert await db.people.get(2) == UserProfile(2, None, "Bob", None)


async def test_upsert_user_updates_the_three_profile_fields(db: Database, path: Path) -> None:
    await db.upsert_user(1, "ann", "Ann", "Lee")
    write_directly(
        path,
        "UPDATE users SET created_at = '2000-01-01T00:00:00.000Z', "
        "updated_at = '2000-01-01T00:00:00.000Z'",
    )

    await db.upsert_user(1, "@annie", "Annie", None)

    assert await db.people.get(1) == UserProfile(1, "annie", "Annie", None)
    [(created_at, updated_at)] = committed(path, "SELECT created_at, updated_at FROM users")
    assert created_at == "2000-01-01T00:00:00.000Z"
    assert updated_at > "2000-01-01T00:00:00.000Z"
    assert ISO_UTC.match(updated_at)


async def test_timestamps_are_iso_8601_utc(db: Database, path: Path) -> None:
    await db.upsert_user(1, None, None, None)
    await db.set_conversation(1, 5)
    await log(db)
    await db.log_message_link(
        user_id=1, source_chat_id=1, source_message_id=1, target_chat_id=2, target_message_id=2
    )

    stamps = committed(
        path,
        """
        SELECT created_at FROM users
        UNION ALL SELECT updated_at FROM users
        UNION ALL SELECT created_at FROM conversations
        UNION ALL SELECT updated_at FROM conversations
        UNION ALL SELECT created_at FROM messages
        UNION ALL SELECT created_at FROM message_links
        """,
    )

    assert len(stamps) == 7
    assert all(ISO_UTC.match(stamp) for (stamp,) in stamps), stamps


async def test_get_user_of_an_unknown_user_is_none(db: Database) -> None:
    assert await db.people.get(404) is None


# --- conversations ---------------------------------------------------------------------------


async def test_no_conversation_at_first(db: Database) -> None:
    assert await db.get_active_conversation(1) is None
    assert await db.find_user_id_by_topic(42) is None


async def test_set_conversation_creates_an_active_mapping(db: Database) -> None:
    await db.set_conversation(1, 42)

    assert await db.get_active_conversation(1) == Conversation(user_id=1, topic_id=42, active=True)
    assert await db.find_user_id_by_topic(42) == 1
    assert await db.find_user_id_by_topic(43) is None


async def test_set_conversation_works_for_a_user_never_upserted(db: Database, path: Path) -> None:
    await db.set_conversation(777, 42)

    assert committed(path, "SELECT count(*) FROM users") == [(0,)]
    assert await db.find_user_id_by_topic(42) == 777


async def test_set_conversation_updates_an_existing_mapping(db: Database, path: Path) -> None:
    await db.set_conversation(1, 42)

    await db.set_conversation(1, 99)

    assert await db.get_active_conversation(1) == Conversation(1, 99, True)
    assert await db.find_user_id_by_topic(99) == 1
    assert await db.find_user_id_by_topic(42) is None
    assert committed(path, "SELECT user_id, topic_id, active FROM conversations") == [(1, 99, 1)]


async def test_inactive_conversation_is_invisible(db: Database) -> None:
    await db.set_conversation(1, 42, active=False)

    assert await db.get_active_conversation(1) is None
    assert await db.find_user_id_by_topic(42) is None


async def test_deactivate_conversation_hides_it(db: Database, path: Path) -> None:
    await db.set_conversation(1, 42)
    await db.set_conversation(2, 43)

    await db.deactivate_conversation(1)

    assert await db.get_active_conversation(1) is None
    assert await db.find_user_id_by_topic(42) is None
    assert await db.get_active_conversation(2) == Conversation(2, 43, True)  # others untouched
    assert committed(path, "SELECT user_id, active FROM conversations ORDER BY user_id") == [
        (1, 0),
        (2, 1),
    ]


async def test_set_conversation_reactivates_with_a_new_topic(db: Database) -> None:
    await db.set_conversation(1, 42)
    await db.deactivate_conversation(1)

    await db.set_conversation(1, 50)

    assert await db.get_active_conversation(1) == Conversation(1, 50, True)
    assert await db.find_user_id_by_topic(50) == 1


async def test_deactivate_unknown_conversation_is_harmless(db: Database) -> None:
    await db.deactivate_conversation(404)

    assert await db.get_active_conversation(404) is None


async def test_an_inactive_old_mapping_does_not_hide_the_active_one(db: Database) -> None:
    await db.set_conversation(1, 42)
    await db.deactivate_conversation(1)
    await db.set_conversation(2, 42)  # the topic now belongs to someone else

    assert await db.find_user_id_by_topic(42) == 2


# --- messages --------------------------------------------------------------------------------


async def test_log_message_stores_every_field(db: Database, path: Path) -> None:
    await db.log_message(
        user_id=USER,
        direction="operator",
        chat_id=GROUP,
        message_id=5,
        content_type="photo",
        text=None,
        caption="a cat",
        file_id="AgAD",
        payload_json='{"photo": []}',
    )

    assert committed(
        path,
        "SELECT user_id, direction, chat_id, message_id, content_type, text, caption, file_id, "
        "payload_json FROM messages",
    ) == [(USER, "operator", GROUP, 5, "photo", None, "a cat", "AgAD", '{"photo": []}')]


async def test_log_message_ignores_a_duplicate(db: Database, path: Path) -> None:
    await log(db, chat_id=USER, message_id=1, text="first")

    await log(db, chat_id=USER, message_id=1, text="second")

    assert committed(path, "SELECT text FROM messages") == [("first",)]


async def test_the_same_message_id_in_another_chat_is_not_a_duplicate(
    db: Database, path: Path
) -> None:
    await log(db, chat_id=USER, message_id=1, text="from the user")
    await log(db, chat_id=GROUP, message_id=1, text="from the operator", direction="operator")

    assert committed(path, "SELECT chat_id, text FROM messages ORDER BY id") == [
        (USER, "from the user"),
        (GROUP, "from the operator"),
    ]


async def test_log_message_rejects_an_unknown_direction(db: Database, path: Path) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        await log(db, direction="sideways")

    assert committed(path, "SELECT count(*) FROM messages") == [(0,)]


async def test_log_message_for_a_user_never_upserted(db: Database, path: Path) -> None:
    await log(db, user_id=555, chat_id=555)

    assert committed(path, "SELECT user_id FROM messages") == [(555,)]


# --- message links ---------------------------------------------------------------------------


async def test_link_is_found_from_both_sides(db: Database) -> None:
    # The spec's example: message 456 in chat 123 was copied as 789 into -100789.
    await link(db, (USER, 456), (GROUP, 789))

    assert await linked(db, (USER, 456), GROUP) == 789
    assert await linked(db, (GROUP, 789), USER) == 456
    assert await linked(db, (USER, 456)) == 789
    assert await linked(db, (GROUP, 789)) == 456


async def test_unknown_message_has_no_link(db: Database) -> None:
    await link(db, (USER, 456), (GROUP, 789))

    assert await linked(db, (USER, 457)) is None
    assert await linked(db, (GROUP, 456)) is None
    assert await linked(db, (USER, 456), ARCHIVE) is None


async def test_target_chat_id_picks_the_copy_in_that_chat(db: Database) -> None:
    await link(db, (USER, 456), (GROUP, 789))
    await link(db, (USER, 456), (ARCHIVE, 12))

    assert await linked(db, (USER, 456), GROUP) == 789
    assert await linked(db, (USER, 456), ARCHIVE) == 12
    # Without a target chat: the most recently linked copy.
    assert await linked(db, (USER, 456)) == 12
    # Each copy leads back to the original.
    assert await linked(db, (ARCHIVE, 12)) == 456
    assert await linked(db, (GROUP, 789)) == 456


async def test_most_recent_link_wins_whichever_side_it_was_logged_from(db: Database) -> None:
    await link(db, (USER, 456), (GROUP, 789))
    await link(db, (ARCHIVE, 12), (USER, 456))  # logged with the user's message as the target

    assert await linked(db, (USER, 456)) == 12


async def test_logging_the_same_link_twice_is_harmless(db: Database, path: Path) -> None:
    await link(db, (USER, 456), (GROUP, 789))
    await link(db, (USER, 456), (GROUP, 789))
    await link(db, (GROUP, 789), (USER, 456))  # the same link, logged from the other side

    assert committed(path, "SELECT count(*) FROM message_links") == [(2,)]
    assert await linked(db, (USER, 456)) == 789
    assert await linked(db, (GROUP, 789)) == 456


async def test_link_rows_record_the_user(db: Database, path: Path) -> None:
    await link(db, (USER, 456), (GROUP, 789))

    assert committed(
        path,
        "SELECT source_chat_id, source_message_id, target_chat_id, target_message_id, user_id "
        "FROM message_links ORDER BY id",
    ) == [(USER, 456, GROUP, 789, USER), (GROUP, 789, USER, 456, USER)]


# --- log_user_message ------------------------------------------------------------------------


async def test_log_user_message_upserts_the_user_and_logs_the_message(
    db: Database, path: Path
) -> None:
    await log_user_message(db)

    assert committed(path, "SELECT user_id, username, first_name FROM users") == [
        (USER, "ann", "Ann")
    ]
    assert committed(path, "SELECT user_id, chat_id, message_id, text FROM messages") == [
        (USER, USER, 1, "hello")
    ]


async def test_log_user_message_is_atomic(db: Database, path: Path) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        await log_user_message(db, direction="sideways")

    assert committed(path, "SELECT count(*) FROM users") == [(0,)]
    assert committed(path, "SELECT count(*) FROM messages") == [(0,)]
    assert await db.people.get(USER) is None


async def test_failed_log_user_message_keeps_the_old_profile(db: Database) -> None:
    await db.upsert_user(USER, "ann", "Ann", None)

    with pytest.raises(sqlite3.IntegrityError):
        await log_user_message(db, username="annie", first_name="Annie", direction="sideways")

    assert await db.people.get(USER) == UserProfile(USER, "ann", "Ann", None)


async def test_log_user_message_duplicate_still_updates_the_profile(db: Database) -> None:
    await log_user_message(db, message_id=1, first_name="Ann")

    await log_user_message(db, message_id=1, first_name="Annie")

    assert await db.people.get(USER) == UserProfile(USER, "ann", "Annie", None)


# --- the relay's per-message read ---------------------------------------------------------------


async def test_user_state_reads_profile_conversation_and_ban_at_once(db: Database) -> None:
    assert await db.people.state(5) == UserState(user=None, conversation=None, ban=None)

    await db.people.save(5, "eve", "Eve", None, language_code="ru")
    await db.set_conversation(5, 77, active=False)
    state = await db.people.state(5)
    assert state.user == UserProfile(5, "eve", "Eve", None, "ru")
    assert state.conversation == Conversation(5, 77, False)
    assert state.ban is None
    assert state.offline_notice_for is None
    await db.conversations.set_offline_notice(5, "2026-11-27T18:00:00+01:00")
    assert (await db.people.state(5)).offline_notice_for == "2026-11-27T18:00:00+01:00"

    assert await db.people.ban(5, reason="spam", banned_by=9)
    assert not await db.people.ban(5, reason="again", banned_by=9)
    await db.people.mark_ban_notified(5)
    ban = (await db.people.state(5)).ban
    assert ban is not None
    assert (ban.user_id, ban.reason, ban.banned_by, ban.notified) == (5, "spam", 9, True)
    assert ban == await db.people.get_ban(5)

    assert await db.people.unban(5)
    assert not await db.people.unban(5)
    assert (await db.people.state(5)).ban is None
