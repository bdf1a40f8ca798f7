"""`MessageLog`: every relayed message, and the links between a message and its copies."""

from __future__ import annotations

import sqlite3

from storage.core import Core, check_limit
from storage.models import LoggedMessage, MessageLink

# ON CONFLICT, not INSERT OR IGNORE: OR IGNORE would also silently skip a row that breaks the
# CHECK on direction.
ADD_MESSAGE_SQL = """
    INSERT INTO messages (
        user_id, direction, chat_id, message_id, content_type,
        text, caption, file_id, payload_json
    )
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (chat_id, message_id) DO NOTHING
"""

# One statement for both directions of a link: atomic on its own.
ADD_LINK_SQL = """
    INSERT INTO message_links (
        source_chat_id, source_message_id, target_chat_id, target_message_id, user_id
    )
    VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)
    ON CONFLICT (source_chat_id, source_message_id, target_chat_id) DO NOTHING
"""


def link_parameters(
    user_id: int,
    source_chat_id: int,
    source_message_id: int,
    target_chat_id: int,
    target_message_id: int,
) -> tuple[int, ...]:
    """The parameters of `ADD_LINK_SQL`: the way there and the way back."""
    return (
        *(source_chat_id, source_message_id, target_chat_id, target_message_id, user_id),
        *(target_chat_id, target_message_id, source_chat_id, source_message_id, user_id),
    )


class MessageLog:
    """Logged messages and their links (`db.log`).

    A logged message is identified by `(chat_id, message_id)`: the chat it was sent in. Its
    fields are those of `LoggedMessage`; `direction` is "user" or "operator".
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    async def add(
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
    ) -> None:
        """Record one message; ignored if `(chat_id, message_id)` is already recorded.

        `direction` must be "user" or "operator" (else `sqlite3.IntegrityError`, from a CHECK).
        """
        await self._core.execute(
            ADD_MESSAGE_SQL,
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

    async def link(
        self,
        *,
        user_id: int,
        source_chat_id: int,
        source_message_id: int,
        target_chat_id: int,
        target_message_id: int,
    ) -> None:
        """Record that the target message is a copy of the source one, in both directions.

        Idempotent. A message keeps the first copy recorded per chat: linking it again to a
        different message in the same chat adds only the way back from that message.
        """
        await self._core.execute(
            ADD_LINK_SQL,
            link_parameters(
                user_id, source_chat_id, source_message_id, target_chat_id, target_message_id
            ),
        )

    async def add_relayed(
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
        """`add` and `link` (from the message to its copy) as one write.

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
        link = link_parameters(user_id, chat_id, message_id, target_chat_id, target_message_id)

        def add(conn: sqlite3.Connection) -> None:
            conn.execute(ADD_MESSAGE_SQL, message)
            conn.execute(ADD_LINK_SQL, link)

        await self._core.write(add)

    async def find_link(
        self,
        *,
        source_chat_id: int,
        source_message_id: int,
        target_chat_id: int | None = None,
    ) -> MessageLink | None:
        """The link from the given message to its copy in `target_chat_id`; None if none.

        Without `target_chat_id`, the most recently linked message in any chat.
        """
        if target_chat_id is None:
            row = await self._core.fetch_one(
                f"""
                SELECT {MessageLink.COLUMNS}
                FROM message_links
                WHERE source_chat_id = ? AND source_message_id = ?
                ORDER BY id DESC
                LIMIT 1
                """,
                (source_chat_id, source_message_id),
            )
        else:
            row = await self._core.fetch_one(
                f"""
                SELECT {MessageLink.COLUMNS}
                FROM message_links
                WHERE source_chat_id = ? AND source_message_id = ? AND target_chat_id = ?
                """,
                (source_chat_id, source_message_id, target_chat_id),
            )
        return None if row is None else MessageLink.from_row(row)

    async def parts(
        self, *, source_chat_id: int, source_message_id: int, target_chat_id: int
    ) -> list[int]:
        """Every message in `target_chat_id` that stands for the given one, in id order.

        That is its first copy (what `find_link` answers) and the further parts linked to it
        later: `link` keeps only the way back from those (a long caption's full text sent after
        the media, a new version posted after an edit). Empty when it has no copy there.

        Further parts are always sent after the first copy, and message ids only grow within
        a chat, so the search for them starts at the first copy's id: it runs on the
        `message_links_source` index and reads only links made after the first copy.
        """
        rows = await self._core.fetch_all(
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

    async def get(self, *, chat_id: int, message_id: int) -> LoggedMessage | None:
        """The logged message `(chat_id, message_id)` as last recorded, or None."""
        row = await self._core.fetch_one(
            f"SELECT {LoggedMessage.COLUMNS} FROM messages WHERE chat_id = ? AND message_id = ?",
            (chat_id, message_id),
        )
        return None if row is None else LoggedMessage.from_row(row)

    async def update(
        self,
        *,
        chat_id: int,
        message_id: int,
        content_type: str,
        text: str | None,
        caption: str | None,
        file_id: str | None,
        payload_json: str | None,
    ) -> bool:
        """Replace the content of a logged message (it was edited); False if it is not logged."""
        changed = await self._core.execute(
            """
            UPDATE messages
            SET content_type = ?, text = ?, caption = ?, file_id = ?, payload_json = ?
            WHERE chat_id = ? AND message_id = ?
            """,
            (content_type, text, caption, file_id, payload_json, chat_id, message_id),
        )
        return changed > 0

    async def history(self, user_id: int, *, limit: int | None = None) -> list[LoggedMessage]:
        """The user's logged messages, both directions, in the order they were logged.

        With `limit`, only the most recent `limit` of them (still oldest first): read newest
        first along the `messages_user_id` index, then put back in order.
        """
        rows = await self._core.fetch_all(
            f"""
            SELECT {LoggedMessage.COLUMNS}
            FROM (
                SELECT id, {LoggedMessage.COLUMNS}
                FROM messages
                WHERE user_id = ?
                ORDER BY id DESC
                LIMIT ?
            )
            ORDER BY id
            """,
            (user_id, check_limit(limit)),
        )
        return [LoggedMessage.from_row(row) for row in rows]

    async def links(self, user_id: int) -> list[MessageLink]:
        """Every link row recorded for the user's messages (both directions), oldest first.

        Together with `history`, enough to tell which logged message a reply to a copy (or to
        a further part) stands for, without one query per reply.
        """
        rows = await self._core.fetch_all(
            f"SELECT {MessageLink.COLUMNS} FROM message_links WHERE user_id = ? ORDER BY id",
            (user_id,),
        )
        return [MessageLink.from_row(row) for row in rows]
