"""Audience KPIs: active listeners, stickiness, new listeners and lifecycle.

Each KPI reads the listening rollups (`analytics.rollups`) and registers a reference that
computes the same table from the raw events. Conventions shared by every KPI here:
days are local days of the reporting time zone; a series has one row per bucket
(`period`, the ISO date of the bucket's first day), zero-filled; buckets that lie wholly
after `today` have empty (None) values rather than zeros, since nothing is known yet.
Country and region filters select listeners by their country; device (DAU only) selects
the listeners who played on that device.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.db.models import Count, DateField, Min, QuerySet, Sum
from django.db.models.functions import TruncMonth

from analytics.kpis._time import (
    add_months,
    days,
    local_date,
    months,
    reporting_zone,
    series_buckets,
)
from analytics.kpis.registry import Column, KpiResult, kpi, reference
from analytics.models import ActiveListenersDay, ActivityMonth, ListeningEvent
from analytics.rollups.dims import country_scope
from analytics.rollups.facts import events_between, local_day

# Device narrows DAU only: rolling windows and months count listeners, who use several
# devices, and are kept for all devices together.
AUDIENCE_FILTERS = ("country", "region")
PERIOD = Column("period", "Period", "date")
WEEK, MONTH_DAYS = 7, 28

Filters = dict[str, str | None]


# --- Active listeners: DAU, WAU, rolling 28 days -----------------------------------------


def _active_per_day(start: date, end: date, *, country=None, region=None, device=None) -> dict[date, tuple]:
    """`{day: (dau, wau, r28)}` from `ActiveListenersDay` (one query)."""
    countries = country_scope(country, region)
    rows = ActiveListenersDay.objects.filter(day__gte=start, day__lt=end, device=device or "")
    rows = rows.filter(country="") if countries is None else rows.filter(country__in=countries)
    totals = rows.values("day").annotate(dau=Sum("dau"), wau=Sum("wau"), r28=Sum("r28")).order_by()
    return {row["day"]: (row["dau"], row["wau"], row["r28"]) for row in totals}


def _events(start: date, end: date, *, country=None, region=None, device=None) -> QuerySet:
    events = events_between(start, end)
    countries = country_scope(country, region)
    if countries is not None:
        events = events.filter(listener__country__in=countries)
    if device:
        events = events.filter(device=device)
    return events


def _raw_active_per_day(start: date, end: date, **filters) -> dict[date, tuple]:
    """The same from the events: distinct (day, listener) pairs, windows as set unions."""
    pairs = (
        _events(start - timedelta(days=MONTH_DAYS - 1), end, **filters)
        .annotate(day=local_day())
        .values_list("day", "listener_id")
        .distinct()
    )
    by_day: dict[date, set[int]] = defaultdict(set)
    for day, listener_id in pairs:
        by_day[day].add(listener_id)
    out = {}
    for day in days(start, end):

        def over(width: int, day: date = day) -> int:
            seen: set[int] = set()
            for n in range(width):
                seen |= by_day.get(day - timedelta(days=n), set())
            return len(seen)

        out[day] = (len(by_day.get(day, ())), over(WEEK), over(MONTH_DAYS))
    return out


def _active_result(
    per_day: dict[date, tuple], which: int, key: str, label: str, start, end, today, grain
) -> KpiResult:
    rows = []
    for bucket, inside in series_buckets(start, end, grain, today):
        values = [per_day.get(day, (0, 0, 0))[which] for day in inside]
        if not inside:
            value = None
        elif which == 0 and grain != "day":
            value = sum(values) / len(values)  # mean DAU over the bucket's days
        else:
            value = values[-1]  # rolling counts: as of the bucket's last day
        rows.append({"period": bucket.isoformat(), key: value})
    return KpiResult(columns=[PERIOD, Column(key, label)], rows=rows)


def _dau(per_day, start, end, today, grain) -> KpiResult:
    return _active_result(per_day, 0, "dau", "Daily active listeners", start, end, today, grain)


def _wau(per_day, start, end, today, grain) -> KpiResult:
    return _active_result(per_day, 1, "wau", "Weekly active listeners", start, end, today, grain)


def _r28(per_day, start, end, today, grain) -> KpiResult:
    return _active_result(per_day, 2, "listeners", "Active listeners (28 days)", start, end, today, grain)


def _range_for(start: date, end: date, today: date) -> tuple[date, date]:
    """The days a series needs: the range, without the days after today."""
    return start, max(start, min(end, today + timedelta(days=1)))


@kpi(
    slug="dau",
    title="Daily active listeners",
    family="audience",
    unit="count",
    chart="line",
    x="period",
    y=("dau",),
    filters=(*AUDIENCE_FILTERS, "device", "grain"),
    headline="dau",
)
def dau(*, start: date, end: date, today: date, grain: str = "day", **filters) -> KpiResult:
    """DAU: distinct listeners with at least one event on the day. At week or month grain,
    the mean DAU over the bucket's days (up to today).

    A listener is active when it plays anything, a skip included; days are local days of
    the reporting time zone.
    """
    return _dau(_active_per_day(*_range_for(start, end, today), **filters), start, end, today, grain)


@reference("dau")
def dau_raw(*, start: date, end: date, today: date, grain: str = "day", **filters) -> KpiResult:
    return _dau(_raw_active_per_day(*_range_for(start, end, today), **filters), start, end, today, grain)


@kpi(
    slug="wau",
    title="Weekly active listeners",
    family="audience",
    unit="count",
    chart="line",
    x="period",
    y=("wau",),
    filters=(*AUDIENCE_FILTERS, "grain"),
    headline="wau",
)
def wau(*, start: date, end: date, today: date, grain: str = "day", **filters) -> KpiResult:
    """WAU(d): distinct listeners with an event in the 7 days [d-6, d]. At week or month
    grain, WAU as of the bucket's last day (up to today)."""
    return _wau(_active_per_day(*_range_for(start, end, today), **filters), start, end, today, grain)


@reference("wau")
def wau_raw(*, start: date, end: date, today: date, grain: str = "day", **filters) -> KpiResult:
    return _wau(_raw_active_per_day(*_range_for(start, end, today), **filters), start, end, today, grain)


@kpi(
    slug="active-28d",
    title="Active listeners (rolling 28 days)",
    family="audience",
    unit="count",
    chart="line",
    x="period",
    y=("listeners",),
    filters=(*AUDIENCE_FILTERS, "grain"),
    headline="listeners",
)
def active_28d(*, start: date, end: date, today: date, grain: str = "day", **filters) -> KpiResult:
    """R28(d): distinct listeners with an event in the 28 days [d-27, d]. At week or month
    grain, R28 as of the bucket's last day (up to today)."""
    return _r28(_active_per_day(*_range_for(start, end, today), **filters), start, end, today, grain)


@reference("active-28d")
def active_28d_raw(*, start: date, end: date, today: date, grain: str = "day", **filters) -> KpiResult:
    return _r28(_raw_active_per_day(*_range_for(start, end, today), **filters), start, end, today, grain)


# --- Calendar months: MAU and stickiness ------------------------------------------------


def _mau_per_month(first: date, last: date, *, country=None, region=None) -> dict[date, int]:
    countries = country_scope(country, region)
    rows = ActivityMonth.objects.filter(month__gte=first, month__lte=last)
    if countries is not None:
        rows = rows.filter(country__in=countries)
    return {row["month"]: row["n"] for row in rows.values("month").annotate(n=Sum("mau")).order_by()}


def _raw_mau_per_month(first: date, last: date, **filters) -> dict[date, int]:
    per_month = (
        _events(first, add_months(last, 1), **filters)
        .annotate(month=TruncMonth("played_at", tzinfo=reporting_zone(), output_field=DateField()))
        .values("month")
        .annotate(n=Count("listener_id", distinct=True))
        .order_by()
    )
    return {row["month"]: row["n"] for row in per_month}


def _mau(per_month: dict[date, int], start: date, end: date, today: date) -> KpiResult:
    rows = [
        {"period": month.isoformat(), "mau": per_month.get(month, 0) if month <= today else None}
        for month in months(start, end)
    ]
    return KpiResult(columns=[PERIOD, Column("mau", "Monthly active listeners")], rows=rows)


@kpi(
    slug="mau",
    title="Monthly active listeners",
    family="audience",
    unit="count",
    chart="bar",
    x="period",
    y=("mau",),
    filters=AUDIENCE_FILTERS,
    headline="mau",
)
def mau(*, start: date, end: date, today: date, **filters) -> KpiResult:
    """MAU(m): distinct listeners with an event in calendar month m, for every month the
    range overlaps (the whole month, up to today)."""
    spans = months(start, end)
    return _mau(_mau_per_month(spans[0], spans[-1], **filters), start, end, today)


@reference("mau")
def mau_raw(*, start: date, end: date, today: date, **filters) -> KpiResult:
    spans = months(start, end)
    return _mau(_raw_mau_per_month(spans[0], spans[-1], **filters), start, end, today)


def _stickiness(dau_per_day: dict[date, int], per_month: dict[date, int], start, end, today) -> KpiResult:
    rows = []
    for month in months(start, end):
        elapsed = days(month, min(add_months(month, 1), today + timedelta(days=1)))
        if not elapsed:
            rows.append({"period": month.isoformat(), "mean_dau": None, "mau": None, "stickiness": None})
            continue
        mean_dau = sum(dau_per_day.get(day, 0) for day in elapsed) / len(elapsed)
        monthly = per_month.get(month, 0)
        rows.append(
            {
                "period": month.isoformat(),
                "mean_dau": mean_dau,
                "mau": monthly,
                "stickiness": mean_dau / monthly if monthly else None,
            }
        )
    return KpiResult(
        columns=[
            PERIOD,
            Column("mean_dau", "Mean DAU"),
            Column("mau", "MAU"),
            Column("stickiness", "Stickiness (DAU/MAU)", "ratio"),
        ],
        rows=rows,
    )


def _month_days(start: date, end: date, today: date) -> tuple[date, date]:
    spans = months(start, end)
    return spans[0], max(spans[0], min(add_months(spans[-1], 1), today + timedelta(days=1)))


@kpi(
    slug="stickiness",
    title="Stickiness (DAU/MAU)",
    family="audience",
    unit="ratio",
    chart="line",
    x="period",
    y=("stickiness",),
    filters=AUDIENCE_FILTERS,
    headline="stickiness",
)
def stickiness(*, start: date, end: date, today: date, **filters) -> KpiResult:
    """Stickiness(m) = mean DAU over the days of calendar month m / MAU(m), for every month
    the range overlaps; the current month counts its days up to today."""
    lo, hi = _month_days(start, end, today)
    per_day = {day: values[0] for day, values in _active_per_day(lo, hi, **filters).items()}
    spans = months(start, end)
    return _stickiness(per_day, _mau_per_month(spans[0], spans[-1], **filters), start, end, today)


@reference("stickiness")
def stickiness_raw(*, start: date, end: date, today: date, **filters) -> KpiResult:
    lo, hi = _month_days(start, end, today)
    per_day = {
        row["day"]: row["n"]
        for row in _events(lo, hi, **filters)
        .annotate(day=local_day())
        .values("day")
        .annotate(n=Count("listener_id", distinct=True))
        .order_by()
    }
    spans = months(start, end)
    return _stickiness(per_day, _raw_mau_per_month(spans[0], spans[-1], **filters), start, end, today)


# --- New listeners ----------------------------------------------------------------------


def _new_listeners(per_day: dict[date, int], before: int, start, end, today, grain) -> KpiResult:
    rows = []
    cumulative = before
    for bucket, inside in series_buckets(start, end, grain, today):
        if not inside:
            rows.append({"period": bucket.isoformat(), "new_listeners": None, "cumulative": None})
            continue
        new = sum(per_day.get(day, 0) for day in inside)
        cumulative += new
        rows.append({"period": bucket.isoformat(), "new_listeners": new, "cumulative": cumulative})
    return KpiResult(
        columns=[PERIOD, Column("new_listeners", "New listeners"), Column("cumulative", "Listeners reached")],
        rows=rows,
    )


@kpi(
    slug="new-listeners",
    title="New listeners",
    family="audience",
    unit="count",
    chart="bar",
    x="period",
    y=("new_listeners", "cumulative"),
    filters=("country", "region", "grain"),
    headline="new_listeners",
)
def new_listeners(
    *, start: date, end: date, today: date, grain: str = "day", country=None, region=None
) -> KpiResult:
    """New listeners: listeners whose first event ever falls in the bucket (first listening
    day, as Amplitude counts new users); cumulative = every listener whose first event is
    before the bucket's end."""
    countries = country_scope(country, region)
    rows = ActiveListenersDay.objects.filter(device="", day__lt=min(end, today + timedelta(days=1)))
    rows = rows.filter(country="") if countries is None else rows.filter(country__in=countries)
    per_day = {
        row["day"]: row["n"]
        for row in rows.filter(day__gte=start).values("day").annotate(n=Sum("new")).order_by()
    }
    before = rows.filter(day__lt=start).aggregate(n=Sum("new"))["n"] or 0
    return _new_listeners(per_day, before, start, end, today, grain)


@reference("new-listeners")
def new_listeners_raw(
    *, start: date, end: date, today: date, grain: str = "day", country=None, region=None
) -> KpiResult:
    events = ListeningEvent.objects.order_by()
    countries = country_scope(country, region)
    if countries is not None:
        events = events.filter(listener__country__in=countries)
    firsts = events.values("listener_id").annotate(first=Min("played_at")).values_list("first", flat=True)
    per_day: dict[date, int] = defaultdict(int)
    before = 0
    for first in firsts:
        day = local_date(first)
        if day < start:
            before += 1
        elif day < end:
            per_day[day] += 1
    return _new_listeners(per_day, before, start, end, today, grain)


# --- Lifecycle --------------------------------------------------------------------------

LIFECYCLE = ("new", "returning", "resurrecting", "dormant")


def _lifecycle(per_month: dict[date, dict[str, int]], start, end, today) -> KpiResult:
    rows = []
    for month in months(start, end):
        counts = per_month.get(month, {})
        row: dict = {"period": month.isoformat()}
        for key in LIFECYCLE:
            value = counts.get(key, 0)
            row[key] = None if month > today else (-value if key == "dormant" else value)
        rows.append(row)
    return KpiResult(
        columns=[
            PERIOD,
            Column("new", "New"),
            Column("returning", "Returning"),
            Column("resurrecting", "Resurrecting"),
            Column("dormant", "Dormant"),
        ],
        rows=rows,
    )


@kpi(
    slug="lifecycle",
    title="Listener lifecycle",
    family="audience",
    unit="count",
    chart="stacked-bar",
    x="period",
    y=LIFECYCLE,
    filters=("country", "region"),
)
def lifecycle(*, start: date, end: date, today: date, country=None, region=None) -> KpiResult:
    """Listeners of each month against the month before: new (signed up in m, active in m),
    returning (active in m and m-1), resurrecting (active in m, not in m-1, signed up
    before m) and dormant (active in m-1, not in m; shown negative)."""
    countries = country_scope(country, region)
    spans = months(start, end)
    rows = ActivityMonth.objects.filter(month__gte=add_months(spans[0], -1), month__lte=spans[-1])
    if countries is not None:
        rows = rows.filter(country__in=countries)
    sums = {
        row["month"]: row
        for row in rows.values("month")
        .annotate(**{key: Sum(key) for key in ("mau", "new", "returning", "resurrecting", "both")})
        .order_by()
    }
    per_month = {}
    for month in spans:
        current, previous = sums.get(month, {}), sums.get(add_months(month, -1), {})
        per_month[month] = {
            "new": current.get("new", 0),
            "returning": current.get("returning", 0),
            "resurrecting": current.get("resurrecting", 0),
            # Active last month and not this month.
            "dormant": previous.get("mau", 0) - current.get("both", 0),
        }
    return _lifecycle(per_month, start, end, today)


@reference("lifecycle")
def lifecycle_raw(*, start: date, end: date, today: date, country=None, region=None) -> KpiResult:
    spans = months(start, end)
    first = add_months(spans[0], -1)
    active = (
        _events(first, add_months(spans[-1], 1), country=country, region=region)
        .annotate(
            month=TruncMonth("played_at", tzinfo=reporting_zone(), output_field=DateField()),
            signup=TruncMonth("listener__signed_up_at", tzinfo=reporting_zone(), output_field=DateField()),
        )
        .values_list("listener_id", "month", "signup")
        .distinct()
    )
    months_of: dict[int, set[date]] = defaultdict(set)
    signup_of: dict[int, date] = {}
    for listener_id, month, signup in active:
        months_of[listener_id].add(month)
        signup_of[listener_id] = signup
    per_month: dict[date, dict[str, int]] = {}
    for month in spans:
        previous = add_months(month, -1)
        counts = dict.fromkeys(LIFECYCLE, 0)
        for listener_id, active_months in months_of.items():
            now, before = month in active_months, previous in active_months
            signup = signup_of[listener_id]
            if now and signup == month:
                counts["new"] += 1
            elif now and before:
                counts["returning"] += 1
            elif now and signup < month:
                counts["resurrecting"] += 1
            elif before and not now:
                counts["dormant"] += 1
        per_month[month] = counts
    return _lifecycle(per_month, start, end, today)
