"""Fixtures of the KPI pages' tests: a private KPI registry holding small fake KPIs.

KPI pages, chart endpoints and CSV downloads are generic over the registry; their
tests register fake KPIs in an empty registry so they do not depend on the real KPI
modules (which have their own tests). The fakes compute from the database like real
KPIs do, one kind of chart each.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from analytics.kpis import registry
from analytics.kpis.registry import Column, KpiResult
from billing.models import Listener, Payment, PaymentStatus
from billing.regions import countries_in
from tests.factories import at, make_listener, make_payment, make_plan, make_subscription

# Every test of the KPI pages runs on this day, so tests can state literal dates.
TODAY = date(2026, 3, 15)


@pytest.fixture
def kpi_registry(monkeypatch):
    """An empty KPI registry for the test; the real one comes back afterwards.

    The real KPI modules are imported first: importing them later, inside the test,
    would register the real KPIs into the temporary registry and lose them.
    """
    registry.all_kpis()
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_REFERENCES", {})
    return registry


@pytest.fixture
def plain_static(settings):
    """Serve pages as in development though tests run with DEBUG off: static URLs
    without a collectstatic manifest, plain HTTP without the redirect to HTTPS."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def frozen_today(monkeypatch):
    """The views' "today" (the reporting zone's date) is TODAY."""
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)
    return TODAY


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


def _register_fakes() -> None:
    kpi = registry.kpi

    @kpi(
        slug="fake-signups",
        title="Sign-ups",
        family="audience",
        unit="count",
        chart="line",
        x="day",
        y=("signups", "share"),
        filters=("country", "region"),
        headline="signups",
    )
    def fake_signups(*, start: date, end: date, today: date, country=None, region=None) -> KpiResult:
        """Listeners who signed up on each day; share = the day's part of the period's sign-ups."""
        listeners = Listener.objects.filter(signed_up_at__date__gte=start, signed_up_at__date__lt=end)
        if country:
            listeners = listeners.filter(country=country)
        if region:
            listeners = listeners.filter(country__in=countries_in(region))
        per_day = Counter(
            timezone.localtime(t).date() for t in listeners.values_list("signed_up_at", flat=True)
        )
        total = sum(per_day.values())
        rows = [
            {"day": day, "signups": per_day[day], "share": per_day[day] / total if total else None}
            for day in _days(start, end)
        ]
        return KpiResult(
            columns=[
                Column("day", "Day", "date"),
                Column("signups", "Sign-ups"),
                Column("share", "Share", "ratio"),
            ],
            rows=rows,
        )

    @kpi(
        slug="fake-listeners-by-country",
        title="Listeners by country",
        family="geography",
        unit="count",
        chart="horizontal-bar",
        x="country",
        y=("listeners",),
    )
    def fake_listeners_by_country(*, start: date, end: date, today: date) -> KpiResult:
        """Listeners signed up before the end of the period, by country, most first."""
        counts = (
            Listener.objects.filter(signed_up_at__date__lt=end)
            .values("country")
            .annotate(listeners=Count("id"))
            .order_by("-listeners", "country")
        )
        return KpiResult(
            columns=[Column("country", "Country", "text"), Column("listeners", "Listeners")],
            rows=[{"country": row["country"], "listeners": row["listeners"]} for row in counts],
        )

    @kpi(
        slug="fake-gross-by-plan",
        title="Gross revenue by plan",
        family="revenue",
        unit="money",
        chart="stacked-bar",
        x="plan",
        y=("gross", "refunded"),
        filters=("plan",),
        headline="gross",
    )
    def fake_gross_by_plan(*, start: date, end: date, today: date, plan=None) -> KpiResult:
        """Payments that succeeded in the period (refunded ones included), by plan."""
        payments = Payment.objects.filter(
            paid_at__date__gte=start,
            paid_at__date__lt=end,
            status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED],
        )
        if plan:
            payments = payments.filter(subscription__plan__code=plan)
        sums = {}
        for status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
            for row in (
                payments.filter(status=status)
                .values("subscription__plan__code", "subscription__plan__name")
                .annotate(total=Sum("amount"))
            ):
                key = (row["subscription__plan__code"], row["subscription__plan__name"])
                # SQLite sums decimals with extra digits; the KPI states cents.
                sums.setdefault(key, {})[status] = row["total"].quantize(Decimal("0.01"))
        rows = [
            {
                "plan": name,
                "plan_code": code,
                "gross": sum(by_status.values(), Decimal(0)),
                "refunded": by_status.get(PaymentStatus.REFUNDED, Decimal(0)),
            }
            for (code, name), by_status in sorted(sums.items())
        ]
        return KpiResult(
            columns=[
                Column("plan", "Plan", "text"),
                Column("gross", "Gross", "money"),
                Column("refunded", "Refunded", "money"),
            ],
            rows=rows,
        )

    @kpi(
        slug="fake-retention",
        title="Retention",
        family="cohorts",
        unit="ratio",
        chart="heatmap",
        x="cohort",
        y=("m0", "m1"),
    )
    def fake_retention(*, start: date, end: date, today: date) -> KpiResult:
        """Share of each sign-up month's listeners with a subscription started in month k."""
        rows = []
        month = date(start.year, start.month, 1)
        while month < end:
            following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
            cohort = Listener.objects.filter(signed_up_at__date__gte=month, signed_up_at__date__lt=following)
            size = cohort.count()
            subscribed = cohort.filter(subscriptions__started_at__date__lt=following).distinct().count()
            rows.append(
                {
                    "cohort": month.strftime("%Y-%m"),
                    "listeners": size,
                    "m0": subscribed / size if size else None,
                    "m1": None,
                }
            )
            month = following
        return KpiResult(
            columns=[
                Column("cohort", "Cohort", "text"),
                Column("listeners", "Listeners"),
                Column("m0", "Month 0", "ratio"),
                Column("m1", "Month 1", "ratio"),
            ],
            rows=rows,
        )

    # The dashboard's cards: two of its six KPIs, the others stay unregistered.
    @kpi(
        slug="mrr",
        title="MRR",
        family="revenue",
        unit="money",
        chart="line",
        x="month",
        y=("mrr",),
        filters=("grain",),
        headline="mrr",
    )
    def fake_mrr(*, start: date, end: date, today: date, grain: str = "day") -> KpiResult:
        """Monthly amount of the subscriptions started before each month's end (a fake)."""
        rows = []
        month = date(start.year, start.month, 1)
        while month < end:
            following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
            as_of = min(following, end)
            amount = Payment.objects.filter(paid_at__date__lt=as_of).aggregate(total=Sum("amount"))["total"]
            rows.append({"month": month.strftime("%Y-%m"), "mrr": amount or Decimal(0)})
            month = following
        return KpiResult(columns=[Column("month", "Month", "text"), Column("mrr", "MRR", "money")], rows=rows)

    @kpi(
        slug="customer-churn",
        title="Customer churn",
        family="revenue",
        unit="ratio",
        chart="bar",
        x="month",
        y=("churn",),
        headline="churn",
    )
    def fake_churn(*, start: date, end: date, today: date) -> KpiResult:
        """Share of listeners without a payment in the period (a fake)."""
        listeners = Listener.objects.count()
        paying = Payment.objects.filter(paid_at__date__gte=start, paid_at__date__lt=end)
        paying_count = paying.values("listener").distinct().count()
        churn = (listeners - paying_count) / listeners if listeners else None
        return KpiResult(
            columns=[Column("month", "Month", "text"), Column("churn", "Churn", "ratio")],
            rows=[{"month": start.strftime("%Y-%m"), "churn": churn}],
        )


@pytest.fixture
def fake_kpis(kpi_registry):
    """The registry holds only the fake KPIs above."""
    _register_fakes()
    return kpi_registry


@pytest.fixture
def dataset(db):
    """Four listeners in three countries; two paying on two plans, one refund.

    Sign-ups: 2026-03-01 SE, 2026-03-01 SE, 2026-03-03 US, 2026-02-10 BR.
    Payments: premium 10.99 on 03-02 (succeeded) and 02-02 (succeeded),
    duo 14.99 on 03-05 (refunded on 03-06).
    """
    premium = make_plan("premium", price="10.99")
    duo = make_plan("duo", tier="duo", price="14.99")
    se1 = make_listener(country="SE", signed_up_at=at(2026, 3, 1, 9))
    make_listener(country="SE", signed_up_at=at(2026, 3, 1, 18))
    us = make_listener(country="US", signed_up_at=at(2026, 3, 3, 12))
    br = make_listener(country="BR", signed_up_at=at(2026, 2, 10))
    sub_premium = make_subscription(se1, premium, started_at=at(2026, 2, 1))
    make_payment(sub_premium, paid_at=at(2026, 2, 2))
    make_payment(sub_premium, paid_at=at(2026, 3, 2))
    sub_duo = make_subscription(us, duo, started_at=at(2026, 3, 3))
    make_payment(sub_duo, paid_at=at(2026, 3, 5), status=PaymentStatus.REFUNDED, refunded_at=at(2026, 3, 6))
    return {"premium": premium, "duo": duo, "se": se1, "us": us, "br": br}


@pytest.fixture
def real_dataset(db):
    """A small hand-built world for the real KPIs, with fresh rollups as of TODAY.

    Four countries, a free tier and three paid plans (one annual), a trial, a churned
    and a refunded subscription, failed payments, track and podcast plays with skips
    and a playlist, follows, ratings and an experiment with two variants.
    """
    from django.core.management import call_command

    from analytics.models import Assignment, Experiment, ExperimentStatus, Variant
    from catalog.models import Follow, Playlist, Rating
    from tests.factories import make_artist, make_episode, make_event, make_genre, make_track

    free = make_plan("free", tier="free", price="0")
    premium = make_plan("premium", price="10.99")
    annual = make_plan("premium-annual", price="119.88", billing_period="annual")
    duo = make_plan("duo", tier="duo", price="14.99")
    pop, rock = make_genre("Pop"), make_genre("Rock")
    artists = [make_artist("Aurora", country="NO"), make_artist("Bravo", country="US")]
    tracks = [
        make_track(f"Song {n}", artist=artists[n % 2], genre=(pop, rock)[n % 2], duration_ms=180_000)
        for n in range(4)
    ]
    episode = make_episode()
    countries = ("SE", "SE", "US", "BR", "DE", "US")
    listeners = [
        make_listener(country=country, signed_up_at=at(2026, 1 + n % 3, 2 + n))
        for n, country in enumerate(countries)
    ]
    playlist = Playlist.objects.create(owner=listeners[0], title="Morning", created_at=at(2026, 1, 5))
    # Subscriptions: paying, annual, trial that converts, churned, refunded, free.
    subs = [
        make_subscription(listeners[0], premium, started_at=at(2026, 1, 3)),
        make_subscription(listeners[1], annual, started_at=at(2026, 1, 10)),
        make_subscription(
            listeners[2],
            duo,
            started_at=at(2026, 2, 1),
            trial_ends_at=at(2026, 2, 8),
            current_period_end=at(2026, 2, 8),
        ),
        make_subscription(listeners[3], premium, started_at=at(2026, 1, 5), ended_at=at(2026, 2, 20)),
        make_subscription(listeners[4], premium, started_at=at(2026, 2, 3)),
        make_subscription(listeners[5], free, started_at=at(2026, 3, 4)),
    ]
    for month in (1, 2, 3):
        make_payment(subs[0], paid_at=at(2026, month, 3, 9))
    make_payment(subs[1], paid_at=at(2026, 1, 10, 9), method="paypal")
    make_payment(subs[2], paid_at=at(2026, 2, 8, 9), method="apple_pay")
    make_payment(subs[2], paid_at=at(2026, 3, 8, 9), method="apple_pay", status=PaymentStatus.FAILED)
    make_payment(subs[2], paid_at=at(2026, 3, 9, 9), method="apple_pay")
    make_payment(subs[3], paid_at=at(2026, 1, 5, 9))
    make_payment(
        subs[3], paid_at=at(2026, 2, 5, 9), status=PaymentStatus.REFUNDED, refunded_at=at(2026, 2, 7)
    )
    make_payment(subs[4], paid_at=at(2026, 2, 3, 9), method="debit_card")
    make_payment(subs[4], paid_at=at(2026, 3, 3, 9), method="debit_card", status=PaymentStatus.FAILED)
    # Plays: every listener on several days, some skips, a playlist run, a podcast.
    for n, listener in enumerate(listeners):
        for day in range(n % 3, 70, 4 + n):
            moment = at(2026, 1, 1) + timedelta(days=day, hours=8 + n)
            if moment.date() >= TODAY:
                break
            make_event(listener, played_at=moment, track=tracks[day % 4], device=("mobile", "desktop")[n % 2])
            make_event(
                listener,
                played_at=moment + timedelta(minutes=4),
                track=tracks[(day + 1) % 4],
                ms_played=12_000,
                skipped=True,
                context="playlist",
                playlist=playlist,
            )
        make_event(listener, played_at=at(2026, 3, 1 + n, 19), track=None, episode=episode, ms_played=900_000)
    for n, listener in enumerate(listeners[:4]):
        Follow.objects.create(listener=listener, artist=artists[n % 2], followed_at=at(2026, 1, 10 + n))
        for track in tracks:
            Rating.objects.create(
                listener=listener, track=track, score=1 + (n + track.pk) % 5, rated_at=at(2026, 2, 1)
            )
    experiment = Experiment.objects.create(
        key="bigger-play-button",
        name="Bigger play button",
        status=ExperimentStatus.RUNNING,
        started_at=at(2026, 1, 15),
    )
    control = Variant.objects.create(experiment=experiment, key="control", name="Control", is_control=True)
    bigger = Variant.objects.create(experiment=experiment, key="bigger", name="Bigger")
    for n, listener in enumerate(listeners):
        Assignment.objects.create(
            experiment=experiment,
            variant=(control, bigger)[n % 2],
            listener=listener,
            assigned_at=at(2026, 1, 16),
        )
    call_command("refresh_rollups", "--full", "--today", TODAY.isoformat(), verbosity=0)
    return {"experiment": experiment, "listeners": listeners, "tracks": tracks}
