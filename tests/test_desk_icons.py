"""Topic icons (TOPIC_ICONS=on), end to end: each topic shows its conversation's state; changes
are coalesced and wait while the group is busy. (An emoji Telegram does not offer is a one-line
configuration error: tests/test_startup.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from bot.delivery import flood
from tests.fake_telegram import User
from tests.fake_telegram.icons import topic_icon_id
from tests.relay_helpers import Desk, desk_fixture

pytestmark = pytest.mark.asyncio(loop_scope="module")

desk = desk_fixture(TOPIC_ICONS="on")

WAITING, ANSWERED, CLOSED = topic_icon_id("❗️"), topic_icon_id("💬"), topic_icon_id("✅")


def icon(desk: Desk, topic_id: int) -> str | None:
    return desk.fake.topic(desk.group, topic_id).icon_custom_emoji_id


def icon_edits(desk: Desk, topic_id: int) -> list[Any]:
    return [
        call
        for call in desk.fake.calls_of("editForumTopic")
        if call.params.get("message_thread_id") in (topic_id, str(topic_id))
        and "icon_custom_emoji_id" in call.params
    ]


async def answer(desk: Desk, user: User, topic_id: int) -> None:
    before = len(desk.in_private_chat(user))
    await desk.fake.operator_sends(desk.operator, desk.group, "an answer", thread_id=topic_id)
    await desk.sent_to(user, before + 1)


async def test_the_icon_follows_the_state(desk: Desk) -> None:
    user = desk.new_user("Iris")
    await desk.fake.user_sends(user, "hi")
    topic_id = await desk.first_message_topic(user)
    await desk.wait_for(lambda: icon(desk, topic_id) == WAITING, "the waiting icon")

    await answer(desk, user, topic_id)
    await desk.wait_for(lambda: icon(desk, topic_id) == ANSWERED, "the answered icon")

    await desk.fake.operator_closes_topic(desk.operator, desk.group, topic_id)
    await desk.wait_for(lambda: icon(desk, topic_id) == CLOSED, "the closed icon")
    # Each change is a service message in the topic: that is why icons are opt-in.
    edited = [
        m
        for m in desk.fake.chat_messages(desk.group, thread_id=topic_id, include_service=True)
        if "forum_topic_edited" in m
    ]
    assert [m["forum_topic_edited"]["icon_custom_emoji_id"] for m in edited] == [
        WAITING,
        ANSWERED,
        CLOSED,
    ]


async def test_icon_changes_wait_for_a_busy_group_and_only_the_last_state_is_shown(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flood, "QUIET_AFTER_429", 3.0)
    user = desk.new_user("Coco")
    # The group answers 429 to the copy: the group is at its limit, icons must wait.
    desk.fake.fail_next("copyMessage", retry_after=1, chat_id=desk.group.id)
    await desk.fake.user_sends(user, "first")
    topic_id = await desk.first_message_topic(user, timeout=10)

    # The state changes four times while the icon waits.
    await answer(desk, user, topic_id)
    await desk.fake.user_sends(user, "second")
    await desk.copies_in_topic(topic_id, 2)
    await answer(desk, user, topic_id)

    await desk.wait_for(lambda: icon(desk, topic_id) == ANSWERED, "the icon", timeout=10)
    assert len(icon_edits(desk, topic_id)) == 1  # the latest state, once
    assert desk.fake.violations == []
