"""Typed records returned by `storage.Database`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Conversation:
    """The mapping of a user to their forum topic in the operator group."""

    user_id: int
    topic_id: int
    active: bool


@dataclass(frozen=True, slots=True)
class User:
    """A Telegram user as last seen (`username` without the leading `@`)."""

    user_id: int
    username: str | None
    first_name: str | None
    last_name: str | None
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedMessage:
    """A relayed message as recorded by `log_message` (and updated after edits)."""

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


@dataclass(frozen=True, slots=True)
class MessageLink:
    """One direction of a link: the target message is a copy (or a part) of the source one."""

    user_id: int
    source_chat_id: int
    source_message_id: int
    target_chat_id: int
    target_message_id: int


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


@dataclass(frozen=True, slots=True)
class Ban:
    """A banned user: their messages are logged but not relayed."""

    user_id: int
    reason: str | None
    banned_by: int | None
    banned_at: str  # ISO-8601 UTC
    notified: bool  # the user has been told (BANNED_TEXT)


@dataclass(frozen=True, slots=True)
class UserState:
    """Everything the relay needs to know about a user before relaying their message."""

    user: User | None
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
