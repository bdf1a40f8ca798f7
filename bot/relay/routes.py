"""Where a relayed message goes: one direction of one conversation, as a value.

A `Route` is made for the handling of one update. User → operators, it points into the user's
forum topic; operators → user, into the user's private chat. The user's topic can vanish at any
moment (an operator deletes it; Telegram sends no update): the copier then opens a new topic and
moves the route there (`Route.moved_to`), so what follows in the same update goes to the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiogram.types import ReplyParameters, User

from bot.relay.texts import Texts

Direction = Literal["user", "operator"]


@dataclass
class Route:
    """One direction of one conversation, for the handling of one update."""

    direction: Direction  # who wrote the message: "user" (to the topic) or "operator"
    user_id: int
    chat_id: int  # where copies go: the operator group, or the user's private chat
    topic_id: int  # the operators' topic of this conversation
    # The texts in the user's language: of texts sent to them and of notes about them.
    texts: Texts
    # The user as Telegram sent them (user → operators only): a new topic is named after them.
    user: User | None = None

    @classmethod
    def to_operators(cls, user: User, *, chat_id: int, topic_id: int, texts: Texts) -> Route:
        """From the user's private chat into their topic in the operator group."""
        return cls("user", user.id, chat_id, topic_id, texts, user)

    @classmethod
    def to_user(cls, user_id: int, *, topic_id: int, texts: Texts) -> Route:
        """From the operators' topic into the user's private chat (which has the user's id)."""
        return cls("operator", user_id, user_id, topic_id, texts)

    @property
    def into_topic(self) -> bool:
        """Copies go into the operators' topic (not into a private chat)."""
        return self.direction == "user"

    @property
    def thread_id(self) -> int | None:
        """The `message_thread_id` of a send along the route."""
        return self.topic_id if self.into_topic else None

    def moved_to(self, topic_id: int) -> None:
        """The topic was re-created: the rest of the update goes to the new one."""
        self.topic_id = topic_id


def reply(message_id: int | None) -> ReplyParameters | None:
    """Reply parameters that never make a send fail when the target is gone."""
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)
