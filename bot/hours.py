"""Working hours: `WORKING_HOURS` and `TIMEZONE`, and when the support desk is closed.

The format, as operators write it in the environment:

    Mon-Fri 09:00-18:00; Sat 10:00-14:00

Entries are separated by `;` or `,`. Each entry is a day or a range of days (`Mon`, `Mon-Fri`,
`Fri-Mon` wraps over the weekend) and a time range `HH:MM-HH:MM`. `24:00` is the end of the day;
an end before the start runs over midnight into the next day (`Mon-Fri 22:00-06:00`). Several
entries may overlap. An empty value means the desk is always open.

This module must not import aiogram: the settings use it, and they are checked before aiogram is
imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ENTRY_RE = re.compile(
    r"^(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)
_MINUTES_PER_DAY = 24 * 60
_MINUTES_PER_WEEK = 7 * _MINUTES_PER_DAY
EXAMPLE = "Mon-Fri 09:00-18:00; Sat 10:00-14:00"


class WorkingHoursError(ValueError):
    """`WORKING_HOURS` cannot be read; the message says what is wrong."""


def _minutes(value: str, entry: str, *, end: bool) -> int:
    hours, minutes = (int(part) for part in value.split(":"))
    if end and (hours, minutes) == (24, 0):
        return _MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise WorkingHoursError(f"{value!r} in {entry!r} is not a time of day (00:00-23:59)")
    return hours * 60 + minutes


def _day(name: str, entry: str) -> int:
    try:
        return DAYS.index(name)
    except ValueError:
        raise WorkingHoursError(
            f"{name!r} in {entry!r} is not a day (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)"
        ) from None


@dataclass(frozen=True)
class WorkingHours:
    """Open intervals of the week, in minutes from Monday 00:00 local time, merged and sorted.

    An interval may end after the week's end (Sunday night into Monday): it is kept as it is
    and also looked up one week earlier.
    """

    intervals: tuple[tuple[int, int], ...]
    timezone: ZoneInfo
    # The entries as written, spacing normalised: for people ("Mon-Fri 09:00-18:00; Sat ...").
    text: str

    @classmethod
    def parse(cls, text: str, timezone: ZoneInfo) -> WorkingHours | None:
        """None when `text` is empty (always open); raises WorkingHoursError when it is wrong."""
        entries = [part.strip() for part in re.split(r"[;,]", text) if part.strip()]
        if not entries:
            return None
        spans: list[tuple[int, int]] = []
        normalised: list[str] = []
        for entry in entries:
            match = _ENTRY_RE.fullmatch(" ".join(entry.lower().split()))
            if match is None:
                raise WorkingHoursError(
                    f"{entry!r} is not 'Day HH:MM-HH:MM' or 'Day-Day HH:MM-HH:MM' "
                    f"(example: {EXAMPLE})"
                )
            first = _day(match["first"], entry)
            last = _day(match["last"], entry) if match["last"] else first
            start = _minutes(match["start"], entry, end=False)
            end = _minutes(match["end"], entry, end=True)
            days = match["first"].capitalize()
            if match["last"]:
                days += "-" + match["last"].capitalize()
            normalised.append(f"{days} {_clock(start)}-{_clock(end, end=True)}")
            if end == start:
                raise WorkingHoursError(f"{entry!r} opens and closes at the same time")
            length = end - start if end > start else end + _MINUTES_PER_DAY - start
            day = first
            while True:
                begin = day * _MINUTES_PER_DAY + start
                spans.append((begin, begin + length))
                if day == last:
                    break
                day = (day + 1) % 7
        return cls(_merge(spans), timezone, "; ".join(normalised))

    def is_open(self, at: datetime) -> bool:
        minute = self._week_minute(at)
        return any(
            start <= point < end
            for start, end in self.intervals
            for point in (minute, minute + _MINUTES_PER_WEEK)
        )

    def closed_since(self, at: datetime) -> datetime | None:
        """When the closed period around `at` began (the end of the last open interval), as an
        aware datetime in the configured time zone; None while the desk is open.

        Two moments of one closed period give the same answer: it names the period.
        """
        if self.is_open(at):
            return None
        local = at.astimezone(self.timezone)
        minute = self._week_minute(at)
        # The latest interval end at or before `minute`, this week or the week before.
        ends = [
            end - shift
            for _, end in self.intervals
            for shift in (0, _MINUTES_PER_WEEK, 2 * _MINUTES_PER_WEEK)
            if end - shift <= minute
        ]
        week_start = (local - timedelta(days=local.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0, tzinfo=None
        )
        closed_at = week_start + timedelta(minutes=max(ends))
        # Wall-clock arithmetic, then the zone: right across daylight saving time changes.
        return closed_at.replace(tzinfo=self.timezone)

    def after_open_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment when the desk has been open for `duration` since `start` (an aware
        datetime; the answer is in the configured time zone).

        Only open hours count: from a moment inside the hours, the time left of them first;
        from a closed moment, from the next opening on. Wall-clock arithmetic, like the hours
        themselves.
        """
        local = start.astimezone(self.timezone).replace(tzinfo=None)
        week_start = (local - timedelta(days=local.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        left = duration
        # From the week before (an interval of Sunday night runs into this Monday) onwards; a
        # year of weeks is far more than any duration of a desk needs.
        for week in range(-1, 53):
            for begin_minute, end_minute in self.intervals:
                shift = week * _MINUTES_PER_WEEK
                begin = week_start + timedelta(minutes=begin_minute + shift)
                end = week_start + timedelta(minutes=end_minute + shift)
                if end <= local:
                    continue
                begin = max(begin, local)
                if left <= end - begin:
                    return (begin + left).replace(tzinfo=self.timezone)
                left -= end - begin
        raise ValueError(f"{duration} of open hours do not fit in a year of {self.text}")

    def _week_minute(self, at: datetime) -> int:
        local = at.astimezone(self.timezone)
        return local.weekday() * _MINUTES_PER_DAY + local.hour * 60 + local.minute


def _clock(minute: int, *, end: bool = False) -> str:
    within = minute % _MINUTES_PER_DAY
    if end and within == 0:
        return "24:00"
    return f"{within // 60:02d}:{within % 60:02d}"


def _merge(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)
