"""The desk's storage: conversation states, assignment, what falls due, topic icons, the board,
and that each of its questions runs on an index (the desk must not slow with the years)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest

from storage import Database, OperatorProfile
from tests.storage_helpers import (
    build_database_at,
    committed,
    open_database,
    query_plan,
    statements_run_by,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OLGA = OperatorProfile(user_id=501, username="olga", first_name="Olga", last_name="Operator")
PETE = OperatorProfile(user_id=502, username="Pete_S", first_name="Pete", last_name=None)


def iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


async def open_conversation(db: Database, user_id: int, topic_id: int | None = None) -> None:
    await db.upsert_user(user_id, f"user{user_id}", f"User{user_id}", None)
    await db.set_conversation(user_id, topic_id or user_id + 1000)


async def state(db: Database, user_id: int) -> str:
    found = await db.conversations.desk_state(user_id)
    assert found is not None
    return found.state


# --- states -----------------------------------------------------------------------------------


async def test_a_customer_message_starts_a_wait_once_with_its_reminder(db: Database) -> None:
    await open_conversation(db, 1)
    assert await state(db, 1) == "answered"  # a new conversation waits only once they write

    await db.conversations.customer_wrote(1, at=T0, remind_at=T0 + timedelta(minutes=15))
    await db.conversations.customer_wrote(
        1, at=T0 + timedelta(minutes=5), remind_at=T0 + timedelta(minutes=20)
    )

    found = await db.conversations.desk_state(1)
    assert found is not None
    assert found.state == "waiting"
    # The wait began with the first message and keeps its one reminder.
    assert (found.waiting_since, found.remind_at) == (iso(T0), iso(T0 + timedelta(minutes=15)))


async def test_an_answer_ends_the_wait_and_the_first_to_answer_is_the_assignee(
    db: Database,
) -> None:
    await open_conversation(db, 1)
    await db.conversations.customer_wrote(1, at=T0, remind_at=T0 + timedelta(minutes=15))

    await db.conversations.operator_answered(
        1, OLGA, at=T0 + timedelta(minutes=3), close_at=T0 + timedelta(days=3)
    )
    await db.conversations.customer_wrote(1, at=T0 + timedelta(minutes=9), remind_at=None)
    await db.conversations.operator_answered(
        1, PETE, at=T0 + timedelta(minutes=10), close_at=T0 + timedelta(days=4)
    )

    found = await db.conversations.desk_state(1)
    assert found is not None
    assert found.state == "answered"
    assert found.assignee == OLGA
    assert (found.waiting_since, found.remind_at) == (None, None)
    assert found.answered_at == iso(T0 + timedelta(minutes=10))
    assert found.close_at == iso(T0 + timedelta(days=4))
    assert await db.people.operator_by_username("pete_s") == PETE  # kept for /assign


async def test_an_answer_older_than_the_wait_does_not_end_it(db: Database) -> None:
    """The operator's answer was on its way when the customer wrote again (the two sides are
    handled side by side): that message still waits for an answer."""
    await open_conversation(db, 1)
    await db.conversations.customer_wrote(1, at=T0, remind_at=T0 + timedelta(minutes=15))

    await db.conversations.operator_answered(
        1, OLGA, at=T0 - timedelta(seconds=5), close_at=T0 + timedelta(days=3)
    )

    found = await db.conversations.desk_state(1)
    assert found is not None
    assert (found.state, found.waiting_since, found.close_at) == ("waiting", iso(T0), None)
    assert found.remind_at == iso(T0 + timedelta(minutes=15))
    assert found.assignee == OLGA  # they did answer: the conversation is theirs


async def test_a_conversation_closed_through_the_contract_waits_no_more(db: Database) -> None:
    await open_conversation(db, 1, topic_id=77)
    await db.conversations.customer_wrote(1, at=T0, remind_at=T0 + timedelta(minutes=1))

    await db.set_conversation(1, 77, active=False)

    found = await db.conversations.desk_state(1)
    assert found is not None
    assert (found.state, found.waiting_since, found.remind_at) == ("closed", None, None)
    assert await db.desk.due_reminders(T0 + timedelta(days=1), limit=10) == []


async def test_a_customer_message_takes_back_a_close_that_was_due(db: Database) -> None:
    await open_conversation(db, 1)
    await db.conversations.operator_answered(1, OLGA, at=T0, close_at=T0 + timedelta(days=3))

    await db.conversations.customer_wrote(1, at=T0 + timedelta(hours=1), remind_at=None)

    found = await db.conversations.desk_state(1)
    assert found is not None
    assert (found.state, found.close_at) == ("waiting", None)


async def test_closing_ends_the_wait_and_everything_due(db: Database) -> None:
    await open_conversation(db, 1)
    await db.conversations.customer_wrote(1, at=T0, remind_at=T0 + timedelta(minutes=15))

    await db.deactivate_conversation(1)

    found = await db.conversations.desk_state(1)
    assert found is not None
    assert (found.state, found.waiting_since, found.remind_at, found.close_at) == (
        "closed",
        None,
        None,
        None,
    )


async def test_a_closed_conversation_does_not_start_waiting(db: Database) -> None:
    await open_conversation(db, 1)
    await db.deactivate_conversation(1)

    await db.conversations.customer_wrote(1, at=T0, remind_at=None)

    assert await state(db, 1) == "closed"


async def test_an_operator_reopening_the_topic_makes_it_answered_and_quiet(db: Database) -> None:
    await open_conversation(db, 1, topic_id=77)
    await db.deactivate_conversation(1)

    await db.conversations.reopened(1, 77, close_at=T0 + timedelta(days=3))

    found = await db.conversations.desk_state(1)
    assert found is not None
    assert (found.state, found.topic_id, found.close_at) == (
        "answered",
        77,
        iso(T0 + timedelta(days=3)),
    )


async def test_assign_and_unassign(db: Database) -> None:
    await open_conversation(db, 1)
    await db.people.save_operator(PETE)

    await db.conversations.assign(1, PETE.user_id)
    found = await db.conversations.desk_state(1)
    assert found is not None
    assert found.assignee == PETE

    await db.conversations.assign(1, None)
    found = await db.conversations.desk_state(1)
    assert found is not None
    assert found.assignee is None


async def test_an_operator_is_found_by_username_in_any_case(db: Database) -> None:
    await db.people.save_operator(PETE)
    assert await db.people.operator_by_username("@pete_s") == PETE
    assert await db.people.operator_by_username("nobody") is None


# --- the queue --------------------------------------------------------------------------------


async def test_the_queue_lists_the_longest_waits_first_and_counts_the_rest(db: Database) -> None:
    for user_id, minutes in ((1, 30), (2, 10), (3, 20), (4, 0), (5, 0)):
        await open_conversation(db, user_id)
        if user_id <= 3:
            await db.conversations.customer_wrote(
                user_id, at=T0 - timedelta(minutes=minutes), remind_at=None
            )
    await db.conversations.operator_answered(4, OLGA, at=T0, close_at=None)
    await db.conversations.customer_wrote(2, at=T0, remind_at=None)
    await db.conversations.operator_answered(2, OLGA, at=T0, close_at=None)
    await db.conversations.customer_wrote(2, at=T0 + timedelta(minutes=1), remind_at=None)
    await db.deactivate_conversation(5)

    queue = await db.desk.queue(limit=2)

    assert [entry.user_id for entry in queue.waiting] == [1, 3]
    assert (queue.waiting_count, queue.answered_count) == (3, 1)
    first = queue.waiting[0]
    assert first.customer is not None
    assert (first.customer.first_name, first.waiting_since) == (
        "User1",
        iso(T0 - timedelta(minutes=30)),
    )
    mine = await db.desk.queue(limit=10, assignee_id=OLGA.user_id)
    assert [entry.user_id for entry in mine.waiting] == [2]
    assert mine.waiting_count == 1
    assert mine.waiting[0].assignee == OLGA


# --- what falls due ---------------------------------------------------------------------------


async def test_reminders_and_closes_fall_due_in_order(db: Database) -> None:
    for user_id in (1, 2, 3):
        await open_conversation(db, user_id)
    await db.conversations.customer_wrote(1, at=T0, remind_at=T0 + timedelta(minutes=20))
    await db.conversations.customer_wrote(2, at=T0, remind_at=T0 + timedelta(minutes=10))
    await db.conversations.operator_answered(3, OLGA, at=T0, close_at=T0 + timedelta(minutes=5))

    assert await db.desk.next_due() == iso(T0 + timedelta(minutes=5))
    due = await db.desk.due_reminders(T0 + timedelta(minutes=30), limit=10)
    assert [d.user_id for d in due] == [2, 1]
    early = await db.desk.due_reminders(T0 + timedelta(minutes=15), limit=10)
    assert [d.user_id for d in early] == [2]
    [closing] = await db.desk.due_closes(T0 + timedelta(minutes=5), limit=10)
    assert (closing.user_id, closing.assignee) == (3, OLGA)
    assert await db.desk.due_closes(T0 + timedelta(minutes=4), limit=10) == []


async def test_a_reminder_is_marked_sent_only_for_its_own_wait(db: Database) -> None:
    await open_conversation(db, 1)
    await db.conversations.customer_wrote(1, at=T0, remind_at=T0 + timedelta(minutes=10))
    [due] = await db.desk.due_reminders(T0 + timedelta(minutes=10), limit=10)
    assert due.waiting_since is not None
    # The wait ended and a new one began while the reminder was on its way.
    await db.conversations.operator_answered(1, OLGA, at=T0 + timedelta(minutes=9), close_at=None)
    await db.conversations.customer_wrote(
        1, at=T0 + timedelta(minutes=11), remind_at=T0 + timedelta(minutes=21)
    )

    assert await db.desk.reminded(1, due.waiting_since) is False
    assert [d.user_id for d in await db.desk.due_reminders(T0 + timedelta(hours=1), limit=9)] == [1]
    new = await db.conversations.desk_state(1)
    assert new is not None
    assert new.waiting_since is not None
    assert await db.desk.reminded(1, new.waiting_since) is True
    assert await db.desk.due_reminders(T0 + timedelta(hours=1), limit=9) == []


async def test_reschedule_applies_todays_settings_and_keeps_sent_reminders(db: Database) -> None:
    for user_id in (1, 2, 3, 4):
        await open_conversation(db, user_id)
    await db.conversations.customer_wrote(1, at=T0, remind_at=T0 + timedelta(minutes=15))
    await db.conversations.customer_wrote(2, at=T0, remind_at=T0 + timedelta(minutes=15))
    await db.desk.reminded(2, iso(T0))  # its reminder was sent
    await db.conversations.operator_answered(3, OLGA, at=T0, close_at=None)
    await db.deactivate_conversation(4)

    # Reminders after an hour now, closing after a day (the settings changed).
    changed = await db.desk.reschedule(
        lambda since: since + timedelta(hours=1), lambda quiet: quiet + timedelta(days=1)
    )

    states = {u: await db.conversations.desk_state(u) for u in (1, 2, 3, 4)}
    assert {u: (d.remind_at, d.close_at) for u, d in states.items() if d} == {
        1: (iso(T0 + timedelta(hours=1)), None),
        2: (None, None),  # one reminder per wait: sent already
        3: (None, iso(T0 + timedelta(days=1))),
        4: (None, None),  # closed
    }
    assert changed == 2
    # Both off: nothing falls due any more.
    await db.desk.reschedule(lambda since: None, lambda quiet: None)
    assert await db.desk.next_due() is None


# --- topic icons and the board ----------------------------------------------------------------


async def test_stale_icons_are_those_that_do_not_show_the_state(db: Database) -> None:
    for user_id in (1, 2, 3):
        await open_conversation(db, user_id)
    await db.deactivate_conversation(3)  # never had an icon: not the bot's to set

    assert sorted(d.user_id for d in await db.desk.stale_icons(limit=10)) == [1, 2]
    await db.desk.icon_shown(1, 1001, "answered")
    await db.desk.icon_shown(2, 1002, "answered")
    assert await db.desk.stale_icons(limit=10) == []

    await db.conversations.customer_wrote(1, at=T0, remind_at=None)
    await db.deactivate_conversation(2)
    assert sorted(d.state for d in await db.desk.stale_icons(limit=10)) == ["closed", "waiting"]
    # A conversation that moved to a new topic (the old one was deleted) needs a new icon.
    await db.desk.icon_shown(1, 1001, "waiting")
    await db.set_conversation(1, 2001)
    [stale] = [d for d in await db.desk.stale_icons(limit=10) if d.user_id == 1]
    assert stale.topic_id == 2001


async def test_the_board_is_remembered(db: Database) -> None:
    assert await db.desk.board() is None
    await db.desk.set_board(40, "Waiting: 1")
    await db.desk.set_board(41, "Waiting: 2")
    assert await db.desk.board() == (41, "Waiting: 2")


# --- indexes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "call", "index"),
    [
        ("queue", lambda db: db.desk.queue(limit=20), "conversations_waiting"),
        ("queue, answered", lambda db: db.desk.queue(limit=20), "conversations_answered"),
        ("mine", lambda db: db.desk.queue(limit=20, assignee_id=1), "conversations_waiting"),
        ("reminders", lambda db: db.desk.due_reminders(T0, limit=50), "conversations_remind_at"),
        ("closes", lambda db: db.desk.due_closes(T0, limit=50), "conversations_close_at"),
        ("next reminder", lambda db: db.desk.next_due(), "conversations_remind_at"),
        ("next close", lambda db: db.desk.next_due(), "conversations_close_at"),
        ("icons", lambda db: db.desk.stale_icons(limit=50), "conversations_icon_stale"),
    ],
)
async def test_the_desks_questions_search_an_index(
    db: Database, path: Path, name: str, call, index: str
) -> None:
    for user_id in range(1, 201):
        await open_conversation(db, user_id)
    committed(path, "ANALYZE")
    for sql in await statements_run_by(db, lambda: call(db)):
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        plan = query_plan(path, sql)
        assert not any(re.match(r"SCAN (c|conversations)\b(?! USING)", line) for line in plan), plan
        used = {i for line in plan for i in re.findall(r"INDEX (\w+)", line)}
        if index in used:
            return
    raise AssertionError(f"{name}: no statement used {index}")


# --- the upgrade ------------------------------------------------------------------------------


async def test_an_upgraded_database_knows_who_is_waiting(path: Path) -> None:
    async def fill(conn: aiosqlite.Connection) -> None:
        await conn.executemany(
            "INSERT INTO conversations (user_id, topic_id, active) VALUES (?, ?, ?)",
            [(1, 11, 1), (2, 12, 1), (3, 13, 0), (4, 14, 1)],
        )
        await conn.execute("INSERT INTO bans (user_id) VALUES (4)")
        rows = [  # (user, direction, created_at)
            (1, "user", "2026-12-01T09:00:00.000Z"),
            (1, "operator", "2026-12-01T09:05:00.000Z"),
            (1, "user", "2026-12-01T09:10:00.000Z"),
            (1, "user", "2026-12-01T09:11:00.000Z"),
            (2, "user", "2026-12-01T09:00:00.000Z"),
            (2, "operator", "2026-12-01T09:01:00.000Z"),
            (3, "user", "2026-12-01T09:00:00.000Z"),
            (4, "user", "2026-12-01T09:00:00.000Z"),
        ]
        await conn.executemany(
            "INSERT INTO messages (user_id, direction, chat_id, message_id, content_type, "
            "created_at) VALUES (?, ?, ?, ?, 'text', ?)",
            [(user, direction, user, n, at) for n, (user, direction, at) in enumerate(rows)],
        )

    await build_database_at(path, 3, fill=fill)
    async with open_database(path) as db:
        states = {user_id: await db.conversations.desk_state(user_id) for user_id in (1, 2, 3, 4)}

    assert {u: s.state for u, s in states.items() if s} == {
        1: "waiting",
        2: "answered",
        3: "closed",
        4: "answered",  # banned: never waits
    }
    assert states[1] is not None
    assert states[1].waiting_since == "2026-12-01T09:10:00.000Z"
    assert states[1].answered_at == "2026-12-01T09:05:00.000Z"
