"""Exact rolling active-listener counts per day (`ActiveListenersDay`, all devices).

Distinct counts over a window cannot be added up from daily distincts, but they can be
added up from `ActivityDay`, which counts each day's listeners by the gap since their
previous active day: a listener active on day y is the first of its appearances in the
W-day window ending on x exactly when that gap is larger than `y - (x - W + 1)`. So

    R_W(x) = sum over j = 0 .. W-1 of (listeners on x-j with gap >= W-j, or none before).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from django.db.models import F, Sum

from analytics.kpis._time import days, month_chunks
from analytics.models import ActiveListenersDay, ActivityDay
from analytics.rollups import _sql
from analytics.rollups.facts import WINDOW_CAP

WAU_DAYS = 7
R28_DAYS = 28
_DAY_US = 86_400_000_000
_EPOCH_DAY = date(1970, 1, 1)


def window_counts(lo: date, hi: date) -> dict[date, dict[str, list[int]]]:
    """`{day: {country: [dau, wau, r28, new]}}` for the days `[lo, hi)`, with the totals
    over all countries under country ""."""
    first = lo - timedelta(days=R28_DAYS - 1)
    # Read as integer columns: some 30,000 rows for one day's windows at 10M events, whose
    # dates and texts Django took longer to build than the sums below.
    day_us, country, gap, n = _sql.int_columns(
        ActivityDay.objects.filter(day__gte=first, day__lt=hi)
        .values("day", "country", "gap")
        .annotate(total=Sum("listeners"))
        .order_by(),
        _sql.EpochMicroseconds("day"),
        _sql.country_number("country"),
        F("gap"),
        F("total"),
    )
    if not len(n):
        return {day: {} for day in days(lo, hi)}
    day_index = day_us // _DAY_US - (first - _EPOCH_DAY).days
    numbers, country_index = np.unique(country, return_inverse=True)
    countries = _sql.country_codes(numbers).astype(str).tolist()
    # listeners[d, c, g]: listeners of day first + d in country c by gap g, a listener
    # never active before (gap 0) under the widest gap: it is new to every window.
    listeners = np.zeros(((hi - first).days, len(countries), WINDOW_CAP + 1), dtype=np.int64)
    new = np.zeros(listeners.shape[:2], dtype=np.int64)
    country_index = country_index.ravel()
    np.add.at(listeners, (day_index, country_index, np.where(gap == 0, WINDOW_CAP, gap)), n)
    never = gap == 0
    np.add.at(new, (day_index[never], country_index[never]), n[never])
    # at_least[d, c, k]: the day's listeners whose gap is >= k (or none before).
    at_least = np.cumsum(listeners[:, :, ::-1], axis=2)[:, :, ::-1]
    out_days = np.arange(R28_DAYS - 1, len(listeners))
    dau = at_least[out_days, :, 0]
    wau, r28 = (
        sum(at_least[out_days - j, :, width - j] for j in range(width)) for width in (WAU_DAYS, R28_DAYS)
    )
    table = np.stack([dau, wau, r28, new[out_days]], axis=2).tolist()
    out: dict[date, dict[str, list[int]]] = {}
    for day, per_country_values in zip(days(lo, hi), table, strict=True):
        per_country = {
            country: values
            for country, values in zip(countries, per_country_values, strict=True)
            if any(values)
        }
        if per_country:
            per_country[""] = [sum(values[n] for values in per_country.values()) for n in range(4)]
        out[day] = per_country
    return out


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
