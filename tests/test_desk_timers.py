"""Reminders and closing by itself, end to end, with short durations: one reminder per wait
(mentioning the assignee, so Telegram notifies them), quiet answered conversations closed like
/close, waiting ones never, and neither lost nor repeated across a restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.relay.texts import ENGLISH
from tests.fake_telegram import User
from tests.relay_helpers import Desk, desk_fixture
from tests.storage_helpers import write_directly

pytestmark = pytest.mark.asyncio(loop_scope="module")

desk = desk_fixture(REMIND_AFTER="1s", AUTO_CLOSE_AFTER="2s")


def reminders(desk: Desk, topic_id: int) -> list[dict[str, Any]]:
    return [m for m in desk.topic_messages(topic_id) if m.get("text", "").startswith("⏰")]


async def waiting(desk: Desk, name: str) -> tuple[User, int]:
    user = desk.new_user(name)
    await desk.fake.user_sends(user, "is anybody there?")
    return user, await desk.first_message_topic(user)


async def answer(desk: Desk, user: User, topic_id: int, text: str = "Yes!") -> None:
    before = len(desk.in_private_chat(user))
    await desk.fake.operator_sends(desk.operator, desk.group, text, thread_id=topic_id)
    await desk.sent_to(user, before + 1)


async def test_a_wait_gets_one_reminder_and_the_assignee_is_notified(desk: Desk) -> None:
    user, topic_id = await waiting(desk, "Rosa")
    await desk.wait_for(lambda: reminders(desk, topic_id), "the first reminder", timeout=5)
    [nobody] = reminders(desk, topic_id)
    assert nobody["text"].startswith("⏰ Waiting for an answer for ")
    assert nobody["text"].endswith(ENGLISH.reminder_nobody)

    await answer(desk, user, topic_id)  # Olga answers first: hers now
    await desk.fake.user_sends(user, "and another question")  # a new wait
    await desk.wait_for(lambda: len(reminders(desk, topic_id)) == 2, "the second reminder")
    await desk.fake.user_sends(user, "hello??")  # the same wait: no new reminder
    await asyncio.sleep(2.5)

    first, second = reminders(desk, topic_id)
    assert first == nobody
    mention = next(e for e in second["entities"] if e["type"] == "text_mention")
    assert mention["user"]["id"] == desk.operator.id
    assert second in desk.fake.notified(desk.operator, desk.group)
    assert len(reminders(desk, topic_id)) == 2


async def test_a_quiet_answered_conversation_closes_by_itself_like_close(desk: Desk) -> None:
    user, topic_id = await waiting(desk, "Quentin")
    await answer(desk, user, topic_id, "Here is your answer.")

    await desk.wait_conversation(user, active=False, timeout=10)

    assert desk.fake.topic(desk.group, topic_id).closed
    await desk.wait_for(
        lambda: any(m.get("text") == ENGLISH.closed for m in desk.in_private_chat(user)),
        "the customer to be told",
    )
    await desk.wait_for(
        lambda: any("Closed by itself" in m.get("text", "") for m in desk.topic_messages(topic_id)),
        "the note in the topic",
    )
    # The customer writes again: the same topic opens again, waiting.
    await desk.fake.user_sends(user, "one more thing")
    assert (await desk.wait_conversation(user, active=True)).topic_id == topic_id
    assert not desk.fake.topic(desk.group, topic_id).closed


async def test_a_waiting_conversation_is_never_closed_by_itself(desk: Desk) -> None:
    user, topic_id = await waiting(desk, "Wendy")
    control, control_topic = await waiting(desk, "Connie")
    await answer(desk, user, topic_id)
    await answer(desk, control, control_topic)
    await desk.fake.user_sends(user, "but wait")  # waiting again before it closed

    # In the same time, the answered and quiet one closes: the timers do run.
    await desk.wait_conversation(control, active=False, timeout=10)
    await asyncio.sleep(1)

    conversation = await desk.conversation(user)
    assert conversation is not None
    assert conversation.active
    assert not desk.fake.topic(desk.group, topic_id).closed


async def test_what_fell_due_while_the_bot_was_down_happens_once_after_it_starts(
    desk: Desk,
) -> None:
    user, topic_id = await waiting(desk, "Dolores")
    await desk.wait_for(lambda: reminders(desk, topic_id), "the reminder of the first wait")
    await answer(desk, user, topic_id)
    quiet, quiet_topic = await waiting(desk, "Quincy")
    await answer(desk, quiet, quiet_topic)
    due_at = "UPDATE conversations SET close_at = ? WHERE user_id = ?"
    write_directly(desk.db_path, due_at, ("2999-01-01T00:00:00.000Z", quiet.id))  # not yet

    await desk.bot.stop()
    # While the bot is down: a new wait began (the customer's message waits in Telegram; its
    # reminder is due a second after it was written), and the answered conversation's close
    # fell due long ago.
    await desk.fake.user_sends(user, "are you there?")
    write_directly(desk.db_path, due_at, ("2000-01-01T00:00:00.000Z", quiet.id))
    await desk.bot.start()

    await desk.wait_for(lambda: len(reminders(desk, topic_id)) == 2, "the new wait's reminder")
    await desk.wait_conversation(quiet, active=False, timeout=10)
    await desk.restart()
    await asyncio.sleep(2)

    assert len(reminders(desk, topic_id)) == 2
    closed_notes = [
        m for m in desk.topic_messages(quiet_topic) if "Closed by itself" in m.get("text", "")
    ]
    assert len(closed_notes) == 1
    told = [m for m in desk.in_private_chat(quiet) if m.get("text") == ENGLISH.closed]
    assert len(told) == 1
