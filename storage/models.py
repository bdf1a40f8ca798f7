"""Typed records returned by `storage.Database`."""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True, slots=True)
class MessageLink:
    """One direction of a link: the target message is a copy (or a part) of the source one."""

    user_id: int
    source_chat_id: int
    source_message_id: int
    target_chat_id: int
    target_message_id: int


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One raw Telegram update waiting in (or parked in) the inbox."""

    update_id: int
    queue_key: str
    payload: str  # the raw update JSON
    attempts: int
