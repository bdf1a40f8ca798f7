"""The fake Telegram server, proved with a real aiogram client over loopback HTTP.

If one of these fails, the end-to-end tests of the bot cannot be trusted: each test states a
behaviour of Telegram that the bot depends on (see the Bot API documentation,
https://core.telegram.org/bots/api, and the sources named in `tests/fake_telegram`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    ChatFullInfo,
    ChatMemberAdministrator,
    ChatMemberBanned,
    Message,
    ReactionTypeEmoji,
    ReplyParameters,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fake_telegram import FakeTelegram, Group, User
from tests.fake_telegram.pytest_plugin import (
    bot_for,
    fake_telegram,  # noqa: F401 - fixture
    operator_group,  # noqa: F401 - fixture
    running_fake_telegram,
    telegram_bot,  # noqa: F401 - fixture
)

ContentKinds = (
    "text", "photo", "video", "animation", "document", "audio", "voice", "video_note",
    "sticker", "location", "venue", "contact", "poll", "dice", "story",
)  # fmt: skip
HTML = "HTML"


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:  # noqa: F811 - fixture
    return fake_telegram


@pytest.fixture
def bot(telegram_bot: Bot) -> Bot:  # noqa: F811 - fixture
    return telegram_bot


@pytest.fixture
def support(operator_group: Group) -> Group:  # noqa: F811 - fixture
    return operator_group


@pytest.fixture
def alice(fake: FakeTelegram) -> User:
    return fake.add_user("Alice", "Smith", "alice")


async def topic_for(bot: Bot, group: Group, name: str = "Alice Smith") -> int:
    topic = await bot.create_forum_topic(group.id, name)
    return topic.message_thread_id


async def drain(bot: Bot) -> list[Any]:
    """Read and confirm everything pending."""
    updates = await bot.get_updates(timeout=0)
    if updates:
        await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    return updates


def update_kind(update: dict[str, Any]) -> str:
    (kind,) = set(update) - {"update_id"}
    return kind


# -- wire format ------------------------------------------------------------------------------


async def test_get_me_describes_the_bot(bot: Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.is_bot, me.username) == (123456, True, "support_test_bot")


async def test_a_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    stranger = Bot("654321:WRONG", session=bot_for(fake).session)
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await stranger.get_me()
    finally:
        await stranger.session.close()


async def test_json_bodies_query_strings_and_any_method_case_are_understood(
    fake: FakeTelegram, alice: User
) -> None:
    await fake.user_sends(alice, "hi")
    async with aiohttp.ClientSession() as http:
        url = f"{fake.base_url}/bot{fake.token}"
        async with http.post(f"{url}/SENDMESSAGE", json={"chat_id": alice.id, "text": "a"}) as r:
            sent = await r.json()
        async with http.get(f"{url}/sendMessage", params={"chat_id": alice.id, "text": "b"}) as r:
            assert r.status == 200
        async with http.post(f"{url}/sendMessage", json={"chat_id": alice.id}) as r:
            failed = (r.status, await r.json())

    assert sent["ok"] is True
    assert sent["result"]["text"] == "a"
    assert [m["text"] for m in fake.messages_from_bot(alice)] == ["a", "b"]
    assert failed == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"},
    )


async def test_every_call_is_recorded_with_its_chat_and_outcome(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    await fake.user_sends(alice, "hi")
    await bot.send_message(alice.id, "hello")
    with pytest.raises(TelegramBadRequest):
        await bot.send_message(42, "hello")

    ok, failed = fake.calls_of("sendMessage")
    assert (ok.chat_id, ok.params["text"], ok.outcome) == (alice.id, "hello", "ok")
    assert (failed.chat_id, failed.outcome) == (42, "400 Bad Request: chat not found")


async def in_a_fresh_fake(scenario: Callable[[FakeTelegram, Bot], Awaitable[None]]) -> None:
    """Run ``scenario`` against a fake with the same teardown check as the fixture."""
    async with running_fake_telegram() as fake:
        bot = bot_for(fake)
        try:
            await scenario(fake, bot)
        finally:
            await bot.session.close()


async def test_an_unknown_method_answers_404_and_fails_the_test_at_teardown() -> None:
    async def call_get_file(fake: FakeTelegram, bot: Bot) -> None:
        with pytest.raises(TelegramNotFound, match="Not Found"):
            await bot.get_file("AgAD")

    with pytest.raises(pytest.fail.Exception, match="getFile: unknown method"):
        await in_a_fresh_fake(call_get_file)


async def test_an_unmodelled_feature_fails_the_test_like_an_unknown_method() -> None:
    async def send_markdown(fake: FakeTelegram, bot: Bot) -> None:
        alice = fake.add_user(started=True)
        with pytest.raises(TelegramServerError):
            await bot.send_message(alice.id, "*hi*", parse_mode="MarkdownV2")

    with pytest.raises(pytest.fail.Exception, match="parse_mode 'MarkdownV2'"):
        await in_a_fresh_fake(send_markdown)


async def test_a_clean_session_passes_the_teardown_check() -> None:
    async def get_me(fake: FakeTelegram, bot: Bot) -> None:
        await bot.get_me()

    await in_a_fresh_fake(get_me)


# -- chats ------------------------------------------------------------------------------------


async def test_get_chat_and_get_chat_member_decode_in_aiogram(
    bot: Bot, fake: FakeTelegram, support: Group, alice: User
) -> None:
    await fake.user_sends(alice, "hi")

    group_info = await bot.get_chat(support.id)
    private_info = await bot.get_chat(alice.id)
    me = await bot.get_chat_member(support.id, bot.id)

    assert isinstance(group_info, ChatFullInfo)
    assert (group_info.type, group_info.is_forum, group_info.title) == (
        "supergroup",
        True,
        "Support",
    )
    assert (private_info.type, private_info.username) == ("private", "alice")
    assert isinstance(me, ChatMemberAdministrator)
    assert me.can_manage_topics is True


async def test_the_bot_knows_no_chat_with_a_user_who_never_wrote(bot: Bot, alice: User) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.get_chat(alice.id)
    with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation"):
        await bot.send_message(alice.id, "hello")


async def test_a_bot_without_rights_is_a_plain_member(bot: Bot, fake: FakeTelegram) -> None:
    chat = fake.create_group(-1005550001, "Friends", is_forum=False, bot_status="member")
    operator = fake.add_operator(chat, "Olga", status="member")

    assert (await bot.get_chat_member(chat.id, bot.id)).status == "member"
    assert (await bot.get_chat_member(chat.id, operator.id)).status == "member"
    with pytest.raises(TelegramBadRequest, match="the chat is not a forum"):
        await bot.create_forum_topic(chat.id, "x")


# -- receiving updates ------------------------------------------------------------------------


async def test_long_polling_returns_as_soon_as_an_update_arrives(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await fake.wait_for(lambda: fake.updates.active_poll is not None)
    await fake.user_sends(alice, "hello")
    updates = await poll

    assert time.monotonic() - started < 2
    assert [u.message.text for u in updates if u.message] == ["hello"]


async def test_long_polling_waits_for_its_timeout_when_nothing_happens(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert time.monotonic() - started >= 0.9


async def test_an_offset_confirms_updates_for_good(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    await fake.user_sends(alice, "one")
    await fake.user_sends(alice, "two")
    first, second = await bot.get_updates(timeout=0)
    assert second.update_id == first.update_id + 1

    again = await bot.get_updates(offset=second.update_id, timeout=0)
    assert [u.update_id for u in again] == [second.update_id]
    assert await bot.get_updates(offset=second.update_id + 1, timeout=0) == []
    assert fake.pending_updates() == []
    assert await bot.get_updates(timeout=0) == []


async def test_reactions_need_allowed_updates_which_persist(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    hello = await fake.user_sends(alice, "hello")
    await fake.user_reacts(alice, hello, ["👍"])  # not allowed by default: dropped for good
    assert [update_kind(u) for u in fake.pending_updates()] == ["message"]
    await drain(bot)
    await bot.get_updates(allowed_updates=["message", "message_reaction"], timeout=0)

    await fake.user_reacts(alice, hello, ["🔥"])
    updates = await bot.get_updates(timeout=0)  # allowed_updates omitted: it persists

    (update,) = updates
    reaction = update.message_reaction
    assert reaction is not None
    assert [r.emoji for r in reaction.old_reaction] == ["👍"]  # type: ignore[union-attr]
    assert [r.emoji for r in reaction.new_reaction] == ["🔥"]  # type: ignore[union-attr]
    assert reaction.user is not None
    assert reaction.user.id == alice.id


async def test_a_second_poller_terminates_the_first_with_409(bot: Bot, fake: FakeTelegram) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await fake.wait_for(lambda: fake.updates.active_poll is not None)

    assert await bot.get_updates(timeout=0) == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first


async def test_get_updates_conflicts_with_a_webhook(bot: Bot) -> None:
    await bot.set_webhook("https://bot.example.com/hook")

    with pytest.raises(TelegramConflictError, match="can't use getUpdates method while webhook"):
        await bot.get_updates(timeout=0)
    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == []


class WebhookReceiver:
    """A tiny webhook endpoint answering with scripted statuses."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({}, status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hook = WebhookReceiver([500, 200])
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield hook
    await runner.cleanup()


async def test_a_webhook_gets_each_update_with_the_secret_and_retries_failures(
    bot: Bot, fake: FakeTelegram, alice: User, receiver: WebhookReceiver
) -> None:
    fake.webhook_retry_delay = 0.05
    await bot.set_webhook(receiver.url, secret_token="s3cret")
    hello = await fake.user_sends(alice, "hello")

    await fake.wait_for(lambda: not fake.pending_updates() and len(receiver.received) == 2)

    assert [attempt.status for attempt in fake.webhook_attempts] == [500, 200]
    assert [body["message"]["message_id"] for body, _ in receiver.received] == [
        hello["message_id"]
    ] * 2
    assert {secret for _, secret in receiver.received} == {"s3cret"}
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == (receiver.url, 0)
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"


async def test_a_webhook_on_a_plain_http_internet_address_is_refused(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="An HTTPS URL must be provided"):
        await bot.set_webhook("http://bot.example.com/hook")


# -- sending ----------------------------------------------------------------------------------


async def test_send_message_validates_text_like_telegram(bot: Bot, fake: FakeTelegram) -> None:
    alice = fake.add_user(started=True)

    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(alice.id, "   ")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(alice.id, "x" * 4097)
    assert (await bot.send_message(alice.id, "x" * 4096)).text == "x" * 4096


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("Hello<foo>", 'Unsupported start tag "foo" at byte offset 5'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("Привет <x>", 'Unsupported start tag "x" at byte offset 13'),
    ],
)
async def test_bad_html_fails_with_telegrams_parse_error(
    bot: Bot, fake: FakeTelegram, html: str, error: str
) -> None:
    alice = fake.add_user(started=True)

    with pytest.raises(TelegramBadRequest) as raised:
        await bot.send_message(alice.id, html, parse_mode=HTML)

    assert raised.value.message == f"Bad Request: can't parse entities: {error}"


async def test_escaped_html_is_stored_as_plain_text_with_entities(
    bot: Bot, fake: FakeTelegram
) -> None:
    alice = fake.add_user(started=True)

    sent = await bot.send_message(
        alice.id,
        '&lt;Tom &amp; "Jerry"&gt; & <b>bold 😀</b> <a href="https://x.org">x</a>',
        parse_mode=HTML,
    )

    assert sent.text == '<Tom & "Jerry"> & bold 😀 x'
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 18, 7),
        ("text_link", 26, 1),
    ]


async def test_a_document_upload_gets_a_file_id_that_can_be_sent_again(
    bot: Bot, fake: FakeTelegram
) -> None:
    alice = fake.add_user(started=True)

    sent = await bot.send_document(alice.id, BufferedInputFile(b"log", "log.txt"), caption="log")
    assert sent.document is not None
    again = await bot.send_document(alice.id, sent.document.file_id)

    assert (sent.document.file_name, sent.document.mime_type, sent.caption) == (
        "log.txt",
        "text/plain",
        "log",
    )
    assert again.document == sent.document
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_document(alice.id, "no-such-file")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(alice.id, sent.document.file_id, caption="x" * 1025)


async def test_the_bots_own_sends_produce_no_updates(bot: Bot, fake: FakeTelegram) -> None:
    alice = fake.add_user(started=True)

    await bot.send_message(alice.id, "hello")

    assert fake.pending_updates() == []


# -- forum topics -----------------------------------------------------------------------------


async def test_creating_a_topic_posts_the_service_message_and_its_update(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    topic = await bot.create_forum_topic(support.id, "Alice Smith", icon_color=16766590)

    (update,) = await bot.get_updates(timeout=0)
    created = update.message
    assert created is not None
    assert created.message_id == topic.message_thread_id
    assert created.message_thread_id == topic.message_thread_id
    assert created.forum_topic_created is not None
    assert (created.forum_topic_created.name, created.forum_topic_created.icon_color) == (
        "Alice Smith",
        16766590,
    )
    assert [t.name for t in fake.topics(support)] == ["Alice Smith"]


async def test_topic_names_are_validated_and_cut_at_128(bot: Bot, support: Group) -> None:
    long = await bot.create_forum_topic(support.id, "n" * 200)
    assert long.name == "n" * 128

    with pytest.raises(TelegramBadRequest, match="TOPIC_ICON_COLOR_INVALID"):
        await bot.create_forum_topic(support.id, "x", icon_color=0xFFFFFF)
    with pytest.raises(TelegramBadRequest, match="TOPIC_TITLE_EMPTY"):
        await bot.create_forum_topic(support.id, " ")


async def test_creating_a_topic_needs_the_manage_topics_right(bot: Bot, fake: FakeTelegram) -> None:
    forum = fake.create_group(-1005550002, "Forum", bot_rights={"can_manage_topics": False})

    with pytest.raises(TelegramBadRequest, match="not enough rights to create a topic"):
        await bot.create_forum_topic(forum.id, "Alice")


async def test_topic_messages_carry_the_implicit_reply_and_general_has_no_thread(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    olga = fake.add_operator(support, "Olga")
    thread = await topic_for(bot, support)
    await drain(bot)

    from_bot = await bot.send_message(support.id, "hi", message_thread_id=thread)
    from_olga = await fake.operator_sends(olga, support, "hello", thread_id=thread)
    explicit = await fake.operator_sends(olga, support, "re", reply_to=from_bot.message_id)
    general = await bot.send_message(support.id, "lost")

    assert from_bot.is_topic_message is True
    assert from_bot.reply_to_message is not None
    assert from_bot.reply_to_message.forum_topic_created is not None
    assert from_olga["reply_to_message"]["message_id"] == thread
    assert explicit["message_thread_id"] == thread
    assert explicit["reply_to_message"]["message_id"] == from_bot.message_id
    assert "reply_to_message" not in explicit["reply_to_message"]
    assert general.message_thread_id is None
    assert general.reply_to_message is None
    assert [m["text"] for m in fake.topic_messages(support, thread)] == ["hi", "hello", "re"]
    assert [m["text"] for m in fake.general_messages(support)] == ["lost"]
    assert [u.message.text for u in await bot.get_updates(timeout=0) if u.message] == [
        "hello",
        "re",
    ]


async def test_edit_close_and_reopen_post_service_messages_with_updates(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    olga = fake.add_operator(support, "Olga")
    thread = await topic_for(bot, support)
    await drain(bot)

    await bot.edit_forum_topic(support.id, thread, name="Alice (VIP)")
    await bot.close_forum_topic(support.id, thread)
    with pytest.raises(TelegramBadRequest, match="TOPIC_NOT_MODIFIED"):
        await bot.close_forum_topic(support.id, thread)
    await fake.operator_reopens_topic(olga, support, thread)
    with pytest.raises(TelegramBadRequest, match="TOPIC_NOT_MODIFIED"):
        await bot.reopen_forum_topic(support.id, thread)
    await fake.operator_closes_topic(olga, support, thread)

    services = [u.message for u in await bot.get_updates(timeout=0)]
    assert [m.message_thread_id for m in services if m] == [thread] * 4
    assert [(m.from_user.id if m and m.from_user else None) for m in services] == [
        bot.id,
        bot.id,
        olga.id,
        olga.id,
    ]
    edited, closed, reopened, closed_again = services
    assert edited is not None
    assert edited.forum_topic_edited is not None
    assert edited.forum_topic_edited.name == "Alice (VIP)"
    assert [m.forum_topic_closed is not None for m in (closed, closed_again) if m] == [True] * 2
    assert reopened is not None
    assert reopened.forum_topic_reopened is not None
    assert fake.topic(support, thread).closed is True


async def test_a_closed_topic_accepts_messages_only_from_topic_managers(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    weak = fake.create_group(-1005550003, "Weak", bot_rights={"can_manage_topics": False})
    olga = fake.add_operator(weak, "Olga")
    thread = (await fake.operator_creates_topic(olga, weak, "Alice")).thread_id
    await fake.operator_closes_topic(olga, weak, thread)
    strong_thread = await topic_for(bot, support)
    await bot.close_forum_topic(support.id, strong_thread)

    with pytest.raises(TelegramBadRequest, match="TOPIC_CLOSED"):
        await bot.send_message(weak.id, "hi", message_thread_id=thread)
    assert (await bot.send_message(support.id, "hi", message_thread_id=strong_thread)).text


async def test_a_deleted_topic_vanishes_silently_and_sends_into_it_fail(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    thread = await topic_for(bot, support)
    await bot.send_message(support.id, "hi", message_thread_id=thread)
    await drain(bot)

    await fake.delete_topic(support, thread)

    assert fake.pending_updates() == []
    assert fake.topic_messages(support, thread, include_service=True) == []
    assert fake.topic(support, thread).deleted is True
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(support.id, "hi", message_thread_id=thread)
    fake.topic_deleted_error = "TOPIC_DELETED"
    with pytest.raises(TelegramBadRequest, match="TOPIC_DELETED"):
        await bot.send_message(support.id, "hi", message_thread_id=thread)
    for manage in (bot.close_forum_topic, bot.reopen_forum_topic, bot.delete_forum_topic):
        with pytest.raises(TelegramBadRequest, match="TOPIC_ID_INVALID"):
            await manage(support.id, thread)


async def test_the_bot_can_delete_its_topic_without_an_update(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    thread = await topic_for(bot, support)
    await drain(bot)

    assert await bot.delete_forum_topic(support.id, thread) is True
    assert fake.pending_updates() == []
    with pytest.raises(TelegramBadRequest, match="TOPIC_ID_INVALID"):
        await bot.edit_forum_topic(support.id, thread, name="x")


# -- replies ----------------------------------------------------------------------------------


async def test_a_reply_to_a_missing_message_fails_unless_allowed(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    hello = await fake.user_sends(alice, "hello")

    reply = await bot.send_message(
        alice.id, "re", reply_parameters=ReplyParameters(message_id=hello["message_id"])
    )
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(alice.id, "re", reply_parameters=ReplyParameters(message_id=999))
    without = await bot.send_message(
        alice.id,
        "re",
        reply_parameters=ReplyParameters(message_id=999, allow_sending_without_reply=True),
    )

    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "hello"
    assert without.reply_to_message is None


async def test_a_reply_to_a_topic_message_lands_in_that_topic(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    olga = fake.add_operator(support)
    thread = await topic_for(bot, support)
    question = await fake.operator_sends(olga, support, "?", thread_id=thread)

    answer = await bot.send_message(
        support.id, "!", reply_parameters=ReplyParameters(message_id=question["message_id"])
    )

    assert answer.message_thread_id == thread
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.message_id == question["message_id"]


# -- copying and forwarding -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ContentKinds)
async def test_copy_message_copies_every_kind_of_content(
    bot: Bot, fake: FakeTelegram, support: Group, alice: User, kind: str
) -> None:
    content = fake.content.text("hi") if kind == "text" else fake.content.of_kind(kind)
    original = await fake.user_sends(alice, content=content)
    thread = await topic_for(bot, support)

    copied = await bot.copy_message(
        support.id, alice.id, original["message_id"], message_thread_id=thread
    )

    (copy,) = fake.topic_messages(support, thread)
    assert copy["message_id"] == copied.message_id
    assert copy["from"]["id"] == bot.id
    assert "forward_origin" not in copy
    assert {k: v for k, v in copy.items() if k in content.fields} == content.fields


async def test_copy_message_keeps_or_overrides_the_caption_and_drops_the_album(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    album = await fake.user_sends_album(alice, ["photo", "video"], caption="look")
    bob = fake.add_user("Bob", started=True)

    kept = await bot.copy_message(bob.id, alice.id, album[0]["message_id"])
    replaced = await bot.copy_message(
        bob.id, alice.id, album[0]["message_id"], caption="<i>new</i>", parse_mode=HTML
    )

    first, second = fake.chat_messages(bob)
    assert (first["message_id"], first["caption"]) == (kept.message_id, "look")
    assert (second["message_id"], second["caption"]) == (replaced.message_id, "new")
    assert second["caption_entities"] == [{"type": "italic", "offset": 0, "length": 3}]
    assert "media_group_id" not in first


@pytest.mark.parametrize("kind", ["quiz", "invoice", "giveaway"])
async def test_some_messages_cannot_be_copied(
    bot: Bot, fake: FakeTelegram, alice: User, kind: str
) -> None:
    original = await fake.user_sends(alice, content=fake.content.of_kind(kind))

    with pytest.raises(TelegramBadRequest, match="message can't be copied"):
        await bot.copy_message(alice.id, alice.id, original["message_id"])


async def test_service_messages_cannot_be_copied_or_forwarded(
    bot: Bot, fake: FakeTelegram, support: Group, alice: User
) -> None:
    await fake.user_sends(alice, "hi")
    thread = await topic_for(bot, support)

    with pytest.raises(TelegramBadRequest, match="message can't be copied"):
        await bot.copy_message(alice.id, support.id, thread)
    with pytest.raises(TelegramBadRequest, match="message can't be forwarded"):
        await bot.forward_message(alice.id, support.id, thread)
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_message(alice.id, support.id, 999)


async def test_a_premium_users_long_caption_cannot_be_copied(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    vip = fake.add_user("Vip", is_premium=True)
    photo = await fake.user_sends(vip, photo=True, caption="c" * 2000)

    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.copy_message(support.id, vip.id, photo["message_id"])
    copied = await bot.copy_message(support.id, vip.id, photo["message_id"], caption="shorter")
    assert fake.message(support, copied.message_id)["caption"] == "shorter"  # type: ignore[index]


async def test_copy_messages_keeps_an_album_together_and_skips_what_cannot_be_copied(
    bot: Bot, fake: FakeTelegram, support: Group, alice: User
) -> None:
    album = await fake.user_sends_album(alice, ["photo", "photo", "video"], caption="trip")
    quiz = await fake.user_sends(alice, content=fake.content.quiz())
    text = await fake.user_sends(alice, "and this")
    thread = await topic_for(bot, support)
    ids = [m["message_id"] for m in (*album, quiz, text)]

    copied = await bot.copy_messages(support.id, alice.id, ids, message_thread_id=thread)

    copies = fake.topic_messages(support, thread)
    assert [c.message_id for c in copied] == [c["message_id"] for c in copies]
    assert [c.get("caption") for c in copies[:3]] == ["trip", None, None]
    group_ids = {c["media_group_id"] for c in copies[:3]}
    assert len(group_ids) == 1
    assert group_ids != {album[0]["media_group_id"]}
    assert copies[3]["text"] == "and this"
    assert "media_group_id" not in copies[3]
    with pytest.raises(TelegramBadRequest, match="strictly increasing order"):
        await bot.copy_messages(support.id, alice.id, [ids[1], ids[0]])


async def test_forward_message_works_for_a_quiz_and_shows_the_origin(
    bot: Bot, fake: FakeTelegram, support: Group, alice: User
) -> None:
    quiz = await fake.user_sends(alice, content=fake.content.quiz())
    thread = await topic_for(bot, support)

    forwarded = await bot.forward_message(
        support.id, alice.id, quiz["message_id"], message_thread_id=thread
    )

    assert forwarded.poll is not None
    assert forwarded.poll.type == "quiz"
    assert forwarded.forward_origin is not None
    assert forwarded.forward_origin.sender_user.id == alice.id  # type: ignore[union-attr]
    assert forwarded.message_thread_id == thread


# -- edits ------------------------------------------------------------------------------------


async def test_the_bot_edits_only_its_own_messages_and_only_real_changes(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    hello = await fake.user_sends(alice, "hello")
    sent = await bot.send_message(alice.id, "draft")
    await drain(bot)

    edited = await bot.edit_message_text("final", chat_id=alice.id, message_id=sent.message_id)

    assert (edited.text, edited.edit_date is not None) == ("final", True)  # type: ignore[union-attr]
    assert fake.pending_updates() == []
    with pytest.raises(TelegramBadRequest, match="message is not modified: specified new"):
        await bot.edit_message_text("final", chat_id=alice.id, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=hello["message_id"])
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=999)


async def test_the_bot_edits_captions_and_media(
    bot: Bot, fake: FakeTelegram, support: Group, alice: User
) -> None:
    photo = await fake.user_sends(alice, photo=True, caption="old")
    copied = await bot.copy_message(support.id, alice.id, photo["message_id"])

    await bot.edit_message_caption(chat_id=support.id, message_id=copied.message_id, caption="new")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_caption(
            chat_id=support.id, message_id=copied.message_id, caption="new"
        )

    assert fake.message(support, copied)["caption"] == "new"  # type: ignore[index]


async def test_a_users_edit_produces_an_update_only_when_the_content_changed(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    hello = await fake.user_sends(alice, "hello")
    await drain(bot)

    await fake.user_edits(alice, hello, text="hello")
    assert fake.pending_updates() == []
    await fake.user_edits(alice, hello, text="hello!")

    (update,) = await bot.get_updates(timeout=0)
    assert update.edited_message is not None
    assert (update.edited_message.text, update.edited_message.message_id) == (
        "hello!",
        hello["message_id"],
    )


# -- reactions --------------------------------------------------------------------------------


async def test_the_bot_sets_at_most_one_valid_reaction_without_updates(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    hello = await fake.user_sends(alice, "hello")
    await drain(bot)

    await bot.set_message_reaction(alice.id, hello["message_id"], [ReactionTypeEmoji(emoji="👀")])

    assert fake.reactions_by_bot(alice, hello) == ["👀"]
    assert fake.pending_updates() == []
    with pytest.raises(TelegramBadRequest, match="REACTIONS_TOO_MUCH"):
        await bot.set_message_reaction(
            alice.id,
            hello["message_id"],
            [ReactionTypeEmoji(emoji="👍"), ReactionTypeEmoji(emoji="🔥")],
        )
    with pytest.raises(TelegramBadRequest, match="REACTION_INVALID"):
        await bot.set_message_reaction(
            alice.id, hello["message_id"], [ReactionTypeEmoji(emoji="🦖")]
        )
    with pytest.raises(TelegramBadRequest, match="message to react not found"):
        await bot.set_message_reaction(alice.id, 999, [ReactionTypeEmoji(emoji="👍")])
    await bot.set_message_reaction(alice.id, hello["message_id"], [])
    assert fake.reactions_by_bot(alice, hello) == []


# -- users who leave --------------------------------------------------------------------------


async def test_a_user_who_blocks_the_bot_cannot_be_written_to(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    hello = await fake.user_sends(alice, "hello")
    await drain(bot)

    await fake.user_blocks_bot(alice)

    (update,) = await bot.get_updates(timeout=0)
    change = update.my_chat_member
    assert change is not None
    assert (change.old_chat_member.status, change.new_chat_member.status) == ("member", "kicked")
    assert isinstance(change.new_chat_member, ChatMemberBanned)
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
        await bot.send_message(alice.id, "hi")
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.copy_message(alice.id, alice.id, hello["message_id"])
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.set_message_reaction(alice.id, hello["message_id"], [])

    await fake.user_unblocks_bot(alice)
    updates = await bot.get_updates(offset=update.update_id + 1, timeout=0)
    assert [u.my_chat_member.new_chat_member.status for u in updates if u.my_chat_member] == [
        "member"
    ]
    assert (await bot.send_message(alice.id, "welcome back")).text == "welcome back"


async def test_a_deleted_account_cannot_be_written_to(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    await fake.user_sends(alice, "bye")
    await fake.user_deactivates(alice)

    with pytest.raises(TelegramForbiddenError, match="Forbidden: user is deactivated"):
        await bot.send_message(alice.id, "hi")


async def test_an_unknown_chat_is_not_found(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
        await bot.send_message(777, "hi")


# -- groups without admin rights --------------------------------------------------------------


async def test_a_member_bot_sees_only_commands_and_replies_in_a_group(
    bot: Bot, fake: FakeTelegram
) -> None:
    chat = fake.create_group(-1005550004, "Friends", is_forum=False, bot_status="member")
    olga = fake.add_operator(chat, "Olga", status="member")
    sent = await bot.send_message(chat.id, "I am here")

    await fake.operator_sends(olga, chat, "chatter")
    await fake.operator_sends(olga, chat, content=fake.content.command("/help@support_test_bot"))
    await fake.operator_sends(olga, chat, "re", reply_to=sent.message_id)

    texts = [u.message.text for u in await bot.get_updates(timeout=0) if u.message]
    assert texts == ["/help@support_test_bot", "re"]


# -- fault injection --------------------------------------------------------------------------


async def test_fail_next_answers_429_with_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    alice = fake.add_user(started=True)
    fake.fail_next("sendMessage", retry_after=7)

    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(alice.id, "hi")
    assert raised.value.retry_after == 7
    assert "Too Many Requests: retry after 7" in raised.value.message
    # Like Telegram: the chat is held for retry_after; calling earlier is a violation.
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(alice.id, "hi")
    with pytest.raises(TelegramRetryAfter):
        await bot.get_chat(alice.id)  # any call to that chat, not only messages
    assert [(v.method, v.chat_id) for v in fake.violations] == [
        ("sendMessage", alice.id),
        ("getChat", alice.id),
    ]


async def test_fail_next_answers_server_errors_for_one_chat_only(
    bot: Bot, fake: FakeTelegram
) -> None:
    alice, bob = fake.add_user(started=True), fake.add_user("Bob", started=True)
    fake.fail_next("sendMessage", error_code=502, chat_id=alice.id, times=2)

    assert (await bot.send_message(bob.id, "hi")).text == "hi"
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await bot.send_message(alice.id, "hi")
    assert (await bot.send_message(alice.id, "hi")).text == "hi"


@pytest.mark.parametrize("after_effect", [False, True])
async def test_a_dropped_connection_is_a_network_error_with_or_without_effect(
    bot: Bot, fake: FakeTelegram, after_effect: bool
) -> None:
    alice = fake.add_user(started=True)
    fake.drop_connection_next("sendMessage", after_effect=after_effect)

    with pytest.raises(TelegramNetworkError):
        await bot.send_message(alice.id, "did it arrive?")

    arrived = [m["text"] for m in fake.messages_from_bot(alice)]
    assert arrived == (["did it arrive?"] if after_effect else [])
    assert fake.calls_of("sendMessage")[-1].outcome == "connection dropped"
    assert (await bot.send_message(alice.id, "next")).text == "next"


async def test_a_chat_rate_limit_answers_429_and_records_violations(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    alice = fake.add_user(started=True)
    fake.rate_limit(support.id, limit=3, window=60.0)
    await bot.create_forum_topic(support.id, "Alice")  # creating a topic counts as a message
    for text in ("1", "2"):
        await bot.send_message(support.id, text)

    with pytest.raises(TelegramRetryAfter) as first:
        await bot.send_message(support.id, "3")
    assert 59 <= first.value.retry_after <= 60
    assert fake.violations == []
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(support.id, "too early")

    (violation,) = fake.violations
    assert (violation.method, violation.chat_id) == ("sendMessage", support.id)
    assert (await bot.send_message(alice.id, "other chats are fine")).text
    assert [m["text"] for m in fake.general_messages(support)] == ["1", "2"]


async def test_a_rate_limit_frees_slots_as_the_window_slides(bot: Bot, fake: FakeTelegram) -> None:
    alice = fake.add_user(started=True)
    fake.rate_limit(alice.id, limit=1, window=0.3)
    await bot.send_message(alice.id, "1")
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(alice.id, "2")
    assert raised.value.retry_after == 1

    await asyncio.sleep(1.05)
    assert (await bot.send_message(alice.id, "2")).text == "2"
    assert fake.violations == []


# -- commands and helpers ---------------------------------------------------------------------


async def test_commands_are_stored_per_scope_and_language(bot: Bot) -> None:
    private = BotCommandScopeAllPrivateChats()
    await bot.set_my_commands([BotCommand(command="start", description="Start")], scope=private)
    await bot.set_my_commands(
        [BotCommand(command="start", description="Начать")], scope=private, language_code="ru"
    )

    assert [c.description for c in await bot.get_my_commands(scope=private)] == ["Start"]
    assert [
        c.description for c in await bot.get_my_commands(scope=private, language_code="ru")
    ] == ["Начать"]
    assert await bot.get_my_commands() == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])
    await bot.delete_my_commands(scope=private)
    assert await bot.get_my_commands(scope=private) == []


async def test_user_sends_command_carries_the_bot_command_entity(
    fake: FakeTelegram, alice: User
) -> None:
    start = await fake.user_sends_command(alice, "/start", "ref42")

    assert start["text"] == "/start ref42"
    assert start["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]


async def test_wait_for_times_out_loudly(fake: FakeTelegram) -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0\.05s waiting for a miracle"):
        await fake.wait_for(lambda: False, timeout=0.05, what="a miracle")


async def test_stop_answers_a_pending_long_poll(fake: FakeTelegram) -> None:
    bot = bot_for(fake)
    try:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await fake.wait_for(lambda: fake.updates.active_poll is not None)
        started = time.monotonic()
        await fake.stop()
        assert await poll == []
        assert time.monotonic() - started < 2
    finally:
        await bot.session.close()


async def test_an_aiogram_webhook_can_answer_with_a_method_call(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> SendMessage:
        return message.answer(f"echo: {message.text}")

    app = web.Application()
    SimpleRequestHandler(
        dispatcher, bot, handle_in_background=False, secret_token="s3cret"
    ).register(app, path="/hook")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        await bot.set_webhook(
            f"http://127.0.0.1:{runner.addresses[0][1]}/hook", secret_token="s3cret"
        )
        await fake.user_sends(alice, "ping")

        await fake.wait_for(lambda: fake.messages_from_bot(alice))
    finally:
        await runner.cleanup()

    assert [m["text"] for m in fake.messages_from_bot(alice)] == ["echo: ping"]
    assert [attempt.status for attempt in fake.webhook_attempts] == [200]


async def test_set_webhook_terminates_a_running_poll(bot: Bot, fake: FakeTelegram) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await fake.wait_for(lambda: fake.updates.active_poll is not None)

    await bot.set_webhook("https://bot.example.com/hook")

    with pytest.raises(TelegramConflictError, match="terminated by setWebhook request"):
        await poll


async def test_a_global_rate_limit_spans_all_chats(bot: Bot, fake: FakeTelegram) -> None:
    alice, bob = fake.add_user(started=True), fake.add_user("Bob", started=True)
    fake.global_rate_limit(per_second=2)
    await bot.send_message(alice.id, "1")
    await bot.send_message(bob.id, "2")

    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(alice.id, "3")
    assert raised.value.retry_after == 1
    assert (await bot.send_chat_action(alice.id, "typing")) is True  # sends nothing


async def test_chat_actions_are_validated(bot: Bot, fake: FakeTelegram, support: Group) -> None:
    thread = await topic_for(bot, support)

    assert await bot.send_chat_action(support.id, "typing", message_thread_id=thread) is True
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(support.id, "dancing")


async def test_writing_to_a_blocked_bot_unblocks_it_first(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    await fake.user_sends(alice, "hi")
    await fake.user_blocks_bot(alice)
    await drain(bot)

    await fake.user_sends_command(alice, "/start")

    kinds = [next(k for k in u.model_fields_set if k != "update_id") for u in await drain(bot)]
    assert kinds == ["my_chat_member", "message"]
    assert (await bot.send_message(alice.id, "hello again")).text == "hello again"


async def test_the_bot_deletes_its_own_messages_but_not_a_users(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    hello = await fake.user_sends(alice, "hello")
    sent = await bot.send_message(alice.id, "oops")

    assert await bot.delete_message(alice.id, sent.message_id) is True
    assert fake.messages_from_bot(alice) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(alice.id, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(alice.id, hello["message_id"])


async def test_telegram_rate_limits_apply_to_every_group(bot: Bot, fake: FakeTelegram) -> None:
    fake.telegram_rate_limits(group_per_minute=2)
    first = fake.create_group(-1005550010, "One")
    second = fake.create_group(-1005550011, "Two")
    for _ in range(2):
        await bot.send_message(first.id, "hi")

    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(first.id, "hi")
    assert (await bot.send_message(second.id, "hi")).text == "hi"


async def test_the_old_wording_of_a_missing_reply_can_be_chosen(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    await fake.user_sends(alice, "hi")
    fake.reply_not_found_error = "message to reply not found"

    with pytest.raises(TelegramBadRequest, match="Bad Request: message to reply not found"):
        await bot.send_message(alice.id, "re", reply_parameters=ReplyParameters(message_id=99))
