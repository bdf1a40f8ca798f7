"""`DeskScheduler`: the desk's work that is not an answer to an update.

Three loops, each driven by stored state, none by an in-memory sleep that a restart would lose:

- timers: the reminders and closes that fall due, read from the database by due time
  (`remind_at`, `close_at`, each on an index). A reminder is marked sent after it is sent, and a
  close is recorded after the topic is closed, so one that fell due while the bot was down
  happens once after it starts, never twice (only a crash in the moment between Telegram's
  answer and the record could repeat one);
- icons: the topic icons that do not show their conversation's state (`TOPIC_ICONS`);
- board: the board in General, at most once every `BOARD_INTERVAL` seconds (`BOARD`).

Each wakes when a conversation's state changes (`ConversationStates.changes`), and on its own
when something falls due. Their Bot API calls are in flood control's background lane: they use
what customers' and operators' messages leave of Telegram's limits.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from aiogram.exceptions import TelegramRetryAfter

from bot.delivery.engine import describe_error
from bot.delivery.flood import in_background
from bot.desk.board import Board
from bot.desk.icons import TopicIcons
from bot.desk.queue import operator_name
from bot.desk.stats import format_duration
from bot.relay.service import Relay
from storage import Database, DeskState

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Due items handled per pass; the next pass takes the rest at once.
BATCH = 50
# The longest a loop sleeps without a reason (a change, or something due).
IDLE = 60.0
# After an error (Telegram down, a locked database), the next pass is this much later.
RETRY_AFTER_ERROR = 5.0
# A reminder or a close that failed (no right to close the topic, say) waits this long.
ITEM_RETRY = timedelta(minutes=5)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DeskScheduler:
    """Reminders, closing quiet conversations, topic icons and the board, in the background."""

    def __init__(
        self,
        *,
        db: Database,
        relay: Relay,
        board: Board | None,
        board_interval: float,
        icons: TopicIcons | None,
        group_id: int,
        room: Callable[[int], Awaitable[None]],
        clock: Clock = _utc_now,
    ) -> None:
        self._db = db
        self._relay = relay
        self._board = board
        self._board_interval = board_interval
        self._icons = icons
        self._group = group_id
        # Waits until a post in the group takes nothing from customers (flood control).
        self._room = room
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    def start(self) -> None:
        loops: list[tuple[str, Callable[[], Awaitable[float]], bool]] = [
            ("timers", self._timers, True)
        ]
        if self._icons is not None:
            loops.append(("icons", self._icons_pass, True))
        if self._board is not None:
            # Not woken by changes: at most once an interval, whatever happens.
            loops.append(("board", self._board_pass, False))
        self._tasks = [
            asyncio.create_task(self._loop(name, work, woken), name=f"desk-{name}")
            for name, work, woken in loops
        ]

    async def stop(self, grace: float) -> None:
        """Let a pass under way finish for up to `grace` seconds, then cancel it."""
        self._stopping.set()
        if not self._tasks:
            return
        _, running = await asyncio.wait(self._tasks, timeout=grace)
        for task in running:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _loop(self, name: str, work: Callable[[], Awaitable[float]], woken: bool) -> None:
        """Run `work` again and again; it says how long it may sleep. With `woken`, a change
        of a conversation's state cuts the sleep short."""
        changes = self._relay.states.changes
        while not self._stopping.is_set():
            seen = changes.version
            try:
                sleep = await work()
            except TelegramRetryAfter as error:  # the group is busy: after the penalty
                logger.info("The desk's %s pass waits %d s (429)", name, error.retry_after)
                sleep = float(error.retry_after)
            except Exception:
                logger.exception("The desk's %s pass failed; trying again shortly", name)
                sleep = RETRY_AFTER_ERROR
            if sleep <= 0 or self._stopping.is_set():
                continue
            stopping = asyncio.create_task(self._stopping.wait())
            sleeping = asyncio.create_task(
                changes.wait(seen, sleep) if woken else asyncio.sleep(sleep)
            )
            await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in (sleeping, stopping):
                task.cancel()

    # --- timers --------------------------------------------------------------------------------

    async def _timers(self) -> float:
        """Send the reminders and close the conversations that are due; sleep till the next."""
        now = self._clock()
        reminders = await self._db.desk.due_reminders(now, limit=BATCH)
        for due in reminders:
            await self._each(due, "reminder", self._remind(due, now), remind=True)
        closes = await self._db.desk.due_closes(now, limit=BATCH)
        for due in closes:
            await self._each(due, "close", self._close(due, now), remind=False)
        if len(reminders) == BATCH or len(closes) == BATCH:
            return 0  # more are due
        upcoming = await self._db.desk.next_due()
        if upcoming is None:
            return IDLE
        wait = (datetime.fromisoformat(upcoming) - self._clock()).total_seconds()
        return min(max(wait, 0.05), IDLE)

    async def _each(
        self, due: DeskState, what: str, work: Awaitable[None], *, remind: bool
    ) -> None:
        """One due item: an error holds back only that one, for a while, not the rest."""
        try:
            await work
        except TelegramRetryAfter as error:  # the group is busy: later, from the stored state
            later = self._clock() + timedelta(seconds=error.retry_after + 1)
            await self._postpone(due, later, remind=remind)
        except Exception as error:
            logger.warning(
                "The %s of user %d's conversation failed (%s); trying again in %d min",
                what,
                due.user_id,
                describe_error(error),
                ITEM_RETRY // timedelta(minutes=1),
            )
            await self._postpone(due, self._clock() + ITEM_RETRY, remind=remind)

    async def _postpone(self, due: DeskState, later: datetime, *, remind: bool) -> None:
        await self._db.desk.postpone(
            due.user_id, remind_at=later if remind else None, close_at=None if remind else later
        )

    async def _remind(self, due: DeskState, now: datetime) -> None:
        """The one reminder of a wait, in its topic: mentioning the assignee, who is notified."""
        assert due.waiting_since is not None  # only waits fall due for a reminder
        texts = await self._relay.topics.languages.texts(due.user_id)
        if due.assignee is not None:
            name = html.escape(operator_name(due.assignee))
            who = f'<a href="tg://user?id={due.assignee.user_id}">{name}</a>'
        else:
            who = texts.reminder_nobody
        waited = now - datetime.fromisoformat(due.waiting_since)
        text = texts.reminder.format(wait=format_duration(waited, texts), who=who)
        # Not after the group's calm: under steady load it never comes, and then reminders
        # matter most. It still waits for every customer's message queued for the group.
        with in_background(after_calm=False):
            # A topic that is gone drops the note: the reminder is done all the same.
            await self._relay.notices.note_in_topic(due.topic_id, text)
        await self._db.desk.reminded(due.user_id, due.waiting_since)
        logger.info("Reminded the operators of user %d's wait", due.user_id)

    async def _close(self, due: DeskState, now: datetime) -> None:
        """Close a conversation that was answered and then quiet for AUTO_CLOSE_AFTER, exactly
        like /close: the topic closed, the customer told, the same topic reopened when they
        write again."""
        await self._room(self._group)
        if not await self._still_due(due.user_id, now):  # the customer wrote while it waited
            return
        with in_background():
            await self._relay.close_topic(due.topic_id)
        # The customer may have written while the topic was being closed: their message, not
        # the timer, has the last word.
        async with self._relay.topics.lock(due.user_id):
            if not await self._still_due(due.user_id, now):
                current = await self._db.conversations.desk_state(due.user_id)
                if current is not None and current.active:
                    await self._relay.reopen_topic(current.topic_id)
                return
            await self._relay.end_conversation(due.user_id, due.topic_id)
        texts = await self._relay.topics.languages.texts(due.user_id)
        quiet = now - datetime.fromisoformat(due.answered_at) if due.answered_at else timedelta(0)
        with in_background():
            await self._relay.notices.note_in_topic(
                due.topic_id, texts.auto_closed.format(quiet=format_duration(quiet, texts))
            )
        logger.info("Closed the quiet conversation of user %d", due.user_id)

    async def _still_due(self, user_id: int, now: datetime) -> bool:
        current = await self._db.conversations.desk_state(user_id)
        return (
            current is not None
            and current.active
            and current.close_at is not None
            and datetime.fromisoformat(current.close_at) <= now
        )

    # --- icons and the board -------------------------------------------------------------------

    async def _icons_pass(self) -> float:
        assert self._icons is not None
        applied = await self._icons.apply()
        return 0 if applied else IDLE

    async def _board_pass(self) -> float:
        """Refresh the board; again after the interval (waits grow by the minute)."""
        assert self._board is not None
        await self._board.refresh()
        return self._board_interval
