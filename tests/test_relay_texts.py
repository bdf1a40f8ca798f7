"""The relay's texts and text surgery: titles, the user card, shortening and splitting texts in
characters (as Telegram counts them) with entities in UTF-16 units."""

from __future__ import annotations

import dataclasses
import string

import pytest
from aiogram.types import Message, MessageEntity, User

from bot.relay import content, texts


def user(**fields: object) -> User:
    return User.model_validate({"id": 42, "is_bot": False, "first_name": "Ann", **fields})


@pytest.mark.parametrize(
    ("fields", "title"),
    [
        ({"last_name": "Lee", "username": "ann"}, "Ann Lee @ann"),
        ({}, "Ann"),
        ({"first_name": "  Ann\n\nMarie  ", "last_name": " "}, "Ann Marie"),
        ({"first_name": "   ", "username": "ghost"}, "User 42 @ghost"),
        ({"first_name": ""}, "User 42"),
        ({"first_name": "<b>&"}, "<b>&"),  # a title is plain text, not HTML
    ],
)
def test_topic_title(fields: dict[str, object], title: str) -> None:
    assert texts.topic_title(user(**fields)) == title


def test_a_long_topic_title_keeps_the_username_and_fits_128_characters() -> None:
    title = texts.topic_title(user(first_name="😀" * 100, last_name="X" * 64, username="u" * 32))
    assert len(title) <= 128  # characters, as Telegram counts a topic's name
    assert title.endswith("… @" + "u" * 32)


def test_the_user_card_escapes_what_users_write() -> None:
    card = texts.ENGLISH.user_card(
        user(first_name="<i>Ann</i>", last_name="& Co", username="ann", language_code="en")
    )
    assert "&lt;i&gt;Ann&lt;/i&gt; &amp; Co" in card
    assert '<a href="tg://user?id=42">' in card
    assert "Premium: no" in card


def test_shorten_cuts_in_characters_and_clips_entities_in_utf16_units() -> None:
    text = "ab😀cd" * 10
    entities = [
        MessageEntity(type="bold", offset=0, length=2),
        MessageEntity(type="italic", offset=4, length=60),
        MessageEntity(type="custom_emoji", offset=2, length=2, custom_emoji_id="1"),
        MessageEntity(type="custom_emoji", offset=8, length=2, custom_emoji_id="2"),
        MessageEntity(type="underline", offset=50, length=4),
    ]

    short, clipped = content.shorten(text, entities, 8)

    # Eight characters (Telegram's unit for the limit), the emoji counting as one.
    assert short == "ab😀cdab…"
    assert len(short) == 8
    # Clipped to the kept text, in UTF-16 units ("ab😀cdab" is 8 units).
    assert clipped == [
        MessageEntity(type="bold", offset=0, length=2),
        MessageEntity(type="italic", offset=4, length=4),
        MessageEntity(type="custom_emoji", offset=2, length=2, custom_emoji_id="1"),
    ]


def test_a_custom_emoji_cut_in_two_is_dropped() -> None:
    # Emoji 1 fits; the custom emoji over the second one is cut in half and goes.
    entities = [MessageEntity(type="custom_emoji", offset=4, length=2, custom_emoji_id="1")]
    assert content.shorten("abcd😀xyz", entities, 5) == ("abcd…", None)


def test_a_caption_of_1024_characters_fits_whatever_its_emoji() -> None:
    caption = "😀" * 24 + "a" * 1000  # 1,048 UTF-16 units, 1,024 characters
    photo = {"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}
    message = Message.model_validate(
        {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "photo": [photo]}
    )
    assert not content.caption_too_long(message.model_copy(update={"caption": caption}))
    assert content.caption_too_long(message.model_copy(update={"caption": caption + "b"}))


def test_split_keeps_every_character_and_breaks_at_lines_then_spaces() -> None:
    text = "a first line of text\n" + "word " * 9 + "end"
    parts = content.split(text, None, 30)
    assert "".join(part for part, _ in parts) == text
    assert all(len(part) <= 30 for part, _ in parts)
    assert parts[0][0] == "a first line of text\n"  # the line break is the best place that fits
    assert parts[1][0] == "word word word word word word "  # then the last space that fits


def test_split_moves_entities_into_their_parts() -> None:
    heart = "\u2764\ufe0f"  # one emoji, two characters
    text = "a" * 10 + heart + "b" * 5
    entities = [
        MessageEntity(type="bold", offset=8, length=5),  # across the cut
        MessageEntity(type="custom_emoji", offset=10, length=2, custom_emoji_id="1"),
    ]
    first, second = content.split(text, entities, 11)
    # 11 characters would end between the emoji's two: never inside a custom emoji.
    assert first == ("a" * 10, [MessageEntity(type="bold", offset=8, length=2)])
    assert second == (
        heart + "b" * 5,
        [
            MessageEntity(type="bold", offset=0, length=3),
            MessageEntity(type="custom_emoji", offset=0, length=2, custom_emoji_id="1"),
        ],
    )


def test_split_leaves_what_fits_alone() -> None:
    assert content.split("short", None, 5) == [("short", None)]


def test_shorten_leaves_what_fits_alone() -> None:
    entities = [MessageEntity(type="bold", offset=0, length=2)]
    assert content.shorten("short", entities, 5) == ("short", entities)


def test_prefixed_moves_the_entities() -> None:
    text, entities = content.prefixed(
        "✏️ Edited:\n", "hi there", [MessageEntity(type="bold", offset=3, length=5)]
    )
    assert text == "✏️ Edited:\nhi there"
    assert entities == [MessageEntity(type="bold", offset=14, length=5)]
    assert text.encode("utf-16-le")[28:38].decode("utf-16-le") == "there"


def message(**fields: object) -> Message:
    return Message.model_validate(
        {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, **fields}
    )


def test_service_messages_and_commands_are_recognised() -> None:
    assert content.is_relayed(message(text="hi"))
    assert content.is_relayed(message(dice={"emoji": "🎲", "value": 3}))
    assert not content.is_relayed(message(forum_topic_closed={}))
    assert not content.is_relayed(
        message(pinned_message={"chat": {"id": 1, "type": "private"}, "message_id": 3, "date": 0})
    )
    command = message(
        text="/close now", entities=[{"type": "bot_command", "offset": 0, "length": 6}]
    )
    assert content.is_command(command)
    assert not content.is_command(message(text="see /close"))
    assert content.kind(message(text="hi")) == "text"


def test_the_file_of_a_message() -> None:
    photo = message(
        photo=[
            {"file_id": "small", "file_unique_id": "s", "width": 1, "height": 1},
            {"file_id": "large", "file_unique_id": "l", "width": 9, "height": 9},
        ]
    )
    assert (content.file_id(photo), content.file_unique_id(photo)) == ("large", "l")
    assert content.file_id(message(text="hi")) is None
    media = content.input_media(photo, "caption", None)
    assert media is not None
    assert (media.type, media.media, media.caption, media.parse_mode) == (
        "photo",
        "large",
        "caption",
        None,
    )
    assert (
        content.input_media(
            message(voice={"file_id": "v", "file_unique_id": "v", "duration": 1}), None, None
        )
        is None
    )


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


OTHER_LANGUAGES = [t for t in texts.LANGUAGES.values() if t is not texts.ENGLISH]


@pytest.mark.parametrize("language", OTHER_LANGUAGES, ids=[t.language for t in OTHER_LANGUAGES])
def test_every_language_fills_the_same_placeholders_as_english(language: texts.Texts) -> None:
    for field in dataclasses.fields(texts.Texts):
        english, other = getattr(texts.ENGLISH, field.name), getattr(language, field.name)
        if isinstance(english, str):
            assert placeholders(other) == placeholders(english), field.name
        elif isinstance(english, dict):
            assert other.keys() == english.keys(), field.name
        else:
            assert len(other) == len(english), field.name
