"""Message contents: factories for every kind a user can send, and the rules about copying.

A ``Content`` is the part of a Telegram ``Message`` that describes what was sent (``text`` +
``entities``, ``photo`` + ``caption``, ``poll``, ...), without ids, chat or sender.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

from .formatting import utf16_len

# Kinds whose message can carry a caption.
CAPTIONED_KINDS = frozenset({"photo", "video", "animation", "document", "audio", "voice"})
# Keys of a Message that belong to its content (copied by copyMessage).
CONTENT_KEYS = (
    "text", "entities", "link_preview_options", "photo", "video", "animation", "document",
    "audio", "voice", "video_note", "sticker", "location", "venue", "contact", "poll", "dice",
    "story", "invoice", "giveaway", "giveaway_winners", "paid_media", "caption",
    "caption_entities", "show_caption_above_media", "has_media_spoiler",
)  # fmt: skip
# Keys that make a message a service message.
SERVICE_KEYS = frozenset(
    {
        "forum_topic_created", "forum_topic_edited", "forum_topic_closed",
        "forum_topic_reopened", "general_forum_topic_hidden", "general_forum_topic_unhidden",
        "new_chat_members", "left_chat_member", "new_chat_title", "new_chat_photo",
        "delete_chat_photo", "group_chat_created", "supergroup_chat_created",
        "pinned_message", "migrate_to_chat_id", "migrate_from_chat_id", "write_access_allowed",
        "users_shared", "chat_shared", "boost_added", "video_chat_started", "video_chat_ended",
    }
)  # fmt: skip
# Content kinds, in the order a Message is classified (animation before document!).
KINDS = (
    "text", "photo", "animation", "video", "document", "audio", "voice", "video_note",
    "sticker", "venue", "location", "contact", "poll", "dice", "story", "invoice", "giveaway",
    "giveaway_winners", "paid_media",
)  # fmt: skip
BOT_CAPTION_LIMIT = 1024
PREMIUM_CAPTION_LIMIT = 4096
TEXT_LIMIT = 4096


def kind_of(message: dict[str, Any]) -> str:
    """The content kind of a Message dict, or "service"."""
    if SERVICE_KEYS & message.keys():
        return "service"
    for kind in KINDS:
        if kind in message:
            return kind
    return "unknown"


def copy_refusal(message: dict[str, Any]) -> str | None:
    """Why copyMessage refuses this message (None if it can be copied).

    Service messages, invoices and giveaways cannot be copied; a quiz only when the bot knows
    its correct answer (it does not for a quiz sent by a user). Paid media neither.
    """
    kind = kind_of(message)
    if kind in ("service", "invoice", "giveaway", "giveaway_winners", "paid_media", "unknown"):
        return "message can't be copied"
    poll = message.get("poll", {})
    if poll.get("type") == "quiz" and "correct_option_id" not in poll:
        return "message can't be copied"
    return None


def caption_length(message: dict[str, Any]) -> int:
    return len(message.get("caption", ""))


@dataclass
class Content:
    """What a message contains. ``fields`` are Message keys (``photo``, ``caption``, ...)."""

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)

    def with_caption(
        self, caption: str | None, entities: list[dict[str, Any]] | None = None
    ) -> Content:
        if self.kind not in CAPTIONED_KINDS:
            raise ValueError(f"a {self.kind} has no caption")
        fields = {k: v for k, v in self.fields.items() if k not in ("caption", "caption_entities")}
        if caption:
            fields["caption"] = caption
            if entities:
                fields["caption_entities"] = entities
        return Content(self.kind, fields)

    def message_fields(self) -> dict[str, Any]:
        return copy.deepcopy(self.fields)


class FileStore:
    """Every file the fake knows, by file_id, so a bot can re-send by file_id."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self.by_id: dict[str, tuple[str, Any]] = {}

    def new_file(self, kind: str, **attributes: Any) -> dict[str, Any]:
        number = next(self._counter)
        file = {
            "file_id": f"{kind.upper()}-{number:05d}-fake-file-id",
            "file_unique_id": f"U{kind[:3]}{number:05d}",
            **attributes,
        }
        self.by_id[file["file_id"]] = (kind, file)
        return file

    def remember(self, kind: str, payload: Any, file_id: str) -> None:
        self.by_id[file_id] = (kind, payload)

    def lookup(self, file_id: str) -> tuple[str, Any] | None:
        return self.by_id.get(file_id)

    def photo_sizes(self, width: int = 1280, height: int = 960) -> list[dict[str, Any]]:
        """A photo as Telegram delivers it: several sizes, the largest last."""
        sizes = [
            self.new_file("photo", width=round(width * scale), height=round(height * scale))
            for scale in (0.0703125, 0.25, 1.0)
        ]
        for size in sizes:
            size["file_size"] = size["width"] * size["height"] // 10
        self.remember("photo", sizes, sizes[-1]["file_id"])
        return sizes


class ContentFactory:
    """``fake.content.photo(caption="look")`` and friends: realistic contents of every kind."""

    def __init__(self, files: FileStore) -> None:
        self._files = files
        self._polls = itertools.count(1)
        self._dice = itertools.cycle((3, 5, 1, 6, 2, 4))

    @staticmethod
    def _captioned(
        kind: str, fields: dict[str, Any], caption: str | None, entities: list[dict[str, Any]]
    ) -> Content:
        return Content(kind, fields).with_caption(caption, entities)

    def text(self, text: str, entities: list[dict[str, Any]] | None = None) -> Content:
        fields: dict[str, Any] = {"text": text}
        if entities:
            fields["entities"] = entities
        return Content("text", fields)

    def command(self, command: str, args: str = "") -> Content:
        text = f"{command} {args}".strip()
        entity = {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
        return self.text(text, [entity])

    def photo(
        self, caption: str | None = None, caption_entities: list[dict[str, Any]] | None = None
    ) -> Content:
        return self._captioned(
            "photo", {"photo": self._files.photo_sizes()}, caption, caption_entities or []
        )

    def video(
        self, caption: str | None = None, caption_entities: list[dict[str, Any]] | None = None
    ) -> Content:
        video = self._files.new_file(
            "video", width=1280, height=720, duration=12, mime_type="video/mp4", file_size=2048000
        )
        return self._captioned("video", {"video": video}, caption, caption_entities or [])

    def animation(
        self, caption: str | None = None, caption_entities: list[dict[str, Any]] | None = None
    ) -> Content:
        animation = self._files.new_file(
            "animation",
            width=480,
            height=270,
            duration=3,
            file_name="funny.gif.mp4",
            mime_type="video/mp4",
            file_size=300000,
        )
        # Telegram also fills ``document`` for an animation, for old clients.
        document = {
            key: animation[key] for key in ("file_id", "file_unique_id", "file_name", "mime_type")
        }
        return self._captioned(
            "animation",
            {"animation": animation, "document": document},
            caption,
            caption_entities or [],
        )

    def document(
        self,
        caption: str | None = None,
        caption_entities: list[dict[str, Any]] | None = None,
        *,
        file_name: str = "report.pdf",
        mime_type: str = "application/pdf",
    ) -> Content:
        document = self._files.new_file(
            "document", file_name=file_name, mime_type=mime_type, file_size=52000
        )
        return self._captioned("document", {"document": document}, caption, caption_entities or [])

    def audio(
        self, caption: str | None = None, caption_entities: list[dict[str, Any]] | None = None
    ) -> Content:
        audio = self._files.new_file(
            "audio",
            duration=185,
            performer="Artist",
            title="Song",
            file_name="song.mp3",
            mime_type="audio/mpeg",
            file_size=4400000,
        )
        return self._captioned("audio", {"audio": audio}, caption, caption_entities or [])

    def voice(
        self, caption: str | None = None, caption_entities: list[dict[str, Any]] | None = None
    ) -> Content:
        voice = self._files.new_file("voice", duration=4, mime_type="audio/ogg", file_size=9000)
        return self._captioned("voice", {"voice": voice}, caption, caption_entities or [])

    def video_note(self) -> Content:
        note = self._files.new_file("video_note", length=240, duration=5, file_size=300000)
        return Content("video_note", {"video_note": note})

    def sticker(self, emoji: str = "😀") -> Content:
        sticker = self._files.new_file(
            "sticker",
            type="regular",
            width=512,
            height=512,
            is_animated=False,
            is_video=False,
            emoji=emoji,
            set_name="FakeStickers",
            file_size=20000,
        )
        return Content("sticker", {"sticker": sticker})

    def location(self, latitude: float = 52.520008, longitude: float = 13.404954) -> Content:
        return Content("location", {"location": {"latitude": latitude, "longitude": longitude}})

    def venue(
        self,
        title: str = "Coffee House",
        address: str = "Main St 1",
        latitude: float = 52.5,
        longitude: float = 13.4,
    ) -> Content:
        location = {"latitude": latitude, "longitude": longitude}
        venue = {"location": location, "title": title, "address": address}
        # Telegram sends ``location`` next to ``venue`` for old clients.
        return Content("venue", {"venue": venue, "location": dict(location)})

    def contact(
        self, phone_number: str = "+15550100", first_name: str = "Bob", user_id: int | None = None
    ) -> Content:
        contact: dict[str, Any] = {"phone_number": phone_number, "first_name": first_name}
        if user_id is not None:
            contact["user_id"] = user_id
        return Content("contact", {"contact": contact})

    def poll(
        self,
        question: str = "Tea or coffee?",
        options: tuple[str, ...] = ("Tea", "Coffee"),
        *,
        quiz: bool = False,
        correct_option_id: int | None = None,
    ) -> Content:
        number = next(self._polls)
        poll: dict[str, Any] = {
            "id": f"5{number:018d}",
            "question": question,
            "options": [
                {"persistent_id": f"{number}-{i}", "text": option, "voter_count": 0}
                for i, option in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "quiz" if quiz else "regular",
            "allows_multiple_answers": False,
            "allows_revoting": not quiz,
            "members_only": False,
        }
        # A bot sees a quiz's correct answer only for its own quizzes.
        if correct_option_id is not None:
            poll["correct_option_id"] = correct_option_id
        return Content("poll", {"poll": poll})

    def quiz(
        self, question: str = "2 + 2 = ?", options: tuple[str, ...] = ("3", "4", "5")
    ) -> Content:
        return self.poll(question, options, quiz=True)

    def dice(self, emoji: str = "🎲") -> Content:
        return Content("dice", {"dice": {"emoji": emoji, "value": next(self._dice)}})

    def story(self, chat: dict[str, Any] | None = None, story_id: int = 7) -> Content:
        owner = chat or {"id": 777000, "type": "private", "first_name": "Storyteller"}
        return Content("story", {"story": {"chat": owner, "id": story_id}})

    def invoice(self, title: str = "Premium plan", total_amount: int = 500) -> Content:
        invoice = {
            "title": title,
            "description": "One month",
            "start_parameter": "premium",
            "currency": "USD",
            "total_amount": total_amount,
        }
        return Content("invoice", {"invoice": invoice})

    def giveaway(self) -> Content:
        giveaway = {
            "chats": [{"id": -1009999999999, "type": "channel", "title": "Shop"}],
            "winners_selection_date": 1767225600,
            "winner_count": 3,
        }
        return Content("giveaway", {"giveaway": giveaway})

    def unknown(
        self, field: str = "future_content", value: dict[str, Any] | None = None
    ) -> Content:
        """A content kind newer than the bot's aiogram: the message carries only ``field``
        (aiogram keeps it as an extra attribute, ``content_type`` is "unknown").

        For resilience tests: ``await fake.user_sends(alice, content=fake.content.unknown())``.
        ``copyMessage`` refuses it with "message can't be copied" — the fake cannot know whether
        Telegram could copy a kind it does not model, and the bot must survive the refusal.
        """
        if field in CONTENT_KEYS or field in SERVICE_KEYS or field in KINDS:
            raise ValueError(f"{field!r} is a known part of a Message")
        payload = {"id": "f-1", "summary": "something new"} if value is None else value
        return Content("unknown", {field: copy.deepcopy(payload)})

    def of_kind(self, kind: str, caption: str | None = None) -> Content:
        """A content of ``kind`` (one of ``KINDS`` or ``"quiz"``) with default values."""
        factory = getattr(self, kind, None)
        if kind in ("text", "command", "of_kind", "unknown") or factory is None:
            raise ValueError(f"unknown content kind {kind!r}")
        content: Content = factory()
        if caption is not None:
            content = content.with_caption(caption)
        return content
