"""`/api/kpis/` and `/api/kpis/<slug>/`: the registry over HTTP, with the pages' filters."""

from __future__ import annotations

import math
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from analytics.kpis.registry import FAMILIES, all_kpis, get_kpi, run_kpi
from tests.analytics.api.conftest import TODAY

pytestmark = pytest.mark.django_db

SLUGS = sorted(kpi.slug for kpi in all_kpis())


def _get(client, url: str, status: int = 200):
    response = client.get(url)
    assert response.status_code == status, response.content
    return response.json()


def test_kpi_list_describes_every_registered_kpi_by_family_then_slug(dataset, analyst_client):
    body = _get(analyst_client, "/api/kpis/")
    families = list(FAMILIES)
    expected = [
        {
            "slug": kpi.slug,
            "title": kpi.title,
            "family": kpi.family,
            "unit": kpi.unit,
            "chart": kpi.chart,
            "definition": kpi.definition,
            "filters": list(kpi.filters),
            "url": f"/api/kpis/{kpi.slug}/",
        }
        for kpi in sorted(all_kpis(), key=lambda kpi: (families.index(kpi.family), kpi.slug))
    ]
    assert body == expected
    assert {"subscribers-by-plan", "gross-revenue", "top-genres", "top-rated"} <= {k["slug"] for k in body}


def test_kpi_list_filters_by_family(dataset, analyst_client):
    body = _get(analyst_client, "/api/kpis/?family=revenue")
    assert body and {item["family"] for item in body} == {"revenue"}
    assert _get(analyst_client, "/api/kpis/?family=weather", 400) == {
        "error": f"Unknown family 'weather': use one of {', '.join(FAMILIES)}.",
        "parameter": "family",
    }


def test_kpi_data_answers_the_table_with_filters_and_the_previous_period(dataset, analyst_client):
    url = "/api/kpis/gross-revenue/?start=2026-01-01&end=2026-03-21&grain=month&country=se&device=mobile"
    body = _get(analyst_client, f"{url}&compare=previous")
    kpi = get_kpi("gross-revenue")
    assert body == {
        "slug": "gross-revenue",
        "title": kpi.title,
        "family": "revenue",
        "unit": "money",
        "chart": kpi.chart,
        "definition": kpi.definition,
        "headline": "gross",
        "period": {"start": "2026-01-01", "end": "2026-03-21"},
        "filters": {"country": "SE", "grain": "month"},
        "ignored_filters": ["device"],
        "columns": [
            {"key": "period", "label": "Period", "unit": "date"},
            {"key": "gross", "label": "Gross revenue", "unit": "money"},
        ],
        # se's payments: Jan 5, Feb 5, Mar 6 (the Mar 5 attempt failed).
        "rows": [
            {"period": "2026-01-01", "gross": 10.99},
            {"period": "2026-02-01", "gross": 10.99},
            {"period": "2026-03-01", "gross": 10.99},
        ],
        # 79 days before Jan 1: from Oct 14, 2025; nothing was paid then.
        "previous": {
            "period": {"start": "2025-10-14", "end": "2026-01-01"},
            "rows": [
                {"period": "2025-10-01", "gross": 0.0},
                {"period": "2025-11-01", "gross": 0.0},
                {"period": "2025-12-01", "gross": 0.0},
            ],
        },
        "notes": [],
    }
    assert _get(analyst_client, url)["previous"] is None


def test_kpi_data_subscribers_by_plan_as_of_the_range_end(dataset, analyst_client):
    # As of Jan 31 00:00: se and fr on Premium; us (signed up Jan 10) has no subscription
    # until Feb 1; br and de have not signed up yet.
    body = _get(analyst_client, "/api/kpis/subscribers-by-plan/?start=2026-01-01&end=2026-01-31")
    assert body["rows"] == [
        {"plan": "Free", "plan_code": "free", "listeners": 1},
        {"plan": "Premium", "plan_code": "premium", "listeners": 2},
    ]


def test_kpi_data_defaults_to_the_pages_range(dataset, analyst_client):
    # Twelve calendar months ending today: Apr 1, 2025 .. Mar 20, 2026 included.
    body = _get(analyst_client, "/api/kpis/top-genres/")
    assert body["period"] == {"start": "2025-04-01", "end": "2026-03-21"}
    assert body["rows"] == [
        {"rank": 1, "genre": "Pop", "streams": 6, "genre_id": dataset["pop"].pk},
        {"rank": 2, "genre": "Rock", "streams": 3, "genre_id": dataset["rock"].pk},
    ]


def _expected(value, unit: str | None):
    """The JSON form of a registry value: money in cents (half-even), dates as ISO text."""
    if isinstance(value, Decimal):
        return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) if unit == "money" else value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return value


def _expected_rows(result) -> list[dict]:
    units = {column.key: column.unit for column in result.columns}
    return [{key: _expected(value, units.get(key)) for key, value in row.items()} for row in result.rows]


@pytest.mark.parametrize("slug", SLUGS)
def test_kpi_data_matches_the_registry_for_every_kpi(dataset, analyst_client, slug):
    start, end = date(2026, 1, 1), date(2026, 3, 21)
    body = _get(analyst_client, f"/api/kpis/{slug}/?start={start}&end={end}&compare=previous")
    run = run_kpi(slug, start=start, end=end, today=TODAY, compare=True)
    assert body["columns"] == [{"key": c.key, "label": c.label, "unit": c.unit} for c in run.result.columns]
    assert body["rows"] == _expected_rows(run.result)
    assert body["previous"]["rows"] == _expected_rows(run.previous)
    assert body["notes"] == list(run.result.notes)


@pytest.mark.parametrize(
    ("query", "parameter", "error"),
    [
        ("start=2026-02-30", "start", "Enter a date as YYYY-MM-DD, e.g. 2026-01-31."),
        (
            "start=2026-03-01&end=2026-03-01",
            "end",
            "The range must end after it starts (the end day is not included).",
        ),
        ("end=2026-03-22", "end", "The range must end by 2026-03-21: there is no data after today."),
        ("country=ZZ", "country", "Unknown country code ZZ: use an ISO 3166 alpha-2 code such as SE."),
        ("region=atlantis", "region", "Unknown region atlantis."),
        ("plan=platinum", "plan", "Unknown plan code platinum."),
        ("genre=999999", "genre", "Unknown genre 999999: use a genre id."),
        ("genre=pop", "genre", "Unknown genre pop: use a genre id."),
        ("grain=year", "grain", "Unknown grain year: use day, week or month."),
        ("compare=maybe", "compare", "Use compare=previous to compare with the previous period."),
    ],
)
def test_kpi_data_bad_parameters_are_400s_naming_the_parameter(
    dataset, analyst_client, query, parameter, error
):
    body = _get(analyst_client, f"/api/kpis/gross-revenue/?{query}", 400)
    assert body == {"error": error, "parameter": parameter}


def test_kpi_data_unknown_slug_is_a_404(dataset, analyst_client):
    assert _get(analyst_client, "/api/kpis/happiness/", 404) == {
        "error": "Unknown KPI 'happiness': GET /api/kpis/ lists them.",
        "parameter": "slug",
    }
