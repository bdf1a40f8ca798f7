"""The Bot API methods the fake implements, with Telegram's validation and error strings.

Each handler takes the call's ``Params`` and returns the ``result`` or raises ``ApiError``.
To add a method: write ``async def name(self, p: Params) -> Any`` decorated with
``@api_method("methodName")``; anything not registered answers 404 and fails the test.
"""

from __future__ import annotations

import copy
import itertools
import json
import mimetypes
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import errors as e
from .content import (
    BOT_CAPTION_LIMIT,
    CAPTIONED_KINDS,
    CONTENT_KEYS,
    TEXT_LIMIT,
    copy_refusal,
    kind_of,
)
from .errors import NotModelled, bad_request, conflict, forbidden
from .formatting import find_mentions, format_text
from .icons import TOPIC_ICON_IDS, topic_icon_stickers
from .params import Params, UploadedFile
from .state import (
    ADMIN_RIGHTS,
    TOPIC_ICON_COLORS,
    Chat,
    Group,
    Notification,
    PrivateChat,
    StoredMessage,
    Topic,
    User,
)
from .updates import Webhook

if TYPE_CHECKING:
    from .fake import FakeTelegram

Handler = Callable[["BotApi", Params], Awaitable[Any]]
F = TypeVar("F", bound=Handler)

# Standard reactions a bot may set (ReactionTypeEmoji in the Bot API docs).
_STANDARD_REACTIONS = (
    "❤ 👍 👎 🔥 🥰 👏 😁 🤔 🤯 😱 🤬 😢 🎉 🤩 🤮 💩 🙏 👌 🕊 🤡 🥱 🥴 😍 🐳 ❤\u200d🔥 🌚 🌭 "
    "💯 🤣 ⚡ 🍌 🏆 💔 🤨 😐 🍓 🍾 💋 🖕 😈 😴 😭 🤓 👻 👨\u200d💻 👀 🎃 🙈 😇 😨 🤝 ✍ 🤗 "
    "🫡 🎅 🎄 ☃ 💅 🤪 🗿 🆒 💘 🙉 🦄 😘 💊 🙊 😎 👾 🤷\u200d♂ 🤷 🤷\u200d♀ 😡"
)
REACTION_EMOJI = frozenset(_STANDARD_REACTIONS.split())
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip
MEDIA_KINDS = ("photo", "document", "video", "animation", "audio", "voice", "video_note", "sticker")
# Where Telegram's exact wording is unknown, the fake uses these (documented as plausible).
TOPIC_NAME_EMPTY = "TOPIC_TITLE_EMPTY"
TOPIC_ICON_COLOR_INVALID = "TOPIC_ICON_COLOR_INVALID"
REACTION_TARGET_NOT_FOUND = "message to react not found"
COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


def api_method(name: str) -> Callable[[F], F]:
    def register(handler: F) -> F:
        handler.__api_method__ = name  # type: ignore[attr-defined]
        return handler

    return register


class BotApi:
    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.world = fake.world
        self.updates = fake.updates
        self.handlers: dict[str, tuple[str, Handler]] = {}
        for attribute in vars(BotApi).values():
            name = getattr(attribute, "__api_method__", None)
            if name is not None:
                self.handlers[name.lower()] = (name, attribute)

    def lookup(self, method: str) -> tuple[str, Handler] | None:
        return self.handlers.get(method.lower())

    # -- shared rules -------------------------------------------------------------------------

    def _chat(self, p: Params, name: str = "chat_id") -> Chat:
        return self.world.resolve_chat(p.chat_id(name))

    def _group(self, p: Params) -> Group:
        chat = self._chat(p)
        if isinstance(chat, PrivateChat) and self.world.private_topics:
            # Bot API 9.3/9.4 let bots create, edit and delete topics of private chats too.
            raise NotModelled("forum topic management in private chats")
        if not isinstance(chat, Group) or not chat.is_forum:
            raise bad_request("the chat is not a forum")
        return chat

    @staticmethod
    def check_writable(chat: Chat) -> None:
        """Can the bot put something into this chat at all?"""
        if isinstance(chat, PrivateChat):
            user = chat.user
            if user.deactivated:
                raise forbidden(e.USER_DEACTIVATED)
            if user.blocked_bot:
                raise forbidden(e.BOT_BLOCKED)
            if not user.started_bot:
                raise forbidden(e.CANT_INITIATE)
        elif isinstance(chat, Group):
            kind = "supergroup" if chat.type == "supergroup" else "group"
            if chat.bot_status == "kicked":
                raise forbidden(f"bot was kicked from the {kind} chat")
            if chat.bot_status == "left":
                raise forbidden(f"bot is not a member of the {kind} chat")

    def _topic_for_send(self, chat: Chat, thread_id: int) -> Topic:
        """The topic a send names, or Telegram's refusal.

        A private chat has topics only when the bot has them enabled (Bot API 9.3); the Bot API
        server looks the topic up (``getForumTopic``) and answers every failure with "message
        thread not found" (tdlib/telegram-bot-api ``TdOnCheckForumTopicCallback``).
        """
        if isinstance(chat, PrivateChat):
            if not self.world.private_topics:
                raise bad_request(e.THREAD_NOT_FOUND)
        elif not isinstance(chat, Group) or not chat.is_forum:
            raise bad_request(e.THREAD_NOT_FOUND)
        topic = chat.topics.get(thread_id)
        if topic is None:
            raise bad_request(e.THREAD_NOT_FOUND)
        if topic.deleted:
            raise bad_request(
                topic.deleted_error or self.world.topic_deleted_error or e.THREAD_NOT_FOUND
            )
        if topic.closed and not (isinstance(chat, Group) and chat.bot_can("can_manage_topics")):
            raise bad_request(e.TOPIC_CLOSED)
        return topic

    def _placement(
        self, chat: Chat, p: Params, *, replies: bool = True
    ) -> tuple[int | None, StoredMessage | None]:
        """Where a new message goes: (topic thread id or None for General/private, reply)."""
        thread_id = p.integer("message_thread_id")
        if thread_id is not None:
            self._topic_for_send(chat, thread_id)
        if not replies:
            return thread_id, None
        reply_id = p.integer("reply_to_message_id")
        allow_without = p.flag("allow_sending_without_reply")
        parameters = p.json_value("reply_parameters")
        if isinstance(parameters, dict):
            if parameters.get("chat_id") not in (None, chat.id):
                raise NotModelled("reply_parameters.chat_id pointing to another chat")
            reply_id = parameters.get("message_id")
            allow_without = bool(parameters.get("allow_sending_without_reply", allow_without))
        if reply_id is None:
            return thread_id, None
        reply_to = chat.message(int(reply_id))
        if reply_to is not None and thread_id is not None and reply_to.thread_id != thread_id:
            reply_to = None  # Not a message of this topic.
        if reply_to is None:
            if not allow_without:
                raise bad_request(self.world.reply_not_found_error)
            return thread_id, None
        if reply_to.thread_id is not None:
            self._topic_for_send(chat, reply_to.thread_id)
        return reply_to.thread_id, reply_to

    def _deliver(
        self,
        chat: Chat,
        fields: dict[str, Any],
        p: Params,
        *,
        replies: bool = True,
    ) -> StoredMessage:
        self.check_writable(chat)
        thread_id, reply_to = self._placement(chat, p, replies=replies)
        markup = p.json_value("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            # Only inline keyboards are part of the Message object.
            fields = {**fields, "reply_markup": markup}
        message = self.world.create_message(
            chat, self.world.bot, fields, thread_id=thread_id, reply_to=reply_to
        )
        self._notify(chat, message, reply_to, silent=p.flag("disable_notification"))
        return message

    def _notify(
        self, chat: Chat, message: StoredMessage, reply_to: StoredMessage | None, *, silent: bool
    ) -> None:
        """Record whom a new message of the bot notifies in a group: the members it mentions
        (``@username`` in the text or a ``mention`` entity; a ``text_mention``) and the author of
        the message it explicitly replies to. Only members of the group are notified.

        In a private chat every message notifies its user anyway: nothing is recorded there.
        Edits notify nobody (Telegram does not notify about mentions added by an edit).
        """
        if not isinstance(chat, Group):
            return
        data = message.data
        text = data.get("text") or data.get("caption") or ""
        entities = data.get("entities") or data.get("caption_entities") or []
        reasons: dict[int, str] = {}
        for entity in entities:
            if entity["type"] == "text_mention":
                reasons.setdefault(int(entity["user"]["id"]), "text_mention")
        usernames = set(find_mentions(text, entities))
        for membership in chat.members.values():
            username = membership.user.username
            if username and username.lower() in usernames:
                reasons.setdefault(membership.user.id, "mention")
        if reply_to is not None:
            reasons.setdefault(reply_to.sender_id, "reply")
        for user_id, reason in reasons.items():
            if user_id != self.world.bot.id and chat.is_member(user_id):
                self.world.notifications.append(
                    Notification(
                        user_id, chat.id, message.message_id, reason, silent, message.snapshot()
                    )
                )

    def _caption(self, p: Params, name: str = "caption") -> dict[str, Any]:
        caption = p.text(name)
        if caption is None:
            return {}
        text, entities = format_text(
            caption, p.text("parse_mode"), p.json_value(f"{name}_entities")
        )
        entities = self._full_mentions(entities)
        if len(text) > BOT_CAPTION_LIMIT:
            raise bad_request(e.CAPTION_TOO_LONG)
        fields: dict[str, Any] = {"caption": text} if text else {}
        if entities and text:
            fields["caption_entities"] = entities
        return fields

    def _full_mentions(self, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A ``text_mention`` (from ``<a href="tg://user?id=...">``) carries the whole User,
        as Telegram returns it (aiogram requires ``is_bot`` and ``first_name``)."""
        for entity in entities:
            if entity["type"] != "text_mention":
                continue
            user_id = (entity.get("user") or {}).get("id")
            if user_id in self.world.users or user_id == self.world.bot.id:
                entity["user"] = self.world.sender(user_id).to_api()
        return entities

    def _text(self, p: Params) -> dict[str, Any]:
        text, entities = format_text(
            p.text("text") or "", p.text("parse_mode"), p.json_value("entities")
        )
        entities = self._full_mentions(entities)
        if not text:
            raise bad_request(e.TEXT_EMPTY)
        if len(text) > TEXT_LIMIT:
            raise bad_request(e.TEXT_TOO_LONG)
        fields: dict[str, Any] = {"text": text}
        if entities:
            fields["entities"] = entities
        return fields

    def _media(self, kind: str, source: UploadedFile | str | None) -> dict[str, Any]:
        """The message fields of a media file: uploaded, by file_id, or by URL."""
        if source is None:
            raise bad_request(f"there is no {kind} in the request")
        if isinstance(source, UploadedFile) or source.startswith(("http://", "https://")):
            fields = self.world.content.of_kind(kind).message_fields()
            if isinstance(source, UploadedFile) and kind in ("document", "audio", "video"):
                guessed, _ = mimetypes.guess_type(source.filename)
                fields[kind].update(
                    file_name=source.filename,
                    mime_type=guessed or source.content_type,
                    file_size=len(source.data),
                )
                self.world.files.remember(kind, fields[kind], fields[kind]["file_id"])
            return fields
        known = self.world.files.lookup(source)
        if known is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        known_kind, payload = known
        if known_kind != kind and not (kind == "document" and known_kind == "animation"):
            raise bad_request(f"can't use file of type {known_kind.title()} as {kind.title()}")
        fields = {kind: copy.deepcopy(payload)}
        if kind == "animation":
            fields["document"] = {
                k: payload[k] for k in ("file_id", "file_unique_id") if k in payload
            }
        return fields

    def _push_message_update(self, message: StoredMessage) -> None:
        self.updates.push("message", message.snapshot())

    # -- bot and chats ------------------------------------------------------------------------

    @api_method("getMe")
    async def get_me(self, p: Params) -> Any:
        return {
            **self.world.bot.to_api(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
            "has_topics_enabled": self.world.private_topics,
            "allows_users_to_create_topics": (
                self.world.private_topics and self.world.users_create_topics
            ),
        }

    @api_method("getChat")
    async def get_chat(self, p: Params) -> Any:
        chat = self._chat(p)
        if isinstance(chat, PrivateChat) and not chat.user.started_bot:
            raise bad_request(e.CHAT_NOT_FOUND)  # The bot has never met this user.
        info = chat.full_info()
        if isinstance(chat, Group):
            info["permissions"] = {"can_send_messages": True}
        pinned = chat.latest_pinned()
        if pinned is not None:
            # A Message without its own reply (Client.cpp: JsonChat).
            info["pinned_message"] = _without_reply(pinned)
        return info

    @api_method("getChatMember")
    async def get_chat_member(self, p: Params) -> Any:
        chat = self._chat(p)
        user_id = p.require_int("user_id", "user_id is empty")
        if user_id == self.world.bot.id:
            user = self.world.bot
            if isinstance(chat, Group):
                return chat_member(user, chat.bot_status, chat.bot_rights)
            assert isinstance(chat, PrivateChat)
            return chat_member(user, "kicked" if chat.user.blocked_bot else "member", {})
        if user_id not in self.world.users:
            raise bad_request("user not found")
        user = self.world.users[user_id]
        if isinstance(chat, PrivateChat):
            return chat_member(user, "member" if user.id == chat.id else "left", {})
        assert isinstance(chat, Group)
        membership = chat.members.get(user_id)
        if membership is None:
            return chat_member(user, "left", {})
        return chat_member(user, membership.status, membership.rights)

    @api_method("sendChatAction")
    async def send_chat_action(self, p: Params) -> Any:
        chat = self._chat(p)
        action = p.text("action")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.check_writable(chat)
        thread_id = p.integer("message_thread_id")
        if thread_id is not None:
            self._topic_for_send(chat, thread_id)
        return True

    # -- commands -----------------------------------------------------------------------------

    @staticmethod
    def _commands_key(p: Params) -> tuple[str, str]:
        scope = p.json_value("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), p.text("language_code") or ""

    @api_method("setMyCommands")
    async def set_my_commands(self, p: Params) -> Any:
        commands = p.json_value("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("too many commands specified")
        for command in commands:
            if not COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        clean = [{"command": c["command"], "description": c["description"]} for c in commands]
        self.world.commands[self._commands_key(p)] = clean
        return True

    @api_method("getMyCommands")
    async def get_my_commands(self, p: Params) -> Any:
        return copy.deepcopy(self.world.commands.get(self._commands_key(p), []))

    @api_method("deleteMyCommands")
    async def delete_my_commands(self, p: Params) -> Any:
        self.world.commands.pop(self._commands_key(p), None)
        return True

    # -- receiving updates --------------------------------------------------------------------

    @api_method("getUpdates")
    async def get_updates(self, p: Params) -> Any:
        if self.fake.webhook.webhook is not None:
            raise conflict(e.WEBHOOK_ACTIVE_CONFLICT)
        poll = self.updates.begin_poll()
        try:
            offset = p.integer("offset")
            limit = min(max(p.integer("limit", 100) or 100, 1), 100)
            timeout = min(max(p.integer("timeout", 0) or 0, 0), 50)
            allowed = p.json_value("allowed_updates")
            if isinstance(allowed, list):
                self.updates.allowed_updates = [str(kind) for kind in allowed]
            if offset is not None:
                self.updates.confirm(offset)
            await self.fake.changes.until(
                lambda: bool(poll.terminated_by or self.updates.pending or self.fake.stopping),
                timeout,
            )
            if poll.terminated_by == "getUpdates":
                raise conflict(e.GET_UPDATES_CONFLICT)
            if poll.terminated_by == "setWebhook":
                raise conflict(e.SET_WEBHOOK_CONFLICT)
            return self.updates.peek(limit)
        finally:
            self.updates.end_poll(poll)

    @api_method("setWebhook")
    async def set_webhook(self, p: Params) -> Any:
        url = p.text("url") or ""
        if not url:
            return await self.delete_webhook(p)
        if not url.startswith("https://") and not re.match(
            r"http://(127\.0\.0\.1|localhost)[:/]", url
        ):
            # Telegram wants HTTPS; the fake also accepts plain HTTP on loopback for tests.
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        allowed = p.json_value("allowed_updates")
        if isinstance(allowed, list):
            self.updates.allowed_updates = [str(kind) for kind in allowed]
        if p.flag("drop_pending_updates"):
            self.updates.drop_all()
        self.updates.terminate_poll("setWebhook")
        secret = p.text("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("secret token contains unallowed characters")
        webhook = Webhook(
            url=url, secret_token=secret, max_connections=p.integer("max_connections", 40) or 40
        )
        await self.fake.webhook.set(webhook)
        return True

    @api_method("deleteWebhook")
    async def delete_webhook(self, p: Params) -> Any:
        await self.fake.webhook.remove()
        if p.flag("drop_pending_updates"):
            self.updates.drop_all()
        return True

    @api_method("getWebhookInfo")
    async def get_webhook_info(self, p: Params) -> Any:
        pending = len(self.updates.pending)
        webhook = self.fake.webhook.webhook
        if webhook is None:
            return {"url": "", "has_custom_certificate": False, "pending_update_count": pending}
        info = webhook.info(pending)
        if self.updates.allowed_updates:
            info["allowed_updates"] = list(self.updates.allowed_updates)
        return info

    # -- sending ------------------------------------------------------------------------------

    @api_method("sendMessage")
    async def send_message(self, p: Params) -> Any:
        fields = self._text(p)
        return self._deliver(self._chat(p), fields, p).snapshot()

    async def _send_media(self, kind: str, p: Params) -> Any:
        fields = self._media(kind, p.file(kind))
        if kind in CAPTIONED_KINDS:
            fields.update(self._caption(p))
        if kind in ("photo", "video", "animation") and p.flag("has_spoiler"):
            fields["has_media_spoiler"] = True
        return self._deliver(self._chat(p), fields, p).snapshot()

    @api_method("sendPhoto")
    async def send_photo(self, p: Params) -> Any:
        return await self._send_media("photo", p)

    @api_method("sendDocument")
    async def send_document(self, p: Params) -> Any:
        return await self._send_media("document", p)

    @api_method("sendVideo")
    async def send_video(self, p: Params) -> Any:
        return await self._send_media("video", p)

    @api_method("sendAnimation")
    async def send_animation(self, p: Params) -> Any:
        return await self._send_media("animation", p)

    @api_method("sendAudio")
    async def send_audio(self, p: Params) -> Any:
        return await self._send_media("audio", p)

    @api_method("sendVoice")
    async def send_voice(self, p: Params) -> Any:
        return await self._send_media("voice", p)

    @api_method("sendVideoNote")
    async def send_video_note(self, p: Params) -> Any:
        return await self._send_media("video_note", p)

    @api_method("sendSticker")
    async def send_sticker(self, p: Params) -> Any:
        return await self._send_media("sticker", p)

    @api_method("sendLocation")
    async def send_location(self, p: Params) -> Any:
        latitude, longitude = p.number("latitude"), p.number("longitude")
        if latitude is None or longitude is None:
            raise bad_request("wrong latitude or longitude specified")
        fields = {"location": {"latitude": latitude, "longitude": longitude}}
        return self._deliver(self._chat(p), fields, p).snapshot()

    @api_method("sendContact")
    async def send_contact(self, p: Params) -> Any:
        phone, first_name = p.text("phone_number"), p.text("first_name")
        if not phone:
            raise bad_request("phone number is empty")
        if not first_name:
            raise bad_request("first name is empty")
        contact: dict[str, Any] = {"phone_number": phone, "first_name": first_name}
        if p.text("last_name"):
            contact["last_name"] = p.text("last_name")
        return self._deliver(self._chat(p), {"contact": contact}, p).snapshot()

    @api_method("sendDice")
    async def send_dice(self, p: Params) -> Any:
        emoji = p.text("emoji") or "🎲"
        if emoji not in ("🎲", "🎯", "🏀", "⚽", "🎳", "🎰"):
            raise bad_request("wrong emoji specified")
        fields = self.world.content.dice(emoji).message_fields()
        return self._deliver(self._chat(p), fields, p).snapshot()

    # -- copying and forwarding ---------------------------------------------------------------

    def _source(self, p: Params, not_found: str) -> tuple[Chat, StoredMessage]:
        from_chat = self._chat(p, "from_chat_id")
        message_id = p.require_int("message_id", "message identifier is not specified")
        source = from_chat.message(message_id)
        if source is None:
            raise bad_request(not_found)
        return from_chat, source

    @staticmethod
    def _content_of(message: StoredMessage) -> dict[str, Any]:
        return {k: copy.deepcopy(message.data[k]) for k in CONTENT_KEYS if k in message.data}

    @api_method("copyMessage")
    async def copy_message(self, p: Params) -> Any:
        chat = self._chat(p)
        _, source = self._source(p, "message to copy not found")
        refusal = copy_refusal(source.data)
        if refusal:
            raise bad_request(refusal)
        fields = self._content_of(source)
        if kind_of(source.data) in CAPTIONED_KINDS and "caption" in p:
            fields.pop("caption", None)
            fields.pop("caption_entities", None)
            fields.update(self._caption(p))
        if len(fields.get("caption", "")) > BOT_CAPTION_LIMIT:
            raise bad_request(e.CAPTION_TOO_LONG)
        copied = self._deliver(chat, fields, p)
        return {"message_id": copied.message_id}

    @api_method("copyMessages")
    async def copy_messages(self, p: Params) -> Any:
        chat = self._chat(p)
        from_chat = self._chat(p, "from_chat_id")
        ids = p.json_value("message_ids")
        if not isinstance(ids, list) or not ids:
            raise bad_request("message identifiers are not specified")
        if len(ids) > 100:
            raise bad_request("too many messages to copy")
        ids = [int(i) for i in ids]
        if any(b <= a for a, b in itertools.pairwise(ids)):
            raise bad_request("message identifiers must be in a strictly increasing order")
        remove_caption = p.flag("remove_caption")
        sources = [
            message
            for message in (from_chat.message(i) for i in ids)
            if message is not None and copy_refusal(message.data) is None
        ]
        contents = []
        for source in sources:
            fields = self._content_of(source)
            if remove_caption:
                fields.pop("caption", None)
                fields.pop("caption_entities", None)
            if len(fields.get("caption", "")) > BOT_CAPTION_LIMIT:
                raise bad_request(e.CAPTION_TOO_LONG)
            contents.append(fields)
        self.check_writable(chat)
        thread_id, _ = self._placement(chat, p, replies=False)
        # An album stays an album: copies of one source album share a new media_group_id.
        album_sizes: dict[str, int] = {}
        for source in sources:
            group_id = source.data.get("media_group_id")
            if group_id:
                album_sizes[group_id] = album_sizes.get(group_id, 0) + 1
        new_group_ids = {
            group_id: self.world.new_media_group_id()
            for group_id, size in album_sizes.items()
            if size > 1
        }
        result = []
        for source, fields in zip(sources, contents, strict=True):
            copied = self.world.create_message(
                chat,
                self.world.bot,
                fields,
                thread_id=thread_id,
                media_group_id=new_group_ids.get(source.data.get("media_group_id", "")),
            )
            self._notify(chat, copied, None, silent=p.flag("disable_notification"))
            result.append({"message_id": copied.message_id})
        return result

    @api_method("forwardMessage")
    async def forward_message(self, p: Params) -> Any:
        chat = self._chat(p)
        _, source = self._source(p, "message to forward not found")
        if kind_of(source.data) == "service":
            raise bad_request(e.MESSAGE_CANT_BE_FORWARDED)
        fields = self._content_of(source)
        fields["forward_origin"] = source.data.get("forward_origin") or {
            "type": "user",
            "date": source.data["date"],
            "sender_user": source.data["from"],
        }
        forwarded = self._deliver(chat, fields, p, replies=False)
        return forwarded.snapshot()

    # -- editing ------------------------------------------------------------------------------

    def _own_message(self, p: Params) -> tuple[Chat, StoredMessage]:
        if "inline_message_id" in p:
            raise NotModelled("editing inline messages")
        chat = self._chat(p)
        message_id = p.require_int("message_id", "message identifier is not specified")
        self.check_writable(chat)
        message = chat.message(message_id)
        if message is None:
            raise bad_request(e.EDIT_TARGET_NOT_FOUND)
        if message.sender_id != self.world.bot.id:
            raise bad_request("message can't be edited")
        return chat, message

    def _apply_edit(self, message: StoredMessage, fields: dict[str, Any], p: Params) -> Any:
        markup = p.json_value("reply_markup")
        new = {k: v for k, v in fields.items() if v is not None}
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            new["reply_markup"] = markup
        old = {k: message.data.get(k) for k in (*fields, "reply_markup")}
        old = {k: v for k, v in old.items() if v is not None}
        if old == new:
            raise bad_request(e.NOT_MODIFIED)
        for key in (*fields, "reply_markup"):
            message.data.pop(key, None)
        message.data.update(copy.deepcopy(new))
        message.data["edit_date"] = self.world.now()
        return message.snapshot()

    @api_method("editMessageText")
    async def edit_message_text(self, p: Params) -> Any:
        _, message = self._own_message(p)
        if "text" not in message.data:
            raise bad_request("there is no text in the message to edit")
        fields = self._text(p)
        return self._apply_edit(
            message, {"text": fields["text"], "entities": fields.get("entities")}, p
        )

    @api_method("editMessageCaption")
    async def edit_message_caption(self, p: Params) -> Any:
        _, message = self._own_message(p)
        if kind_of(message.data) not in CAPTIONED_KINDS:
            raise bad_request("there is no caption in the message to edit")
        fields = self._caption(p)
        return self._apply_edit(
            message,
            {"caption": fields.get("caption"), "caption_entities": fields.get("caption_entities")},
            p,
        )

    @api_method("editMessageMedia")
    async def edit_message_media(self, p: Params) -> Any:
        _, message = self._own_message(p)
        old_kind = kind_of(message.data)
        if old_kind not in (*CAPTIONED_KINDS, "video_note", "sticker") or old_kind == "voice":
            raise bad_request("there is no media in the message to edit")
        media = p.json_value("media")
        if not isinstance(media, dict) or media.get("type") not in (
            "photo", "video", "animation", "audio", "document",
        ):  # fmt: skip
            raise bad_request("can't parse InputMedia JSON object")
        kind = str(media["type"])
        source: UploadedFile | str | None = media.get("media")
        if isinstance(source, str) and source.startswith("attach://"):
            source = p.attachment(source)
            if source is None:
                raise bad_request("can't find attached file")
        new_fields = self._media(kind, source)
        caption_params = Params({k: v for k, v in media.items() if k != "media"})
        new_fields.update(self._caption(caption_params))
        fields: dict[str, Any] = {key: None for key in CONTENT_KEYS}
        fields.update(new_fields)
        if message.data.get(kind) == new_fields.get(kind) and message.data.get(
            "caption"
        ) == new_fields.get("caption"):
            raise bad_request(e.NOT_MODIFIED)
        return self._apply_edit(message, fields, p)

    @api_method("editMessageReplyMarkup")
    async def edit_message_reply_markup(self, p: Params) -> Any:
        _, message = self._own_message(p)
        return self._apply_edit(message, {}, p)

    @api_method("deleteMessage")
    async def delete_message(self, p: Params) -> Any:
        chat = self._chat(p)
        message = chat.message(p.require_int("message_id", "message identifier is not specified"))
        if message is None:
            raise bad_request("message to delete not found")
        own = message.sender_id == self.world.bot.id
        if not own and not (isinstance(chat, Group) and chat.bot_can("can_delete_messages")):
            raise bad_request("message can't be deleted")
        if kind_of(message.data) == "service" and "forum_topic_created" in message.data:
            raise bad_request("message can't be deleted")
        chat.forget(message)
        return True

    # -- reactions ----------------------------------------------------------------------------

    @api_method("setMessageReaction")
    async def set_message_reaction(self, p: Params) -> Any:
        chat = self._chat(p)
        message_id = p.require_int("message_id", "message identifier is not specified")
        self.check_writable(chat)
        message = chat.message(message_id)
        if message is None:
            raise bad_request(REACTION_TARGET_NOT_FOUND)
        reaction = p.json_value("reaction") or []
        if not isinstance(reaction, list):
            raise bad_request("can't parse reaction types JSON object")
        if len(reaction) > 1:
            raise bad_request("REACTIONS_TOO_MUCH")
        for item in reaction:
            if not isinstance(item, dict) or item.get("type") != "emoji":
                raise bad_request("REACTION_INVALID")
            if item.get("emoji") not in REACTION_EMOJI:
                raise bad_request("REACTION_INVALID")
        message.bot_reaction = [{"type": "emoji", "emoji": r["emoji"]} for r in reaction]
        return True

    # -- forum topics -------------------------------------------------------------------------

    def _topic(self, group: Group, p: Params) -> Topic:
        thread_id = p.require_int("message_thread_id", "message thread identifier is not specified")
        topic = group.live_topic(thread_id)
        if topic is None:
            raise bad_request(e.TOPIC_ID_INVALID)
        return topic

    def _require_topic_rights(self, group: Group, topic: Topic, refusal: str) -> None:
        """Editing, closing and reopening need can_manage_topics, "unless it is the creator of
        the topic" (Bot API docs; TDLib refuses only topics it knows the bot did not create).
        The wording is TDLib's, per action (see errors.py)."""
        created_by_bot = self._topic_creator(group, topic) == self.world.bot.id
        if not created_by_bot and not group.bot_can("can_manage_topics"):
            raise bad_request(refusal)

    @staticmethod
    def _topic_creator(group: Group, topic: Topic) -> int | None:
        created = group.messages.get(topic.thread_id)
        return created.sender_id if created else None

    @staticmethod
    def _icon_id(raw: Any) -> str:
        """A topic icon parameter as the Bot API server reads it, or TOPIC_ICON_INVALID.

        The server parses the string with ``td::to_integer`` (leading digits; anything else is
        0), and 0 means "no icon": "" removes the icon, and so does a string that is no number at
        all. Any other id must be one of getForumTopicIconStickers' emoji (see icons.py).
        """
        digits = re.match(r"-?\d*", str(raw).strip())
        number = int(digits.group()) if digits and digits.group() not in ("", "-") else 0
        if number == 0:
            return ""
        if str(number) not in TOPIC_ICON_IDS:
            raise bad_request(e.TOPIC_ICON_INVALID)
        return str(number)

    def topic_service_message(
        self, chat: Chat, sender_id: int, topic: Topic, service: dict[str, Any]
    ) -> StoredMessage:
        """Post a topic service message (created/edited/closed/reopened) and its update."""
        message = self.world.create_message(
            chat,
            self.world.sender(sender_id),
            service,
            thread_id=topic.thread_id,
        )
        self._push_message_update(message)
        return message

    @api_method("getForumTopicIconStickers")
    async def get_forum_topic_icon_stickers(self, p: Params) -> Any:
        """The custom emoji stickers usable as topic icons (the real set: see icons.py)."""
        return topic_icon_stickers()

    @api_method("createForumTopic")
    async def create_forum_topic(self, p: Params) -> Any:
        group = self._group(p)
        if not group.bot_can("can_manage_topics"):
            raise bad_request(e.NO_RIGHTS_TO_CREATE_TOPIC)
        name = (p.text("name") or "").strip()
        if not name:
            raise bad_request(TOPIC_NAME_EMPTY)
        icon_color = p.integer("icon_color", TOPIC_ICON_COLORS[0])
        if icon_color not in TOPIC_ICON_COLORS:
            raise bad_request(TOPIC_ICON_COLOR_INVALID)
        assert icon_color is not None
        emoji_id = p.text("icon_custom_emoji_id")
        icon = self._icon_id(emoji_id) if emoji_id is not None else ""
        topic = self.create_topic(group, self.world.bot.id, name, icon_color, icon or None)
        return topic.to_api()

    def create_topic(
        self,
        chat: Chat,
        sender_id: int,
        name: str,
        icon_color: int,
        emoji_id: str | None,
        *,
        name_is_implicit: bool = False,
    ) -> Topic:
        """A new topic of a forum (or of a private chat): its id is the id of its
        ``forum_topic_created`` service message, which the bot gets as a ``message`` update."""
        thread_id = chat.last_message_id + 1
        topic = Topic(thread_id, name[:128], icon_color, emoji_id)
        chat.topics[thread_id] = topic
        created: dict[str, Any] = {"name": topic.name, "icon_color": icon_color}
        if emoji_id:
            created["icon_custom_emoji_id"] = emoji_id
        if name_is_implicit:
            created["is_name_implicit"] = True
        message = self.topic_service_message(
            chat, sender_id, topic, {"forum_topic_created": created}
        )
        assert message.message_id == thread_id
        return topic

    @api_method("editForumTopic")
    async def edit_forum_topic(self, p: Params) -> Any:
        group = self._group(p)
        topic = self._topic(group, p)
        self._require_topic_rights(group, topic, e.NO_RIGHTS_TO_EDIT_TOPIC)
        name = p.text("name")  # absent or "": the name is kept
        emoji_id = None
        if p.raw.get("icon_custom_emoji_id") is not None:  # present, even "": edit the icon
            emoji_id = self._icon_id(p.raw["icon_custom_emoji_id"])
            p.decoded["icon_custom_emoji_id"] = emoji_id
        if name is None and emoji_id is None:
            # TDLib answers this itself, without asking Telegram: nothing is posted.
            return True
        self.edit_topic(group, self.world.bot.id, topic, name, emoji_id)
        return True

    def edit_topic(
        self, group: Group, sender_id: int, topic: Topic, name: str | None, emoji_id: str | None
    ) -> None:
        """Rename and/or re-icon a topic ("" removes the icon): a ``forum_topic_edited``
        service message in the topic, with its update; no change at all is TOPIC_NOT_MODIFIED."""
        change: dict[str, Any] = {}
        if name is not None and name[:128] != topic.name:
            topic.name = change["name"] = name[:128]
        if emoji_id is not None and emoji_id != (topic.icon_custom_emoji_id or ""):
            topic.icon_custom_emoji_id = emoji_id or None
            change["icon_custom_emoji_id"] = emoji_id
        if not change:
            raise bad_request(e.TOPIC_NOT_MODIFIED)
        self.topic_service_message(group, sender_id, topic, {"forum_topic_edited": change})

    @api_method("closeForumTopic")
    async def close_forum_topic(self, p: Params) -> Any:
        group = self._group(p)
        topic = self._topic(group, p)
        self._require_topic_rights(group, topic, e.NO_RIGHTS_TO_CLOSE_TOPIC)
        self.set_topic_closed(group, self.world.bot.id, topic, closed=True)
        return True

    @api_method("reopenForumTopic")
    async def reopen_forum_topic(self, p: Params) -> Any:
        group = self._group(p)
        topic = self._topic(group, p)
        self._require_topic_rights(group, topic, e.NO_RIGHTS_TO_CLOSE_TOPIC)
        self.set_topic_closed(group, self.world.bot.id, topic, closed=False)
        return True

    def set_topic_closed(self, group: Group, sender_id: int, topic: Topic, *, closed: bool) -> None:
        if topic.closed == closed:
            raise bad_request(e.TOPIC_NOT_MODIFIED)
        topic.closed = closed
        key = "forum_topic_closed" if closed else "forum_topic_reopened"
        self.topic_service_message(group, sender_id, topic, {key: {}})

    @api_method("deleteForumTopic")
    async def delete_forum_topic(self, p: Params) -> Any:
        group = self._group(p)
        topic = self._topic(group, p)
        if self._topic_creator(group, topic) != self.world.bot.id and not group.bot_can(
            "can_delete_messages"
        ):
            raise bad_request(e.NO_RIGHTS_TO_DELETE_TOPIC)
        self.delete_topic(group, topic)
        return True

    @staticmethod
    def delete_topic(chat: Chat, topic: Topic) -> None:
        """The topic and all its messages vanish (pins included); Telegram sends no update."""
        topic.deleted = True
        for message in chat.messages.values():
            if message.thread_id == topic.thread_id:
                chat.forget(message)

    # -- pinned messages ----------------------------------------------------------------------

    @staticmethod
    def _require_pin_rights(chat: Chat) -> None:
        """Anyone may pin in a private chat; in a group the bot needs can_pin_messages."""
        if isinstance(chat, Group) and not chat.bot_can("can_pin_messages"):
            raise bad_request(e.NO_RIGHTS_TO_PIN)

    def _pin_target(self, p: Params, not_found: str) -> tuple[Chat, StoredMessage]:
        """The chat and the message a (un)pin names: the chat must be writable, the message
        must exist (a missing or 0 message_id is "not found" too, as in Client.cpp)."""
        if "business_connection_id" in p:
            raise NotModelled("pinning messages of business accounts")
        chat = self._chat(p)
        self.check_writable(chat)
        message = chat.message(p.integer("message_id") or 0)
        if message is None:
            raise bad_request(not_found)
        return chat, message

    @api_method("pinChatMessage")
    async def pin_chat_message(self, p: Params) -> Any:
        chat, message = self._pin_target(p, e.PIN_TARGET_NOT_FOUND)
        self._require_pin_rights(chat)
        p.flag("disable_notification")  # Only the members' notification sound depends on it.
        self.pin_message(chat, self.world.bot, message)
        return True

    def pin_message(self, chat: Chat, pinner: User, message: StoredMessage) -> StoredMessage:
        """Pin ``message`` (on top of the others) and post the ``pinned_message`` service
        message in the same chat and topic (General for a General message), from ``pinner``.

        The bot gets that service message as a ``message`` update even when it pinned itself:
        the Bot API server does not skip the bot's own ``messagePinMessage`` (Client.cpp,
        ``need_skip_update_message``). ``pinned_message`` is the pinned Message without its own
        ``reply_to_message``; in a topic the service message carries the implicit reply like any
        other topic message. Re-pinning a pinned message moves it to the top and posts again
        (unverified: Telegram's answer to that is not documented).
        """
        chat.pin(message)
        service = self.world.create_message(
            chat, pinner, {"pinned_message": _without_reply(message)}, thread_id=message.thread_id
        )
        self._push_message_update(service)
        return service

    @api_method("unpinChatMessage")
    async def unpin_chat_message(self, p: Params) -> Any:
        """Unpin ``message_id``, or without it "the most recent pinned message (by sending
        date)"; no service message and no update. Unpinning a message that is not pinned
        succeeds."""
        if p.integer("message_id"):
            chat, message = self._pin_target(p, e.UNPIN_TARGET_NOT_FOUND)
        else:
            if "business_connection_id" in p:
                raise NotModelled("pinning messages of business accounts")
            chat = self._chat(p)
            self.check_writable(chat)
            newest = chat.latest_pinned()
            if newest is None:
                raise bad_request(e.UNPIN_TARGET_NOT_FOUND)
            message = newest
        self._require_pin_rights(chat)
        if message.message_id in chat.pinned:
            chat.pinned.remove(message.message_id)
        return True

    @api_method("unpinAllChatMessages")
    async def unpin_all_chat_messages(self, p: Params) -> Any:
        chat = self._chat(p)
        self.check_writable(chat)
        self._require_pin_rights(chat)
        chat.pinned.clear()
        return True


def _without_reply(message: StoredMessage) -> dict[str, Any]:
    """A message nested in another (pinned_message, getChat's pinned_message): no reply."""
    data = message.snapshot()
    data.pop("reply_to_message", None)
    return data


def chat_member(user: Any, status: str, rights: dict[str, bool]) -> dict[str, Any]:
    """A ChatMember object; an administrator carries every right aiogram requires."""
    member: dict[str, Any] = {"status": status, "user": user.to_api()}
    if status == "administrator":
        member.update({key: False for key in ADMIN_RIGHTS})
        member.update(rights)
    elif status == "creator":
        member["is_anonymous"] = False
    elif status == "kicked":
        member["until_date"] = 0
    return member
