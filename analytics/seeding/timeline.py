"""The seeded period as plain integers: epoch seconds, local days and calendar months.

Generators work on numpy arrays of epoch seconds (UTC). Days and months are cut in the
reporting time zone (`settings.TIME_ZONE`) so the daily rhythm and the monthly buckets
line up with the KPI pages; calendar-month arithmetic on subscriptions is done in UTC,
as on the aware datetimes the billing services handle.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from analytics.seeding.config import SeedConfig

DAY = 86_400
HOUR = 3_600
EPOCH_2000 = 946_684_800  # PostgreSQL's binary timestamps count from 2000-01-01
HISTORY_MONTHS = 24  # billing history simulated before the period, so it starts mid-life


def add_months_to_date(day: date, months: int) -> date:
    """`day` moved by whole calendar months, the day clamped to the month's length."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_first = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_first - date(year, month, 1)).days
    return date(year, month, min(day.day, last_day))


def add_months(seconds: np.ndarray, months: int | np.ndarray) -> np.ndarray:
    """Naive (wall-clock) epoch seconds moved by calendar months, the day clamped (Jan 31 + 1 = Feb 28)."""
    moment = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")
    month = moment.astype("datetime64[M]")
    day = moment.astype("datetime64[D]")
    day_of_month = (day - month.astype("datetime64[D]")).astype(np.int64)
    second_of_day = (moment - day.astype("datetime64[s]")).astype(np.int64)
    target = month + np.asarray(months, dtype=np.int64)
    following = target + np.timedelta64(1, "M")
    length = (following.astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
    target_day = target.astype("datetime64[D]") + np.minimum(day_of_month, length - 1)
    return target_day.astype("datetime64[s]").astype(np.int64) + second_of_day


def iso_utc(seconds: np.ndarray) -> np.ndarray:
    """`datetime.isoformat()` of aware UTC datetimes: 2026-01-31T10:00:00+00:00."""
    text = np.datetime_as_string(np.asarray(seconds, dtype=np.int64).astype("datetime64[s]"), unit="s")
    return np.strings.add(text, "+00:00")


class LocalClock:
    """UTC <-> wall-clock time of one zone, vectorised, as `zoneinfo` computes it.

    The billing services count periods in calendar months of the reporting time zone,
    keeping the wall-clock time (`billing.periods.add_months`); this does the same for
    arrays: to wall-clock, add months, and back with `fold=0` (in a DST gap or overlap,
    the offset in force before the transition, like `datetime.replace` does).
    """

    def __init__(self, time_zone: str, low: int, high: int) -> None:
        zone = zoneinfo.ZoneInfo(time_zone)

        def offset(moment: int) -> int:
            return int(datetime.fromtimestamp(moment, tz=zone).utcoffset().total_seconds())

        days = list(range(low - 2 * DAY, high + 2 * DAY, DAY))
        offsets = [offset(t) for t in days]
        transitions, after = [], []
        for i in range(len(days) - 1):
            if offsets[i] == offsets[i + 1]:
                continue
            lo, hi = days[i], days[i + 1]  # the offset changes in (lo, hi]: find the first second
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(mid) == offsets[i] else (lo, mid)
            transitions.append(hi)
            after.append(offsets[i + 1])
        self.transitions = np.array(transitions, dtype=np.int64)
        self.offsets = np.array([offsets[0], *after], dtype=np.int64)
        wall = self.transitions + np.maximum(self.offsets[:-1], self.offsets[1:])
        self.wall_transitions = wall

    def to_wall(self, seconds: np.ndarray) -> np.ndarray:
        seconds = np.asarray(seconds, dtype=np.int64)
        return seconds + self.offsets[np.searchsorted(self.transitions, seconds, side="right")]

    def from_wall(self, wall: np.ndarray) -> np.ndarray:
        wall = np.asarray(wall, dtype=np.int64)
        return wall - self.offsets[np.searchsorted(self.wall_transitions, wall, side="right")]

    def add_months(self, seconds: np.ndarray, months: int | np.ndarray) -> np.ndarray:
        """Instants moved by calendar months on the local wall clock, the day clamped."""
        return self.from_wall(add_months(self.to_wall(seconds), months))


@dataclass(frozen=True)
class Timeline:
    """The period `[start, end)` and its local days and months, as epoch seconds."""

    start: int
    end: int
    history_start: int
    time_zone: str
    day_start: np.ndarray  # local midnight of each day of the period, plus `end`
    day_number: np.ndarray  # the local date of each day as days since 1970-01-01
    weekday: np.ndarray  # 0 = Monday
    bucket_start: np.ndarray  # local first instant of each calendar month in the period, plus `end`
    bucket_month: np.ndarray  # each bucket's month as datetime64[M]
    clock: LocalClock

    @property
    def days(self) -> int:
        return len(self.day_start) - 1

    @property
    def buckets(self) -> int:
        return len(self.bucket_start) - 1

    @property
    def start_day_number(self) -> int:
        return int(self.day_number[0])

    def day_index(self, seconds: np.ndarray) -> np.ndarray:
        """Index of the local day holding each instant (instants inside the period)."""
        return np.searchsorted(self.day_start, seconds, side="right") - 1

    def bucket_index(self, seconds: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.bucket_start, seconds, side="right") - 1


def _midnight(day: date, zone: zoneinfo.ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def build_timeline(config: SeedConfig) -> Timeline:
    zone = zoneinfo.ZoneInfo(config.time_zone)
    end_day = config.end_date
    start_day = add_months_to_date(end_day, -config.months)
    history_day = add_months_to_date(start_day, -HISTORY_MONTHS)
    n_days = (end_day - start_day).days
    days = [date.fromordinal(start_day.toordinal() + i) for i in range(n_days + 1)]
    day_start = np.array([_midnight(d, zone) for d in days], dtype=np.int64)
    epoch = date(1970, 1, 1).toordinal()
    bucket_days = [d for d in days[:-1] if d.day == 1 or d == start_day]
    bucket_start = np.array([_midnight(d, zone) for d in bucket_days] + [day_start[-1]], dtype=np.int64)
    history_start = _midnight(history_day, zone)
    return Timeline(
        start=int(day_start[0]),
        end=int(day_start[-1]),
        history_start=history_start,
        time_zone=config.time_zone,
        day_start=day_start,
        day_number=np.array([d.toordinal() - epoch for d in days[:-1]], dtype=np.int64),
        weekday=np.array([d.weekday() for d in days[:-1]], dtype=np.int64),
        bucket_start=bucket_start,
        bucket_month=np.array([np.datetime64(d, "M") for d in bucket_days]),
        # Annual periods started in the history run up to a year past the end.
        clock=LocalClock(config.time_zone, history_start, int(day_start[-1]) + 400 * DAY),
    )


def utc_month(seconds: np.ndarray) -> np.ndarray:
    """The UTC calendar month of each instant, as datetime64[M]."""
    return np.asarray(seconds, dtype=np.int64).astype("datetime64[s]").astype("datetime64[M]")


def to_datetime(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)
