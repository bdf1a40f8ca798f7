"""Operators -> user, end to end: what operators post in a user's topic reaches that user, and
nothing else reaches anybody."""

from __future__ import annotations

import pytest

from tests.fake_telegram import User
from tests.relay_helpers import Desk, desk_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

desk = desk_fixture()


async def conversation_with(desk: Desk, user: User, first: str = "hello") -> int:
    """The user writes first (a bot cannot start a conversation); the topic's id."""
    await desk.fake.user_sends(user, first)
    return await desk.first_message_topic(user)


async def test_an_operators_message_is_copied_to_the_user(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)

    answer = await desk.fake.operator_sends(
        desk.operator, desk.group, "Hi! <b>Sure</b> & welcome", thread_id=topic_id
    )

    [copy] = await desk.sent_to(user, 1)
    assert copy["text"] == answer["text"]
    assert "forward_origin" not in copy
    assert await desk.link(desk.group.id, answer["message_id"], user.id) == copy["message_id"]
    logged = await desk.db.log.get(chat_id=desk.group.id, message_id=answer["message_id"])
    assert logged is not None
    assert (logged.direction, logged.user_id) == ("operator", user.id)


async def test_regression_the_implicit_reply_to_the_topic_is_not_a_reply(desk: Desk) -> None:
    """Telegram sets reply_to_message on every topic message (to the topic's first message);
    copying it as a reply would make every answer a reply to nothing the user knows."""
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)

    answer = await desk.fake.operator_sends(desk.operator, desk.group, "Hi", thread_id=topic_id)

    [copy] = await desk.sent_to(user, 1)
    assert answer["reply_to_message"]["message_id"] == topic_id
    assert "forum_topic_created" in answer["reply_to_message"]
    assert "reply_to_message" not in copy
    call = desk.fake.calls_of("copyMessage")[-1]
    assert "reply_parameters" not in call.params


async def test_an_explicit_reply_replies_to_the_linked_message_in_the_users_chat(
    desk: Desk,
) -> None:
    user = desk.new_user()
    first = await desk.fake.user_sends(user, "where is my order?")
    topic_id = await desk.first_message_topic(user)
    [_card, copy_of_first] = desk.topic_messages(topic_id)
    await desk.fake.user_sends(user, "hello?")
    await desk.copies_in_topic(topic_id, 2)

    await desk.fake.operator_sends(
        desk.operator, desk.group, "It ships today", reply_to=copy_of_first
    )

    [answer] = await desk.sent_to(user, 1)
    assert answer["reply_to_message"]["message_id"] == first["message_id"]


async def test_a_reply_to_another_operators_message_replies_to_its_copy(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    earlier = await desk.fake.operator_sends(desk.operator, desk.group, "A", thread_id=topic_id)
    [copy_of_earlier] = await desk.sent_to(user, 1)

    await desk.fake.operator_sends(desk.operator, desk.group, "B, about A", reply_to=earlier)

    _, second = await desk.sent_to(user, 2)
    assert second["reply_to_message"]["message_id"] == copy_of_earlier["message_id"]


@pytest.mark.parametrize(
    "kind",
    [
        "photo", "video", "animation", "document", "audio", "voice", "video_note", "sticker",
        "location", "venue", "contact", "poll", "dice",
    ],
)  # fmt: skip
async def test_every_content_type_reaches_the_user(desk: Desk, kind: str) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    content = desk.fake.content.of_kind(kind)

    await desk.fake.operator_sends(desk.operator, desk.group, content=content, thread_id=topic_id)

    [copy] = await desk.sent_to(user, 1)
    assert copy[kind] == content.fields[kind]


async def test_an_operators_album_reaches_the_user_with_one_copy_messages_call(
    desk: Desk,
) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    mark = len(desk.fake.calls)

    album = await desk.fake.operator_sends_album(
        desk.operator, desk.group, ["photo", "document"], thread_id=topic_id, caption="docs"
    )

    copies = await desk.sent_to(user, 2)
    assert len(desk.calls_since(mark, "copyMessages")) == 1
    assert copies[0]["media_group_id"] == copies[1]["media_group_id"]
    assert copies[0]["caption"] == "docs"
    assert (
        await desk.link(desk.group.id, album[1]["message_id"], user.id) == (copies[1]["message_id"])
    )


async def test_general_other_topics_other_groups_commands_and_service_messages_stay_put(
    desk: Desk,
) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    other_group = desk.fake.create_group(-1009876543210, "Other", is_forum=True)
    desk.fake.add_member(other_group, desk.operator, status="administrator")
    loose_topic = await desk.fake.operator_creates_topic(desk.operator, desk.group, "Team chat")
    mark = len(desk.fake.calls)

    await desk.fake.operator_sends(desk.operator, desk.group, "in General")
    await desk.fake.operator_sends(
        desk.operator, desk.group, "in a topic of nobody", thread_id=loose_topic.thread_id
    )
    await desk.fake.operator_sends(desk.operator, other_group, "in another group")
    # A command for another bot in the group: neither answered nor relayed.
    await desk.fake.operator_sends(
        desk.operator,
        desk.group,
        content=desk.fake.content.command("/close@other_bot"),
        thread_id=topic_id,
    )
    await desk.fake.operator_renames_topic(desk.operator, desk.group, topic_id, "Renamed")
    await desk.fake.operator_sends(desk.operator, desk.group, "the last one", thread_id=topic_id)

    [copy] = await desk.sent_to(user, 1)
    await desk.settle()
    assert copy["text"] == "the last one"
    assert desk.in_private_chat(user) == [copy]
    sends = [c for c in desk.fake.calls[mark:] if c.method != "getUpdates"]
    assert [(c.method, c.chat_id) for c in sends] == [("copyMessage", user.id)]


async def test_a_blocked_user_gives_the_operator_a_note_replying_to_the_message(
    desk: Desk,
) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    await desk.fake.user_blocks_bot(user)

    answer = await desk.fake.operator_sends(desk.operator, desk.group, "hello?", thread_id=topic_id)

    # The first copy, the note that the user blocked the bot, the answer, and its note.
    messages = await desk.copies_in_topic(topic_id, 4)
    [note] = [m for m in messages if m["text"].startswith("⚠️")]
    assert note["text"] == "⚠️ Not delivered: the user has blocked the bot."
    assert note["reply_to_message"]["message_id"] == answer["message_id"]
    assert desk.in_private_chat(user) == []


async def test_a_deleted_account_gives_the_operator_a_note(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    await desk.fake.user_deactivates(user)

    album = await desk.fake.operator_sends_album(
        desk.operator, desk.group, ["photo", "photo"], thread_id=topic_id
    )

    note = (await desk.copies_in_topic(topic_id, 4))[-1]
    assert note["text"] == "⚠️ Not delivered: the user has deleted their account."
    assert note["reply_to_message"]["message_id"] == album[0]["message_id"]


async def test_what_cannot_be_copied_to_the_user_gives_the_operator_a_note(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)

    quiz = await desk.fake.operator_sends(
        desk.operator, desk.group, content=desk.fake.content.quiz(), thread_id=topic_id
    )

    note = (await desk.copies_in_topic(topic_id, 3))[-1]
    assert note["text"].startswith("⚠️ Not delivered: a poll message cannot be sent to the user")
    assert note["reply_to_message"]["message_id"] == quiz["message_id"]
    # Not forwarded instead: a forward would show the operator's name to the customer.
    assert desk.in_private_chat(user) == []
    assert desk.fake.calls_of("forwardMessage") == []


async def test_a_premium_operators_long_caption_arrives_whole(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    caption = "Here is your invoice. " * 80

    await desk.fake.operator_sends(
        desk.operator, desk.group, content=desk.fake.content.document(caption), thread_id=topic_id
    )

    media, text = await desk.sent_to(user, 2)
    assert len(media["caption"]) <= 1024
    assert text["text"] == caption.strip()
    assert text["reply_to_message"]["message_id"] == media["message_id"]
