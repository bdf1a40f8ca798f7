"""What Telegram's permanent errors mean for the relay.

aiogram raises `TelegramBadRequest` for every 400; its `message` is Telegram's description, e.g.
"Bad Request: message thread not found". Telegram has reworded some of them over the years, so
each meaning lists every wording known. The wordings come from the Bot API server's source
(https://github.com/tdlib/telegram-bot-api, `Client.cpp`, and TDLib behind it); the fake server
in `tests/fake_telegram/errors.py` answers with the same ones.
"""

from __future__ import annotations

from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError

from bot.delivery.blocked import UpdateBlocked
from bot.relay.texts import ENGLISH

# A send into a topic that was deleted (no update tells the bot): "message thread not found"
# usually, "TOPIC_DELETED" while Telegram's caches are warm. Topic management calls
# (reopenForumTopic, editForumTopic, ...) on a deleted topic answer "TOPIC_ID_INVALID".
_TOPIC_GONE = ("message thread not found", "topic_deleted", "topic_id_invalid")
_TOPIC_NOT_MODIFIED = ("topic_not_modified",)
_MESSAGE_NOT_MODIFIED = ("message is not modified",)
_EDIT_TARGET_GONE = ("message to edit not found", "message_id_invalid")
_CAPTION_TOO_LONG = ("message caption is too long", "media_caption_too_long")
_CANT_PARSE_ENTITIES = ("can't parse entities",)
_BLOCKED = ("bot was blocked by the user",)
# TDLib's refusals of topic actions to a bot without the Manage topics right
# (td/telegram/ForumTopicManager.cpp; the Bot API lowers the first letter).
_NO_TOPIC_RIGHTS = (
    "not enough rights to create a topic",
    "not enough rights to edit the topic",
    "not enough rights to close or open the topic",
)
_DEACTIVATED = ("user is deactivated",)


def _says(error: TelegramAPIError, phrases: tuple[str, ...]) -> bool:
    description = error.message.lower()
    return any(phrase in description for phrase in phrases)


def topic_gone(error: TelegramAPIError) -> bool:
    """The forum topic was deleted: create a new one and send again."""
    return _says(error, _TOPIC_GONE)


def topic_not_modified(error: TelegramAPIError) -> bool:
    """Closing a closed topic, reopening an open one, renaming to the same name."""
    return _says(error, _TOPIC_NOT_MODIFIED)


def message_not_modified(error: TelegramAPIError) -> bool:
    """An edit to exactly the content the message already has: nothing to do."""
    return _says(error, _MESSAGE_NOT_MODIFIED)


def edit_target_gone(error: TelegramAPIError) -> bool:
    """The message to edit was deleted (or never was)."""
    return _says(error, _EDIT_TARGET_GONE)


def caption_too_long(error: TelegramAPIError) -> bool:
    return _says(error, _CAPTION_TOO_LONG)


def cant_parse_entities(error: TelegramAPIError) -> bool:
    """HTML (parse_mode) that Telegram cannot read: a configured text with a broken tag."""
    return _says(error, _CANT_PARSE_ENTITIES)


def user_blocked(error: TelegramAPIError) -> bool:
    return isinstance(error, TelegramForbiddenError) and _says(error, _BLOCKED)


def user_deactivated(error: TelegramAPIError) -> bool:
    return isinstance(error, TelegramForbiddenError) and _says(error, _DEACTIVATED)


def missing_right(error: TelegramAPIError) -> str | None:
    """The administrator right whose absence made Telegram refuse the call, if that is why."""
    if _says(error, _NO_TOPIC_RIGHTS):
        return "can_manage_topics"
    return None


class MissingRight(UpdateBlocked):
    """The bot lacks an administrator right in the operator group (Telegram refused a call for
    it): a known condition, not a bug. The update waits, with the others behind it, until the
    right is back (`bot.relay.rights`)."""

    def __init__(self, right: str) -> None:
        self.right = right
        # General is everybody's: the bot's own notes there are in English.
        name = ENGLISH.right_names.get(right, right)
        super().__init__(
            reason=blocked_reason(right),
            description=f"the bot lacks the {right} right in the operator group",
            alert=ENGLISH.right_missing.format(right=name),
        )


def blocked_reason(right: str) -> str:
    """The key under which updates waiting for `right` are set aside."""
    return f"right:{right}"
