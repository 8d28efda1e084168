"""The KPI pages inside the admin: dashboard, family pages, data model, sidebar."""

from __future__ import annotations

import re
import sys
import types
from datetime import UTC, datetime
from importlib.machinery import ModuleSpec

import pytest
from django.urls import reverse

from analytics.kpis.registry import FAMILIES
from analytics.views import access
from spotilytics.roles import ANALYST, SUPPORT

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static", "frozen_today")]


@pytest.fixture
def superuser(admin_client):
    return admin_client


def _scripts(html: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", html)


def _sidebar_links(html: str) -> list[str]:
    sidebar = html[html.index('id="nav-sidebar-apps"') :]
    return re.findall(r'<a href="([^"]+)" class="cursor-pointer flex', sidebar)


# Family pages


def test_family_page_shows_every_kpi_of_the_family_with_its_definition(fake_kpis, superuser):
    response = superuser.get("/admin/kpis/audience/")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="kpi-card"') == 1
    assert 'data-kpi="fake-signups"' in html
    assert (
        "Listeners who signed up on each day; share = the day&#x27;s part of the period&#x27;s sign-ups."
        in html
    )
    assert 'data-src="/admin/kpis/chart/fake-signups/?start=2025-04-01&amp;end=2026-03-16"' in html, (
        "the chart URL carries the page's effective range"
    )
    assert 'href="/admin/kpis/csv/fake-signups/?start=2025-04-01&amp;end=2026-03-16"' in html


def test_family_page_defaults_to_twelve_months_ending_today(fake_kpis, superuser):
    html = superuser.get("/admin/kpis/audience/").content.decode()

    assert re.search(r'<input type="date" name="start" value="2025-04-01"', html)
    assert re.search(r'<input type="date" name="end" value="2026-03-16"', html)


def test_family_page_shows_only_the_filters_its_kpis_accept(fake_kpis, superuser):
    html = superuser.get("/admin/kpis/audience/").content.decode()

    assert 'name="country"' in html
    assert 'name="region"' in html
    assert 'name="plan"' not in html
    assert 'name="genre"' not in html
    assert 'name="compare"' in html


def test_family_page_keeps_filters_in_chart_and_csv_urls(fake_kpis, dataset, superuser):
    html = superuser.get("/admin/kpis/revenue/?plan=premium&grain=week&compare=1").content.decode()

    assert (
        'data-src="/admin/kpis/chart/fake-gross-by-plan/?start=2025-04-01&amp;end=2026-03-16'
        '&amp;plan=premium&amp;grain=week&amp;compare=1"'
    ) in html
    assert (
        'href="/admin/kpis/csv/fake-gross-by-plan/?start=2025-04-01&amp;end=2026-03-16'
        '&amp;plan=premium&amp;grain=week"'
    ) in html
    # customer-churn takes neither filter, mrr takes no plan, fake-gross-by-plan no grain.
    assert "Not narrowed by plan: this KPI does not break down that way." in html
    assert "Not narrowed by plan, grain: this KPI does not break down that way." in html
    assert "Not narrowed by grain: this KPI does not break down that way." in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-02-30", "Enter a date as YYYY-MM-DD, e.g. 2026-01-31."),
        (
            "start=2026-03-10&end=2026-03-10",
            "The range must end after it starts (the end day is not included).",
        ),
        ("country=XX", "Unknown country code XX: use an ISO 3166 alpha-2 code such as SE."),
        ("end=2026-04-01", "The range must end by 2026-03-16: there is no data after today."),
    ],
)
def test_family_page_explains_bad_filters_and_computes_nothing(fake_kpis, superuser, query, message):
    response = superuser.get(f"/admin/kpis/audience/?{query}")

    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'class="kpi-card"' not in html


def test_family_page_of_an_unknown_family_is_404(fake_kpis, superuser):
    assert superuser.get("/admin/kpis/astrology/").status_code == 404


def test_family_page_without_kpis_says_so(fake_kpis, superuser):
    html = superuser.get("/admin/kpis/engagement/").content.decode()

    assert "No KPIs of this family are registered yet." in html


def test_family_page_sends_anonymous_visitors_to_the_login(fake_kpis, client):
    response = client.get("/admin/kpis/audience/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/kpis/audience/"


def test_family_page_is_open_to_analysts(fake_kpis, client, staff_in_role):
    client.force_login(staff_in_role(ANALYST))

    assert client.get("/admin/kpis/audience/").status_code == 200


def test_family_page_is_forbidden_to_support(fake_kpis, client, staff_in_role):
    client.force_login(staff_in_role(SUPPORT))

    assert client.get("/admin/kpis/audience/").status_code == 403


def test_family_page_loads_scripts_from_files_only(fake_kpis, superuser):
    html = superuser.get("/admin/kpis/audience/?compare=1").content.decode()

    scripts = _scripts(html)
    assert '<script src="/static/unfold/js/chart/chart.js">' in scripts
    assert '<script src="/static/analytics/kpi.js" defer>' in scripts
    assert [tag for tag in scripts if "src=" not in tag and 'type="application/json"' not in tag] == []


# Freshness


def test_events_up_to_says_when_the_rollups_are_missing(monkeypatch):
    monkeypatch.setattr(access.importlib.util, "find_spec", lambda name: None)

    assert access.events_up_to() == (
        None,
        "Events up to: unknown (the listening rollups are not installed yet).",
    )


def test_events_up_to_reports_the_rollups_freshness(monkeypatch):
    last = datetime(2026, 3, 14, 23, 30, tzinfo=UTC)
    module = types.ModuleType("analytics.rollups")
    module.__spec__ = ModuleSpec("analytics.rollups", None)
    module.freshness = lambda: last
    monkeypatch.setitem(sys.modules, "analytics.rollups", module)

    assert access.events_up_to() == (last, "Events up to 2026-03-14 23:30 UTC.")


def test_events_up_to_says_when_nothing_was_rolled_up(monkeypatch):
    module = types.ModuleType("analytics.rollups")
    module.__spec__ = ModuleSpec("analytics.rollups", None)
    module.freshness = lambda: None
    monkeypatch.setitem(sys.modules, "analytics.rollups", module)

    assert access.events_up_to() == (
        None,
        "No listening events have been rolled up yet: run `manage.py refresh_rollups`.",
    )


def test_family_page_shows_the_freshness_line(fake_kpis, superuser):
    html = superuser.get("/admin/kpis/audience/").content.decode()

    assert f'<p class="kpi-freshness" id="kpi-freshness">{access.events_up_to()[1]}</p>' in html


# Dashboard


def test_dashboard_cards_show_month_to_date_against_last_month(fake_kpis, dataset, superuser):
    response = superuser.get("/admin/")

    assert response.status_code == 200
    cards = {card.slug: card for card in response.context["kpi_cards"]}
    assert list(cards) == ["active-28d", "paying-listeners", "mrr", "customer-churn", "clv", "net-revenue"]
    # MRR (fake): payments before 2026-03-16 = 36.97 against before 2026-02-16 = 10.99.
    assert (cards["mrr"].value, cards["mrr"].change, cards["mrr"].trend) == ("36.97", "+236.4%", "good")
    assert cards["mrr"].period == "Mar 1-15 vs Feb 1-15"
    # Churn (fake): 2 of 4 listeners paid in March so far, 1 of 4 in early February.
    churn = cards["customer-churn"]
    assert (churn.value, churn.change, churn.trend) == ("50.0%", "-25.0 pp", "good")
    assert cards["mrr"].sparkline["data"]["datasets"][0]["data"] == [0.0] * 10 + [10.99, 36.97]
    for slug in ("active-28d", "paying-listeners", "clv", "net-revenue"):
        assert (cards[slug].available, cards[slug].value) == (False, "—")


def test_dashboard_renders_cards_sparklines_and_family_links(fake_kpis, dataset, superuser):
    html = superuser.get("/admin/").content.decode()

    assert '<span class="kpi-tile-value">36.97</span>' in html
    assert 'data-config="kpi-spark-mrr"' in html
    assert '<script id="kpi-spark-mrr" type="application/json">' in html
    assert html.count("Not available yet.") == 4
    for family in FAMILIES:
        assert f'href="/admin/kpis/{family}/"' in html
    assert 'href="/admin/data-model/"' in html
    assert [tag for tag in _scripts(html) if "src=" not in tag and 'type="application/json"' not in tag] == []


def test_dashboard_shows_support_no_kpis(fake_kpis, client, staff_in_role):
    client.force_login(staff_in_role(SUPPORT))

    response = client.get("/admin/")

    assert response.status_code == 200
    assert "kpi_cards" not in response.context
    assert 'id="kpi-cards"' not in response.content.decode()


# Sidebar


def test_sidebar_lists_dashboard_families_data_model_then_models(fake_kpis, superuser):
    links = _sidebar_links(superuser.get("/admin/").content.decode())

    families = [f"/admin/kpis/{family}/" for family in FAMILIES]
    assert families[:6] == [
        "/admin/kpis/audience/",
        "/admin/kpis/engagement/",
        "/admin/kpis/revenue/",
        "/admin/kpis/content/",
        "/admin/kpis/geography/",
        "/admin/kpis/cohorts/",
    ]
    assert links[: len(families) + 2] == ["/admin/", *families, "/admin/data-model/"]
    assert "/admin/auth/user/" in links[len(families) + 2 :]


def test_sidebar_hides_kpi_pages_from_support(fake_kpis, client, staff_in_role):
    client.force_login(staff_in_role(SUPPORT))

    links = _sidebar_links(client.get("/admin/").content.decode())

    assert links[0] == "/admin/"
    assert not [link for link in links if link.startswith(("/admin/kpis/", "/admin/data-model/"))]


# Data model


def test_data_model_page_draws_the_diagram_of_the_live_models(superuser):
    response = superuser.get(reverse("admin:data-model"))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="erd"' in html
    for box in ("catalog-track", "billing-subscription", "analytics-listeningevent"):
        assert f'id="erd-{box}"' in html
    assert 'id="erd-auth-user"' not in html
    assert "<style>" not in html.split('class="erd"')[1], "the page's stylesheet colours the diagram"


def test_data_model_page_can_include_the_auth_tables(superuser):
    html = superuser.get(reverse("admin:data-model") + "?auth=1").content.decode()

    assert 'id="erd-auth-user"' in html
    assert 'data-source="auth.Permission" data-field="content_type"' in html


def test_data_model_svg_download_is_a_standalone_file(superuser):
    response = superuser.get(reverse("admin:data-model-svg"))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b'<svg xmlns="http://www.w3.org/2000/svg"')
    assert b"<style>" in response.content


def test_data_model_page_is_forbidden_to_support(client, staff_in_role):
    client.force_login(staff_in_role(SUPPORT))

    assert client.get(reverse("admin:data-model")).status_code == 403


# The real KPIs


def test_every_family_page_and_the_dashboard_answer_with_the_real_kpis(real_dataset, superuser):
    from analytics.kpis.registry import all_kpis

    for family in FAMILIES:
        response = superuser.get(f"/admin/kpis/{family}/?start=2026-01-01&end=2026-03-16")
        assert response.status_code == 200, family
        html = response.content.decode()
        for kpi in all_kpis(family):
            assert f'data-src="/admin/kpis/chart/{kpi.slug}/?start=2026-01-01&amp;end=2026-03-16"' in html

    cards = superuser.get("/admin/").context["kpi_cards"]
    registered = {kpi.slug for kpi in all_kpis()}
    assert [card.slug for card in cards if card.available] == [
        slug
        for slug in ("active-28d", "paying-listeners", "mrr", "customer-churn", "clv", "net-revenue")
        if slug in registered
    ]
    assert all(card.sparkline for card in cards if card.available)
