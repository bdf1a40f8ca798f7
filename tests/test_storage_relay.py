"""storage.Database, the methods the relay added: conversations in any state, the logged message
and its edits, whole links, and every part linked to a message."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from storage import Conversation, Database, LoggedMessage, MessageLink
from tests.storage_helpers import (
    USER,
    committed,
    log_message,
    log_relayed_message,
    query_plan,
    statements_run_by,
)

GROUP = -100789  # the operator forum group
OTHER_USER = 456


# --- conversations in any state ----------------------------------------------------------------


async def test_get_conversation_returns_it_active_or_not(db: Database) -> None:
    assert await db.conversations.get(USER) is None
    await db.set_conversation(USER, 42)
    assert await db.conversations.get(USER) == Conversation(USER, 42, True)

    await db.deactivate_conversation(USER)

    assert await db.conversations.get(USER) == Conversation(USER, 42, False)
    assert await db.get_active_conversation(USER) is None


async def test_find_conversation_by_topic_includes_inactive_ones(db: Database) -> None:
    assert await db.conversations.by_topic(42) is None
    await db.set_conversation(USER, 42, active=False)

    assert await db.conversations.by_topic(42) == Conversation(USER, 42, False)
    assert await db.find_user_id_by_topic(42) is None


async def test_find_conversation_by_topic_prefers_the_active_one(db: Database) -> None:
    await db.set_conversation(USER, 42, active=True)
    await db.set_conversation(OTHER_USER, 42, active=False)

    assert await db.conversations.by_topic(42) == Conversation(USER, 42, True)


# --- the logged message ------------------------------------------------------------------------


async def test_get_message_returns_what_was_logged(db: Database) -> None:
    assert await db.log.get(chat_id=USER, message_id=1) is None
    payload = json.dumps({"photo": [{"file_unique_id": "u1"}]})
    await log_message(
        db, content_type="photo", text=None, caption="look", file_id="F1", payload_json=payload
    )

    assert await db.log.get(chat_id=USER, message_id=1) == LoggedMessage(
        user_id=USER,
        direction="user",
        chat_id=USER,
        message_id=1,
        content_type="photo",
        text=None,
        caption="look",
        file_id="F1",
        payload_json=payload,
    )


async def test_update_message_replaces_the_content_after_an_edit(db: Database) -> None:
    await log_message(db, direction="operator", chat_id=GROUP, message_id=7, text="v1")

    updated = await db.log.update(
        chat_id=GROUP,
        message_id=7,
        content_type="text",
        text="v2",
        caption=None,
        file_id=None,
        payload_json='{"text": "v2"}',
    )

    assert updated is True
    logged = await db.log.get(chat_id=GROUP, message_id=7)
    assert logged is not None
    assert (logged.text, logged.payload_json, logged.direction) == (
        "v2",
        '{"text": "v2"}',
        "operator",
    )


async def test_update_message_of_an_unlogged_message_changes_nothing(db: Database) -> None:
    updated = await db.log.update(
        chat_id=GROUP,
        message_id=7,
        content_type="text",
        text="v2",
        caption=None,
        file_id=None,
        payload_json=None,
    )
    assert updated is False
    assert await db.log.get(chat_id=GROUP, message_id=7) is None


async def test_update_message_inside_a_transaction_rolls_back_with_it(db: Database) -> None:
    await log_message(db, text="v1")

    async def edit_then_fail() -> None:
        async with db.transaction():
            await db.log.update(
                chat_id=USER,
                message_id=1,
                content_type="text",
                text="v2",
                caption=None,
                file_id=None,
                payload_json=None,
            )
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await edit_then_fail()
    logged = await db.log.get(chat_id=USER, message_id=1)
    assert logged is not None
    assert logged.text == "v1"


# --- whole links -------------------------------------------------------------------------------


async def link(db: Database, source: tuple[int, int], target: tuple[int, int]) -> None:
    await db.log_message_link(
        user_id=USER,
        source_chat_id=source[0],
        source_message_id=source[1],
        target_chat_id=target[0],
        target_message_id=target[1],
    )


async def test_find_message_link_names_the_chat_and_the_user_both_ways(db: Database) -> None:
    assert await db.log.find_link(source_chat_id=GROUP, source_message_id=70) is None
    await link(db, (USER, 7), (GROUP, 70))

    assert await db.log.find_link(source_chat_id=GROUP, source_message_id=70) == MessageLink(
        user_id=USER,
        source_chat_id=GROUP,
        source_message_id=70,
        target_chat_id=USER,
        target_message_id=7,
    )
    found = await db.log.find_link(source_chat_id=USER, source_message_id=7, target_chat_id=GROUP)
    assert found is not None
    assert (found.target_chat_id, found.target_message_id) == (GROUP, 70)
    assert (
        await db.log.find_link(source_chat_id=USER, source_message_id=7, target_chat_id=-5) is None
    )


async def relayed(db: Database, *, target_message_id: int | None = 70) -> None:
    await log_relayed_message(
        db, message_id=7, target_chat_id=GROUP, target_message_id=target_message_id
    )


async def test_log_relayed_message_logs_the_message_and_links_it_both_ways(
    db: Database, path: Path
) -> None:
    await relayed(db)

    assert committed(path, "SELECT chat_id, message_id, text FROM messages") == [(USER, 7, "hello")]
    assert (
        await db.find_linked_message_id(
            source_chat_id=USER, source_message_id=7, target_chat_id=GROUP
        )
        == 70
    )
    assert (
        await db.find_linked_message_id(
            source_chat_id=GROUP, source_message_id=70, target_chat_id=USER
        )
        == 7
    )
    await relayed(db)  # again, as a retried update would: nothing new
    assert committed(path, "SELECT count(*) FROM message_links") == [(2,)]


async def test_log_relayed_message_that_fails_leaves_neither_row(db: Database, path: Path) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        # The message is logged first; the link then breaks NOT NULL.
        await relayed(db, target_message_id=None)

    assert committed(path, "SELECT count(*) FROM messages") == [(0,)]
    assert committed(path, "SELECT count(*) FROM message_links") == [(0,)]


# --- every part linked to a message ------------------------------------------------------------


async def test_find_linked_message_ids_lists_the_first_copy_then_later_parts(db: Database) -> None:
    assert await db.log.parts(source_chat_id=USER, source_message_id=7, target_chat_id=GROUP) == []
    await link(db, (USER, 7), (GROUP, 70))  # the media with a shortened caption
    await link(db, (USER, 8), (GROUP, 71))  # another message in between
    await link(db, (USER, 7), (GROUP, 72))  # the full caption, as text

    assert await db.log.parts(source_chat_id=USER, source_message_id=7, target_chat_id=GROUP) == [
        70,
        72,
    ]
    # The first copy is still the answer to "which message is its copy".
    assert (
        await db.find_linked_message_id(
            source_chat_id=USER, source_message_id=7, target_chat_id=GROUP
        )
        == 70
    )
    assert await db.log.parts(source_chat_id=USER, source_message_id=8, target_chat_id=GROUP) == [
        71
    ]
    # From the other side, each part leads back to the source.
    assert await db.log.parts(source_chat_id=GROUP, source_message_id=72, target_chat_id=USER) == [
        7
    ]


async def test_find_linked_message_ids_keeps_other_users_and_chats_apart(db: Database) -> None:
    await link(db, (USER, 7), (GROUP, 70))
    await link(db, (OTHER_USER, 7), (GROUP, 71))  # same message id, another private chat
    await link(db, (USER, 7), (-5, 9))

    assert await db.log.parts(source_chat_id=USER, source_message_id=7, target_chat_id=GROUP) == [
        70
    ]
    assert await db.log.parts(source_chat_id=USER, source_message_id=7, target_chat_id=-5) == [9]


async def test_find_linked_message_ids_searches_by_index(db: Database, path: Path) -> None:
    await link(db, (USER, 7), (GROUP, 70))

    [statement] = await statements_run_by(
        db,
        lambda: db.log.parts(source_chat_id=USER, source_message_id=7, target_chat_id=GROUP),
    )

    plan = query_plan(path, statement)
    assert not [line for line in plan if line.startswith("SCAN")], plan
    # Later parts: only the links made after the first copy are read.
    assert (
        "SEARCH message_links USING INDEX message_links_source "
        "(source_chat_id=? AND source_message_id>?)"
    ) in plan, plan
