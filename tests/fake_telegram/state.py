"""The world the fake models: users, chats, forum topics and messages."""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .content import ContentFactory, FileStore
from .errors import CHAT_NOT_FOUND, REPLY_NOT_FOUND, FakeUsageError, bad_request

# The colours Telegram accepts for topic icons.
TOPIC_ICON_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
# All administrator rights; a bot admin of the operator forum needs can_manage_topics.
ADMIN_RIGHTS: dict[str, bool] = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_send_welcome_messages": False,
    "can_pin_messages": True,
    "can_manage_topics": True,
}


@dataclass(eq=False)
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_premium: bool = False
    is_bot: bool = False
    # Relation to the bot under test (only meaningful for people, not for the bot itself).
    started_bot: bool = False
    blocked_bot: bool = False
    deactivated: bool = False

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.is_premium:
            data["is_premium"] = True
        return data

    @property
    def caption_limit(self) -> int:
        return 4096 if self.is_premium else 1024


@dataclass(eq=False)
class StoredMessage:
    """One message as Telegram keeps it, plus what the fake needs to know about it."""

    data: dict[str, Any]
    sender_id: int
    thread_id: int | None = None
    deleted: bool = False
    bot_reaction: list[dict[str, Any]] = field(default_factory=list)
    user_reactions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def message_id(self) -> int:
        return int(self.data["message_id"])

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)


@dataclass(eq=False, kw_only=True)
class Chat:
    id: int
    type: str
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    last_message_id: int = 0
    # Forum topics: a forum supergroup's, or a private chat's (Bot API 9.3, when the bot has
    # topics enabled in private chats). Keyed by message_thread_id.
    topics: dict[int, Topic] = field(default_factory=dict)
    # Ids of the pinned messages, the newest pin first (getChat reports the first).
    pinned: list[int] = field(default_factory=list)

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id

    def to_api(self) -> dict[str, Any]:
        raise NotImplementedError

    def full_info(self) -> dict[str, Any]:
        """ChatFullInfo (getChat): aiogram requires accent_color_id, max_reaction_count and
        accepted_gift_types."""
        return {
            **self.to_api(),
            "accent_color_id": abs(self.id) % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def visible(self) -> Iterator[StoredMessage]:
        return (message for message in self.messages.values() if not message.deleted)

    def message(self, message_id: int) -> StoredMessage | None:
        message = self.messages.get(message_id)
        return None if message is None or message.deleted else message

    def live_topic(self, thread_id: int) -> Topic | None:
        topic = self.topics.get(thread_id)
        return None if topic is None or topic.deleted else topic

    def forget(self, message: StoredMessage) -> None:
        """The message is deleted: it is gone for everyone and no longer pinned."""
        message.deleted = True
        if message.message_id in self.pinned:
            self.pinned.remove(message.message_id)

    def latest_pinned(self) -> StoredMessage | None:
        """ "The most recent pinned message (by sending date)", as getChat reports it and as
        unpinChatMessage without message_id unpins it — not the most recently pinned one."""
        pinned = [m for m in map(self.message, self.pinned) if m is not None]
        return max(pinned, key=lambda m: m.message_id, default=None)

    def pin(self, message: StoredMessage) -> None:
        """Pin ``message`` on top of the others (re-pinning moves it to the top)."""
        if message.message_id in self.pinned:
            self.pinned.remove(message.message_id)
        self.pinned.insert(0, message.message_id)


@dataclass(eq=False, kw_only=True)
class PrivateChat(Chat):
    user: User

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "type": "private",
            "first_name": self.user.first_name,
        }
        if self.user.last_name:
            data["last_name"] = self.user.last_name
        if self.user.username:
            data["username"] = self.user.username
        return data


@dataclass(eq=False)
class Membership:
    user: User
    status: str = "member"  # member | administrator | creator | left | kicked
    rights: dict[str, bool] = field(default_factory=dict)


@dataclass(eq=False)
class Topic:
    thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    closed: bool = False
    deleted: bool = False
    # Answer sends into this deleted topic with TOPIC_DELETED instead of "thread not found".
    deleted_error: str | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_thread_id": self.thread_id,
            "name": self.name,
            "icon_color": self.icon_color,
        }
        if self.icon_custom_emoji_id:
            data["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return data


@dataclass(eq=False, kw_only=True)
class Group(Chat):
    title: str
    is_forum: bool = False
    username: str | None = None
    bot_status: str = "member"
    bot_rights: dict[str, bool] = field(default_factory=dict)
    members: dict[int, Membership] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data

    @property
    def bot_is_admin(self) -> bool:
        return self.bot_status in ("administrator", "creator")

    def bot_can(self, right: str) -> bool:
        return self.bot_status == "creator" or (
            self.bot_is_admin and self.bot_rights.get(right, False)
        )

    def is_member(self, user_id: int) -> bool:
        """Is this user in the group (and so notified of mentions and replies)?"""
        membership = self.members.get(user_id)
        return membership is not None and membership.status not in ("left", "kicked")


@dataclass
class Notification:
    """A person was notified by a message of the bot: mentioned by ``@username``
    (``mention``), by a ``text_mention`` entity, or by an explicit reply to their message
    (``reply``). ``silent``: sent with ``disable_notification`` (it arrives without sound)."""

    user_id: int
    chat_id: int
    message_id: int
    reason: str
    silent: bool
    message: dict[str, Any]  # the message as it was sent


class World:
    """Registries and the one place that creates messages."""

    def __init__(
        self,
        *,
        bot_id: int,
        bot_username: str,
        bot_first_name: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot = User(id=bot_id, first_name=bot_first_name, username=bot_username, is_bot=True)
        self.clock = clock
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.files = FileStore()
        self.content = ContentFactory(self.files)
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        # Telegram answers sends into a deleted topic with "message thread not found"; while its
        # caches are warm it says TOPIC_DELETED. Set to "TOPIC_DELETED" for the second variant.
        self.topic_deleted_error: str | None = None
        self.reply_not_found_error = REPLY_NOT_FOUND
        self.bot_messages_created = 0
        # BotFather's "topics in private chats" (Bot API 9.3; getMe's has_topics_enabled) and
        # whether users may create and delete such topics (9.4: allows_users_to_create_topics).
        self.private_topics = False
        self.users_create_topics = True
        self.notifications: list[Notification] = []
        self._user_ids = itertools.count(1000001)
        self._media_groups = itertools.count(13960000000000001)

    def now(self) -> int:
        return int(self.clock())

    # -- registries ---------------------------------------------------------------------------

    def add_user(self, **attributes: Any) -> User:
        user_id = attributes.pop("id", None) or next(self._user_ids)
        if user_id in self.users or user_id in self.chats or user_id == self.bot.id:
            raise FakeUsageError(f"id {user_id} is taken")
        user = User(id=user_id, **attributes)
        self.users[user.id] = user
        self.chats[user.id] = PrivateChat(id=user.id, type="private", user=user)
        return user

    def add_group(self, group: Group) -> Group:
        if group.id in self.chats:
            raise FakeUsageError(f"chat {group.id} exists")
        self.chats[group.id] = group
        return group

    def resolve_chat(self, chat_id: int | str) -> Chat:
        """The chat for a chat_id parameter, or 400 ``chat not found``."""
        if isinstance(chat_id, str):
            for chat in self.chats.values():
                if isinstance(chat, Group) and chat.username and f"@{chat.username}" == chat_id:
                    return chat
            raise bad_request(CHAT_NOT_FOUND)
        found = self.chats.get(chat_id)
        if found is None:
            raise bad_request(CHAT_NOT_FOUND)
        return found

    def group(self, chat: Group | int) -> Group:
        found = self.chats.get(chat if isinstance(chat, int) else chat.id)
        if not isinstance(found, Group):
            raise FakeUsageError(f"no group {chat!r}")
        return found

    def private_chat(self, user: User) -> PrivateChat:
        chat = self.chats[user.id]
        assert isinstance(chat, PrivateChat)
        return chat

    def sender(self, user_id: int) -> User:
        return self.bot if user_id == self.bot.id else self.users[user_id]

    # -- messages -----------------------------------------------------------------------------

    def create_message(
        self,
        chat: Chat,
        sender: User,
        fields: dict[str, Any],
        *,
        thread_id: int | None = None,
        reply_to: StoredMessage | None = None,
        media_group_id: str | None = None,
    ) -> StoredMessage:
        """Store a new message in ``chat``, shaped exactly as Telegram shapes it.

        In a forum topic of a supergroup every message that is not an explicit reply gets the
        implicit reply to the topic's ``forum_topic_created`` message (a quirk the bot must see
        through). Topics of private chats have no implicit reply: the Bot API server adds it only
        in supergroups (``get_implicit_reply_to_message_id`` in tdlib/telegram-bot-api).
        """
        message_id = chat.next_message_id()
        data: dict[str, Any] = {
            "message_id": message_id,
            "from": sender.to_api(),
            "chat": chat.to_api(),
            "date": self.now(),
        }
        if thread_id is not None:
            data["message_thread_id"] = thread_id
            data["is_topic_message"] = True
            if reply_to is None and thread_id != message_id and isinstance(chat, Group):
                reply_to = chat.messages.get(thread_id)
        if reply_to is not None:
            nested = reply_to.snapshot()
            nested.pop("reply_to_message", None)
            data["reply_to_message"] = nested
        if media_group_id is not None:
            data["media_group_id"] = media_group_id
        data.update(copy.deepcopy(fields))
        message = StoredMessage(data=data, sender_id=sender.id, thread_id=thread_id)
        chat.messages[message_id] = message
        if sender.id == self.bot.id:
            self.bot_messages_created += 1
        return message

    def new_media_group_id(self) -> str:
        return str(next(self._media_groups))
