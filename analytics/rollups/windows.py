"""Exact rolling active-listener counts per day (`ActiveListenersDay`, all devices).

Distinct counts over a window cannot be added up from daily distincts, but they can be
added up from `ActivityDay`, which counts each day's listeners by the gap since their
previous active day: a listener active on day y is the first of its appearances in the
W-day window ending on x exactly when that gap is larger than `y - (x - W + 1)`. So

    R_W(x) = sum over j = 0 .. W-1 of (listeners on x-j with gap >= W-j, or none before).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.db.models import Sum

from analytics.kpis._time import days, month_chunks
from analytics.models import ActiveListenersDay, ActivityDay
from analytics.rollups import _sql
from analytics.rollups.facts import WINDOW_CAP

WAU_DAYS = 7
R28_DAYS = 28

Key = tuple[date, str]  # (day, country)


def window_counts(lo: date, hi: date) -> dict[date, dict[str, list[int]]]:
    """`{day: {country: [dau, wau, r28, new]}}` for the days `[lo, hi)`, with the totals
    over all countries under country ""."""
    # at_least[(day, country)][k] = listeners of the day whose gap is >= k (or none before).
    at_least: dict[Key, list[int]] = defaultdict(lambda: [0] * (WINDOW_CAP + 1))
    new: dict[Key, int] = defaultdict(int)
    rows = (
        ActivityDay.objects.filter(day__gte=lo - timedelta(days=R28_DAYS - 1), day__lt=hi)
        .values("day", "country", "gap")
        .annotate(n=Sum("listeners"))
        .order_by()
    )
    for row in rows:
        key, gap, n = (row["day"], row["country"]), row["gap"], row["n"]
        reach = WINDOW_CAP if gap == 0 else gap  # never active before: new to every window
        counts = at_least[key]
        for k in range(reach + 1):
            counts[k] += n
        if gap == 0:
            new[key] += n
    countries = sorted({country for _, country in at_least})
    out: dict[date, dict[str, list[int]]] = {}
    for day in days(lo, hi):
        per_country: dict[str, list[int]] = {}
        for country in countries:
            values = [
                at_least.get((day, country), [0])[0],
                _window(at_least, day, country, WAU_DAYS),
                _window(at_least, day, country, R28_DAYS),
                new.get((day, country), 0),
            ]
            if any(values):
                per_country[country] = values
        if per_country:
            per_country[""] = [sum(values[n] for values in per_country.values()) for n in range(4)]
        out[day] = per_country
    return out


def _window(at_least: dict[Key, list[int]], day: date, country: str, width: int) -> int:
    total = 0
    for j in range(width):
        counts = at_least.get((day - timedelta(days=j), country))
        if counts is not None:
            total += counts[width - j]
    return total


def build_active_days(lo: date, hi: date) -> int:
    """Rewrite the all-devices rows of `ActiveListenersDay` for `[lo, hi)`, one transaction
    per calendar month."""
    counts = window_counts(lo, hi)
    written = 0
    for chunk_lo, chunk_hi in month_chunks(days(lo, hi)):
        with _sql.atomic():
            ActiveListenersDay.objects.filter(day__gte=chunk_lo, day__lt=chunk_hi, device="").delete()
            rows = [
                (_sql.d(day), country, "", *values)
                for day in days(chunk_lo, chunk_hi)
                for country, values in sorted(counts.get(day, {}).items())
            ]
            _sql.insert_rows(
                ActiveListenersDay, ("day", "country", "device", "dau", "wau", "r28", "new"), rows
            )
            written += len(rows)
    return written
