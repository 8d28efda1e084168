"""Cohort KPIs: retention of listeners by sign-up month.

Reads the listening rollups (`CohortSize`, `CohortActivity`); the reference computes the
same table from listeners and raw events.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.db.models import Count, DateField, Sum
from django.db.models.functions import TruncMonth

from analytics.kpis._time import add_months, month_label, month_start, months, reporting_zone
from analytics.kpis.registry import Column, KpiResult, kpi, reference
from analytics.models import CohortActivity, CohortSize
from analytics.rollups.dims import country_scope
from analytics.rollups.facts import events_between
from billing.models import Listener

RETENTION_MONTHS = 12  # cells k = 0..11
CELLS = tuple(f"m{k}" for k in range(RETENTION_MONTHS))


def _retention(sizes: dict[date, int], active: dict[tuple[date, date], int], start, end, today) -> KpiResult:
    current = month_start(today)
    rows = []
    for cohort in months(start, end):
        size = sizes.get(cohort, 0)
        row: dict = {"cohort": month_label(cohort), "size": size}
        for k, key in enumerate(CELLS):
            month = add_months(cohort, k)
            # A month that has not started yet is unknown, not zero.
            row[key] = active.get((cohort, month), 0) / size if size and month <= current else None
        rows.append(row)
    return KpiResult(
        columns=[
            Column("cohort", "Sign-up month", "text"),
            Column("size", "Listeners"),
            *(Column(key, f"Month {k}", "ratio") for k, key in enumerate(CELLS)),
        ],
        rows=rows,
    )


@kpi(
    slug="cohort-retention",
    title="Listener retention by sign-up month",
    family="cohorts",
    unit="ratio",
    chart="heatmap",
    x="cohort",
    y=CELLS,
    filters=("country", "region"),
)
def cohort_retention(*, start: date, end: date, today: date, country=None, region=None) -> KpiResult:
    """Cohort = listeners who signed up in month c (every month the range overlaps); cell
    (c, k) = listeners of c with an event in month c+k / listeners of c, k = 0..11. Months
    that have not started yet are empty, not 0."""
    countries = country_scope(country, region)
    cohorts = months(start, end)
    size_rows = CohortSize.objects.filter(cohort__gte=cohorts[0], cohort__lte=cohorts[-1])
    active_rows = CohortActivity.objects.filter(
        cohort__gte=cohorts[0],
        cohort__lte=cohorts[-1],
        month__lt=add_months(cohorts[-1], RETENTION_MONTHS),
    )
    if countries is not None:
        size_rows = size_rows.filter(country__in=countries)
        active_rows = active_rows.filter(country__in=countries)
    sizes = {
        row["cohort"]: row["n"] for row in size_rows.values("cohort").annotate(n=Sum("listeners")).order_by()
    }
    active = {
        (row["cohort"], row["month"]): row["n"]
        for row in active_rows.values("cohort", "month").annotate(n=Sum("listeners")).order_by()
    }
    return _retention(sizes, active, start, end, today)


@reference("cohort-retention")
def cohort_retention_raw(*, start: date, end: date, today: date, country=None, region=None) -> KpiResult:
    countries = country_scope(country, region)
    cohorts = months(start, end)
    zone = reporting_zone()
    listeners = Listener.objects.annotate(
        cohort=TruncMonth("signed_up_at", tzinfo=zone, output_field=DateField())
    ).filter(cohort__gte=cohorts[0], cohort__lte=cohorts[-1])
    events = events_between(cohorts[0], add_months(cohorts[-1], RETENTION_MONTHS)).annotate(
        cohort=TruncMonth("listener__signed_up_at", tzinfo=zone, output_field=DateField()),
        month=TruncMonth("played_at", tzinfo=zone, output_field=DateField()),
    )
    events = events.filter(cohort__gte=cohorts[0], cohort__lte=cohorts[-1])
    if countries is not None:
        listeners = listeners.filter(country__in=countries)
        events = events.filter(listener__country__in=countries)
    sizes = {row["cohort"]: row["n"] for row in listeners.values("cohort").annotate(n=Count("id")).order_by()}
    active: dict[tuple[date, date], int] = defaultdict(int)
    for cohort, month, _ in events.values_list("cohort", "month", "listener_id").distinct():
        active[(cohort, month)] += 1
    return _retention(sizes, active, start, end, today)
