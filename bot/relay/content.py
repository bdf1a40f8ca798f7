"""What a message contains, in the terms the relay needs: is it content or a service message,
does its caption fit, which file does it carry; and text surgery in Telegram's UTF-16 units."""

from __future__ import annotations

from enum import Enum
from typing import TypedDict

from aiogram.enums import ContentType, MessageEntityType
from aiogram.types import (
    InputMediaAnimation,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    MessageEntity,
)

# What a person can send and the relay passes on. Everything else is a service message (a pin,
# a topic closed, a member joined, ...) and is never relayed. UNKNOWN is content that this
# aiogram version does not know yet: better tried (copy, forward, note) than silently dropped.
RELAYED_CONTENT_TYPES = frozenset(
    str(kind.value)
    for kind in {
        ContentType.TEXT,
        ContentType.ANIMATION,
        ContentType.AUDIO,
        ContentType.DOCUMENT,
        ContentType.PHOTO,
        ContentType.LIVE_PHOTO,
        ContentType.STICKER,
        ContentType.VIDEO,
        ContentType.VIDEO_NOTE,
        ContentType.VOICE,
        ContentType.CONTACT,
        ContentType.LOCATION,
        ContentType.VENUE,
        ContentType.POLL,
        ContentType.DICE,
        ContentType.GAME,
        ContentType.STORY,
        ContentType.INVOICE,
        ContentType.GIVEAWAY,
        ContentType.GIVEAWAY_WINNERS,
        ContentType.PAID_MEDIA,
        ContentType.CHECKLIST,
        ContentType.UNKNOWN,
    }
)

# Kinds whose caption an edit can change (editMessageCaption).
CAPTIONED_CONTENT_TYPES = frozenset(
    str(kind.value)
    for kind in {
        ContentType.ANIMATION,
        ContentType.AUDIO,
        ContentType.DOCUMENT,
        ContentType.PHOTO,
        ContentType.VIDEO,
        ContentType.VOICE,
    }
)

# Bots may send at most 1024 characters of caption and 4096 of text; Premium users may send
# captions up to 4096, so copying their media can fail. Telegram counts UTF-16 code units.
CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096
ELLIPSIS = "…"


def kind(message: Message) -> str:
    """Telegram's name of the message's content type: "text", "photo", "video_note", ..."""
    content_type = message.content_type
    return str(content_type.value) if isinstance(content_type, Enum) else str(content_type)


def is_relayed(message: Message) -> bool:
    """Content a person sent (not a service message)."""
    return kind(message) in RELAYED_CONTENT_TYPES


def is_command(message: Message) -> bool:
    """A bot command: the text starts with a `bot_command` entity ("/start", "/close@bot")."""
    return bool(
        message.text
        and message.entities
        and message.entities[0].type == MessageEntityType.BOT_COMMAND
        and message.entities[0].offset == 0
    )


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _utf16_prefix(text: str, units: int) -> str:
    """The longest prefix of `text` of at most `units` UTF-16 code units (never half a pair)."""
    count = 0
    for index, char in enumerate(text):
        count += 2 if ord(char) > 0xFFFF else 1
        if count > units:
            return text[:index]
    return text


def caption_too_long(message: Message) -> bool:
    return message.caption is not None and utf16_len(message.caption) > CAPTION_LIMIT


def shorten(
    text: str, entities: list[MessageEntity] | None, limit: int
) -> tuple[str, list[MessageEntity] | None]:
    """`text` cut to at most `limit` UTF-16 units, ending in "…", with its entities clipped."""
    if utf16_len(text) <= limit:
        return text, entities
    kept = _utf16_prefix(text, limit - utf16_len(ELLIPSIS)).rstrip()
    end = utf16_len(kept)
    clipped: list[MessageEntity] = []
    for entity in entities or ():
        if entity.offset >= end:
            continue
        length = min(entity.length, end - entity.offset)
        if length < entity.length and entity.type == MessageEntityType.CUSTOM_EMOJI:
            continue  # a custom emoji must cover its whole emoji
        clipped.append(entity.model_copy(update={"length": length}))
    return kept + ELLIPSIS, clipped or None


def shorten_plain(text: str, limit: int) -> str:
    """A plain text (no entities) cut to at most `limit` UTF-16 units, ending in "…"."""
    return shorten(text, None, limit)[0]


def prefixed(
    prefix: str, text: str, entities: list[MessageEntity] | None
) -> tuple[str, list[MessageEntity] | None]:
    """`prefix` + `text`, the entities moved along."""
    shift = utf16_len(prefix)
    moved = [
        entity.model_copy(update={"offset": entity.offset + shift}) for entity in entities or ()
    ]
    return prefix + text, moved or None


def file_id(message: Message) -> str | None:
    """The file a message carries (the largest size of a photo), or None."""
    file = _file(message)
    return None if file is None else file[0]


def file_unique_id(message: Message) -> str | None:
    """The stable identity of the file a message carries (same file, same id), or None."""
    file = _file(message)
    return None if file is None else file[1]


def _file(message: Message) -> tuple[str, str] | None:
    if message.photo:
        largest = message.photo[-1]
        return largest.file_id, largest.file_unique_id
    for media in (
        message.animation,  # before document: an animation also fills `document`
        message.video,
        message.document,
        message.audio,
        message.voice,
        message.video_note,
        message.sticker,
    ):
        if media is not None:
            return media.file_id, media.file_unique_id
    return None


EditableMedia = (
    InputMediaAnimation | InputMediaAudio | InputMediaDocument | InputMediaPhoto | InputMediaVideo
)


def input_media(
    message: Message, caption: str | None, entities: list[MessageEntity] | None
) -> EditableMedia | None:
    """The message's file as editMessageMedia takes it (with the given caption), or None for
    kinds an edit cannot put in place (voice, video note, sticker, ...)."""
    media = file_id(message)
    if media is None:
        return None
    kind: type[EditableMedia]
    if message.animation is not None:  # before document: an animation also fills `document`
        kind = InputMediaAnimation
    elif message.photo:
        kind = InputMediaPhoto
    elif message.video is not None:
        kind = InputMediaVideo
    elif message.audio is not None:
        kind = InputMediaAudio
    elif message.document is not None:
        kind = InputMediaDocument
    else:
        return None
    # parse_mode=None: the caption's entities are given, nothing may be re-parsed as HTML.
    return kind(media=media, caption=caption, caption_entities=entities, parse_mode=None)


def is_note(message: Message, prefix: str) -> bool:
    """An operator's internal note: its text or caption starts with NOTE_PREFIX ("" = off)."""
    if not prefix:
        return False
    written = message.text if message.text is not None else message.caption
    return written is not None and written.lstrip().startswith(prefix)


def payload_json(message: Message) -> str:
    """The message as JSON, for the log: everything the other columns do not hold."""
    return message.model_dump_json(exclude_none=True, exclude_defaults=True)


class LoggedFields(TypedDict):
    """What the conversation's log keeps of a message (`storage.MessageLog.add`'s fields)."""

    chat_id: int
    message_id: int
    content_type: str
    text: str | None
    caption: str | None
    file_id: str | None
    payload_json: str | None


def logged_fields(message: Message) -> LoggedFields:
    return {
        "chat_id": message.chat.id,
        "message_id": message.message_id,
        "content_type": kind(message),
        "text": message.text,
        "caption": message.caption,
        "file_id": file_id(message),
        "payload_json": payload_json(message),
    }
