"""User -> operators, end to end: the real bot against the fake Telegram server.

What the user sends reaches their own forum topic in the operator group: one topic per user,
with a user card first, every content type, albums as albums, long captions, reply chains.
"""

from __future__ import annotations

import json

import pytest

from bot.relay.texts import ENGLISH
from tests.fake_telegram import text_entity
from tests.relay_helpers import Desk, desk_fixture, poll
from tests.storage_helpers import committed, write_directly

pytestmark = pytest.mark.asyncio(loop_scope="module")

desk = desk_fixture()


async def test_start_answers_the_welcome_text_and_creates_no_topic(desk: Desk) -> None:
    user = desk.new_user()
    mark = len(desk.fake.calls)

    await desk.fake.user_sends_command(user, "/start")

    [welcome] = await desk.sent_to(user, 1)
    await desk.settle()
    assert welcome["text"] == ENGLISH.welcome
    assert desk.calls_since(mark, "createForumTopic") == []
    assert await desk.conversation(user) is None


async def test_first_message_creates_a_topic_with_the_user_card_then_the_copy(desk: Desk) -> None:
    user = desk.new_user("Ann <b>&", "O'Neil", "ann_oneil", language_code="de", is_premium=True)
    await desk.fake.user_sends_command(user, "/start")
    await desk.sent_to(user, 1)

    sent = await desk.fake.user_sends(user, "My order <b>never</b> came & I'm upset")

    topic_id = await desk.first_message_topic(user)
    topic = desk.fake.topic(desk.group, topic_id)
    assert topic.name == "Ann <b>& O'Neil @ann_oneil"
    card, copy = desk.topic_messages(topic_id)
    # The user card: HTML with the user's parts escaped, so they show as typed.
    assert card["text"].splitlines() == [
        "👤 Ann <b>& O'Neil",
        "Username: @ann_oneil",
        f"ID: {user.id}",
        "Language: de",
        "Premium: yes",
        "Open profile",
    ]
    mention = next(e for e in card["entities"] if e["type"] == "text_mention")
    assert mention["user"]["id"] == user.id
    # The copy: the same text, not a forward, not re-parsed as HTML.
    assert copy["text"] == sent["text"]
    assert "forward_origin" not in copy
    assert "reply_to_message" not in copy or copy["reply_to_message"]["message_id"] == topic_id
    assert desk.fake.general_messages(desk.group) == []

    conversation = await desk.conversation(user)
    assert conversation is not None
    assert (conversation.topic_id, conversation.active) == (topic_id, True)
    stored = await desk.db.people.get(user.id)
    assert stored is not None
    assert (stored.username, stored.first_name, stored.last_name) == (
        "ann_oneil",
        "Ann <b>&",
        "O'Neil",
    )
    logged = await desk.db.log.get(chat_id=user.id, message_id=sent["message_id"])
    assert logged is not None
    assert (logged.direction, logged.content_type, logged.text) == ("user", "text", sent["text"])
    assert await desk.link(user.id, sent["message_id"], desk.group.id) == copy["message_id"]


async def test_entities_of_a_message_arrive_unchanged(desk: Desk) -> None:
    user = desk.new_user()
    text = "Please read <this> & call me"
    entities = [
        text_entity("bold", text, "Please"),
        text_entity("text_link", text, "call me", url="https://example.com/?a=1&b=2"),
    ]

    await desk.fake.user_sends(user, text, entities=entities)

    topic_id = await desk.first_message_topic(user)
    [copy] = desk.topic_messages(topic_id)[1:]
    assert copy["text"] == text
    assert copy["entities"] == entities


async def test_two_first_messages_at_once_make_exactly_one_topic(desk: Desk) -> None:
    user = desk.new_user()
    mark = len(desk.fake.calls)

    # Both wait in Telegram together and reach the bot in one batch.
    await desk.fake.user_sends(user, "first")
    await desk.fake.user_sends(user, "second")

    topic_id = await desk.first_message_topic(user)
    copies = await desk.copies_in_topic(topic_id, 2)
    assert [c["text"] for c in copies] == ["first", "second"]
    assert len(desk.calls_since(mark, "createForumTopic")) == 1


async def test_later_messages_use_the_same_topic_also_after_a_restart(desk: Desk) -> None:
    user = desk.new_user()
    await desk.fake.user_sends(user, "before the restart")
    topic_id = await desk.first_message_topic(user)

    await desk.restart()
    mark = len(desk.fake.calls)
    await desk.fake.user_sends(user, "after the restart")

    copies = await desk.copies_in_topic(topic_id, 2)
    assert [c["text"] for c in copies] == ["before the restart", "after the restart"]
    assert desk.calls_since(mark, "createForumTopic") == []
    assert len([t for t in desk.fake.topics(desk.group) if t.name.endswith(user.username)]) == 1


@pytest.mark.parametrize(
    "kind",
    [
        "photo", "video", "animation", "document", "audio", "voice", "video_note", "sticker",
        "location", "venue", "contact", "poll", "dice", "story",
    ],
)  # fmt: skip
async def test_every_content_type_is_copied(desk: Desk, kind: str) -> None:
    user = desk.new_user()
    content = desk.fake.content.of_kind(kind)

    await desk.fake.user_sends(user, content=content)

    topic_id = await desk.first_message_topic(user)
    [copy] = desk.topic_messages(topic_id)[1:]
    assert kind in copy
    assert copy[kind] == content.fields[kind]
    assert "forward_origin" not in copy


@pytest.mark.parametrize("kind", ["photo", "video", "animation", "document", "audio", "voice"])
async def test_a_caption_and_its_entities_are_copied(desk: Desk, kind: str) -> None:
    user = desk.new_user()
    caption = "look at <this> & that"
    entities = [text_entity("italic", caption, "that")]

    await desk.fake.user_sends(
        user, content=desk.fake.content.of_kind(kind).with_caption(caption, entities)
    )

    topic_id = await desk.first_message_topic(user)
    [copy] = desk.topic_messages(topic_id)[1:]
    assert (copy["caption"], copy["caption_entities"]) == (caption, entities)


@pytest.mark.parametrize("content", ["quiz", "invoice"])
async def test_what_cannot_be_copied_is_forwarded(desk: Desk, content: str) -> None:
    user = desk.new_user()

    await desk.fake.user_sends(user, content=getattr(desk.fake.content, content)())

    topic_id = await desk.first_message_topic(user)
    [forwarded] = desk.topic_messages(topic_id)[1:]
    assert forwarded["forward_origin"]["sender_user"]["id"] == user.id
    assert desk.fake.general_messages(desk.group) == []


async def test_what_can_be_neither_copied_nor_forwarded_leaves_a_note(desk: Desk) -> None:
    user = desk.new_user()
    desk.fake.fail_next(
        "forwardMessage", error_code=400, description="Bad Request: message can't be forwarded"
    )

    sent = await desk.fake.user_sends(user, content=desk.fake.content.quiz())

    topic_id = await desk.first_message_topic(user)
    [note] = desk.topic_messages(topic_id)[1:]
    assert note["text"] == "⚠️ The user sent a poll message, which cannot be shown here."
    # The note stands for the message: an operator's reply to it threads to it.
    assert await desk.link(user.id, sent["message_id"], desk.group.id) == note["message_id"]


async def test_a_premium_users_long_caption_arrives_whole(desk: Desk) -> None:
    user = desk.new_user(is_premium=True)
    caption = "Dear support, " + "my parcel is lost. " * 150 + "Thanks!"
    assert 1024 < len(caption) <= 4096
    entities = [
        text_entity("bold", caption, "Dear support"),
        text_entity("italic", caption, "Thanks!"),
    ]

    sent = await desk.fake.user_sends(user, content=desk.fake.content.photo(caption, entities))

    topic_id = await desk.first_message_topic(user)
    media, full_text = await desk.copies_in_topic(topic_id, 2)
    assert media["photo"] == sent["photo"]
    assert len(media["caption"]) <= 1024
    assert media["caption"].endswith("…")
    assert caption.startswith(media["caption"][:-1])
    assert media["caption_entities"] == [entities[0]]
    assert full_text["text"] == caption
    assert full_text["entities"] == entities
    assert full_text["reply_to_message"]["message_id"] == media["message_id"]
    # The media is the message's copy; the full text is linked back to it too.
    assert await desk.parts(user.id, sent["message_id"], desk.group.id, 2) == [
        media["message_id"],
        full_text["message_id"],
    ]


async def test_a_caption_of_1024_characters_with_emoji_arrives_as_it_is(desk: Desk) -> None:
    """Telegram measures a caption in characters: 1,024 of them fit a bot's caption, emoji
    included (as UTF-16 units, which entity offsets use, these are 1,048)."""
    user = desk.new_user()
    caption = "📦" * 24 + "a" * 1000
    assert len(caption) == 1024

    await desk.fake.user_sends(user, content=desk.fake.content.photo(caption))

    topic_id = await desk.first_message_topic(user)
    await desk.settle()
    [media] = desk.topic_messages(topic_id)[1:]
    assert media["caption"] == caption


async def test_an_album_is_copied_as_an_album_with_one_copy_messages_call(desk: Desk) -> None:
    user = desk.new_user()
    await desk.fake.user_sends(user, "here are the photos")
    topic_id = await desk.first_message_topic(user)
    mark = len(desk.fake.calls)

    album = await desk.fake.user_sends_album(user, ["photo", "photo", "video"], caption="3 files")

    copies = (await desk.copies_in_topic(topic_id, 4))[1:]
    calls = desk.calls_since(mark, "copyMessages")
    assert len(calls) == 1
    assert calls[0].params["message_ids"] == [m["message_id"] for m in album]
    assert desk.calls_since(mark, "copyMessage") == []
    assert [("photo" in c, "video" in c) for c in copies] == [
        (True, False),
        (True, False),
        (False, True),
    ]
    assert copies[0]["caption"] == "3 files"
    assert len({c["media_group_id"] for c in copies}) == 1
    for item, copy in zip(album, copies, strict=True):
        assert await desk.link(user.id, item["message_id"], desk.group.id) == copy["message_id"]


async def test_an_album_copied_only_in_part_is_logged_and_the_operators_told(desk: Desk) -> None:
    user = desk.new_user()
    await desk.fake.user_sends(user, "here are the photos")
    topic_id = await desk.first_message_topic(user)

    album = await desk.fake.user_sends_album(user, ["photo", "photo", "video"])
    # Gone before the bot copies the album (it waits for more items first): copyMessages
    # skips it without saying which one it was.
    await desk.fake.delete_message(user, album[1])

    copies = (await desk.copies_in_topic(topic_id, 4))[1:]
    assert [("photo" in c, "video" in c) for c in copies[:2]] == [(True, False), (False, True)]
    assert copies[2]["text"] == (
        "⚠️ Only 2 of the 3 items of this album could be shown here: Telegram did not copy "
        "the others."
    )
    assert copies[2]["reply_to_message"]["message_id"] == copies[0]["message_id"]
    logged = [m.message_id for m in await desk.db.log.history(user.id)]
    assert logged[1:] == [m["message_id"] for m in album]


async def test_an_album_with_a_long_caption_stays_an_album_and_the_caption_follows(
    desk: Desk,
) -> None:
    user = desk.new_user(is_premium=True)
    caption = "A long story. " * 100
    caption = caption.strip()

    album = await desk.fake.user_sends_album(user, ["photo", "photo"], caption=caption)

    topic_id = await desk.first_message_topic(user)
    first, second, text = await desk.copies_in_topic(topic_id, 3)
    assert first["media_group_id"] == second["media_group_id"]
    assert "caption" not in first
    assert text["text"] == caption
    assert text["reply_to_message"]["message_id"] == first["message_id"]
    assert await desk.link(user.id, album[1]["message_id"], desk.group.id) == second["message_id"]


async def test_a_reply_to_an_operators_message_replies_to_the_original_in_the_topic(
    desk: Desk,
) -> None:
    user = desk.new_user()
    await desk.fake.user_sends(user, "hello")
    topic_id = await desk.first_message_topic(user)
    answer = await desk.fake.operator_sends(
        desk.operator, desk.group, "How can I help?", thread_id=topic_id
    )
    [answer_copy] = await desk.sent_to(user, 1)

    await desk.fake.user_sends(user, "my order is late", reply_to=answer_copy)

    copy = (await desk.copies_in_topic(topic_id, 3))[-1]
    assert copy["text"] == "my order is late"
    assert copy["reply_to_message"]["message_id"] == answer["message_id"]


async def test_a_reply_to_an_unknown_message_still_goes_through(desk: Desk) -> None:
    user = desk.new_user()
    await desk.fake.user_sends_command(user, "/start")
    [welcome] = await desk.sent_to(user, 1)

    await desk.fake.user_sends(user, "about your welcome", reply_to=welcome)

    topic_id = await desk.first_message_topic(user)
    [copy] = desk.topic_messages(topic_id)[1:]
    assert copy["text"] == "about your welcome"
    # Only the implicit reply to the topic's first message, which every topic message has.
    assert copy["reply_to_message"]["message_id"] == topic_id


async def test_a_service_message_in_the_private_chat_is_not_relayed(desk: Desk) -> None:
    user = desk.new_user()
    await desk.fake.user_sends(user, "hi")
    topic_id = await desk.first_message_topic(user)
    chat = desk.fake.world.private_chat(user)
    pinned = desk.fake.world.create_message(
        chat, user, {"pinned_message": {"message_id": 1, "date": 0, "chat": chat.to_api()}}
    )
    desk.fake.updates.push("message", pinned.snapshot())

    await desk.settle()

    assert len(desk.topic_messages(topic_id)) == 2


async def test_a_new_name_renames_the_topic_and_updates_the_users_row(desk: Desk) -> None:
    user = desk.new_user("Bea", "Old", "bea_old")
    await desk.fake.user_sends(user, "hi")
    topic_id = await desk.first_message_topic(user)

    user.last_name, user.username = "New", "bea_new"
    await desk.fake.user_sends(user, "I changed my name")

    await desk.copies_in_topic(topic_id, 2)
    assert desk.fake.topic(desk.group, topic_id).name == "Bea New @bea_new"
    stored = await desk.db.people.get(user.id)
    assert stored is not None
    assert (stored.username, stored.last_name) == ("bea_new", "New")


async def test_a_topic_title_is_never_empty_and_at_most_128_characters(desk: Desk) -> None:
    long_name = desk.new_user("W" * 200, None, "long_name_user")
    await desk.fake.user_sends(long_name, "hi")
    topic_id = await desk.first_message_topic(long_name)
    title = desk.fake.topic(desk.group, topic_id).name
    assert len(title) <= 128
    assert title.endswith("… @long_name_user")

    blank = desk.fake.add_user("   ")
    await desk.fake.user_sends(blank, "hi")
    topic_id = await desk.first_message_topic(blank)
    assert desk.fake.topic(desk.group, topic_id).name == f"User {blank.id}"


async def test_an_update_handled_again_does_not_copy_a_recorded_message_twice(
    desk: Desk,
) -> None:
    """As if the bot died after the copy was recorded, before the update was marked done."""
    user = desk.new_user()
    sent = await desk.fake.user_sends(user, "only once, please")
    topic_id = await desk.first_message_topic(user)
    await desk.settle()

    assert await desk.bot.stop() == 0
    [update_id] = [
        update_id
        for update_id, payload in committed(
            desk.db_path, "SELECT update_id, payload FROM inbox WHERE status = 'done'"
        )
        if json.loads(payload).get("message", {}).get("message_id") == sent["message_id"]
        and json.loads(payload)["message"]["chat"]["id"] == user.id
    ]
    # Back to pending, as a crash between the copy and the end of the handling leaves it.
    write_directly(
        desk.db_path, "UPDATE inbox SET status = 'pending' WHERE update_id = ?", (update_id,)
    )
    await desk.bot.start()
    await desk.settle()

    assert [m["text"] for m in desk.topic_messages(topic_id)[1:]] == ["only once, please"]


async def test_a_failure_after_the_recorded_copy_is_retried_without_a_second_copy(
    desk: Desk,
) -> None:
    """The full text of a long caption fails for a while (5xx): the engine handles the update
    again; the media copy, already recorded, is not sent twice, and the text still arrives."""
    user = desk.new_user(is_premium=True)
    await desk.fake.user_sends(user, "hi")
    topic_id = await desk.first_message_topic(user)
    # Flood control retries a 5xx three times; the fourth failure reaches the engine.
    desk.fake.fail_next("sendMessage", error_code=500, times=4, chat_id=desk.group.id)
    caption = "x" * 1500

    sent = await desk.fake.user_sends(user, content=desk.fake.content.photo(caption))

    media, text = (await desk.copies_in_topic(topic_id, 3, timeout=15))[1:]
    await desk.settle(timeout=10)
    assert len(desk.topic_messages(topic_id)) == 4
    assert "photo" in media
    assert text["text"] == caption
    copies = [
        c
        for c in desk.fake.calls_of("copyMessage")
        if c.params.get("message_id") == sent["message_id"] and c.params["from_chat_id"] == user.id
    ]
    assert len(copies) == 1
    counts = await desk.db.inbox.counts()
    assert counts["failed"] == 0


async def test_messages_wait_in_order_while_telegram_fails_and_none_is_lost(desk: Desk) -> None:
    user = desk.new_user()
    await desk.fake.user_sends(user, "one")
    topic_id = await desk.first_message_topic(user)
    desk.fake.fail_next("copyMessage", error_code=502, times=4, chat_id=desk.group.id)

    for text in ("two", "three"):
        await desk.fake.user_sends(user, text)

    copies = await desk.copies_in_topic(topic_id, 3, timeout=15)
    assert [c["text"] for c in copies] == ["one", "two", "three"]
    await poll(lambda: _no_failed(desk), "no parked updates")


async def _no_failed(desk: Desk) -> bool:
    return (await desk.db.inbox.counts())["failed"] == 0
