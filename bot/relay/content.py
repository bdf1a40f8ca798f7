"""What a message contains, in the terms the relay needs: is it content or a service message,
does its caption fit, which file does it carry; and text surgery (cutting, splitting) that keeps
the entities right.

Two units meet here. Telegram measures a text or caption against its limit in characters
(Unicode code points), on the text after entity parsing (TDLib, td/telegram/MessageContent.cpp:
`utf8_length(text) > message_text_length_max` / `message_caption_length_max`, which counts code
points); entity offsets and lengths are in UTF-16 code units (Bot API, MessageEntity).
"""

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
# captions up to 4096, so copying their media can fail. Characters, not UTF-16 units: see above.
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
    """The length of `text` in UTF-16 code units: the unit of entity offsets and lengths."""
    return len(text.encode("utf-16-le")) // 2


def caption_too_long(message: Message) -> bool:
    return message.caption is not None and len(message.caption) > CAPTION_LIMIT


def _clip(
    text: str, entities: list[MessageEntity] | None, start: int, end: int
) -> list[MessageEntity] | None:
    """The entities of `text[start:end]` (character positions), clipped to it and moved to its
    start. A custom emoji cut in two is dropped: it must cover its whole emoji."""
    if not entities:
        return None
    first, last = utf16_len(text[:start]), utf16_len(text[:end])
    clipped: list[MessageEntity] = []
    for entity in entities:
        begin, finish = max(entity.offset, first), min(entity.offset + entity.length, last)
        if begin >= finish:
            continue
        if finish - begin < entity.length and entity.type == MessageEntityType.CUSTOM_EMOJI:
            continue
        clipped.append(
            entity.model_copy(update={"offset": begin - first, "length": finish - begin})
        )
    return clipped or None


def shorten(
    text: str, entities: list[MessageEntity] | None, limit: int
) -> tuple[str, list[MessageEntity] | None]:
    """`text` cut to at most `limit` characters, ending in "…", with its entities clipped."""
    if len(text) <= limit:
        return text, entities
    kept = text[: limit - len(ELLIPSIS)].rstrip()
    return kept + ELLIPSIS, _clip(text, entities, 0, len(kept))


def shorten_plain(text: str, limit: int) -> str:
    """A plain text (no entities) cut to at most `limit` characters, ending in "…"."""
    return shorten(text, None, limit)[0]


def split(
    text: str, entities: list[MessageEntity] | None, limit: int
) -> list[tuple[str, list[MessageEntity] | None]]:
    """`text` in parts of at most `limit` characters each, nothing left out, each part with its
    entities. A part ends at the last line break that fits, else at the last space, else where
    the limit falls (never inside a custom emoji)."""
    parts: list[tuple[str, list[MessageEntity] | None]] = []
    start = 0
    while len(text) - start > limit:
        end = start + limit
        window = text[start:end]
        for separator in ("\n", " "):
            cut = window.rfind(separator)
            if cut > limit // 2:  # not a part of a few words for want of a better place
                end = start + cut + 1
                break
        end = _outside_custom_emoji(text, entities, start, end)
        parts.append((text[start:end], _clip(text, entities, start, end)))
        start = end
    parts.append((text[start:], _clip(text, entities, start, len(text))))
    return parts


def _outside_custom_emoji(
    text: str, entities: list[MessageEntity] | None, start: int, end: int
) -> int:
    """`end`, moved back to the start of a custom emoji that it would cut in two."""
    at = utf16_len(text[:end])
    for entity in entities or ():
        if entity.type == MessageEntityType.CUSTOM_EMOJI and entity.offset < at < (
            entity.offset + entity.length
        ):
            while end > start + 1 and utf16_len(text[:end]) > entity.offset:
                end -= 1
    return end


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
