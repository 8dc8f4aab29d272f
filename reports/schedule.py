"""When a report schedule is due: pure functions over (cadence, local time, zone), no database.

Slots are computed in the schedule's own zone with zoneinfo, so "08:00 Europe/Berlin" stays 08:00
on the wall clock across daylight-saving changes (06:00 UTC in summer, 07:00 UTC in winter).
A local time that does not exist (the spring-forward gap) fires at the first valid instant after
the gap; one that occurs twice (fall-back) fires at the first occurrence.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"
# Far enough back to find the latest slot of any cadence (a monthly one is at most 31 days old).
LOOKBACK_DAYS = 40


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_valid_zone(name: str) -> bool:
    return name in zone_names()


def fires_on(day: date, cadence: str, weekday: int | None, day_of_month: int | None) -> bool:
    """weekday: 0 = Monday. A day of month past the month's end means the month's last day."""
    if cadence == DAILY:
        return True
    if cadence == WEEKLY:
        return day.weekday() == weekday
    last = calendar.monthrange(day.year, day.month)[1]
    return day.day == min(day_of_month or 1, last)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The aware UTC instant of `at` on `day` in `zone`: ambiguous -> first, nonexistent -> the
    first valid instant after the gap (the transition itself)."""
    naive = datetime.combine(day, at.replace(tzinfo=None))
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first  # exists (fold=0 is the earlier of two occurrences when ambiguous)
    # In a gap fold=1 reads the time with the offset after the change, which lands before the
    # transition; step forward to the first minute whose offset is the new one.
    candidate = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = naive.replace(tzinfo=zone, fold=1).utcoffset()
    while candidate.astimezone(zone).utcoffset() != after:
        candidate += timedelta(minutes=1)
    return candidate


def latest_slot(
    now: datetime,
    *,
    cadence: str,
    at: time,
    zone_name: str,
    weekday: int | None = None,
    day_of_month: int | None = None,
) -> datetime | None:
    """The most recent slot at or before `now` (aware UTC), or None if none in LOOKBACK_DAYS."""
    slots = _slots(now, -1, cadence, at, zone_name, weekday, day_of_month)
    return next((slot for slot in slots if slot <= now), None)


def next_slot(
    now: datetime,
    *,
    cadence: str,
    at: time,
    zone_name: str,
    weekday: int | None = None,
    day_of_month: int | None = None,
) -> datetime | None:
    """The first slot after `now` (shown in the admin so a person can check a schedule)."""
    slots = _slots(now, 1, cadence, at, zone_name, weekday, day_of_month)
    return next((slot for slot in slots if slot > now), None)


def _slots(
    now: datetime,
    step: int,
    cadence: str,
    at: time,
    zone_name: str,
    weekday: int | None,
    day_of_month: int | None,
) -> Iterator[datetime]:
    """The schedule's slots day by day from `now`'s local date, back (step -1) or ahead (+1),
    over LOOKBACK_DAYS days."""
    zone = ZoneInfo(zone_name)
    today = now.astimezone(zone).date()
    for n in range(LOOKBACK_DAYS):
        day = today + timedelta(days=step * n)
        if fires_on(day, cadence, weekday, day_of_month):
            yield local_instant(day, at, zone)
