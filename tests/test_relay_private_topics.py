"""A user whose private chat with the bot has topics (Bot API 9.3): still one conversation.

The user's messages carry `message_thread_id` and `is_topic_message` when written inside one of
their private topics; they all go, in the order written, to the user's one operator topic.
"""

from __future__ import annotations

import pytest

from tests.relay_helpers import Desk, desk_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

desk = desk_fixture()


async def test_messages_inside_and_outside_private_topics_arrive_in_the_order_written(
    desk: Desk,
) -> None:
    desk.fake.enable_private_topics()
    user = desk.new_user()
    private_topic = await desk.fake.user_creates_topic(user, "My order")
    await desk.fake.user_sends(user, "1", thread_id=private_topic.thread_id)
    topic_id = await desk.first_message_topic(user)

    # The next copy into the group fails until flood control gives up on it: the delivery
    # engine tries message 2 again a moment later. Nothing written after it may overtake it.
    desk.fake.fail_next("copyMessage", error_code=500, times=4, chat_id=desk.group.id)
    await desk.fake.user_sends(user, "2")
    await desk.fake.user_sends(user, "3", thread_id=private_topic.thread_id)
    await desk.fake.user_sends(user, "4")
    await desk.fake.user_sends(user, "5", thread_id=private_topic.thread_id)

    copies = await desk.copies_in_topic(topic_id, 5, timeout=20)
    assert [copy["text"] for copy in copies] == ["1", "2", "3", "4", "5"]
    assert len(desk.fake.topics(desk.group)) == 1
