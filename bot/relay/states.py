"""`ConversationStates`: each conversation's state on the desk, moved on by what happens.

    waiting   the customer wrote and no operator has answered since (`waiting_since`: the first
              unanswered customer message);
    answered  an operator wrote last;
    closed    the topic was closed (by an operator, /close, or by itself after a quiet spell).

Only a customer's new message starts a wait (an edit or a reaction does not), and only an
operator's message relayed to the customer ends it (internal notes, commands and the bot's own
notes do not). The first operator who answers becomes the assignee.

Every state change is written to the database first; the due times of the one reminder per
wait (`REMIND_AFTER`, counted in open hours only) and of closing a quiet answered conversation
(`AUTO_CLOSE_AFTER`) are stored with it, so the desk's scheduler finds them after a restart.
Then `changes` wakes the desk (board, icons, scheduler) up.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from aiogram.types import User

from bot.hours import WorkingHours
from storage import Database, OperatorProfile


class DeskTimers:
    """When a wait is due for its reminder, and a quiet conversation for closing."""

    def __init__(
        self,
        *,
        remind_after: timedelta | None,
        auto_close_after: timedelta | None,
        hours: WorkingHours | None,
    ) -> None:
        self.remind_after = remind_after
        self.auto_close_after = auto_close_after
        self._hours = hours

    def remind_at(self, waiting_since: datetime) -> datetime | None:
        """`REMIND_AFTER` of open hours after the wait began; None when reminders are off.

        A customer who writes at night is reminded about `REMIND_AFTER` after the desk opens.
        """
        if self.remind_after is None:
            return None
        if self._hours is None:
            return waiting_since + self.remind_after
        return self._hours.after_open_time(waiting_since, self.remind_after)

    def close_at(self, quiet_since: datetime) -> datetime | None:
        """`AUTO_CLOSE_AFTER` after the last answer; None when closing by itself is off."""
        if self.auto_close_after is None:
            return None
        return quiet_since + self.auto_close_after


class Changes:
    """A counter of state changes that any number of waiters can follow, each at its pace."""

    def __init__(self) -> None:
        self.version = 0
        self._event = asyncio.Event()

    def notify(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, seen: int, at_most: float) -> int:
        """Return once there is a change after version `seen` (or after `at_most` seconds);
        returns the version now."""
        if self.version == seen:
            event = self._event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), at_most)
        return self.version


class ConversationStates:
    """Moves conversations between waiting, answered and closed, durably."""

    def __init__(self, *, db: Database, timers: DeskTimers) -> None:
        self._db = db
        self.timers = timers
        # Every change; the desk's background work (board, icons, timers) follows it.
        self.changes = Changes()
        # Operators' profiles as last stored in this run (most writes would change nothing).
        self._operators: dict[int, OperatorProfile] = {}

    async def operator_seen(self, operator: User | None) -> None:
        """An operator wrote in the group (a note, a command, a chat in General): keep their
        name for the board and their @username for /assign. Written only when it changed."""
        profile = _operator_profile(operator)
        if profile is None or self._operators.get(profile.user_id) == profile:
            return
        await self._db.people.save_operator(profile)
        self._operators[profile.user_id] = profile

    async def customer_wrote(self, user_id: int, at: datetime) -> None:
        """A new message of the customer was relayed: they wait (since `at`, if not already)."""
        await self._db.conversations.customer_wrote(
            user_id, at=at, remind_at=self.timers.remind_at(at)
        )
        self.changes.notify()

    async def operator_answered(self, user_id: int, operator: User | None, at: datetime) -> None:
        """An operator's message went to the customer: the wait is over.

        `operator`: who wrote it; None (or a bot: an anonymous administrator writes as
        GroupAnonymousBot) answers without becoming the assignee.
        """
        profile = _operator_profile(operator)
        await self._db.conversations.operator_answered(
            user_id, profile, at=at, close_at=self.timers.close_at(at)
        )
        if profile is not None:
            self._operators[profile.user_id] = profile
        self.changes.notify()

    async def reopened(self, user_id: int, topic_id: int, at: datetime) -> None:
        """An operator reopened the topic: open again, answered, quiet from now on."""
        await self._db.conversations.reopened(user_id, topic_id, close_at=self.timers.close_at(at))
        self.changes.notify()

    async def closed(self, user_id: int) -> bool:
        """The conversation ended: closed, nobody waiting, nothing due. False when it was
        closed already (another close came first)."""
        changed = await self._db.conversations.deactivate(user_id)
        self.changes.notify()
        return changed

    async def banned(self, user_id: int) -> None:
        """The customer was banned: their messages go nowhere, nobody waits for an answer."""
        await self._db.conversations.stop_waiting(user_id)
        self.changes.notify()

    async def reschedule(self) -> int:
        """Compute every open conversation's due times again from today's settings (at start:
        REMIND_AFTER, AUTO_CLOSE_AFTER or WORKING_HOURS may have changed, and a database from
        before the desk has states but no due times)."""
        changed = await self._db.desk.reschedule(self.timers.remind_at, self.timers.close_at)
        if changed:
            self.changes.notify()
        return changed

    async def assigned(self, user_id: int, operator: OperatorProfile | None) -> None:
        """The conversation was handed to `operator` (None: to nobody)."""
        if operator is not None:
            await self._db.people.save_operator(operator)
        await self._db.conversations.assign(user_id, operator.user_id if operator else None)
        self.changes.notify()


def _operator_profile(operator: User | None) -> OperatorProfile | None:
    """The profile of an operator; None for none, or a bot (an anonymous administrator writes
    as GroupAnonymousBot)."""
    if operator is None or operator.is_bot:
        return None
    return OperatorProfile(
        user_id=operator.id,
        username=operator.username,
        first_name=operator.first_name,
        last_name=operator.last_name,
    )
