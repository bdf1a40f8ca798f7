"""WORKING_HOURS and TIMEZONE: parsing, open or closed, and naming the closed period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.hours import WorkingHours, WorkingHoursError

BERLIN = ZoneInfo("Europe/Berlin")


def hours(text: str, zone: ZoneInfo = BERLIN) -> WorkingHours:
    parsed = WorkingHours.parse(text, zone)
    assert parsed is not None
    return parsed


def at(text: str, zone: ZoneInfo = BERLIN) -> datetime:
    """A local time; 2026-11-23 is a Monday."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def test_empty_means_always_open() -> None:
    assert WorkingHours.parse("", BERLIN) is None
    assert WorkingHours.parse(" ; , ", BERLIN) is None


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        ("2026-11-23 08:59", False),
        ("2026-11-23 09:00", True),
        ("2026-11-27 17:59", True),  # Friday
        ("2026-11-27 18:00", False),
        ("2026-11-28 11:00", True),  # Saturday
        ("2026-11-28 14:00", False),
        ("2026-11-29 12:00", False),  # Sunday
    ],
)
def test_open_within_the_ranges(moment: str, is_open: bool) -> None:
    schedule = hours("Mon-Fri 09:00-18:00; Sat 10:00-14:00")
    assert schedule.is_open(at(moment)) is is_open


def test_the_time_zone_decides() -> None:
    schedule = hours("Mon-Fri 09:00-18:00")
    # 08:30 UTC is 09:30 in Berlin (winter): open.
    assert schedule.is_open(datetime(2026, 11, 23, 8, 30, tzinfo=UTC))
    assert not hours("Mon-Fri 09:00-18:00", ZoneInfo("UTC")).is_open(
        datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    )


def test_a_range_over_midnight_and_over_the_weekend() -> None:
    schedule = hours("Sun 22:00-06:00, Fri-Mon 12:00-13:00")
    assert schedule.is_open(at("2026-11-29 23:00"))  # Sunday night
    assert schedule.is_open(at("2026-11-23 05:59"))  # into Monday: wraps the week
    assert not schedule.is_open(at("2026-11-23 06:00"))
    assert schedule.is_open(at("2026-11-28 12:30"))  # Saturday, inside Fri-Mon
    assert not schedule.is_open(at("2026-11-25 12:30"))  # Wednesday


def test_24_00_ends_the_day() -> None:
    schedule = hours("Mon-Sun 00:00-24:00")
    assert schedule.is_open(at("2026-11-29 23:59"))
    assert schedule.closed_since(at("2026-11-29 23:59")) is None


def test_one_closed_period_has_one_name() -> None:
    schedule = hours("Mon-Fri 09:00-18:00")
    friday_evening = schedule.closed_since(at("2026-11-27 18:30"))
    sunday = schedule.closed_since(at("2026-11-29 12:00"))
    monday_morning = schedule.closed_since(at("2026-11-30 08:59"))
    monday_evening = schedule.closed_since(at("2026-11-30 19:00"))

    assert friday_evening == sunday == monday_morning == at("2026-11-27 18:00")
    assert monday_evening == at("2026-11-30 18:00")
    assert schedule.closed_since(at("2026-11-30 10:00")) is None


def test_the_closed_period_before_the_first_range_of_the_week() -> None:
    # Monday 07:00 with only Friday hours: the desk closed last Friday.
    schedule = hours("Fri 10:00-12:00")
    assert schedule.closed_since(at("2026-11-23 07:00")) == at("2026-11-20 12:00")


def test_the_text_is_kept_for_people() -> None:
    assert hours(" mon-FRI  9:00-18:00 ;sat 10:00-14:00").text == (
        "Mon-Fri 09:00-18:00; Sat 10:00-14:00"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Mon-Fri 9-18", "is not 'Day HH:MM-HH:MM'"),
        ("Funday 09:00-10:00", "is not 'Day HH:MM-HH:MM'"),
        ("Mom 09:00-10:00", "'mom' in 'Mom 09:00-10:00' is not a day"),
        ("Mon 25:00-26:00", "'25:00' in 'Mon 25:00-26:00' is not a time of day"),
        ("Mon 09:60-10:00", "is not a time of day"),
        ("Mon 09:00-09:00", "opens and closes at the same time"),
        ("09:00-18:00", "is not 'Day HH:MM-HH:MM'"),
    ],
)
def test_a_wrong_value_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(WorkingHoursError, match=problem.replace("(", r"\(")):
        WorkingHours.parse(text, BERLIN)


# --- counting open hours (reminders: REMIND_AFTER counts only while the desk is open) ------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        # Inside the hours: the time left of them first.
        ("2026-11-25 10:00", timedelta(hours=2), "2026-11-25 12:00"),
        # Friday evening, 10 minutes before closing: the rest on Monday morning.
        ("2026-11-27 17:50", timedelta(minutes=15), "2026-11-30 09:05"),
        # At night: counting starts when the desk opens.
        ("2026-11-27 23:00", timedelta(minutes=15), "2026-11-30 09:15"),
        ("2026-11-23 06:00", timedelta(hours=9), "2026-11-23 18:00"),
        # Longer than a day of hours: on into the next open day.
        ("2026-11-23 17:00", timedelta(hours=2), "2026-11-24 10:00"),
    ],
)
def test_open_time_counts_only_the_hours(start: str, duration: timedelta, due: str) -> None:
    assert hours("Mon-Fri 09:00-18:00").after_open_time(at(start), duration) == at(due)


def test_open_time_runs_over_midnight_and_the_weeks_end() -> None:
    sunday_night = hours("Sun 22:00-02:00")
    # Monday 01:00 is still Sunday's shift.
    assert sunday_night.after_open_time(at("2026-11-30 01:00"), timedelta(minutes=30)) == at(
        "2026-11-30 01:30"
    )
    # Monday 03:00: the next shift is next Sunday.
    assert sunday_night.after_open_time(at("2026-11-30 03:00"), timedelta(minutes=30)) == at(
        "2026-12-06 22:30"
    )


def test_open_time_of_a_moment_in_another_zone() -> None:
    start = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)  # Friday 23:00 in Berlin
    due = hours("Mon-Fri 09:00-18:00").after_open_time(start, timedelta(minutes=15))
    assert due == at("2026-11-30 09:15")
