"""The filter values a check of every KPI tries first on a database: the most common
listener country and its region, the genre with the most tracks, the cheapest paid
plan, mobile devices and the first experiment. The raw-reference test and the KPI
benchmark both use them, so a benchmark's filtered figures are for cases the test
proves exact."""

from __future__ import annotations

from django.db.models import Count

from analytics.models import Experiment
from billing.models import Listener, Plan, Tier
from billing.regions import region_of
from catalog.models import Genre


def common_filter_values() -> dict[str, object]:
    """One value per filter (None where the database has none)."""
    country = (
        Listener.objects.values_list("country", flat=True)
        .annotate(n=Count("id"))
        .order_by("-n", "country")
        .first()
    )
    return {
        "country": country,
        "region": region_of(country) if country else None,
        "genre": Genre.objects.annotate(n=Count("tracks"))
        .order_by("-n", "id")
        .values_list("id", flat=True)
        .first(),
        "plan": Plan.objects.exclude(tier=Tier.FREE)
        .order_by("price", "code")
        .values_list("code", flat=True)
        .first(),
        "device": "mobile",
        "experiment": Experiment.objects.order_by("key").values_list("key", flat=True).first(),
    }
