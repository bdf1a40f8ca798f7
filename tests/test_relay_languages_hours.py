"""Texts in the user's language, the text settings, NOTE_PREFIX, and working hours, end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.hours import DAYS
from bot.relay.texts import ENGLISH, RUSSIAN
from tests.relay_helpers import Desk, open_desk, poll

desk_with = asynccontextmanager(open_desk)


def closed_all_day() -> str:
    """WORKING_HOURS with one open day three days from now: the desk is closed today."""
    day = DAYS[(datetime.now(UTC) + timedelta(days=3)).weekday()].capitalize()
    return f"{day} 09:00-18:00"


def subdir(path: Path, name: str) -> Path:
    (path / name).mkdir()
    return path / name


@asynccontextmanager
async def closed_desk(tmp_path: Path, **env: str) -> AsyncIterator[Desk]:
    async with desk_with(tmp_path, WORKING_HOURS=closed_all_day(), TIMEZONE="UTC", **env) as desk:
        yield desk


async def test_a_russian_user_gets_russian_texts_and_notes(tmp_path: Path) -> None:
    async with desk_with(tmp_path) as desk:
        user = desk.new_user("Пётр", language_code="ru")
        await desk.fake.user_sends_command(user, "/start")
        [welcome] = await desk.sent_to(user, 1)
        assert welcome["text"] == RUSSIAN.welcome

        await desk.fake.user_sends(user, "Здравствуйте")
        topic_id = await desk.first_message_topic(user)
        card = desk.topic_messages(topic_id)[0]
        assert "Имя пользователя: @" in card["text"]
        assert "Язык: ru" in card["text"]

        await desk.fake.user_blocks_bot(user)
        await desk.wait_for(
            lambda: desk.topic_messages(topic_id)[-1].get("text") == RUSSIAN.user_blocked,
            "the note that the user blocked the bot",
        )
        await desk.fake.user_unblocks_bot(user)
        await desk.fake.operator_closes_topic(desk.operator, desk.group, topic_id)
        _, closed = await desk.sent_to(user, 2)
        assert closed["text"] == RUSSIAN.closed


async def test_a_message_without_a_language_keeps_the_stored_one(tmp_path: Path) -> None:
    async with desk_with(tmp_path) as desk:
        user = desk.new_user("Пётр", language_code="ru")
        await desk.fake.user_sends(user, "Здравствуйте")
        topic_id = await desk.first_message_topic(user)
        user.language_code = None  # Telegram leaves language_code out now and then
        user.first_name = "Пётр Иванович"  # and a new name makes the profile be written

        await desk.fake.user_sends(user, "Ещё вопрос")
        await desk.copies_in_topic(topic_id, 2)
        await desk.settle()

        stored = await desk.db.people.get(user.id)
        assert stored is not None
        assert (stored.first_name, stored.language_code) == ("Пётр Иванович", "ru")


async def test_an_english_or_unknown_language_gets_english(tmp_path: Path) -> None:
    async with desk_with(tmp_path) as desk:
        for code in ("de", None):
            user = desk.new_user(language_code=code)
            await desk.fake.user_sends_command(user, "/start")
            [welcome] = await desk.sent_to(user, 1)
            assert welcome["text"] == ENGLISH.welcome


async def test_text_settings_replace_the_texts_for_everyone(tmp_path: Path) -> None:
    env = {
        "WELCOME_TEXT": "Hi <b>there</b>",
        "CLOSED_TEXT": "Bye",
        "BANNED_TEXT": "You are <i>banned</i>",
        "NOTE_PREFIX": "#note",
    }
    async with desk_with(tmp_path, **env) as desk:
        user = desk.new_user("Ира", language_code="ru")
        await desk.fake.user_sends_command(user, "/start")
        [welcome] = await desk.sent_to(user, 1)
        assert welcome["text"] == "Hi there"
        assert welcome["entities"][0]["type"] == "bold"

        await desk.fake.user_sends(user, "hello")
        topic_id = await desk.first_message_topic(user)
        # The custom prefix marks notes; the default one is just text now.
        await desk.fake.operator_sends(desk.operator, desk.group, "#note VIP", thread_id=topic_id)
        await desk.fake.operator_sends(desk.operator, desk.group, "// hi", thread_id=topic_id)
        _, answer = await desk.sent_to(user, 2)
        assert answer["text"] == "// hi"

        await desk.fake.operator_sends(
            desk.operator,
            desk.group,
            content=desk.fake.content.command("/ban"),
            thread_id=topic_id,
        )
        await poll(lambda: desk.db.people.get_ban(user.id), "the ban")
        await desk.fake.user_sends(user, "hello?")
        *_, banned = await desk.sent_to(user, 3)
        assert banned["text"] == "You are banned"


async def test_outside_working_hours_the_user_is_told_once_per_closed_period(
    tmp_path: Path,
) -> None:
    async with closed_desk(tmp_path) as desk:
        user = desk.new_user()
        await desk.fake.user_sends(user, "anyone there?")
        await desk.fake.user_sends(user, "hello?")
        topic_id = await desk.first_message_topic(user)
        await desk.copies_in_topic(topic_id, 2)  # relayed as usual
        await desk.settle()

        [notice] = desk.in_private_chat(user)
        hours = closed_all_day()
        assert notice["text"] == f"{ENGLISH.offline}\nWorking hours: {hours} (UTC)."

        # The same closed period after a restart: not again.
        await desk.restart()
        await desk.fake.user_sends(user, "still there?")
        await desk.copies_in_topic(topic_id, 3)
        await desk.settle()
        assert len(desk.in_private_chat(user)) == 1

        # A later closed period (as if the desk had opened in between): told again.
        await desk.db.conversations.set_offline_notice(user.id, "2000-01-01T18:00:00+00:00")
        await desk.fake.user_sends(user, "next week")
        _, again = await desk.sent_to(user, 2)
        assert again["text"] == notice["text"]


async def test_the_offline_text_follows_the_language_and_can_be_replaced(
    tmp_path: Path,
) -> None:
    async with closed_desk(tmp_path) as desk:
        user = desk.new_user(language_code="ru")
        await desk.fake.user_sends(user, "привет")
        [notice] = await desk.sent_to(user, 1)
        assert notice["text"].startswith(RUSSIAN.offline + "\nЧасы работы: ")
    async with closed_desk(subdir(tmp_path, "custom"), OFFLINE_TEXT="We are <b>away</b>") as desk:
        user = desk.new_user()
        await desk.fake.user_sends(user, "hi")
        [notice] = await desk.sent_to(user, 1)
        assert notice["text"] == "We are away"
    async with closed_desk(subdir(tmp_path, "silent"), OFFLINE_TEXT="") as desk:
        user = desk.new_user()
        await desk.fake.user_sends(user, "hi")
        await desk.first_message_topic(user)
        await desk.settle()
        assert desk.in_private_chat(user) == []


async def test_within_working_hours_nothing_is_said(tmp_path: Path) -> None:
    async with desk_with(tmp_path, WORKING_HOURS="Mon-Sun 00:00-24:00") as desk:
        user = desk.new_user()
        await desk.fake.user_sends(user, "hi")
        await desk.first_message_topic(user)
        await desk.settle()
        assert desk.in_private_chat(user) == []
