"""Edits and reactions, end to end: mirrored on the linked message on the other side."""

from __future__ import annotations

from typing import Any

import pytest

from bot.relay.texts import ENGLISH
from tests.fake_telegram import User, text_entity
from tests.relay_helpers import Desk, desk_fixture, poll

pytestmark = pytest.mark.asyncio(loop_scope="module")

desk = desk_fixture()


async def relayed(
    desk: Desk, user: User, **what: Any
) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """The user sends something; (their message, the topic, the copy in the topic)."""
    sent = await desk.fake.user_sends(user, **what)
    topic_id = await desk.first_message_topic(user)
    copy_id = await desk.link(user.id, sent["message_id"], desk.group.id)
    copy = desk.fake.message(desk.group, copy_id)
    assert copy is not None
    return sent, topic_id, copy


async def answered(
    desk: Desk, user: User, topic_id: int, **what: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An operator answers in the topic; (the answer, its copy in the user's chat)."""
    answer = await desk.fake.operator_sends(desk.operator, desk.group, thread_id=topic_id, **what)
    copy_id = await desk.link(desk.group.id, answer["message_id"], user.id)
    copy = desk.fake.message(user, copy_id)
    assert copy is not None
    return answer, copy


async def test_a_users_text_edit_updates_the_copy_in_the_topic(desk: Desk) -> None:
    user = desk.new_user()
    sent, _topic, copy = await relayed(desk, user, text="my odrer is late")
    entities = [text_entity("bold", "my order is late", "late")]

    await desk.fake.user_edits(user, sent, text="my order is late", entities=entities)

    await desk.wait_for(
        lambda: desk.fake.message(desk.group, copy)["text"] == "my order is late", "the edit"
    )
    edited = desk.fake.message(desk.group, copy)
    assert edited["entities"] == entities
    logged = await poll(
        lambda: _logged_text(desk, user.id, sent["message_id"], "my order is late"), "the log"
    )
    assert logged


async def _logged_text(desk: Desk, chat_id: int, message_id: int, text: str) -> bool:
    logged = await desk.db.log.get(chat_id=chat_id, message_id=message_id)
    return logged is not None and logged.text == text


async def test_a_users_caption_edit_updates_the_caption_of_the_copy(desk: Desk) -> None:
    user = desk.new_user()
    sent, _topic, copy = await relayed(desk, user, photo=True, caption="blurry")
    mark = len(desk.fake.calls)

    await desk.fake.user_edits(user, sent, caption="sharp & clear")

    await desk.wait_for(
        lambda: desk.fake.message(desk.group, copy).get("caption") == "sharp & clear", "the edit"
    )
    assert [c.method for c in desk.fake.calls[mark:] if c.method.startswith("edit")] == [
        "editMessageCaption"
    ]
    assert desk.fake.message(desk.group, copy)["photo"] == sent["photo"]


async def test_a_users_replaced_media_replaces_the_media_of_the_copy(desk: Desk) -> None:
    user = desk.new_user()
    sent, _topic, copy = await relayed(desk, user, photo=True, caption="v1")
    # Telegram apps let a user replace the photo of a sent message: an edited_message update
    # with the new file. (The fake has no helper for it: change the message and push it.)
    stored = desk.fake.world.private_chat(user).messages[sent["message_id"]]
    new_photo = desk.fake.content.photo().fields["photo"]
    stored.data.update(photo=new_photo, caption="v2", edit_date=stored.data["date"] + 5)
    desk.fake.updates.push("edited_message", stored.snapshot())

    await desk.wait_for(
        lambda: desk.fake.message(desk.group, copy).get("caption") == "v2", "the edit"
    )
    edited = desk.fake.message(desk.group, copy)
    assert edited["photo"][-1]["file_unique_id"] == new_photo[-1]["file_unique_id"]
    assert desk.fake.calls_of("editMessageMedia")[-1].ok


async def test_an_operators_edit_updates_the_copy_in_the_users_chat(desk: Desk) -> None:
    user = desk.new_user()
    _sent, topic_id, _copy = await relayed(desk, user, text="hi")
    answer, copy = await answered(desk, user, topic_id, text="We will ship tomorow")

    await desk.fake.operator_edits(desk.operator, desk.group, answer, text="We will ship tomorrow")

    await desk.wait_for(
        lambda: desk.fake.message(user, copy)["text"] == "We will ship tomorrow", "the edit"
    )
    assert len(desk.in_private_chat(user)) == 1


async def test_an_edit_that_cannot_be_applied_is_posted_as_a_marked_reply(desk: Desk) -> None:
    user = desk.new_user()
    sent, topic_id, copy = await relayed(desk, user, text="first version")
    desk.fake.fail_next(
        "editMessageText", error_code=400, description="Bad Request: message can't be edited"
    )

    await desk.fake.user_edits(user, sent, text="second version")

    new = (await desk.copies_in_topic(topic_id, 2))[-1]
    assert new["text"] == f"{ENGLISH.edited_marker}\nsecond version"
    assert new["reply_to_message"]["message_id"] == copy["message_id"]
    # An operator replying to the new version replies to the user's message.
    await desk.fake.operator_sends(desk.operator, desk.group, "noted", reply_to=new)
    [answer] = await desk.sent_to(user, 1)
    assert answer["reply_to_message"]["message_id"] == sent["message_id"]


async def test_an_edit_whose_copy_was_deleted_is_posted_anew(desk: Desk) -> None:
    user = desk.new_user()
    _sent, topic_id, _copy = await relayed(desk, user, text="hi")
    answer, copy = await answered(desk, user, topic_id, text="price: 10")
    await desk.fake.delete_message(user, copy)

    await desk.fake.operator_edits(desk.operator, desk.group, answer, text="price: 12")

    [new] = await desk.sent_to(user, 1)
    assert new["text"] == f"{ENGLISH.edited_marker}\nprice: 12"


async def test_a_long_edit_whose_copy_was_deleted_arrives_whole_in_two_messages(
    desk: Desk,
) -> None:
    """The marker and a text of nearly 4096 characters do not fit one message: nothing of the
    customer's words may be cut off, so the new version comes in parts, each replying to the
    one before."""
    user = desk.new_user()
    sent, topic_id, copy = await relayed(desk, user, text="x" * 4090)
    await desk.fake.delete_message(desk.group, copy)
    new_text = "Update on my order:\n" + "the parcel came back to the depot. " * 116 + "THE END"
    assert len(f"{ENGLISH.edited_marker}\n{new_text}") > 4096 >= len(new_text)

    await desk.fake.user_edits(user, sent, text=new_text)

    first, second = (await desk.copies_in_topic(topic_id, 2))[-2:]
    assert first["text"].startswith(f"{ENGLISH.edited_marker}\n")
    # Every word, in order; Telegram trims the space at which the text was split.
    words = f"{first['text']} {second['text']}".split(" ")
    assert words == f"{ENGLISH.edited_marker}\n{new_text}".split(" ")
    assert second["text"].endswith("END")
    assert "…" not in first["text"] + second["text"]
    assert second["reply_to_message"]["message_id"] == first["message_id"]
    # Both parts stand for the customer's message: a reply to either threads to it.
    await desk.fake.operator_sends(desk.operator, desk.group, "got it", reply_to=second)
    [answer] = await desk.sent_to(user, 1)
    assert answer["reply_to_message"]["message_id"] == sent["message_id"]


async def test_a_reaction_is_mirrored_both_ways_and_removed_when_removed(desk: Desk) -> None:
    user = desk.new_user()
    sent, topic_id, copy = await relayed(desk, user, text="thanks!")
    answer, answer_copy = await answered(desk, user, topic_id, text="you're welcome")

    await desk.fake.user_reacts(user, answer_copy, ["👍"])
    await desk.wait_for(
        lambda: desk.fake.reactions_by_bot(desk.group, answer) == ["👍"], "the user's reaction"
    )
    await desk.fake.operator_reacts(desk.operator, desk.group, copy, ["❤"])
    await desk.wait_for(
        lambda: desk.fake.reactions_by_bot(user, sent) == ["❤"], "the operator's reaction"
    )
    # A second reaction: the bot may set only one, the newest.
    await desk.fake.user_reacts(user, answer_copy, ["👍", "🔥"])
    await desk.wait_for(
        lambda: desk.fake.reactions_by_bot(desk.group, answer) == ["🔥"], "the newest reaction"
    )
    await desk.fake.user_reacts(user, answer_copy, [])
    await desk.wait_for(
        lambda: desk.fake.reactions_by_bot(desk.group, answer) == [], "the reaction removed"
    )


async def test_a_reaction_on_an_unrelayed_message_is_ignored(desk: Desk) -> None:
    user = desk.new_user()
    await desk.fake.user_sends_command(user, "/start")
    [welcome] = await desk.sent_to(user, 1)
    mark = len(desk.fake.calls)

    await desk.fake.user_reacts(user, welcome, ["👍"])
    await desk.settle()

    assert desk.calls_since(mark, "setMessageReaction") == []
