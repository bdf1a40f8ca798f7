"""The figures of the support desk for /stats, and their text for the General topic.

Definitions (times are when the bot logged the messages and created the conversations, the
`created_at` columns, ISO-8601 UTC):

* **today**: since 00:00 local time in the desk's time zone; **7 days**: the 7 × 24 hours up to
  now.
* **open conversations**: conversations that are active now (their topic is open).
* **new conversations**: conversations created in the period. A user has one conversation, kept
  when its topic is closed and reopened, so this counts users who wrote for the first time.
* **messages**: relayed messages logged in the period, split by who wrote them (users or
  operators). Messages that were not relayed (commands, notes of the bot) are not logged.
* **time to first operator reply**: a user *starts waiting* with a message that is their first
  logged message, or the first one after an operator's message; more messages of theirs while
  they wait do not restart the clock. The wait ends with the next operator message to that user.
  The median is taken over the waits that started in the last 7 days and have been answered;
  waits not answered yet are left out of it and counted in `unanswered_waits`. It is `None` when
  no wait qualifies. A conversation closed without an answer does not end a wait: when the user
  writes again and is answered, the wait runs from their first unanswered message.
"""

from __future__ import annotations

import html
import statistics
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.relay.texts import ENGLISH, Texts
from storage import Database

WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class MessageCounts:
    """Messages logged in a period, by who wrote them."""

    user: int
    operator: int

    @property
    def total(self) -> int:
        return self.user + self.operator


@dataclass(frozen=True, slots=True)
class DeskStats:
    """The desk's figures at `now` (see the module docstring for what each one counts)."""

    now: datetime  # aware, in the desk's time zone
    timezone: str  # its IANA name, e.g. "Europe/Berlin"
    today_start: datetime  # local midnight of today, aware
    week_start: datetime  # now - 7 days, aware
    open_conversations: int
    new_conversations_today: int
    new_conversations_week: int
    messages_today: MessageCounts
    messages_week: MessageCounts
    median_first_reply: timedelta | None  # over answered waits started in the last 7 days
    answered_waits: int  # how many waits the median is taken over
    unanswered_waits: int  # waits started in the last 7 days and not answered yet


async def collect_stats(db: Database, *, now: datetime, timezone: ZoneInfo) -> DeskStats:
    """Read the desk's figures from the database; `now` must be an aware datetime."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must carry its time zone, not {now!r}")
    local_now = now.astimezone(timezone)
    today_start = day_start(local_now, timezone)
    week_start = (now - WEEK).astimezone(timezone)  # 7 × 24 hours, across a clock change too
    today = await db.reports.messages_since(today_start)
    week = await db.reports.messages_since(week_start)
    waits = await db.reports.reply_waits_since(week_start)
    answered = [
        _parse(wait.answered_at) - _parse(wait.started_at)
        for wait in waits
        if wait.answered_at is not None
    ]
    return DeskStats(
        now=local_now,
        timezone=timezone.key,
        today_start=today_start,
        week_start=week_start,
        open_conversations=await db.reports.open_conversations(),
        new_conversations_today=await db.reports.new_conversations_since(today_start),
        new_conversations_week=await db.reports.new_conversations_since(week_start),
        messages_today=MessageCounts(user=today["user"], operator=today["operator"]),
        messages_week=MessageCounts(user=week["user"], operator=week["operator"]),
        median_first_reply=median_duration(answered),
        answered_waits=len(answered),
        unanswered_waits=len(waits) - len(answered),
    )


def day_start(moment: datetime, timezone: ZoneInfo) -> datetime:
    """00:00 local time of the day `moment` falls on in `timezone` (aware, in that zone).

    Where a DST change skips midnight, the first instant of the day: zoneinfo reads the
    missing 00:00 with the offset before the change, which is the instant of the change.
    """
    local = moment.astimezone(timezone)
    return datetime.combine(local.date(), time(0), tzinfo=timezone)


def median_duration(durations: list[timedelta]) -> timedelta | None:
    """The median (the mean of the middle two for an even count); None for no durations.

    A negative duration (the clock of the machine stepped back) counts as zero.
    """
    if not durations:
        return None
    seconds = statistics.median(max(duration.total_seconds(), 0.0) for duration in durations)
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta | None, texts: Texts = ENGLISH) -> str:
    """A duration as a person says it: "45 s", "4 min", "1 h 20 min", "2 d 3 h"; "—" for None.

    From a minute on, rounded to the nearest minute (from a day on, to the nearest hour). The
    units are those of `texts`' language.
    """
    if duration is None:
        return "—"
    s, m, h, d = texts.duration_units
    seconds = max(duration.total_seconds(), 0.0)
    if seconds < 59.5:
        return f"{round(seconds)} {s}"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} {m}"
    if minutes < 24 * 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours} {h} {minutes} {m}" if minutes else f"{hours} {h}"
    days, hours = divmod(round(minutes / 60), 24)
    return f"{days} {d} {hours} {h}" if hours else f"{days} {d}"


def format_stats(stats: DeskStats, texts: Texts = ENGLISH) -> str:
    """The figures as a short Telegram HTML message, in `texts`' language."""
    if stats.median_first_reply is None:
        first_reply = texts.stats_no_answers
    else:
        answered = (
            texts.stats_answered_one if stats.answered_waits == 1 else texts.stats_answered_many
        )
        first_reply = texts.stats_first_reply.format(
            duration=format_duration(stats.median_first_reply, texts),
            answered=answered.format(count=stats.answered_waits),
        )
    if stats.unanswered_waits:
        first_reply += texts.stats_unanswered.format(count=stats.unanswered_waits)
    return texts.stats.format(
        open=stats.open_conversations,
        new_today=stats.new_conversations_today,
        new_week=stats.new_conversations_week,
        messages_today=_messages(stats.messages_today, texts),
        messages_week=_messages(stats.messages_week, texts),
        first_reply=first_reply,
        timezone=html.escape(stats.timezone),
    )


def _messages(counts: MessageCounts, texts: Texts) -> str:
    return texts.stats_messages.format(
        total=counts.total, user=counts.user, operator=counts.operator
    )


def _parse(timestamp: str) -> datetime:
    """A `created_at` value ("2024-05-01T12:00:00.123Z")."""
    return datetime.fromisoformat(timestamp)
