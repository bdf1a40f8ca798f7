"""A user's conversation as one self-contained HTML file, for operators to keep or read (/export).

`render_transcript` is pure: it takes the logged messages (`Database.list_messages`) and the
link rows (`Database.list_links`) and returns the bytes of a UTF-8 HTML document with inline CSS,
no script and nothing loaded from elsewhere (a Content-Security-Policy says so to the browser
too). Everything that users or operators wrote, names included, goes through `html.escape`.

What each entry shows, and where it comes from:

* who: the user's name (from their `UserProfile` record) for user messages; "Operator <name>" for
  operator messages, the name taken from the payload's sender (its signature when an admin
  posted anonymously), or just "Operator";
* when: the message's Telegram `date` from the payload, else the row's `created_at`, shown in
  the given time zone; "edited <time>" from the payload's `edit_date`;
* what: the text or caption (line breaks kept), and for media a placeholder such as
  "[photo]", "[document: report.pdf]" or "[sticker 😀]";
* replies: "↪ in reply to <who>: <start of it>", linked to the entry replied to. A reply is
  resolved within the chat it was made in; a reply to a *copy* (a user replying to the bot's copy
  of an operator's answer, an operator replying to the copy of a user's message) goes through the
  link rows to the original. In a forum topic every message carries `reply_to_message` (the
  topic's `forum_topic_created` message): that is not a reply and is not shown.

A missing or malformed `payload_json` never fails the export: the entry is built from the
`content_type`, `text` and `caption` columns alone.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.relay.texts import full_name
from storage import LoggedMessage, MessageLink, UserProfile

# One logged message, as `Database.list_messages` returns it.
TranscriptEntry = LoggedMessage

QUOTE_LENGTH = 80  # characters of the replied-to message shown in a reply's quote

_MessageKey = tuple[int, int]  # (chat_id, message_id)

_STYLE = """
:root { color-scheme: light dark; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       max-width: 52rem; margin: 0 auto; padding: 1rem; }
header { border-bottom: 1px solid #8885; margin-bottom: 1rem; padding-bottom: .5rem; }
h1 { font-size: 1.35rem; margin: 0 0 .3rem; }
header p { margin: .15rem 0; color: #777; }
.msg { border: 1px solid #8884; border-radius: .6rem; padding: .45rem .75rem;
       margin: .55rem 0; max-width: 85%; background: #8881; }
.msg.user { margin-right: auto; }
.msg.operator { margin-left: auto; background: #2a7de11c; }
.msg:target { outline: 2px solid #2a7de1; }
.meta { font-size: .8rem; color: #777; margin-bottom: .2rem; }
.meta .who { font-weight: 600; color: CanvasText; }
.meta a { color: inherit; text-decoration: none; }
.reply { display: block; border-left: 3px solid #2a7de1; padding-left: .5rem;
         margin: .2rem 0 .35rem; font-size: .85rem; color: inherit; text-decoration: none; }
span.reply { border-left-color: #8886; }
.media { font-style: italic; color: #777; }
.body { white-space: pre-wrap; overflow-wrap: anywhere; }
.empty { color: #777; font-style: italic; }
@media print { .msg { break-inside: avoid; } }
"""

# Content types shown by their name alone; the others are described by `_placeholder`.
_LABELS = {
    "photo": "photo",
    "live_photo": "live photo",
    "video": "video",
    "animation": "GIF",
    "voice": "voice message",
    "video_note": "video message",
    "story": "story",
    "giveaway": "giveaway",
    "giveaway_winners": "giveaway winners",
    "paid_media": "paid media",
}


def transcript_filename(user_id: int, generated_at: datetime) -> str:
    """`transcript-<user_id>-YYYYMMDD-HHMM.html`, the time as `generated_at` gives it."""
    return f"transcript-{user_id}-{generated_at:%Y%m%d-%H%M}.html"


def render_transcript(
    *,
    user: UserProfile,
    messages: Sequence[TranscriptEntry],
    generated_at: datetime,
    timezone: ZoneInfo,
    links: Iterable[MessageLink] = (),
) -> bytes:
    """The user's conversation as a UTF-8 HTML document, one entry per message in the given order.

    `links` are the link rows of the user's messages (`Database.list_links`): without them,
    replies to copies are shown unresolved. `generated_at` must be an aware datetime.
    """
    _require_aware(generated_at, "generated_at")
    view = _View(user=user, messages=messages, timezone=timezone, links=links)
    entries = [view.entry(position) for position in range(len(messages))]
    name = _user_name(user)
    moments = [entry.sent for entry in entries if entry.sent is not None]
    count = f"{len(messages)} message{'' if len(messages) == 1 else 's'}"
    if moments:
        period = f"{_when(min(moments), timezone)} – {_when(max(moments), timezone)}"
        summary = f"{count} · {period} ({timezone.key})"
    else:
        summary = count
    identity = [f"ID <code>{user.user_id}</code>"]
    if user.username:
        identity.insert(0, _e(f"@{user.username}"))
    body = "\n".join(entry.html for entry in entries) or (
        '<p class="empty">No messages have been logged for this user.</p>'
    )
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Transcript – {_e(name)} ({user.user_id})</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>Transcript: <bdi>{_e(name)}</bdi></h1>
<p>{" · ".join(identity)}</p>
<p>{summary}</p>
<p>Generated {_when(generated_at, timezone)} ({timezone.key})</p>
</header>
<main>
{body}
</main>
</body>
</html>
"""
    return document.encode("utf-8")


@dataclass(frozen=True, slots=True)
class _Entry:
    sent: datetime | None
    html: str


class _View:
    """The messages with what is needed to describe each one and to resolve replies."""

    def __init__(
        self,
        *,
        user: UserProfile,
        messages: Sequence[TranscriptEntry],
        timezone: ZoneInfo,
        links: Iterable[MessageLink],
    ) -> None:
        self._user = user
        self._messages = messages
        self._timezone = timezone
        self._payloads = [_payload(message) for message in messages]
        self._positions: dict[_MessageKey, int] = {}
        for position, message in enumerate(messages):
            self._positions.setdefault((message.chat_id, message.message_id), position)
        self._links: dict[_MessageKey, list[_MessageKey]] = {}
        for link in links:
            self._links.setdefault((link.source_chat_id, link.source_message_id), []).append(
                (link.target_chat_id, link.target_message_id)
            )

    def entry(self, position: int) -> _Entry:
        message = self._messages[position]
        payload = self._payloads[position]
        sent = _sent_at(message, payload)
        meta = [
            f'<a href="#m{position + 1}">#{position + 1}</a>',
            f'<bdi class="who">{_e(self._who(position))}</bdi>',
        ]
        if sent is not None:
            local = sent.astimezone(self._timezone)
            meta.append(
                f'<time datetime="{local.isoformat()}">{_when(sent, self._timezone)}</time>'
            )
        else:
            meta.append("time unknown")
        edited = _moment(payload.get("edit_date"))
        if edited is not None:
            meta.append(f'<span class="edited">edited {_when(edited, self._timezone)}</span>')
        origin = _forward_origin(payload)
        if origin is not None:
            meta.append(f"forwarded from <bdi>{_e(origin)}</bdi>")
        parts = [f'<div class="meta">{" · ".join(meta)}</div>']
        reply = self._reply(position)
        if reply is not None:
            parts.append(reply)
        placeholder = _placeholder(message.content_type, payload)
        if placeholder is not None:
            parts.append(f'<div class="media">{_e(placeholder)}</div>')
        words = _words(message, payload)
        if words:
            parts.append(f'<div class="body">{_e(words)}</div>')
        elif placeholder is None:
            parts.append('<div class="media">[no content]</div>')
        direction = "operator" if message.direction == "operator" else "user"
        return _Entry(
            sent=sent,
            html=f'<article class="msg {direction}" id="m{position + 1}">\n'
            + "\n".join(parts)
            + "\n</article>",
        )

    def _who(self, position: int) -> str:
        message = self._messages[position]
        payload = self._payloads[position]
        if message.direction != "operator":
            return _user_name(self._user, payload)
        if _dict(payload.get("sender_chat")):
            # Posted anonymously as the group: only the admin's signature, if any, says who.
            signature = _str(payload.get("author_signature"))
            return f"Operator {signature}" if signature else "Operator"
        sender = _sender(payload)
        name = full_name(_str(sender.get("first_name")), _str(sender.get("last_name")))
        if not name and _str(sender.get("username")):
            name = f"@{sender['username']}"
        return f"Operator {name}" if name else "Operator"

    def _reply(self, position: int) -> str | None:
        """The reply's quote, as HTML; None when the message is not a reply."""
        message = self._messages[position]
        payload = self._payloads[position]
        replied = _dict(payload.get("reply_to_message"))
        replied_id = _int(replied.get("message_id"))
        if replied_id is None or "forum_topic_created" in replied:
            return None
        if replied_id == _int(payload.get("message_thread_id")):
            return None  # the topic's first message: every message in a forum topic "replies" to it
        target = self._resolve((message.chat_id, replied_id))
        if target is None:
            quote = _quote(
                _placeholder(_content_type(replied), replied),
                _str(replied.get("text")) or _str(replied.get("caption")),
            )
            suffix = f": {_e(quote)}" if quote else ""
            return (
                f'<span class="reply">↪ in reply to a message not in this transcript{suffix}</span>'
            )
        original = self._messages[target]
        quote = _quote(
            _placeholder(original.content_type, self._payloads[target]),
            _words(original, self._payloads[target]),
        )
        suffix = f": {_e(quote)}" if quote else ""
        return (
            f'<a class="reply" href="#m{target + 1}">↪ in reply to '
            f"<bdi>{_e(self._who(target))}</bdi>{suffix}</a>"
        )

    def _resolve(self, key: _MessageKey) -> int | None:
        """The position of the logged message `key` is, or is a copy (or a part) of."""
        if key in self._positions:
            return self._positions[key]
        for linked in self._links.get(key, ()):
            if linked in self._positions:
                return self._positions[linked]
        return None


def _placeholder(content_type: str, payload: Mapping[str, Any]) -> str | None:
    """What stands for the message's media or special content; None for plain text."""
    kind = content_type or "unknown"
    if kind == "text":
        return None
    if kind in _LABELS:
        label = _LABELS[kind]
        file_name = _str(_dict(payload.get(kind)).get("file_name"))
        return f"[{label}: {file_name}]" if file_name else f"[{label}]"
    media = _dict(payload.get(kind))
    detail: str | None = None
    if kind == "document":
        detail = _str(media.get("file_name"))
    elif kind == "audio":
        detail = " – ".join(
            part for part in (_str(media.get("performer")), _str(media.get("title"))) if part
        ) or _str(media.get("file_name"))
    elif kind == "sticker":
        emoji = _str(media.get("emoji"))
        return f"[sticker {emoji}]" if emoji else "[sticker]"
    elif kind == "location":
        latitude, longitude = media.get("latitude"), media.get("longitude")
        if _is_number(latitude) and _is_number(longitude):
            detail = f"{latitude:.6f}, {longitude:.6f}"
    elif kind == "venue":
        detail = ", ".join(
            part for part in (_str(media.get("title")), _str(media.get("address"))) if part
        )
    elif kind == "contact":
        name = full_name(_str(media.get("first_name")), _str(media.get("last_name")))
        detail = ", ".join(part for part in (name, _str(media.get("phone_number"))) if part)
    elif kind == "poll":
        detail = _str(media.get("question"))
    elif kind == "dice":
        value = _int(media.get("value"))
        detail = " ".join(
            part
            for part in (_str(media.get("emoji")), None if value is None else str(value))
            if part
        )
        return f"[dice {detail}]" if detail else "[dice]"
    elif kind in {"game", "invoice", "checklist"}:
        detail = _str(media.get("title"))
    label = kind.replace("_", " ")
    return f"[{label}: {detail}]" if detail else f"[{label}]"


def _words(message: TranscriptEntry, payload: Mapping[str, Any]) -> str | None:
    """The text or caption of the message: the columns, else the payload."""
    return (
        message.text
        or message.caption
        or _str(payload.get("text"))
        or _str(payload.get("caption"))
        or None
    )


def _quote(placeholder: str | None, words: str | None) -> str:
    """A one-line start of a message for a reply's quote: at most QUOTE_LENGTH characters."""
    text = " ".join(part for part in (placeholder, words) if part)
    text = " ".join(text.split())
    if len(text) > QUOTE_LENGTH:
        return text[: QUOTE_LENGTH - 1].rstrip() + "…"
    return text


def _content_type(message: Mapping[str, Any]) -> str:
    """The content type of a message in a payload (a reply's original), as far as it shows."""
    if "text" in message:
        return "text"
    for kind in (
        "animation",  # before document: an animation also fills `document`
        "photo",
        "video",
        "document",
        "audio",
        "voice",
        "video_note",
        "sticker",
        "contact",
        "venue",  # before location: a venue also fills `location`
        "location",
        "poll",
        "dice",
    ):
        if kind in message:
            return kind
    return "unknown"


def _user_name(user: UserProfile, payload: Mapping[str, Any] | None = None) -> str:
    name = full_name(user.first_name, user.last_name)
    if not name and payload is not None:
        sender = _sender(payload)
        name = full_name(_str(sender.get("first_name")), _str(sender.get("last_name")))
    return name or (f"@{user.username}" if user.username else f"User {user.user_id}")


def _sender(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    # aiogram dumps the field by its name, `from_user`; Telegram's own JSON calls it `from`.
    return _dict(payload.get("from_user")) or _dict(payload.get("from"))


def _forward_origin(payload: Mapping[str, Any]) -> str | None:
    origin = _dict(payload.get("forward_origin"))
    if not origin:
        return None
    kind = origin.get("type")
    if kind == "user":
        sender = _dict(origin.get("sender_user"))
        return full_name(_str(sender.get("first_name")), _str(sender.get("last_name"))) or "a user"
    if kind == "hidden_user":
        return _str(origin.get("sender_user_name")) or "a hidden user"
    if kind in {"chat", "channel"}:
        chat = _dict(origin.get("sender_chat") if kind == "chat" else origin.get("chat"))
        return _str(chat.get("title")) or f"a {kind}"
    return "elsewhere"


def _sent_at(message: TranscriptEntry, payload: Mapping[str, Any]) -> datetime | None:
    """When it was sent (Telegram's `date`), else when it was logged; None if neither is known."""
    sent = _moment(payload.get("date"))
    if sent is not None:
        return sent
    if message.created_at:
        try:
            logged = datetime.fromisoformat(message.created_at)
        except ValueError:
            return None
        return logged if logged.tzinfo is not None else logged.replace(tzinfo=UTC)
    return None


def _moment(value: object) -> datetime | None:
    """A payload time: unix seconds (aiogram's JSON), or ISO-8601 text; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):  # out of range, or NaN
            return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return None


def _when(moment: datetime, timezone: ZoneInfo) -> str:
    return f"{moment.astimezone(timezone):%Y-%m-%d %H:%M}"


def _payload(message: TranscriptEntry) -> dict[str, Any]:
    if not message.payload_json:
        return {}
    try:
        value = json.loads(message.payload_json)
    except (ValueError, RecursionError):
        return {}
    return _dict(value)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must carry its time zone, not {moment!r}")


def _e(text: str) -> str:
    return html.escape(text, quote=True)
