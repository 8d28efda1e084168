"""Chart endpoints and CSV downloads: JSON built on django-chartjs, numbers as numbers."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import path

from analytics.charts import chart_config, json_number, sparkline_config
from analytics.csv_export import csv_value
from analytics.kpis.registry import Column, KpiResult, all_kpis, get_kpi
from analytics.models import ListeningEvent
from analytics.views.endpoints import ChartDataView
from analytics.views.tables import format_change, format_value
from billing.models import Listener, Payment, Subscription
from spotilytics.admin_site import SpotilyticsAdminSite
from spotilytics.roles import ANALYST, SUPPORT
from tests.factories import at, make_event, make_listener, make_track

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static", "frozen_today")]

PAYLOAD_KEYS = {
    "labels",
    "datasets",
    "slug",
    "title",
    "family",
    "unit",
    "kind",
    "type",
    "definition",
    "start",
    "end",
    "filters",
    "ignored_filters",
    "previous_datasets",
    "options",
    "axis_units",
    "table",
    "notes",
    "freshness",
    "csv",
}


def _get(client, url: str):
    response = client.get(url)
    return response, json.loads(response.content)


# The chart payload


def test_chart_endpoint_answers_chart_data_only(fake_kpis, dataset, admin_client):
    response, payload = _get(admin_client, "/admin/kpis/chart/fake-signups/?start=2026-03-01&end=2026-03-04")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert set(payload) == PAYLOAD_KEYS
    assert "view" not in response.content.decode()
    assert payload["labels"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert [(d["label"], d["data"], d.get("yAxisID")) for d in payload["datasets"]] == [
        ("Sign-ups", [2, 0, 1], None),
        ("Share", [2 / 3, 0.0, 1 / 3], "y1"),
    ]
    assert payload["axis_units"] == {"y": "count", "y1": "ratio"}
    assert (payload["type"], payload["kind"], payload["unit"]) == ("line", "line", "count")
    assert (payload["start"], payload["end"]) == ("2026-03-01", "2026-03-04")
    assert payload["definition"] == (
        "Listeners who signed up on each day; share = the day's part of the period's sign-ups."
    )
    assert payload["previous_datasets"] == []
    assert payload["csv"] == "/admin/kpis/csv/fake-signups/?start=2026-03-01&end=2026-03-04"


def test_chart_endpoint_sends_money_as_json_numbers_and_undefined_as_null(fake_kpis, dataset, admin_client):
    response, payload = _get(
        admin_client, "/admin/kpis/chart/fake-gross-by-plan/?start=2026-03-01&end=2026-03-16"
    )

    text = response.content.decode()
    assert '"data": [14.99, 10.99]' in text, "Decimals are numbers, not strings"
    assert payload["labels"] == ["Duo", "Premium"]
    assert [d["data"] for d in payload["datasets"]] == [[14.99, 10.99], [14.99, 0]]
    assert payload["options"]["scales"]["x"]["stacked"] is True
    assert payload["options"]["scales"]["y"]["stacked"] is True

    _response, retention = _get(
        admin_client, "/admin/kpis/chart/fake-retention/?start=2026-02-01&end=2026-03-16"
    )
    assert retention["type"] == "heatmap"
    assert retention["labels"] == ["2026-02", "2026-03"]
    # February: BR, no subscription; March: SE, SE, US, two subscribed.
    assert [d["data"] for d in retention["datasets"]] == [[0.0, 2 / 3], [None, None]]


def test_chart_endpoint_table_formats_for_display(fake_kpis, dataset, admin_client):
    _response, payload = _get(
        admin_client, "/admin/kpis/chart/fake-retention/?start=2026-02-01&end=2026-03-16"
    )

    assert payload["table"]["columns"] == [
        {"key": "cohort", "label": "Cohort", "unit": "text", "align": "left"},
        {"key": "listeners", "label": "Listeners", "unit": "count", "align": "right"},
        {"key": "m0", "label": "Month 0", "unit": "ratio", "align": "right"},
        {"key": "m1", "label": "Month 1", "unit": "ratio", "align": "right"},
    ]
    assert payload["table"]["rows"] == [
        [
            {"value": "2026-02", "display": "2026-02"},
            {"value": 1, "display": "1"},
            {"value": 0.0, "display": "0.0%"},
            {"value": None, "display": "—"},
        ],
        [
            {"value": "2026-03", "display": "2026-03"},
            {"value": 3, "display": "3"},
            {"value": 2 / 3, "display": "66.7%"},
            {"value": None, "display": "—"},
        ],
    ]


def test_chart_endpoint_compares_with_the_previous_period(fake_kpis, dataset, admin_client):
    _response, payload = _get(
        admin_client, "/admin/kpis/chart/fake-listeners-by-country/?start=2026-03-01&end=2026-03-16&compare=1"
    )

    # Categories are matched by label: only BR had signed up before 2026-03-01.
    assert payload["labels"] == ["SE", "BR", "US"]
    assert payload["datasets"][0]["data"] == [2, 1, 1]
    assert [(d["label"], d["data"]) for d in payload["previous_datasets"]] == [
        ("Listeners (previous period)", [None, 1, None])
    ]
    assert payload["options"]["indexAxis"] == "y"
    assert [[cell["display"] for cell in row] for row in payload["table"]["rows"]] == [
        ["SE", "2", "—", "—"],
        ["BR", "1", "1", "+0.0%"],
        ["US", "1", "—", "—"],
    ]
    assert [column["label"] for column in payload["table"]["columns"]] == [
        "Country",
        "Listeners",
        "Listeners (previous)",
        "Change",
    ]


def test_chart_endpoint_passes_only_accepted_filters_and_names_the_others(fake_kpis, dataset, admin_client):
    _response, payload = _get(
        admin_client,
        "/admin/kpis/chart/fake-signups/?start=2026-03-01&end=2026-03-04&country=se&device=mobile&region=europe",
    )

    assert payload["filters"] == {"country": "SE", "region": "europe"}
    assert payload["ignored_filters"] == ["device"]
    assert payload["datasets"][0]["data"] == [2, 0, 0]


# Bad input, access


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("start=2026-13-01", "start", "Enter a date as YYYY-MM-DD, e.g. 2026-01-31."),
        ("start=yesterday", "start", "Enter a date as YYYY-MM-DD, e.g. 2026-01-31."),
        ("start=1999-12-31", "start", "Start must be on or after 2000-01-01."),
        (
            "start=2026-03-05&end=2026-03-01",
            "end",
            "The range must end after it starts (the end day is not included).",
        ),
        ("end=2026-03-17", "end", "The range must end by 2026-03-16: there is no data after today."),
        ("start=2000-01-01&end=2026-03-01", "end", "The range may span at most 3660 days."),
        ("country=XX", "country", "Unknown country code XX: use an ISO 3166 alpha-2 code such as SE."),
        ("region=atlantis", "region", "Unknown region atlantis."),
        ("plan=platinum", "plan", "Unknown plan code platinum."),
        ("device=toaster", "device", "Unknown device toaster."),
        ("genre=rock", "genre", "Unknown genre rock: use a genre id."),
        ("genre=999999", "genre", "Unknown genre 999999: use a genre id."),
        ("grain=year", "grain", "Unknown grain year: use day, week or month."),
        ("compare=maybe", "compare", "Use 1 (yes) or 0 (no)."),
        ("experiment=nope", "experiment", "Unknown experiment nope: use an experiment key."),
    ],
)
def test_chart_endpoint_rejects_bad_filters_with_400_json(fake_kpis, admin_client, query, field, message):
    response, payload = _get(admin_client, f"/admin/kpis/chart/fake-signups/?{query}")

    assert response.status_code == 400
    assert payload == {"error": message, "field": field}


def test_chart_endpoint_of_an_unknown_kpi_is_404_json(fake_kpis, admin_client):
    response, payload = _get(admin_client, "/admin/kpis/chart/no-such-kpi/")

    assert response.status_code == 404
    assert payload == {"error": "Unknown KPI 'no-such-kpi'.", "field": None}


def test_chart_endpoint_answers_anonymous_callers_403_json(fake_kpis, client):
    response, payload = _get(client, "/admin/kpis/chart/fake-signups/")

    assert response.status_code == 403
    assert payload == {"error": "Log in as staff with the permission to view KPIs.", "field": None}


def test_chart_endpoint_is_forbidden_to_support(fake_kpis, client, staff_in_role):
    client.force_login(staff_in_role(SUPPORT))

    response, payload = _get(client, "/admin/kpis/chart/fake-signups/")

    assert response.status_code == 403
    assert payload == {"error": "You do not have the permission to view KPIs.", "field": None}


def test_chart_endpoint_is_open_to_analysts(fake_kpis, client, staff_in_role):
    client.force_login(staff_in_role(ANALYST))

    response, payload = _get(client, "/admin/kpis/chart/fake-signups/?start=2026-03-01&end=2026-03-02")

    assert response.status_code == 200
    assert payload["labels"] == ["2026-03-01"]


def test_chart_endpoint_refuses_writes(fake_kpis, admin_client):
    assert admin_client.post("/admin/kpis/chart/fake-signups/").status_code == 405


def test_chart_data_view_drops_the_view_and_url_kwargs_of_django_chartjs(rf):
    class Two(ChartDataView):
        def get_labels(self):
            return ["a", "b"]

        def get_providers(self):
            return ["Amount"]

        def get_data(self):
            return [[Decimal("1.50"), None]]

    response = Two.as_view()(rf.get("/"), slug="x")

    payload = json.loads(response.content)
    assert set(payload) == {"labels", "datasets"}
    assert payload["datasets"][0]["data"] == [1.5, None]
    assert payload["datasets"][0]["label"] == "Amount"


# CSV


def test_csv_download_respects_the_filters(fake_kpis, dataset, admin_client):
    response = admin_client.get(
        "/admin/kpis/csv/fake-gross-by-plan/?start=2026-03-01&end=2026-03-16&plan=premium"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="fake-gross-by-plan_2026-03-01_2026-03-16.csv"'
    )
    assert response.content.decode() == "Plan,Gross,Refunded\r\nPremium,10.99,0\r\n"


def test_csv_download_keeps_every_digit_and_leaves_undefined_empty(fake_kpis, dataset, admin_client):
    response = admin_client.get("/admin/kpis/csv/fake-signups/?start=2026-03-01&end=2026-03-03")

    assert response.content.decode() == "Day,Sign-ups,Share\r\n2026-03-01,2,1.0\r\n2026-03-02,0,0.0\r\n"
    empty = admin_client.get("/admin/kpis/csv/fake-signups/?start=2026-01-01&end=2026-01-02")
    assert empty.content.decode() == "Day,Sign-ups,Share\r\n2026-01-01,0,\r\n"


def test_csv_download_rejects_bad_filters_and_strangers(fake_kpis, client, admin_client):
    response = admin_client.get("/admin/kpis/csv/fake-signups/?end=soon")
    assert (response.status_code, json.loads(response.content)) == (
        400,
        {"error": "Enter a date as YYYY-MM-DD, e.g. 2026-01-31.", "field": "end"},
    )
    assert admin_client.get("/admin/kpis/csv/nope/").status_code == 404
    assert client.get("/admin/kpis/csv/fake-signups/").status_code == 403


def test_csv_value_defuses_spreadsheet_formulas():
    assert [csv_value(v) for v in ("=SUM(A1)", "+1", "@x", "-2", "plain", Decimal("0.10"), None, 3)] == [
        "'=SUM(A1)",
        "'+1",
        "'@x",
        "'-2",
        "plain",
        "0.10",
        "",
        "3",
    ]


# Display and chart helpers


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (None, "money", "—"),
        (Decimal("2.675"), "money", "2.68"),
        (Decimal("2.665"), "money", "2.66"),
        (Decimal("1234567.125"), "money", "1,234,567.12"),
        (0.12345, "ratio", "12.3%"),
        (None, "ratio", "—"),
        (float("nan"), "ratio", "—"),
        (12345, "count", "12,345"),
        (1.25, "index", "1.25"),
        (90.55, "minutes", "90.5"),
        (date(2026, 3, 1), "date", "2026-03-01"),
        ("SE", "text", "SE"),
    ],
)
def test_format_value_rounds_money_half_even_and_shows_undefined_as_a_dash(value, unit, text):
    assert format_value(value, unit) == text


def test_format_change_in_percent_or_points():
    assert format_change(Decimal("110"), Decimal("100"), "money") == "+10.0%"
    assert format_change(0.25, 0.5, "ratio") == "-25.0 pp"
    assert format_change(5, 0, "count") == "—"
    assert format_change(None, 3, "count") == "—"


def test_json_number_turns_decimals_into_numbers_and_nan_into_null():
    assert [json_number(v) for v in (Decimal("10.99"), 3, 0.5, float("inf"), None)] == [
        10.99,
        3,
        0.5,
        None,
        None,
    ]


def test_chart_config_of_a_doughnut_colours_every_slice(fake_kpis):
    fake_kpis.kpi(
        slug="fake-devices",
        title="Devices",
        family="engagement",
        unit="count",
        chart="doughnut",
        x="d",
        y=("n",),
    )(_devices)
    result = KpiResult(
        columns=[Column("d", "Device", "text"), Column("n", "Plays")],
        rows=[{"d": "mobile", "n": 3}, {"d": "web", "n": 1}],
    )

    config = chart_config(get_kpi("fake-devices"), result, previous=result)

    assert config["type"] == "doughnut"
    assert config["data"]["datasets"][0]["backgroundColor"] == ["#8b5cf6", "#0ea5e9"]
    assert config["previous_datasets"] == [], "a doughnut draws no previous period"
    assert config["options"]["plugins"]["legend"] == {"display": True, "position": "right"}


def test_chart_config_draws_the_first_rows_of_a_long_ranking(fake_kpis):
    kpi = get_kpi("fake-listeners-by-country")
    rows = [{"country": f"C{n:02d}", "listeners": 100 - n} for n in range(40)]
    result = KpiResult(
        columns=[Column("country", "Country", "text"), Column("listeners", "Listeners")], rows=rows
    )

    config = chart_config(kpi, result)

    assert config["data"]["labels"] == [f"C{n:02d}" for n in range(30)]
    assert config["note"] == "The chart shows the first 30 of 40 rows; the table lists them all."
    assert chart_config(kpi, KpiResult(columns=result.columns, rows=rows[:30]))["note"] == ""


def _devices(*, start, end, today):
    """Plays per device."""
    return KpiResult(columns=[], rows=[])


def test_sparkline_config_draws_a_bare_line():
    config = sparkline_config([Decimal("1.5"), None, 2], "money")

    assert config["type"] == "line"
    assert config["data"]["datasets"][0]["data"] == [1.5, None, 2]
    assert config["options"]["scales"] == {"x": {"display": False}, "y": {"display": False}}


# Drill-down links, checked against a changelist that filters on exactly these lookups.

drill_site = SpotilyticsAdminSite(name="admin")
drill_site.register(Listener, admin.ModelAdmin, list_filter=["country"])
drill_site.register(Subscription, admin.ModelAdmin, list_filter=["plan"])
drill_site.register(Payment, admin.ModelAdmin, list_filter=["method"])
drill_site.register(ListeningEvent, admin.ModelAdmin, list_filter=["track"])
urlpatterns = [path("admin/", drill_site.urls)]


@pytest.fixture
def drill_admin(settings):
    # The sidebar lists the default site's models, which this test site does not serve.
    settings.UNFOLD = {**settings.UNFOLD, "SIDEBAR": {"navigation": []}}


@pytest.mark.urls(__name__)
def test_table_rows_link_to_the_filtered_changelists(fake_kpis, dataset, admin_client, drill_admin):
    fake_kpis.kpi(
        slug="fake-track-plays",
        title="Plays",
        family="content",
        unit="count",
        chart="table",
        x="title",
        y=("plays",),
    )(_track_plays)
    track = make_track("Song A")
    make_event(make_listener(country="VN"), played_at=at(2026, 3, 2), track=track)
    make_event(make_listener(country="VN"), played_at=at(2026, 3, 3), track=make_track("Song B"))
    duo = dataset["duo"]

    _r, plays = _get(admin_client, "/admin/kpis/chart/fake-track-plays/?start=2026-03-01&end=2026-03-16")
    _r, countries = _get(
        admin_client, "/admin/kpis/chart/fake-listeners-by-country/?start=2026-03-01&end=2026-03-16"
    )
    _r, plans = _get(admin_client, "/admin/kpis/chart/fake-gross-by-plan/?start=2026-03-01&end=2026-03-16")

    track_link = plays["table"]["rows"][0][0]["href"]
    assert track_link == f"/admin/analytics/listeningevent/?track__id__exact={track.pk}"
    assert "href" not in plays["table"]["rows"][0][1]
    se_link = countries["table"]["rows"][0][0]["href"]
    assert se_link == "/admin/billing/listener/?country__exact=SE"
    plan_link = plans["table"]["rows"][0][0]["href"]
    assert plan_link == f"/admin/billing/subscription/?plan__id__exact={duo.pk}"
    # Django's changelist accepts each link and shows only what the row counted.
    assert admin_client.get(track_link).context["cl"].result_count == 1
    assert admin_client.get(se_link).context["cl"].result_count == 2
    assert admin_client.get(plan_link).context["cl"].result_count == 1


@pytest.mark.urls(__name__)
def test_table_rows_link_only_to_changelists_the_user_may_see(fake_kpis, dataset, client, staff_in_role):
    client.force_login(staff_in_role(ANALYST))
    _r, countries = _get(
        client, "/admin/kpis/chart/fake-listeners-by-country/?start=2026-03-01&end=2026-03-16"
    )
    assert countries["table"]["rows"][0][0]["href"] == "/admin/billing/listener/?country__exact=SE"

    # Staff holding only the KPI permission get no links to lists they may not open.
    analyst = staff_in_role(ANALYST, username="analyst-2")
    analyst.groups.clear()
    analyst.user_permissions.add(*_kpi_permission())
    client.force_login(analyst)
    _r, countries = _get(
        client, "/admin/kpis/chart/fake-listeners-by-country/?start=2026-03-01&end=2026-03-16"
    )
    assert "href" not in countries["table"]["rows"][0][0]


def _kpi_permission():
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(codename="view_kpis")


def _track_plays(*, start, end, today):
    """Plays of each track in the period, most first."""
    from django.db.models import Count

    rows = (
        ListeningEvent.objects.filter(played_at__date__gte=start, played_at__date__lt=end)
        .values("track_id", "track__title")
        .annotate(plays=Count("id"))
        .order_by("-plays", "track_id")
    )
    return KpiResult(
        columns=[Column("title", "Track", "text"), Column("plays", "Plays")],
        rows=[{"title": r["track__title"], "plays": r["plays"], "track_id": r["track_id"]} for r in rows],
    )


# The real KPIs, once their modules have registered them.


def _strict_json(content: bytes):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(content, parse_constant=refuse)


def test_every_registered_kpi_answers_chart_json_and_csv(real_dataset, admin_client):
    kpis = all_kpis()
    assert len(kpis) >= 20, "the KPI modules register their KPIs on import"
    problems = []
    for kpi in kpis:
        query = "start=2026-01-01&end=2026-03-16"
        if "experiment" in kpi.filters:
            query += "&experiment=bigger-play-button"
        response = admin_client.get(f"/admin/kpis/chart/{kpi.slug}/?{query}&compare=1")
        if response.status_code != 200:
            problems.append(f"{kpi.slug}: chart {response.status_code} {response.content[:200]!r}")
            continue
        payload = _strict_json(response.content)
        lengths = {len(dataset["data"]) for dataset in payload["datasets"] + payload["previous_datasets"]}
        if lengths - {len(payload["labels"])}:
            problems.append(f"{kpi.slug}: {len(payload['labels'])} labels but datasets of {lengths}")
        if payload["slug"] != kpi.slug or payload["type"] not in (
            "line",
            "bar",
            "doughnut",
            "heatmap",
            "table",
        ):
            problems.append(f"{kpi.slug}: payload {payload['slug']} of type {payload['type']}")
        download = admin_client.get(f"/admin/kpis/csv/{kpi.slug}/?{query}")
        lines = list(csv.reader(io.StringIO(download.content.decode())))
        if download.status_code != 200 or len(lines) != len(payload["table"]["rows"]) + 1:
            problems.append(f"{kpi.slug}: CSV {download.status_code} with {len(lines)} lines")
    assert problems == []
