"""The transcript of a conversation (/export): the HTML file, and the storage reads behind it."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram.types import Message

from bot.desk.transcript import render_transcript, transcript_filename
from bot.relay import content
from storage import Database, LoggedMessage, MessageLink, UserProfile
from tests.storage_helpers import ISO_UTC, MESSAGE_DEFAULTS, USER, log_message, write_directly

GROUP = -1001234567890
TOPIC = 42
BERLIN = ZoneInfo("Europe/Berlin")
GENERATED = datetime(2024, 5, 3, 9, 30, tzinfo=UTC)
ANN = UserProfile(user_id=USER, username="ann", first_name="Ann", last_name="Lee")
BOB = {"id": 7, "is_bot": False, "first_name": "Bob", "last_name": "Stone"}
# 2024-05-01 12:00:00 UTC, 14:00 in Berlin
NOON = 1714564800


def entry(**overrides: Any) -> LoggedMessage:
    """A logged user text message, with the fields a test cares about overridden."""
    created = {"created_at": "2024-05-01T12:00:00.000Z"}
    return LoggedMessage(**{**MESSAGE_DEFAULTS, **created, **overrides})


def operator(message_id: int, text: str | None = "hi", **payload: Any) -> LoggedMessage:
    """An operator's message in the user's topic, sent by Bob."""
    body = {"message_id": message_id, "date": NOON, "from_user": BOB, **payload}
    return entry(
        direction="operator",
        chat_id=GROUP,
        message_id=message_id,
        text=text,
        payload_json=json.dumps(body),
    )


def render(
    messages: list[LoggedMessage],
    links: list[MessageLink] | None = None,
    user: UserProfile = ANN,
    timezone: ZoneInfo = BERLIN,
) -> str:
    document = render_transcript(
        user=user,
        messages=messages,
        generated_at=GENERATED,
        timezone=timezone,
        links=links or [],
    )
    assert isinstance(document, bytes)
    return document.decode("utf-8")


def link(source: tuple[int, int], target: tuple[int, int]) -> MessageLink:
    return MessageLink(
        user_id=USER,
        source_chat_id=source[0],
        source_message_id=source[1],
        target_chat_id=target[0],
        target_message_id=target[1],
    )


class _Tags(HTMLParser):
    """Every tag of a document with its attributes, and the text outside tags."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> _Tags:
    parser = _Tags()
    parser.feed(document)
    parser.close()
    return parser


def articles(document: str) -> list[str]:
    """The HTML of each message entry, in order."""
    return re.findall(r"<article .*?</article>", document, flags=re.DOTALL)


SAFE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "p", "code", "main",
    "article", "div", "span", "a", "bdi", "time",
}  # fmt: skip


# --- the document ------------------------------------------------------------------------------


def test_empty_history_is_a_complete_document_that_says_so() -> None:
    document = render([])

    assert document.startswith("<!DOCTYPE html>")
    assert document.rstrip().endswith("</html>")
    assert '<meta charset="utf-8">' in document
    assert "0 messages" in document
    assert "No messages have been logged for this user." in document
    assert articles(document) == []


def test_header_names_the_user_and_the_period_in_local_time() -> None:
    document = render(
        [
            entry(message_id=1, payload_json=json.dumps({"date": NOON})),
            operator(70),
            entry(message_id=2, payload_json=json.dumps({"date": NOON + 2 * 86400 + 600})),
        ]
    )

    header = document.split("<main>")[0]
    assert "Transcript: <bdi>Ann Lee</bdi>" in header
    assert "@ann" in header
    assert f"<code>{USER}</code>" in header
    assert "3 messages · 2024-05-01 14:00 – 2024-05-03 14:10 (Europe/Berlin)" in header
    assert "Generated 2024-05-03 11:30 (Europe/Berlin)" in header


def test_one_message_is_counted_in_the_singular() -> None:
    assert "1 message ·" in render([entry()])


def test_document_is_self_contained_no_script_no_external_resource() -> None:
    document = render([entry(), operator(70)])
    parsed = parse(document)

    assert {tag for tag, _ in parsed.tags} <= SAFE_TAGS
    for _, attrs in parsed.tags:
        assert "src" not in attrs
        assert all(not name.startswith("on") for name in attrs)
        href = attrs.get("href")
        assert href is None or href.startswith("#")
    assert "default-src 'none'" in document  # the browser refuses anything loaded, too


def test_filename_has_the_user_and_the_minute() -> None:
    moment = datetime(2024, 5, 3, 9, 7, 59, tzinfo=BERLIN)
    assert transcript_filename(USER, moment) == f"transcript-{USER}-20240503-0907.html"


def test_a_naive_generation_time_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        render_transcript(user=ANN, messages=[], generated_at=datetime(2024, 5, 3), timezone=BERLIN)


# --- escaping ------------------------------------------------------------------------------------


def test_everything_people_wrote_is_escaped() -> None:
    evil = "<script>alert('x')</script> & \"co\""
    user = UserProfile(user_id=USER, username="<b>ann</b>", first_name=evil, last_name="& Lee")
    operator_name = {"id": 7, "is_bot": False, "first_name": '<img src=x onerror="boom()">'}
    messages = [
        entry(message_id=1, text=f"{evil}\n<a href='http://evil'>click</a>"),
        entry(
            message_id=2,
            content_type="document",
            text=None,
            caption="&amp; <i>caption</i>",
            payload_json=json.dumps({"document": {"file_name": '"><script>x</script>.pdf'}}),
        ),
        entry(
            direction="operator",
            chat_id=GROUP,
            message_id=70,
            text="<b>bold</b> & done",
            payload_json=json.dumps(
                {
                    "from_user": operator_name,
                    "reply_to_message": {"message_id": 1},
                    "forward_origin": {"type": "hidden_user", "sender_user_name": "<u>x</u>"},
                }
            ),
        ),
    ]

    document = render(messages, user=user)
    parsed = parse(document)

    assert "<script" not in document
    assert "<img" not in document
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;co&quot;" in document
    assert "&amp;amp; &lt;i&gt;caption&lt;/i&gt;" in document
    assert "[document: &quot;&gt;&lt;script&gt;x&lt;/script&gt;.pdf]" in document
    assert "Operator &lt;img src=x onerror=&quot;boom()&quot;&gt;" in document
    assert "@&lt;b&gt;ann&lt;/b&gt;" in document
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; done" in document
    assert "forwarded from <bdi>&lt;u&gt;x&lt;/u&gt;</bdi>" in document
    # What a browser shows is exactly what was written.
    shown = "".join(parsed.text)
    assert evil in shown
    assert "<a href='http://evil'>click</a>" in shown
    assert {tag for tag, _ in parsed.tags} <= SAFE_TAGS
    assert all((attrs.get("href") or "#").startswith("#") for _, attrs in parsed.tags)


# --- who, when, what -----------------------------------------------------------------------------


def test_entries_follow_the_given_order_with_who_and_local_time() -> None:
    document = render(
        [
            entry(message_id=1, text="first", payload_json=json.dumps({"date": NOON})),
            operator(70, "second"),
        ]
    )

    first, second = articles(document)
    assert 'class="msg user" id="m1"' in first
    assert '<bdi class="who">Ann Lee</bdi>' in first
    assert '<time datetime="2024-05-01T14:00:00+02:00">2024-05-01 14:00</time>' in first
    assert ">first</div>" in first
    assert 'class="msg operator" id="m2"' in second
    assert '<bdi class="who">Operator Bob Stone</bdi>' in second


def test_local_time_moves_to_the_next_day_across_midnight() -> None:
    late = 1714602600  # 2024-05-01 22:30 UTC: 00:30 on 2 May in Berlin
    document = render([entry(payload_json=json.dumps({"date": late}))])
    assert ">2024-05-02 00:30</time>" in document
    assert ">2024-05-01 18:30</time>" in render(
        [entry(payload_json=json.dumps({"date": late}))], timezone=ZoneInfo("America/New_York")
    )


def test_line_breaks_are_kept() -> None:
    document = render([entry(text="line one\nline two\n\n  indented")])
    assert '<div class="body">line one\nline two\n\n  indented</div>' in document
    assert "white-space: pre-wrap" in document


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"from_user": {"id": 7, "first_name": "Bob"}}, "Operator Bob"),
        ({"from": {"id": 7, "first_name": "Bob", "last_name": "Stone"}}, "Operator Bob Stone"),
        ({"from_user": {"id": 7, "username": "bobby"}}, "Operator @bobby"),
        ({"from_user": {"id": 7}}, "Operator"),
        ({}, "Operator"),
        # An admin posting anonymously: `from` is Telegram's GroupAnonymousBot, not a person.
        (
            {
                "from_user": {"id": 1087968824, "first_name": "Group"},
                "sender_chat": {"id": GROUP, "title": "Support"},
                "author_signature": "Carol",
            },
            "Operator Carol",
        ),
        ({"sender_chat": {"id": GROUP}, "from_user": {"first_name": "Group"}}, "Operator"),
    ],
)
def test_operator_is_named_from_the_payload(payload: dict[str, Any], expected: str) -> None:
    message = entry(direction="operator", chat_id=GROUP, payload_json=json.dumps(payload))
    assert f'<bdi class="who">{expected}</bdi>' in render([message])


def test_operator_without_payload_is_just_operator() -> None:
    message = entry(direction="operator", chat_id=GROUP, payload_json=None)
    assert '<bdi class="who">Operator</bdi>' in render([message])


def test_a_user_without_a_name_is_named_by_the_message_or_the_id() -> None:
    nameless = UserProfile(user_id=USER, username=None, first_name=None, last_name=None)
    sender = json.dumps({"from_user": {"id": USER, "first_name": "Ann"}})

    assert '<bdi class="who">Ann</bdi>' in render([entry(payload_json=sender)], user=nameless)
    assert f'<bdi class="who">User {USER}</bdi>' in render([entry()], user=nameless)
    assert f"Transcript: <bdi>User {USER}</bdi>" in render([], user=nameless)


@pytest.mark.parametrize(
    ("content_type", "media", "caption", "expected"),
    [
        (
            "photo",
            [{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}],
            None,
            "[photo]",
        ),
        ("voice", {"file_id": "v", "duration": 3}, None, "[voice message]"),
        ("video_note", {"file_id": "v", "length": 240}, None, "[video message]"),
        ("animation", {"file_id": "a", "file_name": "cat.mp4"}, None, "[GIF: cat.mp4]"),
        ("document", {"file_id": "d", "file_name": "report.pdf"}, "see", "[document: report.pdf]"),
        ("document", {"file_id": "d"}, None, "[document]"),
        (
            "audio",
            {"file_id": "a", "performer": "Band", "title": "Song"},
            None,
            "[audio: Band – Song]",
        ),
        ("sticker", {"file_id": "s", "emoji": "😀"}, None, "[sticker 😀]"),
        (
            "location",
            {"latitude": 52.52, "longitude": 13.405},
            None,
            "[location: 52.520000, 13.405000]",
        ),
        ("location", None, None, "[location]"),
        (
            "venue",
            {"title": "Cafe", "address": "Main St 1", "location": {}},
            None,
            "[venue: Cafe, Main St 1]",
        ),
        (
            "contact",
            {"first_name": "Eve", "last_name": "Moe", "phone_number": "+4912"},
            None,
            "[contact: Eve Moe, +4912]",
        ),
        ("poll", {"question": "Tea or coffee?"}, None, "[poll: Tea or coffee?]"),
        ("dice", {"emoji": "🎲", "value": 5}, None, "[dice 🎲 5]"),
        ("game", {"title": "Chess"}, None, "[game: Chess]"),
        ("story", {"id": 1}, None, "[story]"),
        ("a_kind_from_the_future", None, None, "[a kind from the future]"),
        ("", None, None, "[unknown]"),
    ],
)
def test_media_is_shown_as_a_labelled_placeholder(
    content_type: str, media: Any, caption: str | None, expected: str
) -> None:
    payload = {} if media is None else {content_type: media}
    message = entry(
        content_type=content_type, text=None, caption=caption, payload_json=json.dumps(payload)
    )

    [article] = articles(render([message]))

    assert f'<div class="media">{expected}</div>' in article
    if caption:
        assert f'<div class="body">{caption}</div>' in article
    else:
        assert 'class="body"' not in article


def test_a_text_message_without_any_text_says_so() -> None:
    [article] = articles(render([entry(text=None)]))
    assert '<div class="media">[no content]</div>' in article


# --- edits and forwards --------------------------------------------------------------------------


def test_an_edited_message_shows_its_last_text_and_when_it_was_edited() -> None:
    payload = {"date": NOON, "edit_date": NOON + 3600 + 300, "text": "fixed"}
    [article] = articles(render([entry(text="fixed", payload_json=json.dumps(payload))]))

    assert '<span class="edited">edited 2024-05-01 15:05</span>' in article
    assert ">fixed</div>" in article


def test_an_unedited_message_is_not_marked() -> None:
    assert "edited" not in "".join(articles(render([entry()])))


@pytest.mark.parametrize(
    ("origin", "shown"),
    [
        ({"type": "user", "date": NOON, "sender_user": {"id": 9, "first_name": "Zoe"}}, "Zoe"),
        ({"type": "hidden_user", "date": NOON, "sender_user_name": "Max"}, "Max"),
        ({"type": "channel", "date": NOON, "chat": {"id": -1, "title": "News"}}, "News"),
        ({"type": "chat", "date": NOON, "sender_chat": {"id": -2, "title": "Club"}}, "Club"),
        ({"type": "something_new"}, "elsewhere"),
    ],
)
def test_a_forwarded_message_says_from_where(origin: dict[str, Any], shown: str) -> None:
    message = entry(payload_json=json.dumps({"forward_origin": origin}))
    assert f"forwarded from <bdi>{shown}</bdi>" in render([message])


# --- replies -------------------------------------------------------------------------------------


def reply_html(article: str) -> str:
    found = re.search(r'<(a|span) class="reply".*?</\1>', article)
    assert found is not None, article
    return found.group(0)


def test_a_reply_in_the_same_chat_quotes_and_links_the_original() -> None:
    document = render(
        [
            operator(70, "Please send the invoice number"),
            operator(71, "Also your order date", reply_to_message={"message_id": 70}),
        ]
    )

    reply = reply_html(articles(document)[1])
    assert reply == (
        '<a class="reply" href="#m1">↪ in reply to <bdi>Operator Bob Stone</bdi>: '
        "Please send the invoice number</a>"
    )
    assert 'id="m1"' in articles(document)[0]


def test_a_user_replying_to_the_copy_of_an_answer_quotes_the_operator() -> None:
    # Operator message 70 in the group reached the user as message 501 of their private chat.
    messages = [
        entry(message_id=1, text="My order is late"),
        operator(70, "Which order number?"),
        entry(
            message_id=2,
            text="A-17",
            payload_json=json.dumps({"reply_to_message": {"message_id": 501, "text": "Which…"}}),
        ),
    ]
    links = [link((GROUP, 70), (USER, 501)), link((USER, 501), (GROUP, 70))]

    reply = reply_html(articles(render(messages, links))[2])

    assert 'href="#m2"' in reply
    assert "in reply to <bdi>Operator Bob Stone</bdi>: Which order number?" in reply


def test_an_operator_replying_to_the_copy_of_a_user_message_quotes_the_user() -> None:
    # User message 1 was copied into the topic as message 900.
    messages = [
        entry(message_id=1, text="Where is my parcel?"),
        operator(70, "On its way", reply_to_message={"message_id": 900}, message_thread_id=TOPIC),
    ]
    links = [link((USER, 1), (GROUP, 900)), link((GROUP, 900), (USER, 1))]

    reply = reply_html(articles(render(messages, links))[1])

    assert reply == (
        '<a class="reply" href="#m1">↪ in reply to <bdi>Ann Lee</bdi>: Where is my parcel?</a>'
    )


def test_a_reply_to_a_further_part_goes_to_its_source() -> None:
    # A long caption's full text was sent after the media copy (501) as 502, linked back only.
    messages = [
        operator(70, None, photo=[{"file_id": "p"}]),
        entry(message_id=2, payload_json=json.dumps({"reply_to_message": {"message_id": 502}})),
    ]
    messages[0] = LoggedMessage(**{**_fields(messages[0]), "content_type": "photo", "caption": "x"})
    links = [
        link((GROUP, 70), (USER, 501)),
        link((USER, 501), (GROUP, 70)),
        link((USER, 502), (GROUP, 70)),
    ]

    reply = reply_html(articles(render(messages, links))[1])

    assert 'href="#m1"' in reply
    assert ": [photo] x</a>" in reply


def _fields(message: LoggedMessage) -> dict[str, Any]:
    return {field.name: getattr(message, field.name) for field in dataclasses.fields(message)}


def test_the_implicit_reply_to_the_topic_start_is_not_a_reply() -> None:
    created = {"message_id": TOPIC, "forum_topic_created": {"name": "Ann", "icon_color": 1}}
    messages = [
        # Either sign is enough: the service message's content, or the thread id.
        operator(70, "hi", reply_to_message=created),
        operator(71, "hi", reply_to_message={"message_id": TOPIC}, message_thread_id=TOPIC),
    ]
    document = render(messages)
    assert 'class="reply"' not in document
    assert "in reply to" not in document


def test_a_reply_to_a_message_not_in_the_transcript_quotes_what_the_payload_has() -> None:
    payload = {"reply_to_message": {"message_id": 3, "text": "Welcome! Ask us anything."}}
    reply = reply_html(render([entry(message_id=5, payload_json=json.dumps(payload))]))

    assert reply == (
        '<span class="reply">↪ in reply to a message not in this transcript: '
        "Welcome! Ask us anything.</span>"
    )


def test_a_reply_quote_is_one_line_of_at_most_80_characters() -> None:
    long = "word " * 40 + "\nsecond line"
    messages = [
        entry(message_id=1, text=long),
        entry(message_id=2, payload_json=json.dumps({"reply_to_message": {"message_id": 1}})),
    ]
    reply = reply_html(articles(render(messages))[1])

    quote = reply.split("</bdi>: ", 1)[1].removesuffix("</a>")
    assert len(quote) <= 80
    assert quote.endswith("…")
    assert "\n" not in quote
    assert quote.startswith("word word")


# --- robustness ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload_json",
    [
        None,
        "",
        "not json {",
        "[1, 2, 3]",
        '"a string"',
        "null",
        "[" * 100_000,  # deeper than json.loads can go
        json.dumps(
            {
                "date": "yesterday",
                "edit_date": 1e300,
                "from_user": "Bob",
                "from": ["Bob"],
                "reply_to_message": 5,
                "forward_origin": {"type": "user", "sender_user": "x"},
                "text": 42,
                "document": [],
                "message_thread_id": "1",
            }
        ),
        json.dumps({"reply_to_message": {"message_id": "70"}, "date": float("nan")}),
    ],
)
def test_a_malformed_payload_falls_back_to_the_columns(payload_json: str | None) -> None:
    messages = [
        entry(
            message_id=1,
            content_type="document",
            text=None,
            caption="the caption",
            payload_json=payload_json,
            created_at="2024-05-01T12:00:00.123Z",
        ),
        entry(
            direction="operator",
            chat_id=GROUP,
            message_id=70,
            text="answer",
            payload_json=payload_json,
        ),
    ]

    user_entry, operator_entry = articles(render(messages))

    assert '<div class="media">[document]</div>' in user_entry
    assert '<div class="body">the caption</div>' in user_entry
    assert ">2024-05-01 14:00</time>" in user_entry  # from created_at
    assert '<bdi class="who">Operator</bdi>' in operator_entry
    assert ">answer</div>" in operator_entry


def test_a_message_with_no_known_time_says_so() -> None:
    for created_at in (None, "garbage"):
        [article] = articles(render([entry(created_at=created_at)]))
        assert "time unknown" in article
    assert "1 message\n" in render([entry(created_at=None)]).replace("</p>", "\n")


# --- real payloads, as the relay logs them -------------------------------------------------------


def test_payloads_as_aiogram_serializes_them() -> None:
    chat = {"id": GROUP, "type": "supergroup", "title": "Support", "is_forum": True}
    question = Message.model_validate(
        {
            "message_id": 900,
            "date": NOON,
            "chat": chat,
            "message_thread_id": TOPIC,
            "is_topic_message": True,
            "text": "Is it broken?",
        }
    )
    answer = Message.model_validate(
        {
            "message_id": 70,
            "date": NOON + 60,
            "edit_date": NOON + 120,
            "chat": chat,
            "from": BOB,
            "message_thread_id": TOPIC,
            "is_topic_message": True,
            "reply_to_message": question.model_dump(by_alias=True, exclude_none=True),
            "document": {"file_id": "F", "file_unique_id": "U", "file_name": "fix.pdf"},
            "caption": "Try this",
        }
    )
    messages = [
        entry(message_id=1, text="Is it broken?"),
        entry(
            direction="operator",
            chat_id=GROUP,
            message_id=70,
            content_type=content.kind(answer),
            text=answer.text,
            caption=answer.caption,
            file_id=content.file_id(answer),
            payload_json=content.payload_json(answer),
        ),
    ]
    links = [link((USER, 1), (GROUP, 900)), link((GROUP, 900), (USER, 1))]

    [_, article] = articles(render(messages, links))

    assert '<bdi class="who">Operator Bob Stone</bdi>' in article
    assert ">2024-05-01 14:01</time>" in article
    assert "edited 2024-05-01 14:02" in article
    assert '<div class="media">[document: fix.pdf]</div>' in article
    assert '<div class="body">Try this</div>' in article
    assert '<a class="reply" href="#m1">↪ in reply to <bdi>Ann Lee</bdi>: Is it broken?</a>' in (
        article
    )


# --- storage: list_messages, list_links, created_at ----------------------------------------------


async def test_list_messages_returns_the_users_messages_in_order_with_created_at(
    db: Database,
) -> None:
    await log_message(db, message_id=1, text="one")
    await log_message(db, direction="operator", chat_id=GROUP, message_id=70, text="two")
    await log_message(db, user_id=456, chat_id=456, message_id=1, text="someone else")
    await log_message(db, message_id=2, text="three")

    logged = await db.log.history(USER)

    assert [(m.direction, m.text) for m in logged] == [
        ("user", "one"),
        ("operator", "two"),
        ("user", "three"),
    ]
    assert all(m.created_at is not None and ISO_UTC.match(m.created_at) for m in logged)
    assert await db.log.history(999) == []


async def test_list_messages_with_a_limit_keeps_the_most_recent(db: Database) -> None:
    for message_id in range(1, 6):
        await log_message(db, message_id=message_id, text=f"m{message_id}")

    assert [m.text for m in await db.log.history(USER, limit=2)] == ["m4", "m5"]
    assert await db.log.history(USER, limit=0) == []
    assert len(await db.log.history(USER, limit=10)) == 5
    with pytest.raises(ValueError, match="limit"):
        await db.log.history(USER, limit=-1)


async def test_get_message_and_list_messages_agree(db: Database, path: Path) -> None:
    await log_message(db, message_id=1, payload_json='{"date": 1}')
    write_directly(path, "UPDATE messages SET created_at = '2024-05-01T12:00:00.000Z'")

    single = await db.log.get(chat_id=USER, message_id=1)
    [listed] = await db.log.history(USER)

    assert single is not None
    assert single.created_at == listed.created_at == "2024-05-01T12:00:00.000Z"
    assert single == listed
    # created_at does not take part in equality: older records built without it still compare.
    assert single == LoggedMessage(**{**_fields(single), "created_at": None})


async def test_list_links_returns_both_directions_of_the_users_links(db: Database) -> None:
    await db.log_message_link(
        user_id=USER,
        source_chat_id=USER,
        source_message_id=1,
        target_chat_id=GROUP,
        target_message_id=900,
    )
    await db.log_message_link(
        user_id=456,
        source_chat_id=456,
        source_message_id=1,
        target_chat_id=GROUP,
        target_message_id=901,
    )

    assert await db.log.links(USER) == [
        link((USER, 1), (GROUP, 900)),
        link((GROUP, 900), (USER, 1)),
    ]


async def test_a_transcript_from_the_database(db: Database) -> None:
    await db.upsert_user(USER, "ann", "Ann", "Lee")
    await log_message(db, message_id=1, text="Where is <my> parcel?")
    await db.log_message_link(
        user_id=USER,
        source_chat_id=USER,
        source_message_id=1,
        target_chat_id=GROUP,
        target_message_id=900,
    )
    await log_message(
        db,
        direction="operator",
        chat_id=GROUP,
        message_id=70,
        text="On its way",
        payload_json=json.dumps({"from_user": BOB, "reply_to_message": {"message_id": 900}}),
    )
    user = await db.people.get(USER)
    assert user is not None

    document = render(await db.log.history(USER), await db.log.links(USER), user=user)

    assert "2 messages" in document
    assert "in reply to <bdi>Ann Lee</bdi>: Where is &lt;my&gt; parcel?</a>" in document
