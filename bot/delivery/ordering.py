"""Which updates must be handled one after another: the queue key of a raw update.

Updates with the same key are handled strictly in the order Telegram sent them; different keys
run concurrently. A conversation has two sides, so two kinds of key:

- everything a user does in the private chat (messages, edits, reactions, blocking the bot)
  shares the key of that chat: their messages reach the topic in order, and their first messages
  cannot race each other into creating two topics. That holds for topics in private chats too
  (Bot API 9.3): a user's private topics are all one conversation, with one operator topic;
- everything that happens in one forum topic shares the key of that topic: the operators'
  answers reach the user in order, and closing a topic is handled after the messages before it.
"""

from __future__ import annotations

from typing import Any

# Updates that carry a Message.
_MESSAGE_KINDS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
)


def queue_key(update: dict[str, Any]) -> str:
    """The ordering key of a raw update (a dict decoded from Telegram's JSON)."""
    for kind in _MESSAGE_KINDS:
        message = update.get(kind)
        if isinstance(message, dict):
            return _message_key(message)
    reaction = update.get("message_reaction")
    if isinstance(reaction, dict):
        # A reaction carries no thread id; in the operator group all reactions share one queue
        # (they are cheap), in a private chat they queue behind the user's messages.
        return _chat_key(reaction.get("chat"))
    member = update.get("my_chat_member") or update.get("chat_member")
    if isinstance(member, dict):
        return _chat_key(member.get("chat"))
    for kind, value in update.items():
        if isinstance(value, dict):
            sender = value.get("from")
            if isinstance(sender, dict) and "id" in sender:
                return f"user:{sender['id']}"
            return f"{kind}:{update.get('update_id')}"
    return f"update:{update.get('update_id')}"


def _message_key(message: dict[str, Any]) -> str:
    chat = message.get("chat")
    key = _chat_key(chat)
    # Only the topics of a forum (always a supergroup) are conversations of their own. In a
    # private chat with topics (Bot API 9.3) messages carry message_thread_id and
    # is_topic_message too, but they are all the one user's.
    if not (isinstance(chat, dict) and chat.get("type") == "supergroup"):
        return key
    thread_id = message.get("message_thread_id")
    if thread_id is not None and message.get("is_topic_message"):
        return f"{key}:topic:{thread_id}"
    if "forum_topic_created" in message:
        return f"{key}:topic:{message.get('message_id')}"
    return key


def _chat_key(chat: Any) -> str:
    if isinstance(chat, dict) and "id" in chat:
        return f"chat:{chat['id']}"
    return "chat:unknown"
