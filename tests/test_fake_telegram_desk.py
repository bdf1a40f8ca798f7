"""The fake Telegram server's newer corners, proved with a real aiogram client over loopback HTTP:
topics in private chats, updates newer than aiogram, the bot's changing rights, pins, topic
icons, mentions and what Telegram's flood limits count.

Like tests/test_fake_telegram.py, each test states a behaviour of Telegram that the bot's
end-to-end tests rely on (see /work/shared/TELEGRAM.md and the sources named in the fake).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter, TelegramServerError
from aiogram.types import ChatMemberAdministrator, ReplyParameters, Sticker, Update
from aiogram.types.update import UpdateTypeLookupError
from aiohttp import web

from tests.fake_telegram import FakeTelegram, FakeUsageError, Group, User, topic_icon_id
from tests.fake_telegram.pytest_plugin import (
    bot_for,
    fake_telegram,  # noqa: F401 - fixture
    operator_group,  # noqa: F401 - fixture
    running_fake_telegram,
    telegram_bot,  # noqa: F401 - fixture
)

HTML = "HTML"
SPEECH_BALLOON = topic_icon_id("💬")
FIRE = topic_icon_id("🔥")
CHECK_MARK = topic_icon_id("✅")


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


@pytest.fixture
def threaded(fake: FakeTelegram) -> FakeTelegram:
    """The bot has BotFather's topics in private chats enabled."""
    fake.enable_private_topics()
    return fake


async def drain(bot: Bot) -> list[Update]:
    """Read and confirm everything pending."""
    updates = await bot.get_updates(timeout=0)
    if updates:
        await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    return updates


async def in_a_fresh_fake(scenario: Callable[[FakeTelegram, Bot], Awaitable[None]]) -> None:
    """Run ``scenario`` against a fake with the same teardown check as the fixture."""
    async with running_fake_telegram() as fake:
        bot = bot_for(fake)
        try:
            await scenario(fake, bot)
        finally:
            await bot.session.close()


def kinds(updates: list[dict[str, Any]]) -> list[str]:
    return [next(key for key in update if key != "update_id") for update in updates]


# -- topics in private chats (Bot API 9.3) ----------------------------------------------------


async def test_get_me_reports_whether_private_chats_have_topics(
    bot: Bot, fake: FakeTelegram
) -> None:
    before = await bot.get_me()
    fake.enable_private_topics(users_can_create=False)
    after = await bot.get_me()

    assert (before.has_topics_enabled, before.allows_users_to_create_topics) == (False, False)
    assert (after.has_topics_enabled, after.allows_users_to_create_topics) == (True, False)


async def test_a_user_opens_a_private_topic_with_a_service_message_and_its_update(
    bot: Bot, threaded: FakeTelegram, alice: User
) -> None:
    topic = await threaded.user_creates_topic(alice, "Refund", name_is_implicit=True)

    (update,) = await bot.get_updates(timeout=0)
    created = update.message
    assert created is not None
    assert created.chat.type == "private"
    assert created.from_user is not None
    assert created.from_user.id == alice.id
    assert created.message_id == created.message_thread_id == topic.thread_id
    assert created.is_topic_message is True
    assert created.forum_topic_created is not None
    assert created.forum_topic_created.name == "Refund"
    assert created.forum_topic_created.is_name_implicit is True
    assert [t.name for t in threaded.private_topics(alice)] == ["Refund"]


async def test_private_topic_messages_carry_the_thread_but_no_implicit_reply(
    bot: Bot, threaded: FakeTelegram, alice: User
) -> None:
    thread = (await threaded.user_creates_topic(alice, "Order 42")).thread_id
    await threaded.user_sends(alice, "outside")
    await drain(bot)

    first = await threaded.user_sends(alice, "where is it?", thread_id=thread)
    reply = await threaded.user_sends(alice, "hello?", reply_to=first)
    album = await threaded.user_sends_album(alice, ["photo", "photo"], thread_id=thread)

    updates = await bot.get_updates(timeout=0)
    messages = [u.message for u in updates if u.message]
    assert len(messages) == 4
    for message in messages:
        assert (message.chat.type, message.message_thread_id) == ("private", thread)
        assert message.is_topic_message is True
    # Only an explicit reply has reply_to_message: a private topic has no implicit one.
    assert messages[0].reply_to_message is None
    assert messages[1].reply_to_message is not None
    assert messages[1].reply_to_message.message_id == first["message_id"]
    assert reply["message_thread_id"] == thread
    assert {m["media_group_id"] for m in album} == {messages[2].media_group_id}
    assert [m.get("text") for m in threaded.chat_messages(alice, thread_id=None)] == ["outside"]


async def test_the_bot_sends_and_copies_into_a_private_topic(
    bot: Bot, threaded: FakeTelegram, alice: User, support: Group
) -> None:
    olga = threaded.add_operator(support, "Olga")
    thread = (await threaded.user_creates_topic(alice, "Order 42")).thread_id
    answer = await threaded.operator_sends(olga, support, "It ships today")
    await drain(bot)

    sent = await bot.send_message(alice.id, "We are on it", message_thread_id=thread)
    copied = await bot.copy_message(
        alice.id, support.id, answer["message_id"], message_thread_id=thread
    )
    typing = await bot.send_chat_action(alice.id, "typing", message_thread_id=thread)

    assert (sent.chat.type, sent.message_thread_id, sent.is_topic_message) == (
        "private",
        thread,
        True,
    )
    assert sent.reply_to_message is None
    stored = threaded.message(alice, copied.message_id)
    assert stored is not None
    assert (stored["text"], stored["message_thread_id"]) == ("It ships today", thread)
    assert typing is True
    in_topic = threaded.chat_messages(alice, thread_id=thread, include_service=False)
    assert [m["text"] for m in in_topic] == ["We are on it", "It ships today"]
    assert await bot.get_updates(timeout=0) == []  # the bot's own sends: no updates


async def test_an_unknown_or_deleted_private_thread_is_not_found(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    await fake.user_sends(alice, "hi")
    with pytest.raises(TelegramBadRequest, match="Bad Request: message thread not found"):
        await bot.send_message(alice.id, "no topics yet", message_thread_id=1)

    fake.enable_private_topics()
    thread = (await fake.user_creates_topic(alice, "Order 42")).thread_id
    with pytest.raises(TelegramBadRequest, match="Bad Request: message thread not found"):
        await bot.send_message(alice.id, "wrong topic", message_thread_id=thread + 100)
    await fake.user_deletes_topic(alice, thread)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message thread not found"):
        await bot.copy_message(alice.id, alice.id, 1, message_thread_id=thread)
    assert [t.deleted for t in fake.private_topics(alice)] == [True]


async def test_a_user_cannot_open_topics_the_bot_does_not_offer(
    fake: FakeTelegram, alice: User
) -> None:
    with pytest.raises(FakeUsageError, match="enable_private_topics"):
        await fake.user_creates_topic(alice, "x")
    fake.enable_private_topics(users_can_create=False)
    with pytest.raises(FakeUsageError, match="does not let users create topics"):
        await fake.user_creates_topic(alice, "x")
    with pytest.raises(FakeUsageError, match="topic 5 does not exist"):
        await fake.user_sends(alice, "hi", thread_id=5)


async def test_topic_management_in_private_chats_fails_the_test_loudly() -> None:
    async def create_in_private(fake: FakeTelegram, bot: Bot) -> None:
        fake.enable_private_topics()
        alice = fake.add_user(started=True)
        with pytest.raises(TelegramServerError):
            await bot.create_forum_topic(alice.id, "From the bot")

    with pytest.raises(pytest.fail.Exception, match="forum topic management in private chats"):
        await in_a_fresh_fake(create_in_private)


# -- updates newer than aiogram ---------------------------------------------------------------


async def test_a_raw_update_of_a_future_type_is_delivered_whatever_was_allowed(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    await bot.get_updates(allowed_updates=["message"], timeout=0)
    payload = {"from": alice.to_api(), "date": 1767225600, "text": "something new"}

    raw = fake.push_raw_update("future_thing", payload)

    (update,) = await bot.get_updates(timeout=0)
    assert update.update_id == raw["update_id"]
    assert update.model_extra == {"future_thing": payload}
    with pytest.raises(UpdateTypeLookupError):
        _ = update.event_type
    assert fake.updates.allowed_updates == ["message"]  # the filter itself is untouched


async def test_a_raw_update_goes_to_the_webhook_too(bot: Bot, fake: FakeTelegram) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        await bot.set_webhook(
            f"http://127.0.0.1:{runner.addresses[0][1]}/hook", allowed_updates=["message"]
        )
        fake.push_raw_update("future_thing", {"text": "hi"})
        await fake.wait_for(lambda: received)
    finally:
        await runner.cleanup()

    assert kinds(received) == ["future_thing"]


async def test_a_message_with_an_unknown_content_is_an_unknown_content_type(
    bot: Bot, fake: FakeTelegram, alice: User, support: Group
) -> None:
    olga = fake.add_operator(support, "Olga")
    thread = (await bot.create_forum_topic(support.id, "Alice")).message_thread_id
    await drain(bot)

    sent = await fake.user_sends(
        alice, content=fake.content.unknown("future_content", {"id": "x1", "size": 3})
    )
    await fake.operator_sends(olga, support, thread_id=thread, content=fake.content.unknown())

    from_alice, from_olga = [u.message for u in await bot.get_updates(timeout=0)]
    assert from_alice is not None
    assert from_alice.content_type == "unknown"
    assert from_alice.model_extra == {"future_content": {"id": "x1", "size": 3}}
    assert from_olga is not None
    assert from_olga.message_thread_id == thread
    with pytest.raises(TelegramBadRequest, match="message can't be copied"):
        await bot.copy_message(support.id, alice.id, sent["message_id"], message_thread_id=thread)


# -- the bot's rights in the group ------------------------------------------------------------


async def test_revoking_manage_topics_notifies_the_bot_and_refuses_topic_calls(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    owner = fake.add_operator(support, "Oscar", status="creator")
    olga = fake.add_operator(support, "Olga")
    own = (await bot.create_forum_topic(support.id, "Alice")).message_thread_id
    theirs = (await fake.operator_creates_topic(olga, support, "Bob")).thread_id
    await drain(bot)

    await fake.revoke_bot_right(support, "can_manage_topics")

    (update,) = await bot.get_updates(timeout=0)
    changed = update.my_chat_member
    assert changed is not None
    assert changed.chat.id == support.id
    assert changed.from_user.id == owner.id
    assert isinstance(changed.old_chat_member, ChatMemberAdministrator)
    assert isinstance(changed.new_chat_member, ChatMemberAdministrator)
    assert changed.old_chat_member.can_manage_topics is True
    assert changed.new_chat_member.can_manage_topics is False
    assert changed.new_chat_member.user.id == bot.id
    assert changed.new_chat_member.can_pin_messages is True  # the other rights stay
    me = await bot.get_chat_member(support.id, bot.id)
    assert isinstance(me, ChatMemberAdministrator)
    assert me.can_manage_topics is False
    with pytest.raises(
        TelegramBadRequest, match="Bad Request: not enough rights to create a topic"
    ):
        await bot.create_forum_topic(support.id, "Carol")
    with pytest.raises(
        TelegramBadRequest, match="Bad Request: not enough rights to edit the topic"
    ):
        await bot.edit_forum_topic(support.id, theirs, name="Bob (VIP)")
    with pytest.raises(TelegramBadRequest, match="not enough rights to close or open the topic"):
        await bot.close_forum_topic(support.id, theirs)
    # "unless it is the creator of the topic" (Bot API docs): the bot's own topic still obeys.
    assert await bot.edit_forum_topic(support.id, own, name="Alice (VIP)") is True
    await drain(bot)

    await fake.restore_bot_right(support, "can_manage_topics")

    (update,) = await bot.get_updates(timeout=0)
    assert update.my_chat_member is not None
    assert isinstance(update.my_chat_member.new_chat_member, ChatMemberAdministrator)
    assert update.my_chat_member.new_chat_member.can_manage_topics is True
    assert await bot.close_forum_topic(support.id, theirs) is True
    assert (await bot.create_forum_topic(support.id, "Carol")).name == "Carol"


async def test_rights_changes_arrive_only_when_allowed_and_only_when_real(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    await fake.set_bot_rights(support, can_manage_topics=True)  # unchanged: no update
    assert fake.pending_updates() == []

    await bot.get_updates(allowed_updates=["message"], timeout=0)
    await fake.set_bot_rights(support, can_pin_messages=False, can_delete_messages=False)

    assert fake.pending_updates() == []
    assert kinds(fake.updates.dropped) == ["my_chat_member"]
    me = await bot.get_chat_member(support.id, bot.id)
    assert isinstance(me, ChatMemberAdministrator)
    assert (me.can_pin_messages, me.can_delete_messages) == (False, False)


async def test_only_the_owner_or_a_promoter_changes_the_bots_rights(
    fake: FakeTelegram, support: Group
) -> None:
    olga = fake.add_operator(support, "Olga")
    boss = fake.add_operator(support, "Boss", rights={"can_promote_members": True})

    with pytest.raises(FakeUsageError, match="Olga cannot change the bot's rights"):
        await fake.revoke_bot_right(support, "can_manage_topics", by=olga)
    with pytest.raises(FakeUsageError, match="unknown administrator rights"):
        await fake.set_bot_rights(support, can_fly=True)
    await fake.revoke_bot_right(support, "can_manage_topics", by=boss)

    (update,) = fake.pending_updates()
    assert update["my_chat_member"]["from"]["id"] == boss.id


async def test_a_member_bot_is_promoted_with_only_the_rights_given(
    bot: Bot, fake: FakeTelegram
) -> None:
    forum = fake.create_group(-1005550020, "Forum", bot_status="member")

    await fake.set_bot_rights(forum, can_manage_topics=True)

    (update,) = await bot.get_updates(timeout=0)
    changed = update.my_chat_member
    assert changed is not None
    assert changed.old_chat_member.status == "member"
    new = changed.new_chat_member
    assert isinstance(new, ChatMemberAdministrator)
    assert (new.can_manage_topics, new.can_manage_chat, new.can_pin_messages) == (
        True,
        True,
        False,
    )
    assert (await bot.create_forum_topic(forum.id, "Alice")).name == "Alice"


# -- pinned messages --------------------------------------------------------------------------


async def test_pinning_posts_a_service_message_with_the_pinned_message_and_its_update(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    rules = await bot.send_message(support.id, "Rules")
    news = await bot.send_message(support.id, "News")

    assert await bot.pin_chat_message(support.id, rules.message_id) is True
    assert await bot.pin_chat_message(support.id, news.message_id, disable_notification=True)

    services = [u.message for u in await bot.get_updates(timeout=0)]
    assert [m.pinned_message.message_id for m in services if m and m.pinned_message] == [
        rules.message_id,
        news.message_id,
    ]
    first = services[0]
    assert first is not None
    assert first.from_user is not None
    assert first.from_user.id == bot.id
    assert first.message_thread_id is None  # General
    assert first.pinned_message is not None
    assert first.pinned_message.text == "Rules"  # type: ignore[union-attr]
    assert [m["text"] for m in fake.pinned_messages(support)] == ["News", "Rules"]
    chat = await bot.get_chat(support.id)
    assert chat.pinned_message is not None
    assert chat.pinned_message.message_id == news.message_id


async def test_a_pin_in_a_topic_is_posted_in_that_topic(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    thread = (await bot.create_forum_topic(support.id, "Alice")).message_thread_id
    card = await bot.send_message(support.id, "Alice, plan Pro", message_thread_id=thread)
    await drain(bot)

    await bot.pin_chat_message(support.id, card.message_id)

    (update,) = await bot.get_updates(timeout=0)
    service = update.message
    assert service is not None
    assert service.message_thread_id == thread
    assert service.is_topic_message is True
    assert service.pinned_message is not None
    assert service.pinned_message.message_id == card.message_id
    # The pinned message comes without its own reply (here: the implicit topic reply).
    assert service.pinned_message.reply_to_message is None  # type: ignore[union-attr]
    assert [m["message_id"] for m in fake.topic_messages(support, thread, include_service=True)][
        -1
    ] == service.message_id


async def test_pinning_needs_an_existing_message_and_the_right(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    sent = await bot.send_message(support.id, "Rules")
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to pin not found"):
        await bot.pin_chat_message(support.id, sent.message_id + 50)

    await fake.revoke_bot_right(support, "can_pin_messages")

    with pytest.raises(TelegramBadRequest, match="Bad Request: message to pin not found"):
        await bot.pin_chat_message(support.id, sent.message_id + 50)  # checked first
    no_rights = "Bad Request: not enough rights to manage pinned messages in the chat"
    with pytest.raises(TelegramBadRequest, match=no_rights):
        await bot.pin_chat_message(support.id, sent.message_id)
    with pytest.raises(TelegramBadRequest, match=no_rights):
        await bot.unpin_all_chat_messages(support.id)
    assert fake.pinned_messages(support) == []


async def test_unpinning_one_the_latest_or_all(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    a, b, c, d = [(await bot.send_message(support.id, text)).message_id for text in "abcd"]
    for message_id in (a, c, b, d):
        await bot.pin_chat_message(support.id, message_id)
    await drain(bot)

    assert await bot.unpin_chat_message(support.id, message_id=a) is True
    assert await bot.unpin_chat_message(support.id) is True  # the latest sent: "d"
    assert [m["text"] for m in fake.pinned_messages(support)] == ["b", "c"]  # pin order
    chat = await bot.get_chat(support.id)
    assert chat.pinned_message is not None
    assert chat.pinned_message.message_id == c  # the latest sent, not the latest pinned
    assert await bot.unpin_all_chat_messages(support.id) is True
    assert fake.pinned_messages(support) == []
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to unpin not found"):
        await bot.unpin_chat_message(support.id)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to unpin not found"):
        await bot.unpin_chat_message(support.id, message_id=999)
    assert await bot.get_updates(timeout=0) == []  # unpinning posts nothing


async def test_a_deleted_pinned_message_is_unpinned_and_cannot_be_edited(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    card = await bot.send_message(support.id, "Card")
    await bot.pin_chat_message(support.id, card.message_id)

    await fake.delete_message(support, card)

    assert fake.pinned_messages(support) == []
    assert (await bot.get_chat(support.id)).pinned_message is None
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to edit not found"):
        await bot.edit_message_text("Card v2", chat_id=support.id, message_id=card.message_id)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to pin not found"):
        await bot.pin_chat_message(support.id, card.message_id)


async def test_an_operators_pin_reaches_the_bot_from_the_operator(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    olga = fake.add_operator(support, "Olga")
    note = await fake.operator_sends(olga, support, "Note")
    await drain(bot)

    await fake.operator_pins(olga, support, note)

    (update,) = await bot.get_updates(timeout=0)
    assert update.message is not None
    assert update.message.from_user is not None
    assert update.message.from_user.id == olga.id
    assert update.message.pinned_message is not None
    assert update.message.pinned_message.message_id == note["message_id"]


async def test_the_bot_pins_in_a_private_chat_without_rights(
    bot: Bot, fake: FakeTelegram, alice: User
) -> None:
    await fake.user_sends(alice, "hi")
    await drain(bot)
    sent = await bot.send_message(alice.id, "Your ticket: #42")

    assert await bot.pin_chat_message(alice.id, sent.message_id) is True

    (update,) = await bot.get_updates(timeout=0)
    assert update.message is not None
    assert update.message.chat.type == "private"
    assert update.message.pinned_message is not None
    assert [m["message_id"] for m in fake.pinned_messages(alice)] == [sent.message_id]


# -- topic icons ------------------------------------------------------------------------------


async def test_topic_icon_stickers_are_telegrams_set_and_decode_in_aiogram(bot: Bot) -> None:
    stickers = await bot.get_forum_topic_icon_stickers()

    assert all(isinstance(sticker, Sticker) for sticker in stickers)
    assert {sticker.type for sticker in stickers} == {"custom_emoji"}
    by_emoji = {sticker.emoji: sticker.custom_emoji_id for sticker in stickers}
    assert len(by_emoji) == len(stickers) == 112
    assert by_emoji["💬"] == SPEECH_BALLOON == "5417915203100613993"
    assert by_emoji["🔥"] == FIRE == "5312241539987020022"
    assert by_emoji["✅"] == CHECK_MARK == "5237699328843200968"
    assert by_emoji["❓"] == "5377316857231450742"
    assert by_emoji["\u2757\ufe0f"] == topic_icon_id("❗") == "5379748062124056162"
    assert "⏰" not in by_emoji  # not a topic icon: a bot wanting one gets an error
    assert len({sticker.file_unique_id for sticker in stickers}) == len(stickers)


async def test_a_topic_icon_must_be_in_the_set_and_aiogram_removes_it_with_zero(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    topic = await bot.create_forum_topic(support.id, "Alice", icon_custom_emoji_id=SPEECH_BALLOON)
    thread = topic.message_thread_id
    assert topic.icon_custom_emoji_id == SPEECH_BALLOON
    await drain(bot)

    await bot.edit_forum_topic(support.id, thread, icon_custom_emoji_id=CHECK_MARK)
    assert fake.topic(support, thread).icon_custom_emoji_id == CHECK_MARK
    with pytest.raises(TelegramBadRequest, match="TOPIC_NOT_MODIFIED"):
        await bot.edit_forum_topic(support.id, thread, icon_custom_emoji_id=CHECK_MARK)
    with pytest.raises(TelegramBadRequest, match="Bad Request: DOCUMENT_INVALID"):
        await bot.edit_forum_topic(support.id, thread, icon_custom_emoji_id="5368324170671202286")
    # aiogram leaves falsy values out of the request: "" never reaches Telegram, which then
    # sees no change asked for and answers True without touching the topic.
    assert await bot.edit_forum_topic(support.id, thread, icon_custom_emoji_id="") is True
    assert fake.calls_of("editForumTopic")[-1].params == {
        "chat_id": support.id,
        "message_thread_id": thread,
    }
    assert fake.topic(support, thread).icon_custom_emoji_id == CHECK_MARK
    # "0" is what removes the icon through aiogram (the server reads the id as a number).
    await bot.edit_forum_topic(support.id, thread, icon_custom_emoji_id="0")
    assert fake.topic(support, thread).icon_custom_emoji_id is None

    edits = [u.message.forum_topic_edited for u in await bot.get_updates(timeout=0) if u.message]
    assert [e.icon_custom_emoji_id if e else None for e in edits] == [CHECK_MARK, ""]
    with pytest.raises(TelegramBadRequest, match="DOCUMENT_INVALID"):
        await bot.create_forum_topic(support.id, "Bob", icon_custom_emoji_id="123")


async def test_an_empty_icon_id_sent_as_json_removes_the_icon(
    fake: FakeTelegram, support: Group
) -> None:
    olga = fake.add_operator(support, "Olga")
    thread = (await fake.operator_creates_topic(olga, support, "Alice")).thread_id
    fake.topic(support, thread).icon_custom_emoji_id = FIRE
    url = f"{fake.base_url}/bot{fake.token}/editForumTopic"
    body = {"chat_id": support.id, "message_thread_id": thread, "icon_custom_emoji_id": ""}

    async with aiohttp.ClientSession() as http, http.post(url, json=body) as response:
        answer = await response.json()

    assert answer == {"ok": True, "result": True}
    assert fake.topic(support, thread).icon_custom_emoji_id is None
    edited = fake.topic_messages(support, thread, include_service=True)[-1]
    assert edited["forum_topic_edited"] == {"icon_custom_emoji_id": ""}


# -- mentions ---------------------------------------------------------------------------------


async def test_mentions_and_replies_notify_members_of_the_group(
    bot: Bot, fake: FakeTelegram, support: Group, alice: User
) -> None:
    olga = fake.add_operator(support, "Olga", username="olga_ops")
    pavel = fake.add_operator(support, "Pavel", username="pavel")
    carol = fake.add_user("Carol", username="carol_out")  # not in the group
    thread = (await bot.create_forum_topic(support.id, "Alice")).message_thread_id
    question = await fake.operator_sends(olga, support, "who takes it?", thread_id=thread)

    reminder = await bot.send_message(
        support.id,
        f'<a href="tg://user?id={pavel.id}">Pavel</a>, @OLGA_OPS: reminder, '
        "<code>@pavel</code> @carol_out",
        parse_mode=HTML,
        message_thread_id=thread,
    )
    reply = await bot.send_message(
        support.id,
        "Pavel does",
        reply_parameters=ReplyParameters(message_id=question["message_id"]),
        disable_notification=True,
    )
    await bot.send_message(support.id, "no one", message_thread_id=thread)
    await fake.user_sends(alice, "hi")
    await bot.send_message(alice.id, "@olga_ops will answer")  # a private chat: not her

    assert [m["message_id"] for m in fake.notified(pavel)] == [reminder.message_id]
    assert [m["message_id"] for m in fake.notified(olga)] == [
        reminder.message_id,
        reply.message_id,
    ]
    assert fake.notified(carol) == []
    assert [(n.user_id, n.reason, n.silent) for n in fake.notifications] == [
        (pavel.id, "text_mention", False),
        (olga.id, "mention", False),
        (olga.id, "reply", True),
    ]
    assert fake.notified(pavel, support)[0]["text"].startswith("Pavel, @OLGA_OPS")


async def test_an_edit_that_adds_a_mention_notifies_nobody(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    olga = fake.add_operator(support, "Olga", username="olga_ops")
    sent = await bot.send_message(support.id, "reminder")

    await bot.edit_message_text(
        "reminder @olga_ops", chat_id=support.id, message_id=sent.message_id
    )

    assert fake.notified(olga) == []


# -- flood limits -----------------------------------------------------------------------------


async def test_topic_edits_and_pins_count_as_group_messages_and_message_edits_do_not(
    bot: Bot, fake: FakeTelegram, support: Group
) -> None:
    fake.rate_limit(support.id, limit=4, window=60.0)
    thread = (await bot.create_forum_topic(support.id, "Alice")).message_thread_id  # 1
    card = await bot.send_message(support.id, "Card v1", message_thread_id=thread)  # 2
    for version in range(2, 6):  # edits change a message, they do not add one
        await bot.edit_message_text(
            f"Card v{version}", chat_id=support.id, message_id=card.message_id
        )
    await bot.edit_forum_topic(support.id, thread, icon_custom_emoji_id=FIRE)  # 3: a service msg
    await bot.pin_chat_message(support.id, card.message_id)  # 4: a service message

    # The window is full: edits still pass, anything that posts a message is refused.
    await bot.edit_message_text("Card v6", chat_id=support.id, message_id=card.message_id)
    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.edit_forum_topic(support.id, thread, icon_custom_emoji_id=CHECK_MARK)

    assert 59 <= refused.value.retry_after <= 60
    assert fake.topic(support, thread).icon_custom_emoji_id == FIRE
    assert fake.violations == []
    assert len(fake.chat_messages(support)) == 4
