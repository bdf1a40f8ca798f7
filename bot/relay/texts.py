"""Every text the relay composes: the topic title, the user card, notes, markers.

Texts are HTML (the bot's default parse mode); every user-provided part goes through
`html.escape`. The welcome and closed texts are settings (`WELCOME_TEXT`, `CLOSED_TEXT`); their
defaults live here.
"""

from __future__ import annotations

import html

from aiogram.types import User

from bot.relay.content import shorten_plain

# Telegram's limit for a topic name, in characters (createForumTopic / editForumTopic).
TOPIC_TITLE_LIMIT = 128

# Put in front of the new version of a message whose edit could not be applied in place.
EDITED_MARKER = "✏️ Edited:"


def full_name(first_name: str | None, last_name: str | None) -> str:
    """The full name "First Last", whitespace runs collapsed to one space; may be empty."""
    return " ".join(" ".join(part for part in (first_name, last_name) if part).split())


def topic_title(user: User) -> str:
    """The user's full name and @username: never empty, at most 128 characters."""
    suffix = f" @{user.username}" if user.username else ""
    name = full_name(user.first_name, user.last_name)
    if not name:
        name = f"User {user.id}"
    # A username is at most 32 characters, so the name always keeps most of the room.
    name = shorten_plain(name, TOPIC_TITLE_LIMIT - len(suffix))
    return f"{name}{suffix}"


def user_card(user: User) -> str:
    """The first message of a user's topic: who this is, for the operators."""
    name = full_name(user.first_name, user.last_name) or f"User {user.id}"
    username = f"@{html.escape(user.username)}" if user.username else "—"
    language = html.escape(user.language_code) if user.language_code else "unknown"
    return (
        f"👤 <b>{html.escape(name)}</b>\n"
        f"Username: {username}\n"
        f"ID: <code>{user.id}</code>\n"
        f"Language: {language}\n"
        f"Premium: {'yes' if user.is_premium else 'no'}\n"
        f'<a href="tg://user?id={user.id}">Open profile</a>'
    )


def content_name(content_type: str) -> str:
    """A content type as a person would say it: "video_note" -> "video note"."""
    return content_type.replace("_", " ")


def unsupported_note(content_type: str) -> str:
    """In the topic, in place of a user's message that can be neither copied nor forwarded."""
    return (
        f"⚠️ The user sent a {html.escape(content_name(content_type))} message, which cannot "
        "be shown here."
    )


def undelivered_note(reason: str) -> str:
    """In the topic, as a reply to an operator's message that did not reach the user."""
    return f"⚠️ Not delivered: {reason}."


REASON_BLOCKED = "the user has blocked the bot"
REASON_DEACTIVATED = "the user has deleted their account"


def reason_unsupported(content_type: str) -> str:
    return f"a {html.escape(content_name(content_type))} message cannot be sent to the user"


def reason_refused(description: str) -> str:
    """Telegram's own words, for failures without a better explanation."""
    return f"Telegram refused it ({html.escape(description)})"


USER_BLOCKED_NOTE = "🚫 The user has blocked the bot: messages to them will not be delivered."
USER_UNBLOCKED_NOTE = "✅ The user has unblocked the bot."
