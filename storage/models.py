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
class OperatorProfile:
    """An operator as last seen writing in the operator group."""

    user_id: int
    username: str | None
    first_name: str | None
    last_name: str | None = None

    COLUMNS: ClassVar[str] = "operators.user_id, username, first_name, last_name"

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> OperatorProfile:
        return cls(user_id=row[0], username=row[1], first_name=row[2], last_name=row[3])

    def row(self) -> tuple[int, str | None, str | None, str | None]:
        """The values of `COLUMNS`, to store (`username` without its `@`)."""
        username = (self.username or "").removeprefix("@") or None
        return (self.user_id, username, self.first_name, self.last_name)


@dataclass(frozen=True, slots=True)
class DeskState:
    """A conversation's state on the desk (see storage.migrations, version 4).

    Timestamps are ISO-8601 UTC text with milliseconds, like every timestamp column.
    """

    user_id: int
    topic_id: int
    active: bool
    waiting_since: str | None  # the first unanswered customer message; None: not waiting
    answered_at: str | None  # an operator's last answer
    remind_at: str | None  # the current wait's reminder falls due; None: none due
    close_at: str | None  # the quiet conversation closes by itself; None: not due
    assignee: OperatorProfile | None

    COLUMNS: ClassVar[str] = (
        "c.user_id, c.topic_id, c.active, c.waiting_since, c.answered_at, c.remind_at, "
        "c.close_at, o.user_id, o.username, o.first_name, o.last_name"
    )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> DeskState:
        return cls(
            user_id=row[0],
            topic_id=row[1],
            active=bool(row[2]),
            waiting_since=row[3],
            answered_at=row[4],
            remind_at=row[5],
            close_at=row[6],
            assignee=None if row[7] is None else OperatorProfile.from_row(row[7:11]),
        )

    @property
    def state(self) -> str:
        """ "waiting", "answered" or "closed"."""
        if not self.active:
            return "closed"
        return "waiting" if self.waiting_since is not None else "answered"


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A waiting conversation as the queue shows it: who, since when, whose."""

    user_id: int
    topic_id: int
    waiting_since: str
    customer: UserProfile | None
    assignee: OperatorProfile | None

    COLUMNS: ClassVar[str] = (
        "c.user_id, c.topic_id, c.waiting_since, "
        "u.user_id, u.username, u.first_name, u.last_name, u.language_code, "
        "o.user_id, o.username, o.first_name, o.last_name"
    )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> QueueEntry:
        return cls(
            user_id=row[0],
            topic_id=row[1],
            waiting_since=row[2],
            customer=None if row[3] is None else UserProfile.from_row(row[3:8]),
            assignee=None if row[8] is None else OperatorProfile.from_row(row[8:12]),
        )


@dataclass(frozen=True, slots=True)
class Queue:
    """The desk at a glance: the longest waits first (at most the number asked for), and how
    many conversations wait and how many are answered."""

    waiting: list[QueueEntry]
    waiting_count: int
    answered_count: int


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
    # Why the last attempt failed, or why it was set aside. Left out of `==`: it is the update's
    # history, not the update.
    last_error: str | None = field(default=None, compare=False)

    COLUMNS: ClassVar[str] = "update_id, queue_key, payload, attempts, last_error"

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> InboxItem:
        return cls(
            update_id=row[0], queue_key=row[1], payload=row[2], attempts=row[3], last_error=row[4]
        )


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
