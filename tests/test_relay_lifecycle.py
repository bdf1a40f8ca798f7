"""A topic's life, end to end: closed and reopened by operators, reopened by the user writing
again, deleted (Telegram says nothing) and re-created, and the user blocking the bot."""

from __future__ import annotations

import pytest

from bot.relay.texts import ENGLISH
from tests.fake_telegram import User
from tests.relay_helpers import Desk, desk_fixture, poll

pytestmark = pytest.mark.asyncio(loop_scope="module")

desk = desk_fixture()


async def conversation_with(desk: Desk, user: User, first: str = "hello") -> int:
    await desk.fake.user_sends(user, first)
    return await desk.first_message_topic(user)


async def test_closing_the_topic_ends_the_conversation_and_tells_the_user(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)

    await desk.fake.operator_closes_topic(desk.operator, desk.group, topic_id)

    [notice] = await desk.sent_to(user, 1)
    assert notice["text"] == ENGLISH.closed
    conversation = await desk.wait_conversation(user, active=False)
    assert conversation.topic_id == topic_id
    # Nothing an operator writes in the closed topic reaches the user.
    await desk.fake.operator_sends(desk.operator, desk.group, "one more thing", thread_id=topic_id)
    await desk.settle()
    assert desk.in_private_chat(user) == [notice]


async def test_reopening_the_topic_makes_the_conversation_active_again(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    await desk.fake.operator_closes_topic(desk.operator, desk.group, topic_id)
    await desk.wait_conversation(user, active=False)

    await desk.fake.operator_reopens_topic(desk.operator, desk.group, topic_id)
    await desk.wait_conversation(user, active=True)
    await desk.fake.operator_sends(desk.operator, desk.group, "we are back", thread_id=topic_id)

    notice, answer = await desk.sent_to(user, 2)
    assert notice["text"] == ENGLISH.closed
    assert answer["text"] == "we are back"


async def test_writing_after_a_close_reopens_the_same_topic(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    await desk.fake.operator_closes_topic(desk.operator, desk.group, topic_id)
    await desk.wait_conversation(user, active=False)
    mark = len(desk.fake.calls)

    await desk.fake.user_sends(user, "I have another question")

    copies = await desk.copies_in_topic(topic_id, 2)
    assert copies[-1]["text"] == "I have another question"
    assert not desk.fake.topic(desk.group, topic_id).closed
    conversation = await desk.wait_conversation(user, active=True)
    assert conversation.topic_id == topic_id
    assert desk.calls_since(mark, "createForumTopic") == []
    await desk.settle()
    # The bot's own reopening (a service message it receives) changes nothing and says nothing.
    [notice] = desk.in_private_chat(user)
    assert notice["text"] == ENGLISH.closed
    await desk.fake.operator_sends(desk.operator, desk.group, "sure, go on", thread_id=topic_id)
    await desk.sent_to(user, 2)


@pytest.mark.parametrize("error", [None, "TOPIC_DELETED"])
async def test_a_deleted_topic_is_recreated_and_gets_the_message(
    desk: Desk, error: str | None
) -> None:
    user = desk.new_user()
    old_topic = await conversation_with(desk, user)
    await desk.fake.delete_topic(desk.group, old_topic, error=error)

    sent = await desk.fake.user_sends(user, "are you there?")

    conversation = await poll(
        lambda: _moved(desk, user, old_topic), "the conversation to move to a new topic"
    )
    new_topic = conversation.topic_id
    await desk.copies_in_topic(new_topic, 1)
    card, copy = desk.topic_messages(new_topic)
    assert card["text"].startswith("👤 ")
    assert copy["text"] == "are you there?"
    assert desk.fake.general_messages(desk.group) == []
    assert (
        desk.fake.topic(desk.group, new_topic).name == desk.fake.topic(desk.group, old_topic).name
    )
    assert await desk.link(user.id, sent["message_id"], desk.group.id) == copy["message_id"]
    # The operators answer in the new topic.
    await desk.fake.operator_sends(desk.operator, desk.group, "yes!", thread_id=new_topic)
    [answer] = await desk.sent_to(user, 1)
    assert answer["text"] == "yes!"


async def test_a_closed_and_then_deleted_topic_is_recreated_when_the_user_writes(
    desk: Desk,
) -> None:
    user = desk.new_user()
    old_topic = await conversation_with(desk, user)
    await desk.fake.operator_closes_topic(desk.operator, desk.group, old_topic)
    await desk.wait_conversation(user, active=False)
    await desk.fake.delete_topic(desk.group, old_topic)

    await desk.fake.user_sends(user, "hello again")

    conversation = await poll(lambda: _moved(desk, user, old_topic), "a new topic")
    assert conversation.active
    [copy] = await desk.copies_in_topic(conversation.topic_id, 1)
    assert copy["text"] == "hello again"
    assert desk.fake.general_messages(desk.group) == []


async def _moved(desk: Desk, user: User, old_topic: int) -> object:
    conversation = await desk.conversation(user)
    return conversation if conversation and conversation.topic_id != old_topic else None


async def test_blocking_and_unblocking_the_bot_leave_notes_in_the_topic(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)

    await desk.fake.user_blocks_bot(user)
    blocked = (await desk.copies_in_topic(topic_id, 2))[-1]
    await desk.fake.user_unblocks_bot(user)
    unblocked = (await desk.copies_in_topic(topic_id, 3))[-1]

    assert blocked["text"].startswith("🚫 The user has blocked the bot")
    assert unblocked["text"] == "✅ The user has unblocked the bot."


async def test_blocking_the_bot_without_a_topic_says_nothing(desk: Desk) -> None:
    user = desk.new_user()
    await desk.fake.user_sends_command(user, "/start")
    await desk.sent_to(user, 1)
    mark = len(desk.fake.calls)

    await desk.fake.user_blocks_bot(user)
    await desk.settle()

    assert [c.method for c in desk.fake.calls[mark:] if c.method != "getUpdates"] == []
