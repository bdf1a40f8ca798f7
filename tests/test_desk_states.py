"""The desk, end to end: who waits and whose it is — states, assignment, /info, /queue, /mine,
and the board pinned in General."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.desk import board as board_module
from tests.fake_telegram import User
from tests.relay_helpers import Desk, desk_fixture, poll
from tests.storage_helpers import write_directly

pytestmark = pytest.mark.asyncio(loop_scope="module")

desk = desk_fixture(BOARD="on", BOARD_INTERVAL="1")


async def conversation(desk: Desk, name: str) -> tuple[User, int]:
    """A customer who wrote once: they wait. Returns them and their topic."""
    user = desk.new_user(name)
    await desk.fake.user_sends(user, f"hello from {name}")
    return user, await desk.first_message_topic(user)


async def state(desk: Desk, user: User) -> str:
    await desk.settle()
    found = await desk.db.conversations.desk_state(user.id)
    assert found is not None
    return found.state


async def command(desk: Desk, text: str, *, topic_id: int | None = None, **what: Any) -> str:
    """An operator's command; the bot's answer (a reply to it)."""
    operator = what.pop("operator", desk.operator)
    sent = await desk.fake.operator_sends(operator, desk.group, text, thread_id=topic_id, **what)

    def answer() -> dict[str, Any] | None:
        for message in desk.fake.chat_messages(desk.group):
            replied = message.get("reply_to_message") or {}
            if replied.get("message_id") == sent["message_id"]:
                return message
        return None

    await desk.wait_for(answer, f"the answer to {text}")
    found = answer()
    assert found is not None
    return str(found["text"])


def board(desk: Desk) -> dict[str, Any] | None:
    pinned = [m for m in desk.fake.pinned_messages(desk.group) if "message_thread_id" not in m]
    return pinned[0] if pinned else None


async def board_where(
    desk: Desk, holds: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """Wait until the pinned board satisfies `holds`; return it."""
    await desk.wait_for(lambda: (found := board(desk)) is not None and holds(found), what, 10)
    found = board(desk)
    assert found is not None
    return found


# --- states -----------------------------------------------------------------------------------


async def test_a_customers_message_waits_until_an_operator_answers(desk: Desk) -> None:
    user, topic_id = await conversation(desk, "Wanda")
    assert await state(desk, user) == "waiting"

    # Notes, commands and edits do not end a wait; a customer's edit does not start one.
    await desk.fake.operator_sends(desk.operator, desk.group, "// VIP", thread_id=topic_id)
    await command(desk, "/info", topic_id=topic_id)
    assert await state(desk, user) == "waiting"

    await desk.fake.operator_sends(desk.operator, desk.group, "Hi!", thread_id=topic_id)
    await desk.sent_to(user, 1)
    assert await state(desk, user) == "answered"
    first = desk.fake.chat_messages(user.id)[0]
    await desk.fake.user_edits(user, first["message_id"], text="hello, edited")
    await desk.fake.user_reacts(user, first["message_id"], ["👍"])
    assert await state(desk, user) == "answered"

    await desk.fake.user_sends(user, "one more thing")
    assert await state(desk, user) == "waiting"


async def test_a_banned_customer_waits_no_more(desk: Desk) -> None:
    user, topic_id = await conversation(desk, "Spammer")
    assert await state(desk, user) == "waiting"

    await command(desk, "/ban spam", topic_id=topic_id)
    await desk.fake.user_sends(user, "buy now")  # logged, not relayed: no wait begins

    assert await state(desk, user) == "answered"
    assert "Spammer" not in await command(desk, "/queue")


async def test_closing_and_a_new_message_reopen_the_same_topic_waiting(desk: Desk) -> None:
    user, topic_id = await conversation(desk, "Carl")
    await command(desk, "/close", topic_id=topic_id)
    assert await state(desk, user) == "closed"

    await desk.fake.user_sends(user, "me again")

    assert (await desk.wait_conversation(user)).topic_id == topic_id
    assert await state(desk, user) == "waiting"


# --- assignment -------------------------------------------------------------------------------


async def test_the_first_operator_who_answers_becomes_the_assignee(desk: Desk) -> None:
    pete = desk.fake.add_operator(desk.group, "Pete", username="pete_s")
    user, topic_id = await conversation(desk, "Ada")

    await desk.fake.operator_sends(pete, desk.group, "I'm on it", thread_id=topic_id)
    await desk.fake.operator_sends(desk.operator, desk.group, "me too", thread_id=topic_id)
    await desk.sent_to(user, 2)

    info = await command(desk, "/info", topic_id=topic_id)
    assert "State: answered" in info
    assert "Handled by Pete" in info


async def test_assign_hands_over_by_reply_or_username_and_unassign_clears(desk: Desk) -> None:
    pete = desk.fake.add_operator(desk.group, "Pete", username="pete_r")
    user, topic_id = await conversation(desk, "Bea")
    # Pete has written in the group: /assign @pete_r knows him.
    pete_says = await desk.fake.operator_sends(pete, desk.group, "// mine?", thread_id=topic_id)

    answer = await command(desk, "/assign @PETE_R", topic_id=topic_id)
    assert answer == "👤 Pete handles this conversation now (assigned by Olga Operator)."
    assert "Handled by Pete" in await command(desk, "/info", topic_id=topic_id)

    answer = await command(desk, "/assign", topic_id=topic_id, reply_to=pete_says)
    assert answer.startswith("👤 Pete handles")
    answer = await command(desk, "/assign", topic_id=topic_id)  # no reply: the one who asks
    assert answer.startswith("👤 Olga handles")

    answer = await command(desk, "/unassign", topic_id=topic_id)
    assert answer == "👤 Nobody handles this conversation now (Olga Operator)."
    assert "Nobody handles it yet" in await command(desk, "/info", topic_id=topic_id)
    assert await command(desk, "/unassign", topic_id=topic_id) == (
        "Nobody handles this conversation."
    )
    assert await state(desk, user) == "waiting"  # assigning answers nobody


async def test_assign_explains_what_it_cannot_do(desk: Desk) -> None:
    _user, topic_id = await conversation(desk, "Cid")
    copy = desk.topic_messages(topic_id)[-1]  # the bot's copy of the customer's message

    assert "I don't know @nobody_here yet" in await command(
        desk, "/assign @nobody_here", topic_id=topic_id
    )
    assert "as a reply to a message of that operator" in await command(
        desk, "/assign", topic_id=topic_id, reply_to=copy
    )
    assert await command(desk, "/assign") == "/assign works in a user's topic."


# --- the queue --------------------------------------------------------------------------------


async def test_queue_lists_the_waiting_longest_first_and_mine_the_askers(desk: Desk) -> None:
    pete = desk.fake.add_operator(desk.group, "Pete", username="pete_q")
    first, _ = await conversation(desk, "Quinn")
    _second, second_topic = await conversation(desk, "Quincy")
    # Quinn has waited an hour: the order is the waits', not the order of the ids.
    write_directly(
        desk.db_path,
        "UPDATE conversations SET waiting_since = '2000-01-01T00:00:00.000Z' WHERE user_id = ?",
        (first.id,),
    )
    await desk.fake.operator_sends(pete, desk.group, "// mine", thread_id=second_topic)
    await command(desk, "/assign", topic_id=second_topic, operator=pete)

    queue = await command(desk, "/queue")

    lines = queue.splitlines()
    assert lines[0].startswith("📋 Waiting: ")
    names = [line.split(". ", 1)[1].split(" — ")[0] for line in lines[1:] if ". " in line]
    assert names[0] == "Quinn Tester"  # the longest wait of all
    assert names.index("Quinn Tester") < names.index("Quincy Tester")
    assert any(line.endswith("— Pete") and "Quincy" in line for line in lines)
    mine = await command(desk, "/mine", operator=pete)
    assert mine.splitlines()[0] == "🙋 Yours, waiting: 1"
    assert "Quincy Tester" in mine
    assert "Quinn" not in mine


async def test_the_queue_links_each_customer_to_their_topic(desk: Desk) -> None:
    _user, topic_id = await conversation(desk, "Linda")
    sent = await desk.fake.operator_sends(desk.operator, desk.group, "/queue")
    await desk.wait_for(
        lambda: any(
            (m.get("reply_to_message") or {}).get("message_id") == sent["message_id"]
            for m in desk.fake.chat_messages(desk.group)
        ),
        "the queue",
    )
    answer = next(
        m
        for m in desk.fake.chat_messages(desk.group)
        if (m.get("reply_to_message") or {}).get("message_id") == sent["message_id"]
    )
    links = [e["url"] for e in answer.get("entities", []) if e["type"] == "text_link"]
    assert f"https://t.me/c/1234567890/{topic_id}" in links


# --- the board --------------------------------------------------------------------------------


async def test_the_board_is_pinned_in_general_and_edited_in_place(desk: Desk) -> None:
    user, topic_id = await conversation(desk, "Bertha")
    pinned = await board_where(
        desk, lambda b: "Bertha Tester" in b["text"], "the board to list Bertha"
    )
    assert pinned["text"].startswith("📋 Waiting: ")

    await desk.fake.operator_sends(desk.operator, desk.group, "hi", thread_id=topic_id)
    await desk.sent_to(user, 1)

    again = await board_where(desk, lambda b: "Bertha" not in b["text"], "the board to drop Bertha")
    assert again["message_id"] == pinned["message_id"]  # edited, never re-posted
    boards_sent = [  # not the answers to /queue: those reply to the command
        call
        for call in desk.calls_since(0, "sendMessage")
        if str(call.params.get("text", "")).startswith("📋")
        and "reply_parameters" not in call.params
    ]
    assert len(boards_sent) == 1


async def test_a_deleted_board_is_posted_and_pinned_anew(desk: Desk) -> None:
    await conversation(desk, "Dora")
    await desk.wait_for(lambda: board(desk) is not None, "the board", timeout=10)
    old = board(desk)
    assert old is not None

    await desk.fake.delete_message(desk.group, old["message_id"])
    await conversation(desk, "Dorian")  # the board's text changes: the edit finds it gone

    new = await board_where(desk, lambda b: b["message_id"] != old["message_id"], "a new board")
    assert "Dorian Tester" in new["text"]


async def test_a_board_deleted_on_a_quiet_desk_comes_back(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk.wait_for(lambda: board(desk) is not None, "the board", timeout=10)
    await asyncio.sleep(2.5)  # two intervals: the board's text does not change meanwhile
    old = board(desk)
    assert old is not None
    mark = len(desk.fake.calls)
    await asyncio.sleep(2.5)
    edits = [c for c in desk.calls_since(mark, "editMessageText") if c.params.get("message_id")
             == old["message_id"]]  # fmt: skip
    assert edits == []  # unchanged text: no edit within the probe interval

    monkeypatch.setattr(board_module, "PROBE_EVERY", 1.0)
    await desk.fake.delete_message(desk.group, old["message_id"])

    await board_where(
        desk, lambda b: b["message_id"] != old["message_id"], "the board to come back"
    )


async def test_the_board_survives_a_restart_as_the_same_message(desk: Desk) -> None:
    await conversation(desk, "Rita")
    before = await board_where(desk, lambda b: "Rita Tester" in b["text"], "Rita on the board")

    await desk.restart()
    await conversation(desk, "Rufus")

    after = await board_where(desk, lambda b: "Rufus Tester" in b["text"], "Rufus on the board")
    assert after["message_id"] == before["message_id"]

    async def states_kept() -> bool:
        rita = next(u for u in desk.fake.world.users.values() if u.first_name == "Rita")
        found = await desk.db.conversations.desk_state(rita.id)
        return found is not None and found.state == "waiting"

    await poll(states_kept, "Rita still waiting after the restart")
