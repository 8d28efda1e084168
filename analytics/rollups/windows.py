"""Exact rolling active-listener counts per day (`ActiveListenersDay`).

Distinct counts over a window cannot be added up from daily distincts, so they are swept
from `ListenerDay` in one pass ordered by day: for every (listener, device) the last day
it was seen; a listener enters the 7- or 28-day window on a day when it was not seen in
the window before, and leaves it when its last day slides out. The sweep starts 27 days
before the first day it reports, so each window it reports is complete.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.db import transaction

from analytics.kpis._time import days, month_chunks
from analytics.models import ActiveListenersDay, ListenerDay
from analytics.rollups.dims import DEVICE_BITS

WAU_DAYS = 7
R28_DAYS = 28

Key = tuple[str, str]  # (country, device); "" = all


def window_counts(lo: date, hi: date) -> dict[date, dict[Key, list[int]]]:
    """`{day: {(country, device): [dau, wau, r28]}}` for the days `[lo, hi)`, totals over
    countries under country "" and over devices under device ""."""
    first = lo - timedelta(days=R28_DAYS - 1)
    rows = (
        ListenerDay.objects.filter(day__gte=first, day__lt=hi)
        .order_by("day")
        .values_list("day", "listener_id", "country", "devices")
        .iterator(chunk_size=20_000)
    )
    # (listener, device) -> (last day seen, country then).
    last_seen: dict[tuple[int, str], tuple[date, str]] = {}
    # day -> {(country, device): listeners whose last day seen is that day}.
    last_on: dict[date, dict[Key, int]] = defaultdict(lambda: defaultdict(int))
    wau: dict[Key, int] = defaultdict(int)
    r28: dict[Key, int] = defaultdict(int)
    out: dict[date, dict[Key, list[int]]] = {}
    pending = next(rows, None)
    for day in days(first, hi):
        # Listeners last seen exactly W days ago leave the W-day window today.
        for key, n in last_on.get(day - timedelta(days=WAU_DAYS), {}).items():
            wau[key] -= n
        for key, n in last_on.pop(day - timedelta(days=R28_DAYS), {}).items():
            r28[key] -= n
        dau: dict[Key, int] = defaultdict(int)
        while pending is not None and pending[0] == day:
            _, listener_id, country, devices = pending
            for device in ["", *(name for name, bit in DEVICE_BITS.items() if devices & bit)]:
                key = (country, device)
                seen = last_seen.get((listener_id, device))
                if seen is not None and seen[0] > day - timedelta(days=R28_DAYS):
                    old_key = (seen[1], device)
                    last_on[seen[0]][old_key] -= 1
                    # Still inside a window: it stays counted, under its current country.
                    if seen[0] > day - timedelta(days=WAU_DAYS):
                        wau[old_key] -= 1
                    r28[old_key] -= 1
                wau[key] += 1
                r28[key] += 1
                last_seen[(listener_id, device)] = (day, country)
                last_on[day][key] += 1
                dau[key] += 1
            pending = next(rows, None)
        if day >= lo:
            out[day] = _with_totals(dau, wau, r28)
    return out


def _with_totals(dau: dict[Key, int], wau: dict[Key, int], r28: dict[Key, int]) -> dict[Key, list[int]]:
    counts: dict[Key, list[int]] = {}
    for key in set(dau) | set(wau) | set(r28):
        values = [dau.get(key, 0), wau.get(key, 0), r28.get(key, 0)]
        if any(values):
            counts[key] = values
    totals: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (_, device), values in counts.items():
        total = totals[("", device)]
        for n, value in enumerate(values):
            total[n] += value
    counts.update(totals)
    return counts


def build_active_days(lo: date, hi: date) -> int:
    """Rewrite `ActiveListenersDay` for `[lo, hi)`, one transaction per calendar month."""
    counts = window_counts(lo, hi)
    written = 0
    for chunk_lo, chunk_hi in month_chunks(days(lo, hi)):
        with transaction.atomic():
            ActiveListenersDay.objects.filter(day__gte=chunk_lo, day__lt=chunk_hi).delete()
            rows = [
                ActiveListenersDay(day=day, country=country, device=device, dau=v[0], wau=v[1], r28=v[2])
                for day in days(chunk_lo, chunk_hi)
                for (country, device), v in sorted(counts.get(day, {}).items())
            ]
            ActiveListenersDay.objects.bulk_create(rows, batch_size=5_000)
            written += len(rows)
    return written
