"""Calendar helpers for KPIs and rollups: days, ISO weeks and months in the reporting zone.

The reporting time zone is `settings.TIME_ZONE`, read at call time (never cached) so a
test that overrides it sees its own days. A local day `d` is `[day_start(d),
day_start(d + 1))`; a week starts on Monday (ISO weeks, as PostgreSQL's
`date_trunc('week')`); a month is the calendar month. Bucket keys are the `date` of the
bucket's first day, so a week bucket may begin before the range it was cut from.
"""

from __future__ import annotations

import calendar
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta

from django.conf import settings

GRAINS = ("day", "week", "month")
ONE_DAY = timedelta(days=1)


def reporting_zone() -> zoneinfo.ZoneInfo:
    """The zone days and months are cut in (`settings.TIME_ZONE`)."""
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def day_start(day: date) -> datetime:
    """The first instant of local day `day`, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=reporting_zone())


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """Aware instants `[start 00:00, end 00:00)` of the local day range `[start, end)`."""
    return day_start(start), day_start(end)


def local_date(moment: datetime) -> date:
    """The local day an aware instant falls on."""
    return moment.astimezone(reporting_zone()).date()


def as_of(*, end: date, today: date) -> datetime:
    """The instant a point-in-time KPI is evaluated at: the first instant of
    `min(end, today + 1 day)`, so a range reaching into the future stops at now-ish."""
    return day_start(min(end, today + ONE_DAY))


def check_range(start: date, end: date) -> None:
    if end <= start:
        raise ValueError(f"The range must end after it starts; got [{start}, {end}).")


def check_grain(grain: str) -> str:
    if grain not in GRAINS:
        raise ValueError(f"Unknown grain {grain!r}; use one of {', '.join(GRAINS)}.")
    return grain


def days(start: date, end: date) -> list[date]:
    """Every day of `[start, end)`."""
    return [start + timedelta(days=n) for n in range((end - start).days)]


def week_start(day: date) -> date:
    """The Monday of `day`'s ISO week."""
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """`day` plus `months` calendar months, the day clamped to the target month's end."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_between(earlier: date, later: date) -> int:
    """Whole calendar months from `earlier`'s month to `later`'s month (Jan -> Mar = 2)."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def month_end(day: date) -> date:
    """The first day of the month after `day`'s month (exclusive end of the month)."""
    return add_months(month_start(day), 1)


def bucket_start(day: date, grain: str) -> date:
    """The first day of the day/week/month bucket `day` falls in."""
    if grain == "day":
        return day
    if grain == "week":
        return week_start(day)
    if grain == "month":
        return month_start(day)
    check_grain(grain)
    raise AssertionError  # pragma: no cover - check_grain raised


def next_bucket(bucket: date, grain: str) -> date:
    """The first day of the bucket after the one starting at `bucket`."""
    if grain == "day":
        return bucket + ONE_DAY
    if grain == "week":
        return bucket + timedelta(days=7)
    return add_months(month_start(bucket), 1)


def buckets(start: date, end: date, grain: str) -> list[date]:
    """The starts of every bucket overlapping `[start, end)`, in order."""
    check_grain(grain)
    out: list[date] = []
    current = bucket_start(start, grain)
    while current < end:
        out.append(current)
        current = next_bucket(current, grain)
    return out


def months(start: date, end: date) -> list[date]:
    """The first days of every calendar month overlapping `[start, end)`."""
    return buckets(start, end, "month")


def weeks(start: date, end: date) -> list[date]:
    """The Mondays of every ISO week overlapping `[start, end)`."""
    return buckets(start, end, "week")


def zero_fill[V](
    keys: Iterable[date], values: Mapping[date, V], default: V | Callable[[], V] = 0
) -> list[tuple[date, V]]:
    """`(key, value)` for every key, missing keys getting `default` (a callable is called
    per key, so a mutable default is not shared)."""
    out = []
    for key in keys:
        if key in values:
            out.append((key, values[key]))
        else:
            out.append((key, default() if callable(default) else default))
    return out


def group_by_bucket(per_day: Mapping[date, int], grain: str) -> dict[date, int]:
    """Sum additive per-day figures into buckets of `grain`."""
    out: dict[date, int] = {}
    for day, value in per_day.items():
        key = bucket_start(day, grain)
        out[key] = out.get(key, 0) + value
    return out


def series_buckets(start: date, end: date, grain: str, today: date) -> list[tuple[date, list[date]]]:
    """Each bucket overlapping `[start, end)` with its days inside the range that are not
    after `today` (empty for a bucket that lies wholly in the future)."""
    last = min(end, today + ONE_DAY)
    out = []
    for bucket in buckets(start, end, grain):
        inside = days(max(bucket, start), min(next_bucket(bucket, grain), last)) if bucket <= today else []
        out.append((bucket, inside))
    return out


def month_label(month: date) -> str:
    return f"{month:%Y-%m}"


def month_chunks(sorted_days: Iterable[date]) -> list[tuple[date, date]]:
    """Runs of consecutive days within one calendar month, as `[lo, hi)` ranges."""
    out: list[tuple[date, date]] = []
    for day in sorted_days:
        if out and out[-1][1] == day and day.day != 1:
            out[-1] = (out[-1][0], day + ONE_DAY)
        else:
            out.append((day, day + ONE_DAY))
    return out
