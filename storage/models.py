"""Typed records returned by `storage.Database` and its parts.

A record read from a table has `COLUMNS` (what its queries select, in order) and `from_row`
(the record from such a row, or from that slice of a wider row): one mapping per record type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Conversation:
    """The mapping of a user to their forum topic in the operator group."""

    user_id: int
    topic_id: int
    active: bool

    COLUMNS: ClassVar[str] = "user_id, topic_id, active"

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Conversation:
        return cls(user_id=row[0], topic_id=row[1], active=bool(row[2]))


@dataclass(frozen=True, slots=True)
class UserProfile:
    """A Telegram user as last seen (`username` without the leading `@`).

    `language_code` is Telegram's code of the user's language ("en", "ru", ...), None when
    Telegram never sent one.
    """

    user_id: int
    username: str | None
    first_name: str | None
    last_name: str | None
    language_code: str | None = None

    COLUMNS: ClassVar[str] = "users.user_id, username, first_name, last_name, language_code"

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> UserProfile:
        return cls(
            user_id=row[0],
            username=row[1],
            first_name=row[2],
            last_name=row[3],
            language_code=row[4],
        )


@dataclass(frozen=True, slots=True)
class LoggedMessage:
    """A relayed message as recorded in the log (and updated after edits)."""

    user_id: int
    direction: str  # "user" or "operator"
    chat_id: int
    message_id: int
    content_type: str
    text: str | None
    caption: str | None
    file_id: str | None
    payload_json: str | None
    # When it was logged: ISO-8601 UTC text with milliseconds ("2024-05-01T12:00:00.123Z").
    # Left out of `==`: it says when the bot recorded the message, not what the message is.
    created_at: str | None = field(default=None, compare=False)

    COLUMNS: ClassVar[str] = (
        "user_id, direction, chat_id, message_id, content_type, "
        "text, caption, file_id, payload_json, created_at"
    )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> LoggedMessage:
        return cls(
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


@dataclass(frozen=True, slots=True)
class MessageLink:
    """One direction of a link: the target message is a copy (or a part) of the source one."""

    user_id: int
    source_chat_id: int
    source_message_id: int
    target_chat_id: int
    target_message_id: int

    COLUMNS: ClassVar[str] = (
        "user_id, source_chat_id, source_message_id, target_chat_id, target_message_id"
    )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> MessageLink:
        return cls(
            user_id=row[0],
            source_chat_id=row[1],
            source_message_id=row[2],
            target_chat_id=row[3],
            target_message_id=row[4],
        )


@dataclass(frozen=True, slots=True)
class ReplyWait:
    """A user starting to wait for an answer, and when an operator answered (None: not yet).

    Timestamps are the messages' `created_at` (ISO-8601 UTC text with milliseconds).
    """

    user_id: int
    started_at: str
    answered_at: str | None


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One raw Telegram update waiting in (or parked in) the inbox."""

    update_id: int
    queue_key: str
    payload: str  # the raw update JSON
    attempts: int

    COLUMNS: ClassVar[str] = "update_id, queue_key, payload, attempts"

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> InboxItem:
        return cls(update_id=row[0], queue_key=row[1], payload=row[2], attempts=row[3])


@dataclass(frozen=True, slots=True)
class Ban:
    """A banned user: their messages are logged but not relayed."""

    user_id: int
    reason: str | None
    banned_by: int | None
    banned_at: str  # ISO-8601 UTC
    notified: bool  # the user has been told (BANNED_TEXT)

    COLUMNS: ClassVar[str] = "bans.user_id, reason, banned_by, banned_at, notified_at"

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Ban:
        return cls(
            user_id=row[0],
            reason=row[1],
            banned_by=row[2],
            banned_at=row[3],
            notified=row[4] is not None,
        )


@dataclass(frozen=True, slots=True)
class UserState:
    """Everything the relay needs to know about a user before relaying their message."""

    user: UserProfile | None
    conversation: Conversation | None
    ban: Ban | None
    # The closed period the user was last told about with OFFLINE_TEXT (see the relay).
    offline_notice_for: str | None = None


@dataclass(frozen=True, slots=True)
class UserActivity:
    """What /info shows beyond the profile: first contact and message counts."""

    first_seen: str | None  # ISO-8601 UTC of the users row, None when never stored
    from_user: int
    from_operators: int
