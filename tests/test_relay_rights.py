"""The bot loses the Manage topics right, and gets it back: customers' messages wait, in order,
the operators are told once, and everything goes out by itself when the right is back."""

from __future__ import annotations

import logging

import pytest

from bot.relay.texts import ENGLISH
from tests.relay_helpers import Desk, desk_fixture, poll

pytestmark = pytest.mark.asyncio(loop_scope="module")

desk = desk_fixture()


def general(desk: Desk) -> list[str]:
    return [m.get("text", "") for m in desk.fake.general_messages(desk.group)]


async def test_messages_wait_for_the_manage_topics_right_and_go_out_when_it_is_back(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    ann, bob = desk.new_user("Ann"), desk.new_user("Bob")
    await desk.fake.revoke_bot_right(desk.group, "can_manage_topics")
    await desk.wait_for(lambda: any("lost" in text for text in general(desk)), "the lost note")

    with caplog.at_level(logging.INFO):
        await desk.fake.user_sends(ann, "a1")
        await desk.fake.user_sends(bob, "b1")
        await desk.fake.user_sends(ann, "a2")
        await desk.wait_for(lambda: not desk.fake.pending_updates(), "the updates to be taken")

        async def both_wait() -> bool:
            return sum("waits" in r.getMessage() for r in caplog.records) >= 2

        await poll(both_wait, "Ann's and Bob's first messages to wait")

    # Nothing could be relayed: no topic, no copy. The operators were told why, once.
    assert desk.fake.topics(desk.group) == []
    waiting = [text for text in general(desk) if text.startswith("⏸")]
    assert waiting == [
        ENGLISH.right_missing.format(right="Manage topics").replace("<b>", "").replace("</b>", "")
    ]
    # A known condition, not a bug: one line for each message that waits, naming the right,
    # no traceback; Ann's second message waits behind her first, untried.
    lines = [r for r in caplog.records if r.name == "bot.delivery.engine" and "waits" in r.message]
    assert len(lines) == 2
    assert all("can_manage_topics" in r.getMessage() for r in lines)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    # Nothing is set aside as failed: they are pending, and survive a restart as such.
    counts = await desk.db.inbox.counts()
    assert (counts["pending"], counts["failed"]) == (3, 0)

    await desk.fake.restore_bot_right(desk.group, "can_manage_topics")

    ann_topic = (await desk.wait_conversation(ann, timeout=10)).topic_id
    bob_topic = (await desk.wait_conversation(bob, timeout=10)).topic_id
    ann_copies = await desk.copies_in_topic(ann_topic, 2)
    assert [copy["text"] for copy in ann_copies] == ["a1", "a2"]
    assert [copy["text"] for copy in await desk.copies_in_topic(bob_topic, 1)] == ["b1"]
    back = ENGLISH.right_back.format(right="Manage topics", count=3)
    await desk.wait_for(
        lambda: back.replace("<b>", "").replace("</b>", "") in general(desk), "the back note"
    )

    await desk.settle()
    assert (await desk.db.inbox.counts())["failed"] == 0


async def test_messages_that_waited_go_first_after_a_restart_with_the_right_back(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    cid = desk.new_user("Cid")
    await desk.fake.revoke_bot_right(desk.group, "can_manage_topics")
    with caplog.at_level(logging.INFO):
        await desk.fake.user_sends(cid, "c1")
        await desk.fake.user_sends(cid, "c2")

        async def waits() -> bool:
            return any("waits" in r.getMessage() for r in caplog.records)

        await poll(waits, "Cid's message to wait")

    await desk.bot.stop()
    # The right comes back while the bot is down; Cid writes once more.
    await desk.fake.restore_bot_right(desk.group, "can_manage_topics")
    await desk.fake.user_sends(cid, "c3")
    await desk.bot.start()

    topic_id = (await desk.wait_conversation(cid, timeout=10)).topic_id
    copies = await desk.copies_in_topic(topic_id, 3)
    assert [copy["text"] for copy in copies] == ["c1", "c2", "c3"]
