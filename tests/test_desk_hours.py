"""Reminders count only open hours: a customer who writes while the desk is closed is reminded
about REMIND_AFTER after it opens, not during the night."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.hours import DAYS
from tests.relay_helpers import Desk, desk_fixture, poll

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Open one hour, the day after tomorrow (UTC): closed now, whenever the test runs.
OPEN_DAY = (datetime.now(UTC) + timedelta(days=2)).date()
HOURS = f"{DAYS[OPEN_DAY.weekday()].capitalize()} 09:00-10:00"

desk = desk_fixture(REMIND_AFTER="1s", WORKING_HOURS=HOURS, TIMEZONE="UTC")


async def test_the_reminder_of_a_wait_that_began_while_closed_is_due_after_opening(
    desk: Desk,
) -> None:
    user = desk.new_user("Night")
    await desk.fake.user_sends(user, "hello at night")
    topic_id = await desk.first_message_topic(user)

    async def due() -> str | None:
        found = await desk.db.conversations.desk_state(user.id)
        return None if found is None else found.remind_at

    remind_at = await poll(due, "the reminder's due time")
    opens = datetime(OPEN_DAY.year, OPEN_DAY.month, OPEN_DAY.day, 9, 0, 1, tzinfo=UTC)
    assert remind_at == f"{opens:%Y-%m-%dT%H:%M:%S}.000Z"  # one second of open hours
    await asyncio.sleep(2)  # a second of wall time is long past: no reminder yet
    assert not [m for m in desk.topic_messages(topic_id) if m.get("text", "").startswith("⏰")]
