"""Numbered schema migrations, recorded in `PRAGMA user_version`.

`MIGRATIONS[0]` takes an empty database to version 1, `MIGRATIONS[1]` takes version 1 to 2, and so
on; `LATEST_VERSION` is their count. To change the schema, append a step: never edit, remove or
reorder a step that has shipped, because databases in the field were built by its old text.

A step is a SQL script, or an async function given the connection (for a data migration that needs
Python). Each step runs in its own transaction together with the `PRAGMA user_version = N` that
records it, so a failure leaves the file exactly at the previous version. A step must not
BEGIN/COMMIT itself.

Timestamps are ISO-8601 UTC text with milliseconds (`2024-05-01T12:00:00.123Z`): they sort
correctly as text and read the same in any SQLite tool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import aiosqlite

from storage._sqlite import rollback, split_script
from storage.errors import SchemaTooNewError

Migration = str | Callable[[aiosqlite.Connection], Awaitable[None]]

_V1_BASE_SCHEMA = """
CREATE TABLE users (
    user_id     INTEGER PRIMARY KEY,
    username    TEXT,
    first_name  TEXT,
    last_name   TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- No foreign key to users: the contract lets set_conversation() run for a user that was never
-- upserted, and such a call must not fail.
CREATE TABLE conversations (
    user_id     INTEGER PRIMARY KEY,
    topic_id    INTEGER NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- find_user_id_by_topic() looks conversations up by topic.
CREATE INDEX conversations_topic_id ON conversations (topic_id);

-- No foreign key to users either: log_message() does not require the user to be upserted first.
CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL,
    direction     TEXT NOT NULL CHECK (direction IN ('user', 'operator')),
    chat_id       INTEGER NOT NULL,
    message_id    INTEGER NOT NULL,
    content_type  TEXT NOT NULL,
    text          TEXT,
    caption       TEXT,
    file_id       TEXT,
    payload_json  TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (chat_id, message_id)
);

-- A user's history, in order.
CREATE INDEX messages_user_id ON messages (user_id, id);

-- Each link is stored as two rows, one per direction (A -> B and B -> A), so that a lookup from
-- either side is the same single search on message_links_source, with no OR across two indexes.
-- The cost is one extra small row per link. `id` orders links by when they were first recorded
-- (the "most recently linked" answer when no target chat is given); it is an explicit column
-- because VACUUM may renumber an implicit rowid.
CREATE TABLE message_links (
    id                 INTEGER PRIMARY KEY,
    source_chat_id     INTEGER NOT NULL,
    source_message_id  INTEGER NOT NULL,
    target_chat_id     INTEGER NOT NULL,
    target_message_id  INTEGER NOT NULL,
    user_id            INTEGER NOT NULL,
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- At most one copy of a message per target chat; the first one recorded is kept.
CREATE UNIQUE INDEX message_links_source
    ON message_links (source_chat_id, source_message_id, target_chat_id);
"""

_V2_INBOX = """
-- The inbox of raw Telegram updates (see bot/delivery). A row is committed before the update is
-- confirmed to Telegram, which then never sends it again: losing a row loses the update.
-- 'done' rows are kept for a while, so that a re-delivered update is still recognised as a
-- duplicate, and then removed by inbox_prune().
CREATE TABLE inbox (
    update_id    INTEGER PRIMARY KEY,
    queue_key    TEXT NOT NULL,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    received_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- inbox_pending() / inbox_failed(): one status, in update order.
CREATE INDEX inbox_status ON inbox (status, update_id);
"""

_V3_DESK = """
-- Bans (/ban, /unban): a banned user's messages are logged but not relayed. One row per banned
-- user; /unban deletes it. `notified_at` is when the user was told (BANNED_TEXT), once per ban.
CREATE TABLE bans (
    user_id      INTEGER PRIMARY KEY,
    reason       TEXT,
    banned_by    INTEGER,
    banned_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    notified_at  TEXT
);

-- The user's Telegram language_code: the language of texts to them and of notes about them.
ALTER TABLE users ADD COLUMN language_code TEXT;

-- Which closed period (outside WORKING_HOURS) the user was last told about with OFFLINE_TEXT:
-- the moment that period began, as ISO-8601 text. One notice per conversation per period.
ALTER TABLE conversations ADD COLUMN offline_notice_for TEXT;

-- /stats: messages and new conversations in a time window; /export: a user's links.
CREATE INDEX messages_created_at ON messages (created_at, direction);
CREATE INDEX conversations_created_at ON conversations (created_at);
CREATE INDEX message_links_user_id ON message_links (user_id);
"""

_V4_CONVERSATION_STATES = """
-- Each conversation's state on the desk, kept as it changes (bot/relay/states.py):
--   waiting   active, and waiting_since is set: the customer wrote and no operator has
--             answered since; waiting_since is when the first unanswered message was written;
--   answered  active, and waiting_since is NULL;
--   closed    not active.
-- answered_at: an operator's last answer. assignee_id: the operator handling it (operators).
-- remind_at: when the current wait is due for its one reminder (NULL: none due).
-- reminded_for: the waiting_since of the wait whose reminder was sent (one per wait).
-- close_at: when the answered, quiet conversation is due to close by itself (NULL: not due).
-- icon: the state the topic's icon shows (TOPIC_ICONS); NULL: the bot never set one.
ALTER TABLE conversations ADD COLUMN waiting_since TEXT;
ALTER TABLE conversations ADD COLUMN answered_at TEXT;
ALTER TABLE conversations ADD COLUMN assignee_id INTEGER;
ALTER TABLE conversations ADD COLUMN remind_at TEXT;
ALTER TABLE conversations ADD COLUMN reminded_for TEXT;
ALTER TABLE conversations ADD COLUMN close_at TEXT;
ALTER TABLE conversations ADD COLUMN icon TEXT;

-- The queue (the board, /queue, /mine): who waits, longest first. Partial indexes hold only the
-- few rows they are about, whatever the number of conversations.
CREATE INDEX conversations_waiting
    ON conversations (waiting_since) WHERE active = 1 AND waiting_since IS NOT NULL;
CREATE INDEX conversations_answered
    ON conversations (user_id) WHERE active = 1 AND waiting_since IS NULL;
-- The scheduler: what falls due, soonest first.
CREATE INDEX conversations_remind_at ON conversations (remind_at) WHERE remind_at IS NOT NULL;
CREATE INDEX conversations_close_at ON conversations (close_at) WHERE close_at IS NOT NULL;
-- Topic icons that do not show their conversation's state (open ones, and those the bot set).
CREATE INDEX conversations_icon_stale ON conversations (user_id)
    WHERE (active = 1 OR icon IS NOT NULL)
      AND icon IS NOT (CASE WHEN active = 0 THEN 'closed'
                            WHEN waiting_since IS NOT NULL THEN 'waiting'
                            ELSE 'answered' END);

-- Operators as last seen writing in the group: names for the board, @username for /assign.
CREATE TABLE operators (
    user_id     INTEGER PRIMARY KEY,
    username    TEXT,
    first_name  TEXT,
    last_name   TEXT,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX operators_username ON operators (lower(username));

-- The board: the one message in General the bot keeps up to date, and what it shows.
CREATE TABLE board (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    message_id  INTEGER NOT NULL,
    text        TEXT NOT NULL,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Open conversations of an upgraded database get their state from the log: waiting since the
-- first customer message after the last operator message, if any (banned users never wait).
-- Their due times are computed at start from the settings (ConversationStates.reschedule).
UPDATE conversations
SET waiting_since = (
        SELECT min(m.created_at)
        FROM messages AS m
        WHERE m.user_id = conversations.user_id
          AND m.direction = 'user'
          AND m.id > coalesce(
              (SELECT max(o.id) FROM messages AS o
               WHERE o.user_id = conversations.user_id AND o.direction = 'operator'),
              0
          )
    ),
    answered_at = (
        SELECT max(o.created_at) FROM messages AS o
        WHERE o.user_id = conversations.user_id AND o.direction = 'operator'
    )
WHERE active = 1 AND user_id NOT IN (SELECT user_id FROM bans);
"""

MIGRATIONS: tuple[Migration, ...] = (
    _V1_BASE_SCHEMA,  # 1: users, conversations, messages, message_links
    _V2_INBOX,  # 2: the inbox of Telegram updates
    _V3_DESK,  # 3: bans, users' languages, offline notices, indexes for /stats and /export
    _V4_CONVERSATION_STATES,  # 4: states, assignment, timers, icons, operators, the board
)

LATEST_VERSION = len(MIGRATIONS)


async def schema_version(conn: aiosqlite.Connection) -> int:
    """The version recorded in the file (0 for a new, empty database)."""
    rows = list(await conn.execute_fetchall("PRAGMA user_version"))
    return int(rows[0][0])


async def migrate(
    conn: aiosqlite.Connection,
    *,
    target_version: int | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
    path: str | None = None,
) -> list[int]:
    """Apply the missing steps up to `target_version` (default: all); return the versions applied.

    `conn` must be in autocommit mode (`isolation_level=None`) with no transaction open.
    Raises `SchemaTooNewError`, before touching anything, when the file is newer than `migrations`.
    `path` only names the file in that error's message.
    """
    latest = len(migrations)
    target = latest if target_version is None else target_version
    if not 0 <= target <= latest:
        raise ValueError(f"target_version must be between 0 and {latest}, not {target}")
    found = await schema_version(conn)
    if found > latest:
        raise SchemaTooNewError(file_version=found, code_version=latest, path=path)
    applied: list[int] = []
    for version in range(found + 1, target + 1):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process starting at the same moment may
            # have applied this step (or newer ones) since we looked.
            current = await schema_version(conn)
            if current > latest:
                raise SchemaTooNewError(file_version=current, code_version=latest, path=path)
            if current < version:
                await _apply(conn, migrations[version - 1])
                # PRAGMA takes no parameters; `version` is our own int, formatted as one.
                await conn.execute(f"PRAGMA user_version = {version:d}")
                applied.append(version)
            await conn.execute("COMMIT")
        except BaseException:
            await rollback(conn)
            raise
    return applied


async def _apply(conn: aiosqlite.Connection, step: Migration) -> None:
    if isinstance(step, str):
        for statement in split_script(step):
            await conn.execute(statement)
    else:
        await step(conn)
