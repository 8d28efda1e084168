"""Month-level listening rollups: listener months, calendar MAU, lifecycle and cohorts.

All of them derive from `ListenerDay` (never from the raw events) and are rewritten one
calendar month at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from django.db.models import Count, DateField, F, Max
from django.db.models.functions import TruncMonth

from analytics.kpis._time import add_months, reporting_zone
from analytics.models import (
    ActiveListenersMonth,
    CohortActivity,
    CohortSize,
    LifecycleMonth,
    ListenerDay,
    ListenerMonth,
)
from analytics.rollups import _sql
from analytics.rollups.dims import DEVICE_BITS
from billing.models import Listener


def _bit_or(field: str):
    # A portable bitwise OR over rows: each bit is set in the result if any row has it.
    total = None
    for bit in DEVICE_BITS.values():
        term = Max(F(field).bitand(bit))
        total = term if total is None else total + term
    return total


def build_listener_months(month: date, *, touched_days: Iterable[date] | None = None) -> int:
    """Rewrite `ListenerMonth` for `month`; with `touched_days`, only for the listeners
    active on those days (the others' rows cannot have changed)."""
    following = add_months(month, 1)
    in_month = ListenerDay.objects.filter(day__gte=month, day__lt=following)
    existing = ListenerMonth.objects.filter(month=month)
    if touched_days is not None:
        touched = ListenerDay.objects.filter(day__in=list(touched_days)).values("listener_id")
        in_month = in_month.filter(listener_id__in=touched)
        existing = existing.filter(listener_id__in=touched)
    existing.delete()
    per_listener = (
        in_month.values("listener_id")
        .annotate(c=Max("country"), s=Max("signup_month"), devs=_bit_or("devices"))
        .order_by()
    )
    return _sql.insert_from(
        ListenerMonth,
        ["month", "listener_id", "country", "signup_month", "devices"],
        per_listener,
        ["%s", "q.listener_id", "q.c", "q.s", "q.devs"],
        [_sql.d(month)],
    )


def build_active_month(month: date) -> int:
    """Calendar MAU of `month` per country and device, with all-country totals."""
    t = _sql.table(ListenerMonth)
    device_counts = ", ".join(
        f"SUM(CASE WHEN (devices & {bit}) > 0 THEN 1 ELSE 0 END)" for bit in DEVICE_BITS.values()
    )
    rows = _sql.fetchall(
        f"SELECT country, COUNT(*), {device_counts} FROM {t} WHERE month = %s GROUP BY country",
        [_sql.d(month)],
    )
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for country, total, *per_device in rows:
        for c in (country, ""):
            counts[(c, "")] += total
            for device, n in zip(DEVICE_BITS, per_device, strict=True):
                counts[(c, device)] += n
    ActiveListenersMonth.objects.filter(month=month).delete()
    ActiveListenersMonth.objects.bulk_create(
        ActiveListenersMonth(month=month, country=country, device=device, mau=n)
        for (country, device), n in sorted(counts.items())
        if n
    )
    return sum(1 for n in counts.values() if n)


def build_lifecycle(month: date) -> int:
    """New, returning, resurrecting and dormant listeners of `month` against the month before.

    new: signed up in m and active in m; returning: active in m and m-1 (not new);
    resurrecting: active in m, not in m-1, signed up before m; dormant: active in m-1, not m.
    """
    previous = add_months(month, -1)
    t = _sql.table(ListenerMonth)
    m, p = _sql.d(month), _sql.d(previous)
    rows = _sql.fetchall(
        f"""
        SELECT country,
               SUM(CASE WHEN cur = 1 AND signup = %s THEN 1 ELSE 0 END),
               SUM(CASE WHEN cur = 1 AND prev = 1 AND signup <> %s THEN 1 ELSE 0 END),
               SUM(CASE WHEN cur = 1 AND prev = 0 AND signup < %s THEN 1 ELSE 0 END),
               SUM(CASE WHEN cur = 0 AND prev = 1 THEN 1 ELSE 0 END)
        FROM (
            SELECT listener_id, MAX(country) AS country, MAX(signup_month) AS signup,
                   MAX(CASE WHEN month = %s THEN 1 ELSE 0 END) AS cur,
                   MAX(CASE WHEN month = %s THEN 1 ELSE 0 END) AS prev
            FROM {t} WHERE month IN (%s, %s) GROUP BY listener_id
        ) x
        GROUP BY country
        """,
        [m, m, m, m, p, m, p],
    )
    LifecycleMonth.objects.filter(month=month).delete()
    LifecycleMonth.objects.bulk_create(
        LifecycleMonth(month=month, country=c, new=n, returning=r, resurrecting=s, dormant=d)
        for c, n, r, s, d in sorted(rows)
        if n or r or s or d
    )
    return len(rows)


def build_cohort_activity(month: date) -> int:
    CohortActivity.objects.filter(month=month).delete()
    per_cohort = (
        ListenerMonth.objects.filter(month=month)
        .values("signup_month", "country")
        .annotate(n=Count("listener_id"))
        .order_by()
    )
    return _sql.insert_from(
        CohortActivity,
        ["cohort", "month", "country", "listeners"],
        per_cohort,
        ["q.signup_month", "%s", "q.country", "q.n"],
        [_sql.d(month)],
    )


def build_cohort_sizes() -> int:
    """Listeners per local sign-up month and country; rewrites only rows that changed
    (sign-ups are not events, so this runs on every refresh)."""
    counted = {
        (row["cohort"], row["country"]): row["n"]
        for row in Listener.objects.annotate(
            cohort=TruncMonth("signed_up_at", tzinfo=reporting_zone(), output_field=DateField())
        )
        .values("cohort", "country")
        .annotate(n=Count("id"))
        .order_by()
    }
    stored = {(row.cohort, row.country): row for row in CohortSize.objects.all()}
    written = 0
    gone = [row.pk for key, row in stored.items() if key not in counted]
    if gone:
        written += CohortSize.objects.filter(pk__in=gone).delete()[0]
    new = [
        CohortSize(cohort=cohort, country=country, listeners=n)
        for (cohort, country), n in sorted(counted.items())
        if (cohort, country) not in stored
    ]
    CohortSize.objects.bulk_create(new)
    changed = []
    for key, row in stored.items():
        if key in counted and row.listeners != counted[key]:
            row.listeners = counted[key]
            changed.append(row)
    CohortSize.objects.bulk_update(changed, ["listeners"])
    return written + len(new) + len(changed)
