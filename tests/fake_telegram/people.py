"""The test-side API: people (end users, operators) doing things, and what they can see.

Everything a person does goes through here; every ``await`` that produces an update enqueues it
exactly as Telegram would (or not at all, where Telegram sends nothing).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from .content import CAPTIONED_KINDS, Content, ContentFactory, kind_of
from .errors import FakeUsageError
from .formatting import utf16_len
from .methods import BotApi, chat_member
from .records import CallRecord
from .state import (
    ADMIN_RIGHTS,
    TOPIC_ICON_COLORS,
    Chat,
    Group,
    Membership,
    Notification,
    StoredMessage,
    Topic,
    User,
    World,
)
from .updates import Changes, UpdateQueue

# A message: its id, its dict, or anything with .message_id (aiogram's Message, MessageId).
MessageRef = int | dict[str, Any] | Any
ChatRef = Chat | User | int
_ANY: Any = object()


def _message_id(ref: MessageRef) -> int:
    if isinstance(ref, dict):
        return int(ref["message_id"])
    return int(getattr(ref, "message_id", ref))


class People:
    """Mixed into ``FakeTelegram``: setup, people's actions and reading what they see."""

    world: World
    updates: UpdateQueue
    changes: Changes
    api: BotApi
    calls: list[CallRecord]

    # -- setup --------------------------------------------------------------------------------

    @property
    def content(self) -> ContentFactory:
        """Factories for every kind of content: ``fake.content.photo(caption="look")``."""
        return self.world.content

    @property
    def bot(self) -> User:
        return self.world.bot

    def add_user(
        self,
        first_name: str = "Alice",
        last_name: str | None = None,
        username: str | None = None,
        *,
        language_code: str | None = "en",
        is_premium: bool = False,
        is_bot: bool = False,
        user_id: int | None = None,
        started: bool = False,
    ) -> User:
        """A Telegram user. The bot may write to them only after they wrote first
        (``started=True`` pretends they already did)."""
        user = self.world.add_user(
            id=user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
            is_bot=is_bot,
        )
        user.started_bot = started
        return user

    def create_group(
        self,
        chat_id: int = -1001234567890,
        title: str = "Support",
        *,
        is_forum: bool = True,
        bot_status: str = "administrator",
        bot_rights: dict[str, bool] | None = None,
        username: str | None = None,
        supergroup: bool = True,
    ) -> Group:
        """A group with the bot in it; ``bot_rights`` override the default admin rights."""
        rights = {**ADMIN_RIGHTS, **(bot_rights or {})} if bot_status == "administrator" else {}
        group = Group(
            id=chat_id,
            type="supergroup" if supergroup else "group",
            title=title,
            is_forum=is_forum and supergroup,
            username=username,
            bot_status=bot_status,
            bot_rights=rights,
        )
        return self.world.add_group(group)

    def add_operator(
        self,
        group: Group | int,
        first_name: str = "Olga",
        last_name: str | None = None,
        username: str | None = None,
        *,
        status: str = "administrator",
        rights: dict[str, bool] | None = None,
    ) -> User:
        """A new user who is a member (by default an administrator) of ``group``."""
        user = self.add_user(first_name, last_name, username, started=False)
        self.add_member(group, user, status=status, rights=rights)
        return user

    def add_member(
        self,
        group: Group | int,
        user: User,
        *,
        status: str = "member",
        rights: dict[str, bool] | None = None,
    ) -> None:
        found = self.world.group(group)
        granted = {**ADMIN_RIGHTS, **(rights or {})} if status == "administrator" else {}
        found.members[user.id] = Membership(user, status, granted)

    # -- end users ----------------------------------------------------------------------------

    def _content(
        self,
        text: str | None,
        content: Content | None,
        caption: str | None,
        entities: list[dict[str, Any]] | None,
        kinds: dict[str, bool],
    ) -> Content:
        chosen = [kind for kind, wanted in kinds.items() if wanted]
        if sum(x is not None for x in (text, content)) + len(chosen) != 1:
            raise FakeUsageError("give exactly one of text=, content= or a kind flag (photo=True)")
        if text is not None:
            return self.world.content.text(text, entities)
        if content is None:
            content = self.world.content.of_kind(chosen[0])
        if caption is not None:
            content = content.with_caption(caption, entities)
        return content

    def _check_can_send(self, user: User) -> None:
        if user.deactivated:
            raise FakeUsageError(f"{user.first_name}'s account is deleted")

    async def user_sends(
        self,
        user: User,
        text: str | None = None,
        *,
        content: Content | None = None,
        caption: str | None = None,
        entities: list[dict[str, Any]] | None = None,
        reply_to: MessageRef | None = None,
        media_group_id: str | None = None,
        thread_id: int | None = None,
        **kinds: bool,
    ) -> dict[str, Any]:
        """``user`` writes to the bot in their private chat; the bot gets a ``message`` update.

        ``await fake.user_sends(alice, "hi")``, ``await fake.user_sends(alice, photo=True,
        caption="look")``, ``await fake.user_sends(alice, content=fake.content.quiz())``.

        ``thread_id``: a topic of the private chat (see ``user_creates_topic``); the message
        carries ``message_thread_id`` and ``is_topic_message`` but, unlike in a supergroup, no
        implicit ``reply_to_message``. A ``reply_to`` lands in the replied message's topic.
        """
        self._check_can_send(user)
        chosen = self._content(text, content, caption, entities, kinds)
        if len(chosen.fields.get("caption", "")) > user.caption_limit:
            raise FakeUsageError(f"{user.first_name} cannot send a caption that long")
        chat = self.world.private_chat(user)
        reply = self._reply_target(chat, reply_to)
        if reply is not None:
            if thread_id is not None and reply.thread_id != thread_id:
                raise FakeUsageError("reply_to is in another topic")
            thread_id = reply.thread_id
        if thread_id is not None:
            self._live_topic(chat, thread_id)
        if user.blocked_bot:
            # Writing to a blocked bot (Restart) unblocks it first.
            await self.user_unblocks_bot(user)
        user.started_bot = True
        message = self.world.create_message(
            chat,
            user,
            chosen.message_fields(),
            thread_id=thread_id,
            reply_to=reply,
            media_group_id=media_group_id,
        )
        self.updates.push("message", message.snapshot())
        return message.snapshot()

    async def user_sends_command(
        self, user: User, command: str, args: str = "", *, thread_id: int | None = None
    ) -> dict[str, Any]:
        """``/start`` and friends, with the ``bot_command`` entity Telegram adds."""
        if not command.startswith("/"):
            command = f"/{command}"
        return await self.user_sends(
            user, content=self.world.content.command(command, args), thread_id=thread_id
        )

    def _album(self, items: Sequence[Content | str], caption: str | None) -> list[Content]:
        if not 2 <= len(items) <= 10:
            raise FakeUsageError("an album has 2-10 items")
        contents = [
            item if isinstance(item, Content) else self.world.content.of_kind(item)
            for item in items
        ]
        if caption is not None:
            contents[0] = contents[0].with_caption(caption)
        return contents

    async def user_sends_album(
        self,
        user: User,
        items: Sequence[Content | str],
        *,
        caption: str | None = None,
        thread_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """An album (``["photo", "photo", "video"]`` or contents): messages sharing a
        media_group_id, their updates enqueued together. ``caption`` goes on the first item;
        ``thread_id``: a topic of the private chat."""
        group_id = self.world.new_media_group_id()
        sent = []
        for item in self._album(items, caption):
            sent.append(
                await self.user_sends(
                    user, content=item, media_group_id=group_id, thread_id=thread_id
                )
            )
        return sent

    async def user_edits(
        self,
        user: User,
        message: MessageRef,
        *,
        text: str | None = None,
        caption: str | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``user`` edits their message; ``edited_message`` only if the content changed."""
        chat = self.world.private_chat(user)
        return self._edit(chat, user, _message_id(message), text, caption, entities)

    async def user_reacts(self, user: User, message: MessageRef, emojis: Sequence[str]) -> None:
        """``user`` sets reactions (``[]`` removes them): a ``message_reaction`` update, which
        the bot gets only if it asked for message_reaction in allowed_updates."""
        chat = self.world.private_chat(user)
        self._react(chat, user, _message_id(message), emojis)

    async def user_blocks_bot(self, user: User) -> None:
        """Sends to ``user`` now fail with 403; the bot gets ``my_chat_member`` (kicked)."""
        if not user.blocked_bot:
            user.blocked_bot = True
            self._my_chat_member(user, "member", "kicked")

    async def user_unblocks_bot(self, user: User) -> None:
        """The bot gets ``my_chat_member`` (member) and may write again."""
        if user.blocked_bot:
            user.blocked_bot = False
            self._my_chat_member(user, "kicked", "member")

    async def user_deactivates(self, user: User) -> None:
        """``user`` deletes their account: sends fail with ``user is deactivated``; no update."""
        user.deactivated = True
        self.changes.notify()

    # -- topics in private chats (Bot API 9.3) -------------------------------------------------

    def enable_private_topics(self, *, users_can_create: bool = True) -> None:
        """BotFather's "threaded mode": users get topics in their private chat with the bot.

        getMe reports ``has_topics_enabled`` (and ``allows_users_to_create_topics``); the bot may
        send into a private topic with ``message_thread_id``. Bot-side topic management in
        private chats (createForumTopic & co, Bot API 9.4) is not modelled: it fails loudly.
        """
        self.world.private_topics = True
        self.world.users_create_topics = users_can_create

    async def user_creates_topic(
        self,
        user: User,
        name: str = "New chat",
        *,
        icon_color: int = TOPIC_ICON_COLORS[0],
        name_is_implicit: bool = False,
    ) -> Topic:
        """``user`` opens a new topic in their private chat with the bot: a
        ``forum_topic_created`` service message from the user in the private chat (its id is
        the topic's ``message_thread_id``), and its ``message`` update. ``name_is_implicit``:
        the user did not name it (Telegram names it after the first message; Bot API 9.3's
        ``is_name_implicit``)."""
        self._check_can_send(user)
        if not self.world.private_topics:
            raise FakeUsageError("the bot has no topics in private chats (enable_private_topics)")
        if not self.world.users_create_topics:
            raise FakeUsageError("the bot does not let users create topics")
        if user.blocked_bot:
            await self.user_unblocks_bot(user)
        user.started_bot = True
        chat = self.world.private_chat(user)
        return self.api.create_topic(
            chat, user.id, name, icon_color, None, name_is_implicit=name_is_implicit
        )

    async def user_deletes_topic(self, user: User, thread_id: int) -> None:
        """``user`` deletes a topic of their private chat: it and its messages vanish with no
        update; the bot's later sends into it fail with "message thread not found"."""
        if not self.world.users_create_topics:
            raise FakeUsageError("the bot does not let users delete topics")
        chat = self.world.private_chat(user)
        self.api.delete_topic(chat, self._live_topic(chat, thread_id))
        self.changes.notify()

    def private_topics(self, user: User) -> list[Topic]:
        """Every topic ever created in ``user``'s private chat (see ``.deleted``)."""
        return list(self.world.private_chat(user).topics.values())

    def private_topic(self, user: User, thread_id: int) -> Topic:
        return self.world.private_chat(user).topics[thread_id]

    # -- updates the bot's aiogram does not know -----------------------------------------------

    def push_raw_update(self, update_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue an update of any type (``"future_thing"``), for getUpdates or the webhook.

        Telegram sends a type only if ``allowed_updates`` lists it or, when the bot set none,
        if it is in the default set; a bot whose aiogram predates the type cannot list it. This
        helper bypasses the filter on purpose: it exists to test the bot's resilience to an
        update it cannot parse (an aiogram ``Update`` with no known event), whatever it asked
        for. For a ``message`` whose content is unknown, use
        ``user_sends(user, content=fake.content.unknown(...))`` instead: it is stored and
        filtered like any message.
        """
        return self.updates.push_unfiltered(update_type, payload)

    def _my_chat_member(self, user: User, old: str, new: str) -> None:
        def member(status: str) -> dict[str, Any]:
            data: dict[str, Any] = {"status": status, "user": self.world.bot.to_api()}
            if status == "kicked":
                data["until_date"] = 0
            return data

        chat = self.world.private_chat(user)
        self.updates.push(
            "my_chat_member",
            {
                "chat": chat.to_api(),
                "from": user.to_api(),
                "date": self.world.now(),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )

    # -- the bot's rights in a group ----------------------------------------------------------

    def _rights_changer(self, group: Group, by: User | None) -> User:
        """Who changes the bot's rights: ``by`` (the creator, or an administrator allowed to
        promote members) or else the group's creator (a "Group Owner" is made up if needed)."""
        if by is None:
            for membership in group.members.values():
                if membership.status == "creator":
                    return membership.user
            owner = self.add_user("Group", "Owner", started=False)
            self.add_member(group, owner, status="creator")
            return owner
        membership = self._membership(by, group)
        if membership.status != "creator" and not membership.rights.get("can_promote_members"):
            raise FakeUsageError(f"{by.first_name} cannot change the bot's rights")
        return by

    async def set_bot_rights(
        self, group: Group | int, *, by: User | None = None, **rights: bool
    ) -> None:
        """Someone changes the bot's administrator rights (``can_manage_topics=False``...).

        A bot that was not an administrator is promoted (with only the given rights and
        can_manage_chat, which every other right implies). The bot's calls see the new rights at
        once (createForumTopic, topic management, pins, getChatMember), and it gets a
        ``my_chat_member`` update — if ``allowed_updates`` lets it through — from ``by`` (see
        ``_rights_changer``) with the old and new ChatMemberAdministrator. No change, no update.
        """
        found = self.world.group(group)
        unknown = set(rights) - set(ADMIN_RIGHTS)
        if unknown:
            raise FakeUsageError(f"unknown administrator rights: {sorted(unknown)}")
        if found.bot_status not in ("member", "administrator"):
            raise FakeUsageError(f"the bot is {found.bot_status} in {found.title}")
        changer = self._rights_changer(found, by)
        old_status, old_rights = found.bot_status, dict(found.bot_rights)
        if found.bot_status == "administrator":
            new_rights = {**old_rights, **rights}
        else:
            new_rights = {key: False for key in ADMIN_RIGHTS}
            new_rights.update(can_manage_chat=True, **rights)
        if old_status == "administrator" and new_rights == old_rights:
            return
        found.bot_status, found.bot_rights = "administrator", new_rights
        self._group_chat_member_update(found, changer, old_status, old_rights)

    async def revoke_bot_right(
        self, group: Group | int, right: str, *, by: User | None = None
    ) -> None:
        """``set_bot_rights(group, **{right: False})``."""
        await self.set_bot_rights(group, by=by, **{right: False})

    async def restore_bot_right(
        self, group: Group | int, right: str, *, by: User | None = None
    ) -> None:
        """``set_bot_rights(group, **{right: True})``."""
        await self.set_bot_rights(group, by=by, **{right: True})

    def _group_chat_member_update(
        self, group: Group, changer: User, old_status: str, old_rights: dict[str, bool]
    ) -> None:
        bot = self.world.bot
        self.updates.push(
            "my_chat_member",
            {
                "chat": group.to_api(),
                "from": changer.to_api(),
                "date": self.world.now(),
                "old_chat_member": chat_member(bot, old_status, old_rights),
                "new_chat_member": chat_member(bot, group.bot_status, group.bot_rights),
            },
        )
        self.changes.notify()

    # -- operators ----------------------------------------------------------------------------

    def _membership(self, user: User, group: Group) -> Membership:
        membership = group.members.get(user.id)
        if membership is None or membership.status in ("left", "kicked"):
            raise FakeUsageError(f"{user.first_name} is not a member of {group.title}")
        return membership

    async def operator_sends(
        self,
        operator: User,
        group: Group | int,
        text: str | None = None,
        *,
        thread_id: int | None = None,
        reply_to: MessageRef | None = None,
        content: Content | None = None,
        caption: str | None = None,
        entities: list[dict[str, Any]] | None = None,
        media_group_id: str | None = None,
        **kinds: bool,
    ) -> dict[str, Any]:
        """``operator`` writes in ``group``: into topic ``thread_id`` (with the implicit reply
        to the topic's first message unless ``reply_to`` is given), or General when None."""
        found = self.world.group(group)
        membership = self._membership(operator, found)
        chosen = self._content(text, content, caption, entities, kinds)
        reply = self._reply_target(found, reply_to)
        if reply is not None:
            if thread_id is not None and reply.thread_id != thread_id:
                raise FakeUsageError("reply_to is in another topic")
            thread_id = reply.thread_id
        if thread_id is not None:
            topic = found.live_topic(thread_id)
            if topic is None:
                raise FakeUsageError(f"topic {thread_id} does not exist")
            if topic.closed and not (
                membership.status == "creator" or membership.rights.get("can_manage_topics")
            ):
                raise FakeUsageError(f"topic {thread_id} is closed")
        message = self.world.create_message(
            found,
            operator,
            chosen.message_fields(),
            thread_id=thread_id,
            reply_to=reply,
            media_group_id=media_group_id,
        )
        if self._bot_sees(found, message):
            self.updates.push("message", message.snapshot())
        return message.snapshot()

    async def operator_sends_album(
        self,
        operator: User,
        group: Group | int,
        items: Sequence[Content | str],
        *,
        thread_id: int | None = None,
        caption: str | None = None,
    ) -> list[dict[str, Any]]:
        group_id = self.world.new_media_group_id()
        return [
            await self.operator_sends(
                operator, group, thread_id=thread_id, content=item, media_group_id=group_id
            )
            for item in self._album(items, caption)
        ]

    async def operator_edits(
        self,
        operator: User,
        group: Group | int,
        message: MessageRef,
        *,
        text: str | None = None,
        caption: str | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        found = self.world.group(group)
        return self._edit(found, operator, _message_id(message), text, caption, entities)

    async def operator_reacts(
        self, operator: User, group: Group | int, message: MessageRef, emojis: Sequence[str]
    ) -> None:
        found = self.world.group(group)
        self._membership(operator, found)
        self._react(found, operator, _message_id(message), emojis)

    def _topic_admin(self, operator: User, group: Group | int) -> Group:
        found = self.world.group(group)
        membership = self._membership(operator, found)
        if not found.is_forum:
            raise FakeUsageError(f"{found.title} is not a forum")
        if membership.status != "creator" and not membership.rights.get("can_manage_topics"):
            raise FakeUsageError(f"{operator.first_name} cannot manage topics")
        return found

    def _live_topic(self, chat: Chat, thread_id: int) -> Topic:
        topic = chat.live_topic(thread_id)
        if topic is None:
            raise FakeUsageError(f"topic {thread_id} does not exist")
        return topic

    async def operator_creates_topic(
        self, operator: User, group: Group | int, name: str, icon_color: int = 7322096
    ) -> Topic:
        found = self._topic_admin(operator, group)
        return self.api.create_topic(found, operator.id, name, icon_color, None)

    async def operator_renames_topic(
        self, operator: User, group: Group | int, thread_id: int, name: str
    ) -> None:
        found = self._topic_admin(operator, group)
        self.api.edit_topic(found, operator.id, self._live_topic(found, thread_id), name, None)

    async def operator_closes_topic(
        self, operator: User, group: Group | int, thread_id: int
    ) -> None:
        """A ``forum_topic_closed`` service message in the topic, and its ``message`` update."""
        found = self._topic_admin(operator, group)
        self.api.set_topic_closed(
            found, operator.id, self._live_topic(found, thread_id), closed=True
        )

    async def operator_reopens_topic(
        self, operator: User, group: Group | int, thread_id: int
    ) -> None:
        found = self._topic_admin(operator, group)
        self.api.set_topic_closed(
            found, operator.id, self._live_topic(found, thread_id), closed=False
        )

    async def delete_topic(
        self, group: Group | int, thread_id: int, *, error: str | None = None
    ) -> None:
        """An operator deletes the topic: it and its messages vanish, with NO update. Later
        sends answer ``message thread not found`` (or ``error``, e.g. "TOPIC_DELETED")."""
        found = self.world.group(group)
        topic = self._live_topic(found, thread_id)
        self.api.delete_topic(found, topic)
        topic.deleted_error = error
        self.changes.notify()

    async def delete_message(self, chat: ChatRef, message: MessageRef) -> None:
        """Someone deletes a message (a pinned one is unpinned); Telegram tells bots nothing.
        The bot's later edits of it fail with "message to edit not found"."""
        found = self._chat(chat)
        stored = found.message(_message_id(message))
        if stored is None:
            raise FakeUsageError("no such message")
        found.forget(stored)
        self.changes.notify()

    async def operator_pins(
        self, operator: User, group: Group | int, message: MessageRef
    ) -> dict[str, Any]:
        """``operator`` pins a message: a ``pinned_message`` service message from them in the
        message's topic, which the bot gets as a ``message`` update."""
        found = self.world.group(group)
        membership = self._membership(operator, found)
        if membership.status != "creator" and not membership.rights.get("can_pin_messages"):
            raise FakeUsageError(f"{operator.first_name} cannot pin messages")
        stored = found.message(_message_id(message))
        if stored is None:
            raise FakeUsageError(f"no message {_message_id(message)} to pin")
        return self.api.pin_message(found, operator, stored).snapshot()

    # -- shared by people ---------------------------------------------------------------------

    def _reply_target(self, chat: Chat, reply_to: MessageRef | None) -> StoredMessage | None:
        if reply_to is None:
            return None
        target = chat.message(_message_id(reply_to))
        if target is None:
            raise FakeUsageError(f"no message {_message_id(reply_to)} to reply to")
        return target

    def _edit(
        self,
        chat: Chat,
        author: User,
        message_id: int,
        text: str | None,
        caption: str | None,
        entities: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        message = chat.message(message_id)
        if message is None or message.sender_id != author.id:
            raise FakeUsageError(f"{author.first_name} has no message {message_id} here")
        kind = kind_of(message.data)
        if text is not None:
            if kind != "text":
                raise FakeUsageError("only a text message has text to edit")
            new = {"text": text, "entities": entities}
        elif caption is not None:
            if kind not in CAPTIONED_KINDS:
                raise FakeUsageError(f"a {kind} has no caption")
            new = {"caption": caption or None, "caption_entities": entities}
        else:
            raise FakeUsageError("give text= or caption=")
        if all(message.data.get(key) == value for key, value in new.items()):
            return message.snapshot()  # Nothing changed: Telegram sends no update.
        for key, value in new.items():
            message.data.pop(key, None)
            if value:
                message.data[key] = copy.deepcopy(value)
        message.data["edit_date"] = self.world.now()
        if not isinstance(chat, Group) or self._bot_sees(chat, message):
            self.updates.push("edited_message", message.snapshot())
        return message.snapshot()

    def _react(self, chat: Chat, user: User, message_id: int, emojis: Sequence[str]) -> None:
        message = chat.message(message_id)
        if message is None:
            raise FakeUsageError(f"no message {message_id} to react to")
        old = message.user_reactions.get(user.id, [])
        new = [{"type": "emoji", "emoji": emoji} for emoji in emojis]
        if old == new:
            return
        message.user_reactions[user.id] = new
        if isinstance(chat, Group) and not chat.bot_is_admin:
            self.changes.notify()
            return  # In groups only admin bots get reaction updates.
        self.updates.push(
            "message_reaction",
            {
                "chat": chat.to_api(),
                "message_id": message_id,
                "user": user.to_api(),
                "date": self.world.now(),
                "old_reaction": old,
                "new_reaction": new,
            },
        )

    def _bot_sees(self, group: Group, message: StoredMessage) -> bool:
        """Privacy mode: a bot that is not an admin sees only commands, replies to its own
        messages, mentions of it and service messages."""
        data = message.data
        if group.bot_is_admin or kind_of(data) == "service":
            return True
        if data.get("reply_to_message", {}).get("from", {}).get("id") == self.world.bot.id:
            return True
        text = data.get("text") or data.get("caption") or ""
        for entity in data.get("entities", []) or data.get("caption_entities", []):
            if entity["type"] == "bot_command" and entity["offset"] == 0:
                command = text[: entity["length"]]
                return "@" not in command or command.endswith(f"@{self.world.bot.username}")
        return f"@{self.world.bot.username}" in text

    # -- reading ------------------------------------------------------------------------------

    def _chat(self, chat: ChatRef) -> Chat:
        if isinstance(chat, Chat):
            return chat
        chat_id = chat.id if isinstance(chat, User) else chat
        found = self.world.chats.get(chat_id)
        if found is None:
            raise FakeUsageError(f"no chat {chat_id}")
        return found

    def chat_messages(
        self, chat: ChatRef, *, thread_id: int | None = _ANY, include_service: bool = True
    ) -> list[dict[str, Any]]:
        """Visible messages of a chat (a User means their private chat), oldest first;
        ``thread_id`` filters a forum topic (None: General)."""
        return [
            message.snapshot()
            for message in self._chat(chat).visible()
            if (thread_id is _ANY or message.thread_id == thread_id)
            and (include_service or kind_of(message.data) != "service")
        ]

    def topic_messages(
        self, group: Group | int, thread_id: int, *, include_service: bool = False
    ) -> list[dict[str, Any]]:
        """What operators see in a topic (service messages only when asked for)."""
        return self.chat_messages(group, thread_id=thread_id, include_service=include_service)

    def general_messages(
        self, group: Group | int, *, include_service: bool = False
    ) -> list[dict[str, Any]]:
        """Messages in the General topic (those without message_thread_id)."""
        return self.chat_messages(group, thread_id=None, include_service=include_service)

    def messages_from_bot(self, chat: ChatRef) -> list[dict[str, Any]]:
        return [m for m in self.chat_messages(chat) if m["from"]["id"] == self.world.bot.id]

    def message(self, chat: ChatRef, message: MessageRef) -> dict[str, Any] | None:
        stored = self._chat(chat).message(_message_id(message))
        return None if stored is None else stored.snapshot()

    def topics(self, group: Group | int) -> list[Topic]:
        """Every topic ever created (see ``.name``, ``.closed``, ``.deleted``)."""
        return list(self.world.group(group).topics.values())

    def topic(self, group: Group | int, thread_id: int) -> Topic:
        return self.world.group(group).topics[thread_id]

    def topic_named(self, group: Group | int, name: str) -> Topic:
        found = [t for t in self.topics(group) if t.name == name and not t.deleted]
        if len(found) != 1:
            raise AssertionError(f"expected one live topic named {name!r}, found {len(found)}")
        return found[0]

    def pinned_messages(self, chat: ChatRef) -> list[dict[str, Any]]:
        """The pinned messages of a chat, the newest pin first (deleted ones are gone)."""
        found = self._chat(chat)
        return [stored.snapshot() for stored in filter(None, map(found.message, found.pinned))]

    @property
    def notifications(self) -> list[Notification]:
        """Everyone the bot's messages notified in groups, in order (see ``notified``)."""
        return list(self.world.notifications)

    def notified(self, user: User, chat: ChatRef | None = None) -> list[dict[str, Any]]:
        """The bot's messages that notified ``user`` (as sent), oldest first: they mention
        the user (``@username``, ``text_mention``) or explicitly reply to the user's message, in
        a group the user is a member of (of ``chat`` only, if given)."""
        chat_id = None if chat is None else self._chat(chat).id
        return [
            copy.deepcopy(notification.message)
            for notification in self.world.notifications
            if notification.user_id == user.id and chat_id in (None, notification.chat_id)
        ]

    def reactions_by_bot(self, chat: ChatRef, message: MessageRef) -> list[str]:
        """The emoji the bot has put on a message ([] if none)."""
        stored = self._chat(chat).messages.get(_message_id(message))
        return [] if stored is None else [r["emoji"] for r in stored.bot_reaction]

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates enqueued and not yet confirmed (getUpdates offset) or delivered (webhook)."""
        return copy.deepcopy(self.updates.pending)

    def calls_of(self, method: str) -> list[CallRecord]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    async def wait_for(
        self, predicate: Callable[[], object], timeout: float = 5.0, what: str | None = None
    ) -> None:
        """Wait until ``predicate()`` is truthy, re-checking on every change of the fake."""
        if not await self.changes.until(lambda: bool(predicate()), timeout):
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


def text_entity(kind: str, text: str, fragment: str, **extra: Any) -> dict[str, Any]:
    """An entity of ``kind`` covering the first ``fragment`` in ``text`` (UTF-16 offsets)."""
    start = text.index(fragment)
    return {
        "type": kind,
        "offset": utf16_len(text[:start]),
        "length": utf16_len(fragment),
        **extra,
    }
