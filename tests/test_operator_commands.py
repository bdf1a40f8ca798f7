"""Operators' commands and internal notes, end to end: /info /close /ban /unban /export /stats
/help, the command menus, usage answers, and notes that never reach the user."""

from __future__ import annotations

from typing import Any

import pytest

from bot.relay.texts import ENGLISH, RUSSIAN
from tests.fake_telegram import User
from tests.fake_telegram.params import UploadedFile
from tests.relay_helpers import OPERATOR_CHAT_ID, Desk, desk_fixture, poll

pytestmark = pytest.mark.asyncio(loop_scope="module")

desk = desk_fixture()

Message = dict[str, Any]


async def conversation_with(desk: Desk, user: User, first: str = "hello") -> int:
    await desk.fake.user_sends(user, first)
    return await desk.first_message_topic(user)


async def command(
    desk: Desk, text: str, *, topic_id: int | None, operator: User | None = None
) -> Message:
    """An operator gives a command (with Telegram's bot_command entity); returns the bot's
    answer: the bot's message that replies to the command."""
    name, _, args = text.partition(" ")
    sent = await desk.fake.operator_sends(
        operator or desk.operator,
        desk.group,
        content=desk.fake.content.command(name, args),
        thread_id=topic_id,
    )

    def answer() -> Message | None:
        for message in desk.fake.messages_from_bot(desk.group):
            replied = message.get("reply_to_message") or {}
            if replied.get("message_id") == sent["message_id"]:
                return message
        return None

    await desk.wait_for(answer, f"the answer to {text}")
    found = answer()
    assert found is not None
    return found


def words(message: Message) -> str:
    return str(message.get("text") or message.get("caption") or "")


# --- the command menus -------------------------------------------------------------------------


async def test_the_menus_show_each_side_its_own_commands(desk: Desk) -> None:
    calls = desk.fake.calls_of("setMyCommands")
    menus = {
        (call.params["scope"]["type"], call.params.get("language_code")): [
            c["command"] for c in call.params["commands"]
        ]
        for call in calls
    }
    operator_commands = [
        *("info", "close", "ban", "unban", "export", "assign", "unassign"),
        *("queue", "mine", "stats", "retry", "help"),
    ]
    assert menus == {
        ("all_private_chats", None): ["start"],
        ("chat", None): operator_commands,
        ("all_private_chats", "ru"): ["start"],
        ("chat", "ru"): operator_commands,
    }
    scoped = [call for call in calls if call.params["scope"]["type"] == "chat"]
    assert {call.params["scope"]["chat_id"] for call in scoped} == {OPERATOR_CHAT_ID}


# --- /info ----------------------------------------------------------------------------------


async def test_info_shows_the_card_counts_and_state(desk: Desk) -> None:
    user = desk.new_user("Ann<b>", "Lee & Co")
    topic_id = await conversation_with(desk, user)
    await desk.fake.user_sends(user, "second")
    await desk.fake.operator_sends(desk.operator, desk.group, "an answer", thread_id=topic_id)
    await desk.sent_to(user, 1)
    await desk.settle()

    answer = await command(desk, "/info", topic_id=topic_id)

    text = answer["text"]
    assert "👤 Ann<b> Lee & Co\n" in text  # escaped on the way: shown as written
    assert f"ID: {user.id}" in text
    assert "Premium: unknown\n" in text  # not kept in the database: neither yes nor no
    assert "Messages: 2 from the user, 1 from operators" in text
    assert "First contact: " in text
    assert "Not banned" in text
    assert "State: answered" in text  # the operator answered after the customer wrote
    assert "Handled by Olga" in text  # the first operator who answered
    assert answer["message_thread_id"] == topic_id
    # The command never reaches the user.
    assert [m["text"] for m in desk.in_private_chat(user)] == ["an answer"]


async def test_commands_with_bad_arguments_get_a_usage_line(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)

    answer = await command(desk, "/info everything", topic_id=topic_id)
    assert answer["text"] == "Usage: /info"
    answer = await command(desk, "/stats now", topic_id=None)
    assert answer["text"] == "Usage: /stats"


async def test_topic_commands_in_general_say_where_they_work(desk: Desk) -> None:
    answer = await command(desk, "/ban spam", topic_id=None)
    assert answer["text"] == "/ban works in a user's topic."
    assert "message_thread_id" not in answer


async def test_a_topic_that_is_no_conversation_says_so(desk: Desk) -> None:
    topic = await desk.fake.operator_creates_topic(desk.operator, desk.group, "Team chat")
    answer = await command(desk, "/info", topic_id=topic.thread_id)
    assert answer["text"] == ENGLISH.not_a_conversation


async def test_an_unknown_command_is_answered_and_not_relayed(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)

    answer = await command(desk, "/refund 10", topic_id=topic_id)

    assert answer["text"] == "Unknown command /refund. /help lists the commands."
    await desk.settle()
    assert desk.in_private_chat(user) == []


async def test_a_path_is_not_taken_for_a_command(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)

    await desk.fake.operator_sends(
        desk.operator, desk.group, "/etc/hosts is wrong on your side", thread_id=topic_id
    )

    [copy] = await desk.sent_to(user, 1)
    assert copy["text"] == "/etc/hosts is wrong on your side"


async def test_the_answer_follows_the_operators_language(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    ivan = desk.fake.add_user("Иван", None, "ivan_op", language_code="ru")
    desk.fake.add_member(desk.group, ivan, status="administrator")

    answer = await command(desk, "/unban", topic_id=topic_id, operator=ivan)
    stats = await command(desk, "/stats", topic_id=None, operator=ivan)

    assert answer["text"] == RUSSIAN.not_banned
    assert stats["text"].startswith("📊 Поддержка\nОткрытых обращений: ")


# --- /close -----------------------------------------------------------------------------------


async def test_close_ends_the_conversation_like_closing_the_topic(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)

    answer = await command(desk, "/close", topic_id=topic_id)

    assert answer["text"] == "🔒 Olga Operator closed the conversation."
    [notice] = await desk.sent_to(user, 1)
    assert notice["text"] == ENGLISH.closed
    await desk.wait_conversation(user, active=False)
    assert desk.fake.topic(desk.group, topic_id).closed
    # Closing again: nothing more happens.
    again = await command(desk, "/close", topic_id=topic_id)
    assert again["text"] == ENGLISH.already_closed
    await desk.settle()
    assert len(desk.in_private_chat(user)) == 1
    # The user writes again: the same topic reopens.
    await desk.fake.user_sends(user, "me again")
    await desk.wait_conversation(user, active=True)
    assert not desk.fake.topic(desk.group, topic_id).closed


async def test_close_retried_after_an_error_says_so_once(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    # More 502s than flood control retries: the update fails once and the engine tries again.
    desk.fake.fail_next("closeForumTopic", error_code=502, times=4)
    mark = len(desk.fake.calls)

    sent = await desk.fake.operator_sends(
        desk.operator,
        desk.group,
        content=desk.fake.content.command("/close", ""),
        thread_id=topic_id,
    )
    await desk.wait_conversation(user, active=False, timeout=15)
    await desk.settle()

    notes = [
        m
        for m in desk.fake.messages_from_bot(desk.group)
        if (m.get("reply_to_message") or {}).get("message_id") == sent["message_id"]
    ]
    assert [m["text"] for m in notes] == ["🔒 Olga Operator closed the conversation."]
    assert len(desk.calls_since(mark, "closeForumTopic")) == 5


# --- /ban and /unban ------------------------------------------------------------------------------


async def test_a_banned_users_messages_are_logged_not_relayed_and_told_once(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)

    note = await command(desk, "/ban spam & <insults>", topic_id=topic_id)

    assert note["text"].startswith("🚫 Olga Operator banned this user: spam & <insults>")
    in_topic = len(desk.topic_messages(topic_id))
    await desk.fake.user_sends(user, "let me in")
    await desk.fake.user_sends(user, "please")
    await desk.fake.user_sends_command(user, "/start")
    await desk.settle()

    assert len(desk.topic_messages(topic_id)) == in_topic  # nothing relayed
    assert [m["text"] for m in desk.in_private_chat(user)] == [ENGLISH.banned]
    logged = [m.text for m in await desk.db.log.history(user.id)]
    assert logged == ["hello", "let me in", "please", "/start"]
    again = await command(desk, "/ban", topic_id=topic_id)
    assert again["text"] == ENGLISH.already_banned

    # Bans survive a restart, and the user is not told again.
    in_topic = len(desk.topic_messages(topic_id))
    await desk.restart()
    await desk.fake.user_sends(user, "after the restart")
    await desk.settle()
    assert len(desk.topic_messages(topic_id)) == in_topic
    assert len(desk.in_private_chat(user)) == 1

    unban = await command(desk, "/unban", topic_id=topic_id)
    assert unban["text"] == "✅ Olga Operator unbanned this user. Their messages are relayed again."
    await desk.fake.user_sends(user, "thank you")
    copies = await desk.copies_in_topic(topic_id, len(desk.topic_messages(topic_id)))
    assert copies[-1]["text"] == "thank you"
    info = await command(desk, "/info", topic_id=topic_id)
    assert "Not banned" in info["text"]

    # A new ban tells the user once more.
    await command(desk, "/ban", topic_id=topic_id)
    await desk.fake.user_sends(user, "hello?")
    texts = await desk.sent_to(user, 2)
    assert [m["text"] for m in texts] == [ENGLISH.banned, ENGLISH.banned]


async def test_info_shows_the_ban_reason(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    await command(desk, "/ban <b>rude</b>", topic_id=topic_id)

    info = await command(desk, "/info", topic_id=topic_id)

    assert "🚫 Banned: <b>rude</b>" in info["text"]  # as the operator wrote it, not bold
    assert not any(e["type"] == "bold" and e["offset"] > 20 for e in info.get("entities", []))


# --- /export ----------------------------------------------------------------------------------


async def test_export_posts_the_transcript_as_an_html_document(desk: Desk) -> None:
    user = desk.new_user("Eve", "<script>")
    topic_id = await conversation_with(desk, user, "<b>not bold</b> & more")
    await desk.fake.operator_sends(desk.operator, desk.group, "Hi Eve!", thread_id=topic_id)
    await desk.sent_to(user, 1)
    await desk.fake.user_sends(user, content=desk.fake.content.photo(caption="the receipt"))
    await desk.copies_in_topic(topic_id, 3)
    await desk.settle()

    answer = await command(desk, "/export", topic_id=topic_id)

    assert answer["caption"] == "📄 Transcript: 3 messages."
    assert answer["message_thread_id"] == topic_id
    [call] = desk.fake.calls_of("sendDocument")
    upload = call.params["document"]
    assert isinstance(upload, UploadedFile)
    assert upload.filename.startswith(f"transcript-{user.id}-")
    assert upload.filename.endswith(".html")
    page = upload.data.decode("utf-8")
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp; more" in page
    assert "<script>" not in page
    assert "Hi Eve!" in page
    assert "the receipt" in page


async def test_export_of_an_empty_conversation_says_so(desk: Desk) -> None:
    topic = await desk.fake.operator_creates_topic(desk.operator, desk.group, "Someone")
    user = desk.new_user()
    # A conversation on record with nothing logged (its first message was never relayed).
    await desk.db.set_conversation(user.id, topic.thread_id, True)

    answer = await command(desk, "/export", topic_id=topic.thread_id)

    assert answer["text"] == ENGLISH.export_empty


# --- General: /stats and /help ----------------------------------------------------------------


async def test_stats_and_help_answer_in_general(desk: Desk) -> None:
    user = desk.new_user()
    await conversation_with(desk, user)
    await desk.settle()

    stats = await command(desk, "/stats", topic_id=None)
    help_text = await command(desk, "/help", topic_id=None)

    assert "message_thread_id" not in stats
    open_now = await poll(_open_conversations(desk), "the open conversation count")
    assert f"Open conversations: {open_now}\n" in stats["text"]
    assert "Messages today: " in stats["text"]
    for name in ("/info", "/close", "/ban", "/unban", "/export", "/stats", "/retry", "/help"):
        assert name in help_text["text"]
    assert "A message that starts with // is an internal note" in help_text["text"]
    assert "always open" in help_text["text"]


def _open_conversations(desk: Desk) -> Any:
    async def probe() -> int:
        return await desk.db.reports.open_conversations()

    return probe


# --- internal notes -----------------------------------------------------------------------------


async def test_an_internal_note_stays_in_the_topic(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)

    await desk.fake.operator_sends(
        desk.operator, desk.group, "// VIP customer, be nice", thread_id=topic_id
    )
    await desk.fake.operator_sends(
        desk.operator,
        desk.group,
        content=desk.fake.content.photo(caption="  //screenshot of their account"),
        thread_id=topic_id,
    )
    await desk.fake.operator_sends(desk.operator, desk.group, "Hello!", thread_id=topic_id)

    [answer] = await desk.sent_to(user, 1)
    await desk.settle()
    assert answer["text"] == "Hello!"
    assert len(desk.in_private_chat(user)) == 1


async def test_a_banned_users_reactions_are_not_mirrored(desk: Desk) -> None:
    user = desk.new_user()
    topic_id = await conversation_with(desk, user)
    await desk.fake.operator_sends(desk.operator, desk.group, "an answer", thread_id=topic_id)
    [answer] = await desk.sent_to(user, 1)
    await command(desk, "/ban", topic_id=topic_id)
    mark = len(desk.fake.calls)

    await desk.fake.user_reacts(user, answer["message_id"], ["👍"])
    await desk.settle()

    assert desk.calls_since(mark, "setMessageReaction") == []


async def test_a_banned_users_edits_are_logged_not_mirrored(desk: Desk) -> None:
    user = desk.new_user()
    sent = await desk.fake.user_sends(user, "hello")
    topic_id = await desk.first_message_topic(user)
    await command(desk, "/ban", topic_id=topic_id)
    mark = len(desk.fake.calls)

    await desk.fake.user_edits(user, sent, text="hello, you idiots")
    await desk.settle()

    assert desk.calls_since(mark, "editMessageText") == []
    assert desk.calls_since(mark, "sendMessage") == desk.calls_since(mark, "copyMessage") == []
    logged = [m.text for m in await desk.db.log.history(user.id)]
    assert logged[0] == "hello, you idiots"
