"""Subscriptions and revenue KPIs (ChartMogul / Baremetrics conventions).

Every KPI is written once against a data source: `ROLLUPS` (the tables
`billing.rollups` fills; what the pages read) or `RAW` (subscriptions and payments read
directly; the registered reference). Tests and `benchmarks/` run both and compare.

Readings where the specification is silent:
- Money is Decimal end to end. Recurring revenue is summed annualized (a monthly price
  x 12, an annual price as is: exact two-decimal numbers) and divided by 12 once at the
  end, so MRR values are exact Decimals (28 significant digits); displays round them
  half-even to cents. Amounts are summed as recorded: the service bills one currency.
- Point-in-time series (MRR, ARR, paying listeners) give each bucket of `grain` its
  value at the bucket's end, the first instant of the next bucket, never later than
  t = the first instant of min(end, today + 1 day); the last row is the value at t.
- Monthly KPIs (movements, churn, ARPA, CLV, trial conversion) report the calendar
  months overlapping the range that have started by `today`. A month is measured from
  its first instant to the first instant of the next month, or of `today` + 1 day for
  the month in progress.
- A listener counts once at an instant, under the plan of its primary active
  subscription: a paid one before an unpaid one, then the larger monthly amount, the
  later start, the higher id. The `plan` filter keeps the listeners whose primary plan
  it is; payments and trials are filtered by the plan of their subscription.
- `country` and `region` are the listener's country as recorded now.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from functools import partial, reduce
from typing import Protocol

from django.conf import settings
from django.db.models import Q, QuerySet, Sum

from analytics.kpis import _time
from analytics.kpis._names import country_name
from analytics.kpis.registry import Column, KpiResult, kpi, reference
from billing.models import (
    BillingPeriod,
    Listener,
    MrrMonth,
    Payment,
    PaymentDay,
    PaymentMethod,
    PaymentMonth,
    PaymentRegionDay,
    PaymentRegionMonth,
    PaymentStatus,
    Plan,
    SubscriberDay,
    SubscriberRegionDay,
    Subscription,
    Tier,
    TrialMonth,
)
from billing.regions import countries_in

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MONTHS_PER_YEAR = 12
CLV_CHURN_MONTHS = 6
_REVENUE_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)
_FREE_FALLBACK = ("Free", "free")  # (name, code) when no free-tier plan exists


# Data shapes shared by both sources.


@dataclass(frozen=True)
class Scope:
    """What the filters narrow to: a listener country, a region, a plan code."""

    country: str | None = None
    region: str | None = None
    plan: str | None = None

    @property
    def countries(self) -> frozenset[str] | None:
        """The listener countries in scope; None for all of them."""
        if self.region is None and self.country is None:
            return None
        found = frozenset(countries_in(self.region)) if self.region else None
        if self.country:
            found = frozenset({self.country}) & found if found is not None else frozenset({self.country})
        return found

    @property
    def by_region(self) -> bool:
        """Whether the per-region rollups can answer: no country filter."""
        return self.country is None


@dataclass
class Headcount:
    """A group of listeners at one instant."""

    listeners: int = 0  # signed up by the instant
    paying: int = 0
    arr: Decimal = ZERO  # 12 x MRR

    def add(self, other: Headcount) -> None:
        self.listeners += other.listeners
        self.paying += other.paying
        self.arr += other.arr


@dataclass
class MonthMovements:
    """A month's MRR movements, annualized (12 x MRR), all amounts positive."""

    arr_start: Decimal = ZERO
    arr_new: Decimal = ZERO
    arr_reactivation: Decimal = ZERO
    arr_expansion: Decimal = ZERO
    arr_contraction: Decimal = ZERO
    arr_churn: Decimal = ZERO
    arr_end: Decimal = ZERO
    customers_start: int = 0
    customers_churned: int = 0
    customers_end: int = 0


@dataclass
class PaymentTotals:
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    gross: Decimal = ZERO
    refunds: Decimal = ZERO

    def add(self, other: PaymentTotals) -> None:
        for name in ("attempts", "succeeded", "failed", "gross", "refunds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Source(Protocol):
    def headcounts(
        self, days: list[date], scope: Scope, by: str | None = None
    ) -> dict[date, dict[object, Headcount]]:
        """Per day, the state at the day's first instant, grouped by `by` ("plan_id",
        "country" or None for one group keyed None)."""

    def movements(self, months: list[date], scope: Scope, today: date) -> dict[date, MonthMovements]: ...

    def payments(self, start: date, end: date, scope: Scope, key: str) -> dict[object, PaymentTotals]:
        """Payments over `[start, end)` keyed by "day", "month", "method" or "country"."""

    def trials(self, months: list[date], scope: Scope, today: date) -> dict[date, tuple[int, int]]: ...


# The rollup source: what the pages read.


def _in_scope(queryset: QuerySet, scope: Scope, *, plan: bool = True, regional: bool = False) -> QuerySet:
    if regional:
        if scope.region:
            queryset = queryset.filter(region=scope.region)
    elif scope.countries is not None:
        queryset = queryset.filter(country__in=sorted(scope.countries))
    if plan and scope.plan:
        queryset = queryset.filter(plan__code=scope.plan)
    return queryset


class _Rollups:
    def headcounts(
        self, days: list[date], scope: Scope, by: str | None = None
    ) -> dict[date, dict[object, Headcount]]:
        regional = scope.by_region and by != "country"
        model = SubscriberRegionDay if regional else SubscriberDay
        rows = (
            _in_scope(model.objects.filter(day__in=days), scope, regional=regional)
            .values("day", *([by] if by else []))
            .annotate(n=Sum("listeners"), p=Sum("paying"), a=Sum("arr"))
            .order_by()
        )
        out: dict[date, dict[object, Headcount]] = defaultdict(dict)
        for row in rows:
            out[row["day"]][row[by] if by else None] = Headcount(row["n"], row["p"], _cents(row["a"]))
        return out

    def movements(self, months: list[date], scope: Scope, today: date) -> dict[date, MonthMovements]:
        names = [f.name for f in fields(MonthMovements)]
        rows = (
            _in_scope(MrrMonth.objects.filter(month__in=months), scope, plan=False)
            .values("month")
            .annotate(**{f"sum_{name}": Sum(name) for name in names})
            .order_by()
        )
        return {
            row["month"]: MonthMovements(
                **{
                    name: _cents(row[f"sum_{name}"]) if name.startswith("arr_") else row[f"sum_{name}"]
                    for name in names
                }
            )
            for row in rows
        }

    def payments(self, start: date, end: date, scope: Scope, key: str) -> dict[object, PaymentTotals]:
        sums = {
            "n": Sum("attempts"),
            "ok": Sum("succeeded"),
            "ko": Sum("failed"),
            "g": Sum("gross"),
            "r": Sum("refunds"),
        }
        regional = scope.by_region and key != "country"
        month_model = PaymentRegionMonth if regional else PaymentMonth
        # The per-region days have no method: the days around whole months read the
        # per-country table when grouping by method.
        regional_days = regional and key != "method"
        day_model = PaymentRegionDay if regional_days else PaymentDay
        out: dict[object, PaymentTotals] = defaultdict(PaymentTotals)
        # Whole months from the monthly table, the days around them from the daily one.
        whole_start, whole_end = _whole_months(start, end) if key != "day" else (end, end)
        day_ranges = [(start, end)]
        if whole_start < whole_end:
            months = month_model.objects.filter(month__gte=whole_start, month__lt=whole_end)
            rows = _in_scope(months, scope, regional=regional).values(key).annotate(**sums).order_by()
            for row in rows:
                out[row[key]].add(_payment_totals(row))
            day_ranges = [(start, whole_start), (whole_end, end)]
        in_ranges = [Q(day__gte=first, day__lt=stop) for first, stop in day_ranges if first < stop]
        if not in_ranges:
            return dict(out)
        day_key = "day" if key in ("day", "month") else key
        rows = (
            _in_scope(
                day_model.objects.filter(reduce(operator.or_, in_ranges)), scope, regional=regional_days
            )
            .values(day_key)
            .annotate(**sums)
            .order_by()
        )
        for row in rows:
            bucket = _time.month_start(row["day"]) if key == "month" else row[day_key]
            out[bucket].add(_payment_totals(row))
        return dict(out)

    def trials(self, months: list[date], scope: Scope, today: date) -> dict[date, tuple[int, int]]:
        rows = (
            _in_scope(TrialMonth.objects.filter(month__in=months), scope)
            .values("month")
            .annotate(n=Sum("trials"), ok=Sum("converted"))
            .order_by()
        )
        return {row["month"]: (row["n"], row["ok"]) for row in rows}


def _payment_totals(row: dict) -> PaymentTotals:
    return PaymentTotals(row["n"], row["ok"], row["ko"], _cents(row["g"]), _cents(row["r"]))


def _cents(value: Decimal | None) -> Decimal:
    """A database sum of two-decimal amounts, back at two decimals: exact already, but
    SQLite sums decimals as floats and returns noise digits."""
    return (value or ZERO).quantize(CENT)


def _whole_months(start: date, end: date) -> tuple[date, date]:
    """The calendar months lying wholly inside `[start, end)`, as `[first, last_end)`."""
    first = start if start.day == 1 else _time.month_end(start)
    return first, max(first, _time.month_start(end))


# The raw source: the definitions applied to subscriptions and payments directly.


def _annualized(subscription: Subscription) -> Decimal:
    if subscription.billing_period == BillingPeriod.ANNUAL:
        return subscription.price
    return subscription.price * MONTHS_PER_YEAR


def _listener_state(
    subscriptions: Iterable[Subscription], at: datetime
) -> tuple[Subscription | None, Decimal]:
    """The primary active subscription and the 12 x MRR of one listener at `at`."""
    active = [s for s in subscriptions if s.is_active_at(at)]
    paid = [s for s in active if s.is_paid_at(at)]
    primary = max(active, key=lambda s: (s in paid, _annualized(s), s.started_at, s.pk), default=None)
    return primary, sum((_annualized(s) for s in paid), ZERO)


def _first_paid(subscriptions: Iterable[Subscription]) -> datetime | None:
    """The first instant any of the subscriptions was paid."""
    instants = []
    for s in subscriptions:
        paid_from = s.trial_ends_at or s.started_at
        if s.price > 0 and (s.ended_at is None or paid_from < s.ended_at):
            instants.append(paid_from)
    return min(instants, default=None)


class _Raw:
    def _listeners(self, scope: Scope) -> QuerySet:
        listeners = Listener.objects.only("id", "country", "signed_up_at")
        if scope.countries is not None:
            listeners = listeners.filter(country__in=sorted(scope.countries))
        return listeners

    def _subscriptions_by_listener(self, scope: Scope) -> dict[int, list[Subscription]]:
        subscriptions = Subscription.objects.select_related("plan").only(
            "id",
            "listener_id",
            "plan__code",
            "started_at",
            "trial_ends_at",
            "ended_at",
            "price",
            "billing_period",
        )
        if scope.countries is not None:
            subscriptions = subscriptions.filter(listener__country__in=sorted(scope.countries))
        out: dict[int, list[Subscription]] = defaultdict(list)
        for subscription in subscriptions:
            out[subscription.listener_id].append(subscription)
        return out

    def headcounts(
        self, days: list[date], scope: Scope, by: str | None = None
    ) -> dict[date, dict[object, Headcount]]:
        subscriptions = self._subscriptions_by_listener(scope)
        out: dict[date, dict[object, Headcount]] = defaultdict(dict)
        for listener in self._listeners(scope):
            for day in days:
                at = _time.day_start(day)
                primary, arr = _listener_state(subscriptions.get(listener.pk, ()), at)
                signed = listener.signed_up_at <= at
                if not signed and not arr:
                    continue
                if scope.plan and (primary is None or primary.plan.code != scope.plan):
                    continue
                key = {
                    None: None,
                    "plan_id": primary.plan_id if primary else None,
                    "country": str(listener.country),
                }[by]
                out[day].setdefault(key, Headcount()).add(Headcount(int(signed), int(arr > 0), arr))
        return out

    def movements(self, months: list[date], scope: Scope, today: date) -> dict[date, MonthMovements]:
        subscriptions = self._subscriptions_by_listener(scope)
        out: dict[date, MonthMovements] = {}
        for month in months:
            start_at = _time.day_start(month)
            end_at = _time.day_start(min(_time.month_end(month), today + _time.ONE_DAY))
            totals = MonthMovements()
            for subs in subscriptions.values():
                s = _listener_state(subs, start_at)[1]
                e = _listener_state(subs, end_at)[1]
                totals.arr_start += s
                totals.arr_end += e
                totals.customers_start += s > 0
                totals.customers_end += e > 0
                if s == 0 and e > 0:
                    first_paid = _first_paid(subs)
                    if first_paid is not None and first_paid < start_at:
                        totals.arr_reactivation += e
                    else:
                        totals.arr_new += e
                elif s > 0 and e == 0:
                    totals.arr_churn += s
                    totals.customers_churned += 1
                elif s > 0 and e > s:
                    totals.arr_expansion += e - s
                elif e > 0 and e < s:
                    totals.arr_contraction += s - e
            out[month] = totals
        return out

    def payments(self, start: date, end: date, scope: Scope, key: str) -> dict[object, PaymentTotals]:
        start_at, end_at = _time.day_bounds(start, end)
        payments = Payment.objects.filter(
            Q(paid_at__gte=start_at, paid_at__lt=end_at)
            | Q(refunded_at__gte=start_at, refunded_at__lt=end_at)
        ).values_list("paid_at", "refunded_at", "amount", "status", "method", "listener__country")
        if scope.countries is not None:
            payments = payments.filter(listener__country__in=sorted(scope.countries))
        if scope.plan:
            payments = payments.filter(subscription__plan__code=scope.plan)

        def key_of(moment: datetime, method: str, country: str) -> object:
            day = _time.local_date(moment)
            return {"day": day, "month": _time.month_start(day), "method": method, "country": country}[key]

        out: dict[object, PaymentTotals] = defaultdict(PaymentTotals)
        for paid_at, refunded_at, amount, status, method, country in payments:
            if start_at <= paid_at < end_at:
                revenue = status in _REVENUE_STATUSES
                out[key_of(paid_at, method, str(country))].add(
                    PaymentTotals(
                        attempts=1,
                        succeeded=int(revenue),
                        failed=int(status == PaymentStatus.FAILED),
                        gross=amount if revenue else ZERO,
                    )
                )
            if refunded_at is not None and start_at <= refunded_at < end_at:
                out[key_of(refunded_at, method, str(country))].add(PaymentTotals(refunds=amount))
        return dict(out)

    def trials(self, months: list[date], scope: Scope, today: date) -> dict[date, tuple[int, int]]:
        if not months:
            return {}
        cutoff = _time.day_start(today + _time.ONE_DAY)
        start_at, end_at = _time.day_bounds(months[0], _time.month_end(months[-1]))
        subscriptions = Subscription.objects.filter(
            trial_ends_at__isnull=False,
            trial_ends_at__lte=cutoff,
            started_at__gte=start_at,
            started_at__lt=end_at,
        )
        if scope.countries is not None:
            subscriptions = subscriptions.filter(listener__country__in=sorted(scope.countries))
        if scope.plan:
            subscriptions = subscriptions.filter(plan__code=scope.plan)
        out: dict[date, list[int]] = defaultdict(lambda: [0, 0])
        for subscription in subscriptions:
            counts = out[_time.month_start(_time.local_date(subscription.started_at))]
            counts[0] += 1
            counts[1] += subscription.is_active_at(subscription.trial_ends_at)
        return {month: (n, ok) for month, (n, ok) in out.items() if month in months}


ROLLUPS: Source = _Rollups()
RAW: Source = _Raw()


# Shared steps.


def _scope(country: str | None = None, region: str | None = None, plan: str | None = None) -> Scope:
    return Scope(country=country.upper() if country else None, region=region or None, plan=plan or None)


def _points(start: date, end: date, today: date, grain: str) -> list[tuple[date, date]]:
    """(bucket start, day whose first instant the bucket is measured at) for every bucket
    of `[start, end)` up to t = min(end, today + 1 day)."""
    _time.check_range(start, end)
    _time.check_grain(grain)
    stop = min(end, today + _time.ONE_DAY)
    if stop <= start:
        return []
    return [
        (bucket, min(_time.next_bucket(bucket, grain), stop)) for bucket in _time.buckets(start, stop, grain)
    ]


def _started_months(start: date, end: date, today: date) -> list[date]:
    _time.check_range(start, end)
    return [month for month in _time.months(start, end) if month <= today]


def _month_label(month: date) -> str:
    return f"{month:%Y-%m}"


def _mrr(arr: Decimal) -> Decimal:
    # The one division: exact annualized sums in, a 28-digit Decimal out.
    return arr / MONTHS_PER_YEAR


def _ratio(numerator: int | Decimal, denominator: int | Decimal) -> float | None:
    # Through an exact fraction: the float is the correctly rounded ratio, whatever the sums.
    if not denominator:
        return None
    return float(Fraction(numerator) / Fraction(denominator))


def _headcount_series(
    source: Source, *, start: date, end: date, today: date, grain: str, scope: Scope
) -> list[tuple[date, Headcount]]:
    points = _points(start, end, today, grain)
    found = source.headcounts(sorted({day for _, day in points}), scope)
    return [(bucket, found.get(day, {}).get(None, Headcount())) for bucket, day in points]


# Subscribers and recurring revenue.


@kpi(
    slug="subscribers-by-plan",
    title="Subscribers by plan",
    family="revenue",
    unit="count",
    chart="doughnut",
    x="plan",
    y=("listeners",),
    filters=("country", "region"),
)
def subscribers_by_plan(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    source: Source = ROLLUPS,
) -> KpiResult:
    """Listeners signed up by the end of the range (or now, if earlier) per plan of their active
    subscription then; listeners with no active subscription count under Free.

    A listener with more than one active subscription counts once, under its primary
    one (paid before unpaid, then the larger monthly amount). Plans without listeners
    are left out; Free is always shown.
    """
    _time.check_range(start, end)
    day = _time.local_date(_time.as_of(end=end, today=today))
    counts = source.headcounts([day], _scope(country, region), by="plan_id").get(day, {})
    plans = list(Plan.objects.order_by("price", "code").values("id", "name", "code", "tier"))
    free = next((plan for plan in plans if plan["tier"] == Tier.FREE), None)
    if free is None:
        free = {"id": None, "name": _FREE_FALLBACK[0], "code": _FREE_FALLBACK[1], "tier": Tier.FREE}
        plans.insert(0, free)
    listeners = {plan["id"]: counts[plan["id"]].listeners if plan["id"] in counts else 0 for plan in plans}
    if free["id"] is not None and None in counts:
        # No active subscription counts under the free tier.
        listeners[free["id"]] += counts[None].listeners
    rows = [
        {"plan": plan["name"], "plan_code": plan["code"], "listeners": listeners[plan["id"]]}
        for plan in plans
        if listeners[plan["id"]] or plan is free
    ]
    return KpiResult(
        columns=[
            Column("plan", "Plan", "text"),
            Column("plan_code", "Code", "text"),
            Column("listeners", "Listeners"),
        ],
        rows=rows,
    )


@kpi(
    slug="paying-listeners",
    title="Paying listeners",
    family="revenue",
    unit="count",
    chart="line",
    x="period",
    y=("paying_listeners",),
    filters=("country", "region", "plan", "grain"),
    headline="paying_listeners",
)
def paying_listeners(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    plan: str | None = None,
    grain: str = "month",
    source: Source = ROLLUPS,
) -> KpiResult:
    """Distinct listeners with a paid subscription (active, price above 0, past any trial) at the end
    of each period; the last period ends at the range end or now, whichever is earlier.

    The value of a period is taken at its end, the first instant of the next period,
    never later than t = the first instant of min(end, today + 1 day).
    """
    series = _headcount_series(
        source, start=start, end=end, today=today, grain=grain, scope=_scope(country, region, plan)
    )
    return KpiResult(
        columns=[Column("period", "Period", "date"), Column("paying_listeners", "Paying listeners")],
        rows=[{"period": bucket.isoformat(), "paying_listeners": state.paying} for bucket, state in series],
    )


@kpi(
    slug="mrr",
    title="Monthly recurring revenue (MRR)",
    family="revenue",
    unit="money",
    chart="line",
    x="period",
    y=("mrr",),
    filters=("country", "region", "plan", "grain"),
    headline="mrr",
)
def mrr(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    plan: str | None = None,
    grain: str = "month",
    source: Source = ROLLUPS,
) -> KpiResult:
    """Sum of the monthly amounts (annual prices / 12) of the subscriptions paid at the end of each
    period; the last period ends at the range end or now, whichever is earlier.

    Values are exact Decimals: the annualized prices are summed and divided by 12 once;
    displays round half-even to cents. Periods are measured at their end, never later
    than t = the first instant of min(end, today + 1 day).
    """
    series = _headcount_series(
        source, start=start, end=end, today=today, grain=grain, scope=_scope(country, region, plan)
    )
    return KpiResult(
        columns=[Column("period", "Period", "date"), Column("mrr", "MRR", "money")],
        rows=[{"period": bucket.isoformat(), "mrr": _mrr(state.arr)} for bucket, state in series],
    )


@kpi(
    slug="arr",
    title="Annual recurring revenue (ARR)",
    family="revenue",
    unit="money",
    chart="line",
    x="period",
    y=("arr",),
    filters=("country", "region", "plan", "grain"),
    headline="arr",
)
def arr(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    plan: str | None = None,
    grain: str = "month",
    source: Source = ROLLUPS,
) -> KpiResult:
    """12 x MRR at the end of each period; the last period ends at the range end or now, whichever is
    earlier.

    Periods are measured as for MRR.
    """
    series = _headcount_series(
        source, start=start, end=end, today=today, grain=grain, scope=_scope(country, region, plan)
    )
    return KpiResult(
        columns=[Column("period", "Period", "date"), Column("arr", "ARR", "money")],
        rows=[{"period": bucket.isoformat(), "arr": state.arr} for bucket, state in series],
    )


def _month_movements(
    source: Source, *, start: date, end: date, today: date, scope: Scope
) -> list[tuple[date, MonthMovements]]:
    months = _started_months(start, end, today)
    found = source.movements(months, scope, today)
    return [(month, found.get(month, MonthMovements())) for month in months]


@kpi(
    slug="mrr-movements",
    title="MRR movements",
    family="revenue",
    unit="money",
    chart="stacked-bar",
    x="month",
    y=("new", "reactivation", "expansion", "contraction", "churn"),
    filters=("country", "region"),
    headline="mrr_end",
)
def mrr_movements(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    source: Source = ROLLUPS,
) -> KpiResult:
    """Per month, each listener's MRR at its start (s) against its end (e): new (s = 0 < e, never paid
    before), reactivation (s = 0 < e, paid before), expansion (0 < s < e), contraction (0 < e < s) and
    churn (s > 0 = e); contraction and churn are negative, so MRR start + the five movements = MRR end.

    "Paid before" means a paid subscription at some instant before the month's start.
    The end of the month in progress is the first instant of tomorrow.
    """
    rows = []
    for month, m in _month_movements(
        source, start=start, end=end, today=today, scope=_scope(country, region)
    ):
        rows.append(
            {
                "month": _month_label(month),
                "mrr_start": _mrr(m.arr_start),
                "new": _mrr(m.arr_new),
                "reactivation": _mrr(m.arr_reactivation),
                "expansion": _mrr(m.arr_expansion),
                "contraction": -_mrr(m.arr_contraction),
                "churn": -_mrr(m.arr_churn),
                "mrr_end": _mrr(m.arr_end),
            }
        )
    return KpiResult(
        columns=[
            Column("month", "Month", "text"),
            Column("mrr_start", "MRR at start", "money"),
            Column("new", "New", "money"),
            Column("reactivation", "Reactivation", "money"),
            Column("expansion", "Expansion", "money"),
            Column("contraction", "Contraction", "money"),
            Column("churn", "Churn", "money"),
            Column("mrr_end", "MRR at end", "money"),
        ],
        rows=rows,
    )


@kpi(
    slug="customer-churn",
    title="Customer churn rate",
    family="revenue",
    unit="ratio",
    chart="line",
    x="month",
    y=("churn_rate",),
    filters=("country", "region"),
    headline="churn_rate",
)
def customer_churn(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    source: Source = ROLLUPS,
) -> KpiResult:
    """Listeners paying at the start of the month and not paying at its end / listeners paying at its start;
    listeners who join and leave within the month are not counted.

    Undefined (empty) when nobody paid at the month's start.
    """
    rows = [
        {
            "month": _month_label(month),
            "customers_start": m.customers_start,
            "churned": m.customers_churned,
            "churn_rate": _ratio(m.customers_churned, m.customers_start),
        }
        for month, m in _month_movements(
            source, start=start, end=end, today=today, scope=_scope(country, region)
        )
    ]
    return KpiResult(
        columns=[
            Column("month", "Month", "text"),
            Column("customers_start", "Paying at start"),
            Column("churned", "Churned"),
            Column("churn_rate", "Churn rate", "ratio"),
        ],
        rows=rows,
    )


@kpi(
    slug="mrr-churn",
    title="MRR churn rate",
    family="revenue",
    unit="ratio",
    chart="line",
    x="month",
    y=("gross_mrr_churn", "net_mrr_churn"),
    filters=("country", "region"),
)
def mrr_churn(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    source: Source = ROLLUPS,
) -> KpiResult:
    """Gross MRR churn = (churn + contraction) / MRR at the month's start; net MRR churn = (churn +
    contraction - expansion - reactivation) / MRR at the start (negative when the base grew).

    Undefined (empty) when MRR at the month's start is 0. New MRR is left out of both.
    """
    rows = []
    for month, m in _month_movements(
        source, start=start, end=end, today=today, scope=_scope(country, region)
    ):
        lost = m.arr_churn + m.arr_contraction
        rows.append(
            {
                "month": _month_label(month),
                "mrr_start": _mrr(m.arr_start),
                "gross_mrr_churn": _ratio(lost, m.arr_start),
                "net_mrr_churn": _ratio(lost - m.arr_expansion - m.arr_reactivation, m.arr_start),
            }
        )
    return KpiResult(
        columns=[
            Column("month", "Month", "text"),
            Column("mrr_start", "MRR at start", "money"),
            Column("gross_mrr_churn", "Gross MRR churn", "ratio"),
            Column("net_mrr_churn", "Net MRR churn", "ratio"),
        ],
        rows=rows,
    )


def _arpa(m: MonthMovements) -> Decimal | None:
    return _mrr(m.arr_end) / m.customers_end if m.customers_end else None


@kpi(
    slug="arpa",
    title="Average revenue per account (ARPA)",
    family="revenue",
    unit="money",
    chart="line",
    x="month",
    y=("arpa",),
    filters=("country", "region"),
    headline="arpa",
)
def arpa(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    source: Source = ROLLUPS,
) -> KpiResult:
    """MRR at the end of the month / paying listeners at the end of the month.

    Undefined (empty) when nobody pays at the month's end; the month in progress ends
    at the first instant of tomorrow.
    """
    rows = [
        {
            "month": _month_label(month),
            "mrr_end": _mrr(m.arr_end),
            "paying_end": m.customers_end,
            "arpa": _arpa(m),
        }
        for month, m in _month_movements(
            source, start=start, end=end, today=today, scope=_scope(country, region)
        )
    ]
    return KpiResult(
        columns=[
            Column("month", "Month", "text"),
            Column("mrr_end", "MRR at end", "money"),
            Column("paying_end", "Paying at end"),
            Column("arpa", "ARPA", "money"),
        ],
        rows=rows,
    )


@kpi(
    slug="clv",
    title="Customer lifetime value (CLV)",
    family="revenue",
    unit="money",
    chart="line",
    x="month",
    y=("clv", "clv_margin"),
    filters=("country", "region"),
    headline="clv",
)
def clv(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    source: Source = ROLLUPS,
) -> KpiResult:
    """ARPA of the month / the mean customer churn rate of the 6 months before it (of those with paying
    listeners at their start, when fewer); the margin-adjusted CLV multiplies by (1 - royalty share).

    Undefined (empty) when no earlier month had paying listeners, when that mean is 0,
    or when ARPA is undefined. The rates are averaged unweighted, as ChartMogul does.
    """
    months = _started_months(start, end, today)
    if not months:
        found: dict[date, MonthMovements] = {}
    else:
        history = _time.months(_time.add_months(months[0], -CLV_CHURN_MONTHS), months[-1] + _time.ONE_DAY)
        found = source.movements(history, _scope(country, region), today)
    keep = Decimal(1) - settings.ROYALTY_SHARE
    rows = []
    for month in months:
        earlier = [found.get(_time.add_months(month, -k)) for k in range(CLV_CHURN_MONTHS, 0, -1)]
        rates = [
            Decimal(m.customers_churned) / Decimal(m.customers_start)
            for m in earlier
            if m is not None and m.customers_start
        ]
        mean = sum(rates, Decimal(0)) / len(rates) if rates else None
        month_arpa = _arpa(found.get(month, MonthMovements()))
        value = month_arpa / mean if month_arpa is not None and mean else None
        rows.append(
            {
                "month": _month_label(month),
                "arpa": month_arpa,
                "mean_churn": float(mean) if mean is not None else None,
                "clv": value,
                "clv_margin": value * keep if value is not None else None,
            }
        )
    return KpiResult(
        columns=[
            Column("month", "Month", "text"),
            Column("arpa", "ARPA", "money"),
            Column("mean_churn", "Mean churn, 6 months before", "ratio"),
            Column("clv", "CLV", "money"),
            Column("clv_margin", "CLV after royalties", "money"),
        ],
        rows=rows,
    )


# Payments.


def _payment_series(
    source: Source, *, start: date, end: date, grain: str, scope: Scope
) -> list[tuple[date, PaymentTotals]]:
    _time.check_range(start, end)
    _time.check_grain(grain)
    found = source.payments(start, end, scope, "month" if grain == "month" else "day")
    if grain == "week":
        weekly: dict[object, PaymentTotals] = defaultdict(PaymentTotals)
        for day, totals in found.items():
            weekly[_time.week_start(day)].add(totals)
        found = weekly
    return [(bucket, found.get(bucket, PaymentTotals())) for bucket in _time.buckets(start, end, grain)]


@kpi(
    slug="gross-revenue",
    title="Gross revenue",
    family="revenue",
    unit="money",
    chart="bar",
    x="period",
    y=("gross",),
    filters=("country", "region", "plan", "grain"),
    headline="gross",
)
def gross_revenue(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    plan: str | None = None,
    grain: str = "month",
    source: Source = ROLLUPS,
) -> KpiResult:
    """Amounts of the payments that succeeded (including those refunded later) with the attempt in the period.

    A period that starts before the range counts only its days inside the range.
    """
    series = _payment_series(source, start=start, end=end, grain=grain, scope=_scope(country, region, plan))
    return KpiResult(
        columns=[Column("period", "Period", "date"), Column("gross", "Gross revenue", "money")],
        rows=[{"period": bucket.isoformat(), "gross": totals.gross} for bucket, totals in series],
    )


@kpi(
    slug="net-revenue",
    title="Net revenue",
    family="revenue",
    unit="money",
    chart="bar",
    x="period",
    y=("gross", "refunds", "net"),
    filters=("country", "region", "plan", "grain"),
    headline="net",
)
def net_revenue(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    plan: str | None = None,
    grain: str = "month",
    source: Source = ROLLUPS,
) -> KpiResult:
    """Gross revenue of the period minus the amounts refunded in the period (by refund date, whenever the
    payment was made).

    A refund lands in the period it was made, so net revenue may be negative.
    """
    series = _payment_series(source, start=start, end=end, grain=grain, scope=_scope(country, region, plan))
    return KpiResult(
        columns=[
            Column("period", "Period", "date"),
            Column("gross", "Gross", "money"),
            Column("refunds", "Refunds", "money"),
            Column("net", "Net revenue", "money"),
        ],
        rows=[
            {
                "period": bucket.isoformat(),
                "gross": totals.gross,
                "refunds": totals.refunds,
                "net": totals.gross - totals.refunds,
            }
            for bucket, totals in series
        ],
    )


@kpi(
    slug="payment-failure-rate",
    title="Payment failure rate",
    family="revenue",
    unit="ratio",
    chart="line",
    x="period",
    y=("failure_rate",),
    filters=("country", "region", "plan", "grain"),
    headline="failure_rate",
)
def payment_failure_rate(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    plan: str | None = None,
    grain: str = "month",
    source: Source = ROLLUPS,
) -> KpiResult:
    """Failed payment attempts / all payment attempts in the period (a retry is a new attempt; pending ones
    count as attempts).

    Undefined (empty) in a period without attempts.
    """
    series = _payment_series(source, start=start, end=end, grain=grain, scope=_scope(country, region, plan))
    return KpiResult(
        columns=[
            Column("period", "Period", "date"),
            Column("attempts", "Attempts"),
            Column("failed", "Failed"),
            Column("failure_rate", "Failure rate", "ratio"),
        ],
        rows=[
            {
                "period": bucket.isoformat(),
                "attempts": totals.attempts,
                "failed": totals.failed,
                "failure_rate": _ratio(totals.failed, totals.attempts),
            }
            for bucket, totals in series
        ],
    )


@kpi(
    slug="payment-methods",
    title="Payment methods",
    family="revenue",
    unit="count",
    chart="doughnut",
    x="method",
    y=("payments",),
    filters=("country", "region", "plan"),
)
def payment_methods(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    plan: str | None = None,
    source: Source = ROLLUPS,
) -> KpiResult:
    """Payment attempts in the range per payment method, with those that succeeded (including later refunds)
    and their gross amount.

    Methods without attempts in the range are left out.
    """
    _time.check_range(start, end)
    found = source.payments(start, end, _scope(country, region, plan), "method")
    labels = dict(PaymentMethod.choices)
    rows = [
        {
            "method": labels.get(code, code),
            "method_code": code,
            "payments": totals.attempts,
            "succeeded": totals.succeeded,
            "gross": totals.gross,
        }
        for code, totals in found.items()
        if totals.attempts
    ]
    rows.sort(key=lambda row: (-row["payments"], row["method_code"]))
    return KpiResult(
        columns=[
            Column("method", "Method", "text"),
            Column("method_code", "Code", "text"),
            Column("payments", "Attempts"),
            Column("succeeded", "Succeeded"),
            Column("gross", "Gross", "money"),
        ],
        rows=rows,
    )


@kpi(
    slug="trial-conversion",
    title="Trial conversion",
    family="revenue",
    unit="ratio",
    chart="line",
    x="month",
    y=("conversion_rate",),
    filters=("country", "region", "plan"),
    headline="conversion_rate",
)
def trial_conversion(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    plan: str | None = None,
    source: Source = ROLLUPS,
) -> KpiResult:
    """Subscriptions whose trial started in the month and that were still active when the trial ended /
    subscriptions whose trial started in the month; trials that have not ended by today are left out of
    both.

    A trial starts with its subscription. "Not ended by today" is judged at the first
    instant of tomorrow, whatever the range, so past months fill in as trials end.
    Undefined (empty) for a month without ended trials.
    """
    months = _started_months(start, end, today)
    found = source.trials(months, _scope(country, region, plan), today)
    rows = []
    for month in months:
        trials, converted = found.get(month, (0, 0))
        rows.append(
            {
                "month": _month_label(month),
                "trials": trials,
                "converted": converted,
                "conversion_rate": _ratio(converted, trials),
            }
        )
    return KpiResult(
        columns=[
            Column("month", "Trial start month", "text"),
            Column("trials", "Ended trials"),
            Column("converted", "Converted"),
            Column("conversion_rate", "Conversion rate", "ratio"),
        ],
        rows=rows,
    )


@kpi(
    slug="revenue-by-country",
    title="Revenue by country",
    family="revenue",
    unit="money",
    chart="horizontal-bar",
    x="country",
    y=("gross", "net"),
    filters=("region", "plan"),
)
def revenue_by_country(
    *,
    start: date,
    end: date,
    today: date,
    region: str | None = None,
    plan: str | None = None,
    source: Source = ROLLUPS,
) -> KpiResult:
    """Per listener country: paying listeners at the end of the range (or now, if earlier), gross
    revenue and net revenue (gross - refunds made) in the range.

    Countries by gross revenue, highest first, ties by country code; countries with
    neither paying listeners nor payments are left out.
    """
    _time.check_range(start, end)
    scope = _scope(region=region, plan=plan)
    day = _time.local_date(_time.as_of(end=end, today=today))
    paying = source.headcounts([day], scope, by="country").get(day, {})
    money = source.payments(start, end, scope, "country")
    rows = []
    for code in sorted(set(paying) | set(money)):
        totals = money.get(code, PaymentTotals())
        payers = paying[code].paying if code in paying else 0
        if not payers and not totals.attempts and not totals.refunds:
            continue
        rows.append(
            {
                "country": code,
                "country_name": country_name(code),
                "paying_listeners": payers,
                "gross": totals.gross,
                "net": totals.gross - totals.refunds,
            }
        )
    rows.sort(key=lambda row: (-row["gross"], row["country"]))
    return KpiResult(
        columns=[
            Column("country", "Country", "text"),
            Column("paying_listeners", "Paying listeners"),
            Column("gross", "Gross revenue", "money"),
            Column("net", "Net revenue", "money"),
        ],
        rows=rows,
    )


# The raw references: the same KPIs computed from subscriptions and payments.
for _slug, _fn in {
    "subscribers-by-plan": subscribers_by_plan,
    "paying-listeners": paying_listeners,
    "mrr": mrr,
    "arr": arr,
    "mrr-movements": mrr_movements,
    "customer-churn": customer_churn,
    "mrr-churn": mrr_churn,
    "arpa": arpa,
    "clv": clv,
    "gross-revenue": gross_revenue,
    "net-revenue": net_revenue,
    "payment-failure-rate": payment_failure_rate,
    "payment-methods": payment_methods,
    "trial-conversion": trial_conversion,
    "revenue-by-country": revenue_by_country,
}.items():
    reference(_slug)(partial(_fn, source=RAW))
