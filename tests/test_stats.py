"""/stats: the desk's figures (what counts, in which period) and their text."""

from __future__ import annotations

import itertools
import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.desk.stats import (
    DeskStats,
    MessageCounts,
    collect_stats,
    day_start,
    format_duration,
    format_stats,
    median_duration,
)
from bot.relay.texts import RUSSIAN
from storage import Database, ReplyWait
from tests.storage_helpers import USER, query_plan, statements_run_by, write_directly

GROUP = -1001234567890
OTHER = 456
BERLIN = ZoneInfo("Europe/Berlin")  # UTC+2 in May
NEW_YORK = ZoneInfo("America/New_York")  # UTC-4 in May
NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)  # 14:00 in Berlin; today began 2024-05-09 22:00Z

_message_ids = itertools.count(1)


def at(moment: datetime) -> str:
    """A moment as the `created_at` columns hold it."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def message(path: Path, when: datetime, direction: str = "user", user_id: int = USER) -> None:
    """Log a message at `when` (rows are numbered in the order of these calls)."""
    chat_id = user_id if direction == "user" else GROUP
    write_directly(
        path,
        """
        INSERT INTO messages (user_id, direction, chat_id, message_id, content_type, created_at)
        VALUES (?, ?, ?, ?, 'text', ?)
        """,
        (user_id, direction, chat_id, next(_message_ids), at(when)),
    )


def conversation(path: Path, user_id: int, created: datetime, *, active: bool = True) -> None:
    write_directly(
        path,
        "INSERT INTO conversations (user_id, topic_id, active, created_at) VALUES (?, ?, ?, ?)",
        (user_id, 1000 + user_id, int(active), at(created)),
    )


async def stats(db: Database, now: datetime = NOW, timezone: ZoneInfo = BERLIN) -> DeskStats:
    return await collect_stats(db, now=now, timezone=timezone)


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


# --- an empty desk -------------------------------------------------------------------------------


async def test_an_empty_desk_has_zeros_and_no_median(db: Database) -> None:
    figures = await stats(db)

    assert figures.open_conversations == 0
    assert figures.new_conversations_today == figures.new_conversations_week == 0
    assert figures.messages_today == figures.messages_week == MessageCounts(user=0, operator=0)
    assert figures.median_first_reply is None
    assert (figures.answered_waits, figures.unanswered_waits) == (0, 0)
    assert "<b>—</b>" in format_stats(figures)


async def test_the_periods_are_local_midnight_and_seven_days(db: Database) -> None:
    figures = await stats(db)

    assert figures.now == datetime(2024, 5, 10, 14, 0, tzinfo=BERLIN)
    assert figures.today_start == datetime(2024, 5, 10, 0, 0, tzinfo=BERLIN)
    assert figures.today_start.astimezone(UTC) == datetime(2024, 5, 9, 22, 0, tzinfo=UTC)
    assert figures.week_start == NOW - timedelta(days=7)
    assert figures.timezone == "Europe/Berlin"


async def test_seven_days_are_168_hours_across_a_clock_change(db: Database) -> None:
    # Berlin moved its clocks forward on 2024-03-31: the last 7 days locally hold 167 hours.
    now = datetime(2024, 4, 2, 12, 0, tzinfo=UTC)
    figures = await stats(db, now)
    assert now - figures.week_start == timedelta(hours=168)


async def test_a_naive_now_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="time zone"):
        await collect_stats(db, now=datetime(2024, 5, 10, 12), timezone=BERLIN)


# --- "today" -------------------------------------------------------------------------------------


async def test_today_starts_at_local_midnight_not_utc_midnight(db: Database, path: Path) -> None:
    local_midnight = datetime(2024, 5, 9, 22, 0, tzinfo=UTC)
    message(path, local_midnight - timedelta(milliseconds=1))  # 23:59:59.999 yesterday in Berlin
    message(path, local_midnight)  # 00:00:00.000 today in Berlin
    message(path, local_midnight + timedelta(hours=1), "operator")

    figures = await stats(db)

    assert figures.messages_today == MessageCounts(user=1, operator=1)
    assert figures.messages_week == MessageCounts(user=2, operator=1)


async def test_today_in_a_zone_behind_utc(db: Database, path: Path) -> None:
    # 12:00 UTC is 08:00 in New York; its day began at 04:00 UTC.
    message(path, datetime(2024, 5, 10, 3, 59, 59, 999000, tzinfo=UTC))
    message(path, datetime(2024, 5, 10, 4, 0, tzinfo=UTC))

    figures = await stats(db, timezone=NEW_YORK)

    assert figures.today_start == datetime(2024, 5, 10, 0, 0, tzinfo=NEW_YORK)
    assert figures.messages_today.user == 1


async def test_today_when_the_local_date_is_ahead_of_utc(db: Database, path: Path) -> None:
    now = datetime(2024, 5, 10, 23, 30, tzinfo=UTC)  # already 01:30 on 11 May in Berlin
    message(path, datetime(2024, 5, 10, 21, 0, tzinfo=UTC))  # "today" in UTC, not in Berlin
    message(path, datetime(2024, 5, 10, 22, 30, tzinfo=UTC))

    figures = await stats(db, now=now)

    assert figures.today_start == datetime(2024, 5, 11, 0, 0, tzinfo=BERLIN)
    assert figures.messages_today.user == 1


def test_day_start_on_a_day_whose_midnight_does_not_exist() -> None:
    # Santiago, 2024-09-08: the clocks went from 00:00 straight to 01:00 (-04 to -03).
    santiago = ZoneInfo("America/Santiago")
    start = day_start(datetime(2024, 9, 8, 18, 0, tzinfo=UTC), santiago)

    assert start.astimezone(UTC) == datetime(2024, 9, 8, 4, 0, tzinfo=UTC)
    assert start.date() == datetime(2024, 9, 8).date()


async def test_the_week_is_the_last_seven_times_24_hours(db: Database, path: Path) -> None:
    week_start = NOW - timedelta(days=7)
    message(path, week_start - timedelta(milliseconds=1))
    message(path, week_start, "operator")

    figures = await stats(db)

    assert figures.messages_week == MessageCounts(user=0, operator=1)


# --- conversations -------------------------------------------------------------------------------


async def test_conversations_open_and_new(db: Database, path: Path) -> None:
    conversation(path, 1, NOW - timedelta(days=30))  # old, still open
    conversation(path, 2, NOW - timedelta(days=3))  # this week
    conversation(path, 3, NOW - timedelta(hours=1), active=False)  # today, already closed
    local_midnight = datetime(2024, 5, 9, 22, 0, tzinfo=UTC)
    conversation(path, 4, local_midnight)  # today, from its first millisecond
    conversation(path, 5, local_midnight - timedelta(milliseconds=1), active=False)  # yesterday

    figures = await stats(db)

    assert figures.open_conversations == 3
    assert figures.new_conversations_today == 2
    assert figures.new_conversations_week == 4


async def test_conversations_through_the_storage_api(db: Database) -> None:
    await db.set_conversation(USER, 42)
    await db.set_conversation(OTHER, 43)
    await db.deactivate_conversation(OTHER)

    figures = await stats(db, now=datetime.now(UTC))

    assert figures.open_conversations == 1
    assert figures.new_conversations_today == 2


# --- time to first operator reply ----------------------------------------------------------------


async def waits(db: Database, since: datetime) -> list[tuple[int, str, str | None]]:
    found = await db.reports.reply_waits_since(since)
    return [(w.user_id, w.started_at, w.answered_at) for w in found]


async def test_median_of_an_odd_number_of_waits(db: Database, path: Path) -> None:
    start = NOW - timedelta(days=2)
    for offset, answer in ((0, 1), (60, 10), (120, 3)):  # minutes
        message(path, start + minutes(offset))
        message(path, start + minutes(offset + answer), "operator")

    figures = await stats(db)

    assert figures.median_first_reply == minutes(3)
    assert figures.answered_waits == 3


async def test_median_of_an_even_number_of_waits_is_the_mean_of_the_middle_two(
    db: Database, path: Path
) -> None:
    start = NOW - timedelta(days=2)
    for offset, answer in ((0, 2), (60, 4), (120, 1), (180, 30)):
        message(path, start + minutes(offset))
        message(path, start + minutes(offset + answer), "operator")

    figures = await stats(db)

    assert figures.median_first_reply == minutes(3)  # (2 + 4) / 2
    assert figures.answered_waits == 4


async def test_unanswered_waits_are_left_out_of_the_median(db: Database, path: Path) -> None:
    message(path, NOW - timedelta(hours=5))
    message(path, NOW - timedelta(hours=5) + minutes(7), "operator")
    message(path, NOW - timedelta(hours=1), user_id=OTHER)  # nobody answered yet

    figures = await stats(db)

    assert figures.median_first_reply == minutes(7)
    assert (figures.answered_waits, figures.unanswered_waits) == (1, 1)
    assert "1 not answered yet" in format_stats(figures)


async def test_more_messages_while_waiting_do_not_restart_the_clock(
    db: Database, path: Path
) -> None:
    start = NOW - timedelta(hours=3)
    message(path, start)
    message(path, start + minutes(5))
    message(path, start + minutes(9))
    message(path, start + minutes(20), "operator")
    message(path, start + minutes(21), "operator")  # a second answer is not a new reply
    message(path, start + minutes(60))  # waiting again, after the answer
    message(path, start + minutes(64), "operator")

    assert await waits(db, NOW - timedelta(days=7)) == [
        (USER, at(start), at(start + minutes(20))),
        (USER, at(start + minutes(60)), at(start + minutes(64))),
    ]
    figures = await stats(db)
    assert figures.median_first_reply == minutes(12)  # of 20 and 4


async def test_waits_are_per_user(db: Database, path: Path) -> None:
    start = NOW - timedelta(hours=3)
    message(path, start)  # USER starts waiting
    message(path, start + minutes(1), user_id=OTHER)  # OTHER starts waiting
    message(path, start + minutes(2), "operator", user_id=OTHER)  # OTHER answered: 1 min
    message(path, start + minutes(3))  # USER still waiting: not a new wait
    message(path, start + minutes(11), "operator")  # USER answered: 11 min

    assert await waits(db, NOW - timedelta(days=7)) == [
        (USER, at(start), at(start + minutes(11))),
        (OTHER, at(start + minutes(1)), at(start + minutes(2))),
    ]


async def test_a_wait_that_began_before_the_week_is_not_counted(db: Database, path: Path) -> None:
    before = NOW - timedelta(days=8)
    message(path, before)
    message(path, NOW - timedelta(days=1))  # still the same wait, which began 8 days ago
    message(path, NOW - timedelta(days=1) + minutes(1), "operator")

    figures = await stats(db)

    assert figures.median_first_reply is None
    assert (figures.answered_waits, figures.unanswered_waits) == (0, 0)
    assert figures.messages_week == MessageCounts(user=1, operator=1)


async def test_an_operator_message_before_the_user_wrote_answers_nothing(
    db: Database, path: Path
) -> None:
    start = NOW - timedelta(hours=2)
    message(path, start, "operator")  # operators wrote first (a follow-up)
    message(path, start + minutes(30))
    message(path, start + minutes(45), "operator")

    assert await waits(db, NOW - timedelta(days=7)) == [
        (USER, at(start + minutes(30)), at(start + minutes(45)))
    ]


async def test_reply_waits_since_returns_typed_records(db: Database, path: Path) -> None:
    message(path, NOW - timedelta(hours=1))

    assert await db.reports.reply_waits_since(NOW - timedelta(days=1)) == [
        ReplyWait(user_id=USER, started_at=at(NOW - timedelta(hours=1)), answered_at=None)
    ]
    with pytest.raises(ValueError, match="time zone"):
        await db.reports.reply_waits_since(datetime(2024, 5, 1))


def test_median_duration() -> None:
    assert median_duration([]) is None
    assert median_duration([minutes(5)]) == minutes(5)
    assert median_duration([minutes(1), minutes(2), minutes(100)]) == minutes(2)
    assert median_duration([minutes(1), minutes(4)]) == timedelta(minutes=2, seconds=30)
    # A clock that stepped back makes no negative wait.
    assert median_duration([minutes(-3), minutes(-1), minutes(5)]) == timedelta(0)


# --- the text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "shown"),
    [
        (None, "—"),
        (timedelta(0), "0 s"),
        (timedelta(seconds=45), "45 s"),
        (timedelta(seconds=59.4), "59 s"),
        (timedelta(seconds=59.6), "1 min"),
        (minutes(4), "4 min"),
        (timedelta(minutes=4, seconds=31), "5 min"),
        (timedelta(minutes=59, seconds=40), "1 h"),
        (minutes(80), "1 h 20 min"),
        (minutes(120), "2 h"),
        (timedelta(hours=23, minutes=59), "23 h 59 min"),
        (timedelta(days=1), "1 d"),
        (timedelta(days=1, hours=3, minutes=10), "1 d 3 h"),
        (timedelta(days=3, hours=23, minutes=50), "4 d"),
        (timedelta(seconds=-5), "0 s"),
    ],
)
def test_format_duration(duration: timedelta | None, shown: str) -> None:
    assert format_duration(duration) == shown


def figures(**overrides: object) -> DeskStats:
    fields: dict[str, object] = {
        "now": NOW.astimezone(BERLIN),
        "timezone": "Europe/Berlin",
        "today_start": datetime(2024, 5, 10, tzinfo=BERLIN),
        "week_start": NOW - timedelta(days=7),
        "open_conversations": 3,
        "new_conversations_today": 1,
        "new_conversations_week": 5,
        "messages_today": MessageCounts(user=7, operator=5),
        "messages_week": MessageCounts(user=40, operator=38),
        "median_first_reply": minutes(80),
        "answered_waits": 12,
        "unanswered_waits": 0,
    }
    fields.update(overrides)
    return DeskStats(**fields)  # type: ignore[arg-type]


def test_format_stats_reads_as_a_short_report() -> None:
    assert format_stats(figures()) == (
        "📊 <b>Support desk</b>\n"
        "Open conversations: <b>3</b>\n"
        "New conversations: <b>1</b> today, <b>5</b> in 7 days\n"
        "Messages today: <b>12</b> (7 from users, 5 from operators)\n"
        "Messages in 7 days: <b>78</b> (40 from users, 38 from operators)\n"
        "First reply, median over 7 days: <b>1 h 20 min</b> over 12 answered waits\n"
        "<i>Today: since 00:00 Europe/Berlin.</i>"
    )


def test_format_stats_without_answers() -> None:
    text = format_stats(figures(median_first_reply=None, answered_waits=0, unanswered_waits=2))
    assert "First reply, median over 7 days: <b>—</b> (no answers to time), 2 not answered yet" in (
        text
    )


def test_format_stats_with_one_answer_is_singular() -> None:
    text = format_stats(figures(median_first_reply=minutes(4), answered_waits=1))
    assert "<b>4 min</b> over 1 answered wait\n" in text


def test_format_stats_in_russian() -> None:
    assert format_stats(figures(unanswered_waits=2), RUSSIAN) == (
        "📊 <b>Поддержка</b>\n"
        "Открытых обращений: <b>3</b>\n"
        "Новых обращений: <b>1</b> сегодня, <b>5</b> за 7 дней\n"
        "Сообщений сегодня: <b>12</b> (от клиентов: 7, от операторов: 5)\n"
        "Сообщений за 7 дней: <b>78</b> (от клиентов: 40, от операторов: 38)\n"
        "Первый ответ, медиана за 7 дней: <b>1 ч 20 мин</b> (отвечено: 12), ещё без ответа: 2\n"
        "<i>Сегодня: с 00:00 Europe/Berlin.</i>"
    )
    assert format_duration(timedelta(days=1, hours=3), RUSSIAN) == "1 д 3 ч"


def test_format_stats_uses_only_telegram_html_tags() -> None:
    text = format_stats(figures(timezone="<Etc/Weird&Zone>"))
    assert set(re.findall(r"</?([a-z]+)", text)) <= {"b", "i"}
    assert "&lt;Etc/Weird&amp;Zone&gt;" in text


# --- the queries and their indexes ---------------------------------------------------------------

# The indexes proposed for migration 3. IF NOT EXISTS: the test keeps working once they ship.
PROPOSED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS messages_created_at ON messages (created_at, direction)",
    "CREATE INDEX IF NOT EXISTS conversations_created_at ON conversations (created_at)",
    "CREATE INDEX IF NOT EXISTS message_links_user_id ON message_links (user_id)",
)


@pytest.mark.parametrize(
    ("name", "indexes"),
    [
        ("reports.messages_since", {"messages_created_at"}),
        ("reports.reply_waits_since", {"messages_created_at", "messages_user_id"}),
        ("reports.new_conversations_since", {"conversations_created_at"}),
        ("log.links", {"message_links_user_id"}),
        ("log.history", {"messages_user_id"}),
    ],
)
async def test_queries_search_an_index(
    db: Database, path: Path, name: str, indexes: set[str]
) -> None:
    month = [  # a month of a desk with 50 users: (user_id, direction, created_at)
        (1000 + hour % 50, "user" if hour % 3 else "operator", at(NOW - timedelta(hours=hour)))
        for hour in reversed(range(24 * 30))
    ]
    with closing(sqlite3.connect(path)) as conn, conn:
        for statement in PROPOSED_INDEXES:
            conn.execute(statement)
        conn.executemany(
            """
            INSERT INTO messages (user_id, direction, chat_id, message_id, content_type, created_at)
            VALUES (?1, ?2, ?1, ?4, 'text', ?3)
            """,
            [(*row, message_id) for message_id, row in enumerate(month, start=1)],
        )
        conn.executemany(
            "INSERT INTO conversations (user_id, topic_id, created_at) VALUES (?, ?, ?)",
            [(1000 + day, day, at(NOW - timedelta(days=day))) for day in range(50)],
        )
    await db.log_message_link(
        user_id=1000,
        source_chat_id=1000,
        source_message_id=1,
        target_chat_id=GROUP,
        target_message_id=2,
    )
    write_directly(path, "ANALYZE")
    part, method_name = name.split(".")
    method = getattr(getattr(db, part), method_name)
    argument = 1000 if part == "log" else NOW - timedelta(days=1)
    calls = [lambda: method(argument)]
    if name == "log.history":
        calls.append(lambda: method(argument, limit=5))

    for call in calls:
        [sql] = await statements_run_by(db, call)
        plan = query_plan(path, sql)
        used = {
            index for line in plan for index in re.findall(r"USING (?:COVERING )?INDEX (\w+)", line)
        }
        assert used >= indexes, plan
        # A scan of a subquery's own few rows is fine; a scan of a table is not.
        assert not any(re.match(r"SCAN (?!\(subquery)", line) for line in plan), plan
