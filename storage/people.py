"""`People`: the users the bot has seen (profile, language) and the banned ones."""

from __future__ import annotations

from storage.core import NOW, Core
from storage.models import Ban, Conversation, OperatorProfile, UserProfile, UserState

# An operator's profile as last seen (one statement: other parts' writes use it too).
SAVE_OPERATOR = f"""
    INSERT INTO operators (user_id, username, first_name, last_name)
    VALUES (?, ?, ?, ?)
    ON CONFLICT (user_id) DO UPDATE SET
        username = excluded.username,
        first_name = excluded.first_name,
        last_name = excluded.last_name,
        updated_at = {NOW}
"""


class People:
    """Users (customers), operators and bans (`db.people`)."""

    def __init__(self, core: Core) -> None:
        self._core = core

    async def save(
        self,
        user_id: int,
        username: str | None,
        first_name: str | None,
        last_name: str | None,
        *,
        language_code: str | None = None,
    ) -> None:
        """Insert the user, or update their name fields (and `updated_at`) if present.

        `username` is stored without its leading `@` (an empty one as NULL). `language_code`,
        when given, replaces the stored language; None keeps it (Telegram does not always send
        one).
        """
        if username is not None:
            username = username.removeprefix("@") or None
        await self._core.execute(
            f"""
            INSERT INTO users (user_id, username, first_name, last_name, language_code)
            VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (user_id) DO UPDATE SET
                username = excluded.username,
                first_name = excluded.first_name,
                last_name = excluded.last_name,
                language_code = coalesce(excluded.language_code, users.language_code),
                updated_at = {NOW}
            """,
            (user_id, username, first_name, last_name, language_code),
        )

    async def get(self, user_id: int) -> UserProfile | None:
        """The stored profile of the user, or None."""
        row = await self._core.fetch_one(
            f"SELECT {UserProfile.COLUMNS} FROM users WHERE user_id = ?", (user_id,)
        )
        return None if row is None else UserProfile.from_row(row)

    async def state(self, user_id: int) -> UserState:
        """The user's profile, conversation and ban in one query (the relay's per-message read)."""
        row = await self._core.fetch_one(
            f"""
            SELECT {UserProfile.COLUMNS},
                   {Ban.COLUMNS},
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
            conversation = Conversation.from_row((user_id, row[10], row[11]))
        return UserState(
            user=None if row[0] is None else UserProfile.from_row(row[0:5]),
            conversation=conversation,
            ban=None if row[5] is None else Ban.from_row(row[5:10]),
            offline_notice_for=row[12],
        )

    # --- bans ----------------------------------------------------------------------------------

    async def ban(self, user_id: int, *, reason: str | None, banned_by: int | None) -> bool:
        """Ban the user; False (and nothing changes) when they are banned already."""
        changed = await self._core.execute(
            """
            INSERT INTO bans (user_id, reason, banned_by)
            VALUES (?, ?, ?)
            ON CONFLICT (user_id) DO NOTHING
            """,
            (user_id, reason, banned_by),
        )
        return changed > 0

    async def unban(self, user_id: int) -> bool:
        """Lift the user's ban; False when they were not banned."""
        return await self._core.execute("DELETE FROM bans WHERE user_id = ?", (user_id,)) > 0

    async def get_ban(self, user_id: int) -> Ban | None:
        row = await self._core.fetch_one(
            f"SELECT {Ban.COLUMNS} FROM bans WHERE user_id = ?", (user_id,)
        )
        return None if row is None else Ban.from_row(row)

    async def mark_ban_notified(self, user_id: int) -> None:
        """The banned user has been told (BANNED_TEXT): not again during this ban."""
        await self._core.execute(
            f"UPDATE bans SET notified_at = {NOW} WHERE user_id = ? AND notified_at IS NULL",
            (user_id,),
        )

    # --- operators -----------------------------------------------------------------------------

    async def save_operator(self, operator: OperatorProfile) -> None:
        """Keep an operator's profile as last seen (`username` without its `@`)."""
        await self._core.execute(SAVE_OPERATOR, operator.row())

    async def operator_by_username(self, username: str) -> OperatorProfile | None:
        """The operator last seen with this @username (any case); None if nobody was."""
        row = await self._core.fetch_one(
            f"""
            SELECT {OperatorProfile.COLUMNS}
            FROM operators
            WHERE lower(username) = lower(?)
            ORDER BY updated_at DESC
            LIMIT 1
            """,
            (username.removeprefix("@"),),
        )
        return None if row is None else OperatorProfile.from_row(row)
