"""Errors the fake answers with, worded exactly like Telegram's Bot API server."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Bot API failure: becomes ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class NotModelled(Exception):
    """A call uses a feature the fake does not model: the test fails loudly, like an unknown
    method, instead of getting a made-up answer."""


class FakeUsageError(Exception):
    """A test drove the fake into something a real person could not do."""


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


def forbidden(reason: str) -> ApiError:
    return ApiError(403, f"Forbidden: {reason}")


def conflict(reason: str) -> ApiError:
    return ApiError(409, f"Conflict: {reason}")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429,
        f"Too Many Requests: retry after {retry_after}",
        {"retry_after": retry_after},
    )


# Default descriptions for injected failures, as Telegram's front-end words them.
DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# The messages this fake uses in more than one place.
CHAT_NOT_FOUND = "chat not found"
MESSAGE_CANT_BE_COPIED = "message can't be copied"
MESSAGE_CANT_BE_FORWARDED = "message can't be forwarded"
THREAD_NOT_FOUND = "message thread not found"
TOPIC_DELETED = "TOPIC_DELETED"
TOPIC_CLOSED = "TOPIC_CLOSED"
TOPIC_ID_INVALID = "TOPIC_ID_INVALID"
TOPIC_NOT_MODIFIED = "TOPIC_NOT_MODIFIED"
REPLY_NOT_FOUND = "message to be replied not found"
TEXT_EMPTY = "message text is empty"
TEXT_TOO_LONG = "message is too long"
CAPTION_TOO_LONG = "message caption is too long"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
BOT_BLOCKED = "bot was blocked by the user"
USER_DEACTIVATED = "user is deactivated"
CANT_INITIATE = "bot can't initiate conversation with a user"
GET_UPDATES_CONFLICT = (
    "terminated by other getUpdates request; make sure that only one bot instance is running"
)
WEBHOOK_ACTIVE_CONFLICT = (
    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
    "webhook first"
)
SET_WEBHOOK_CONFLICT = "terminated by setWebhook request"

# Rights. TDLib's wording, which the Bot API server passes on with the first letter lowered
# ("Not enough rights to ..." -> "Bad Request: not enough rights to ..."): ForumTopicManager.cpp
# for topics, MessagesManager.cpp (can_pin_messages) for pins.
NO_RIGHTS_TO_CREATE_TOPIC = "not enough rights to create a topic"
NO_RIGHTS_TO_EDIT_TOPIC = "not enough rights to edit the topic"
NO_RIGHTS_TO_CLOSE_TOPIC = "not enough rights to close or open the topic"
NO_RIGHTS_TO_DELETE_TOPIC = "not enough rights to delete the topic"
NO_RIGHTS_TO_PIN = "not enough rights to manage pinned messages in the chat"
# tdlib/telegram-bot-api Client.cpp: check_message(..., "message to pin") answers
# "<type> not found"; unpinChatMessage without a pinned message: "Message to unpin not found".
PIN_TARGET_NOT_FOUND = "message to pin not found"
UNPIN_TARGET_NOT_FOUND = "message to unpin not found"
EDIT_TARGET_NOT_FOUND = "message to edit not found"
# UNVERIFIED: no public source gives Telegram's answer to a topic icon that is not one of
# getForumTopicIconStickers' emoji; MTProto's usual error for an unusable document id is used.
TOPIC_ICON_INVALID = "DOCUMENT_INVALID"
