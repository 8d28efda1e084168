"""Who may call the API: anonymous 401, staff without the permission 403, Analyst and
tokens 200, token clients throttled; the schema and the docs are not public either."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.authtoken.models import Token

import catalog.rollups
from tests.analytics.api.conftest import TODAY, token_header
from tests.factories import at, make_event, make_listener

pytestmark = pytest.mark.django_db

KPI_URLS = [
    "/api/kpis/",
    "/api/kpis/gross-revenue/",
    "/api/subscriptions",
    "/api/top-content",
    "/api/revenue-trends",
    "/api/payments-trend",
    "/api/watch-history-genre",
    "/api/listening-by-genre",
    "/api/popular-content-trend",
    "/api/popular-content-over-time?month=2026-03",
    "/api/payment-method-distribution",
]
CHALLENGE = 'Token realm="Spotilytics API"'


@pytest.fixture
def listener(db):
    """The auth matrix needs few numbers: a listener (for the user-stats URL) with one
    stream this month (so the month endpoint has a month to show)."""
    listener = make_listener()
    make_event(listener, played_at=at(2026, 3, 2))
    catalog.rollups.refresh(since=None, full=True, today=TODAY)
    return listener


def _user_stats(listener) -> str:
    return f"/api/user-stats/{listener.pk}"


@pytest.mark.parametrize("url", [*KPI_URLS, "USER_STATS", "/api/schema/"])
def test_anonymous_gets_401_with_a_token_challenge(listener, client, url):
    url = _user_stats(listener) if url == "USER_STATS" else url
    response = client.get(url, headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == CHALLENGE
    assert response.json() == {"error": "Authentication credentials were not provided.", "parameter": None}


def test_a_bad_token_gets_401(listener, client):
    response = client.get("/api/subscriptions", headers=token_header("not-a-token"))
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid token.", "parameter": None}


@pytest.mark.parametrize("url", KPI_URLS)
def test_kpi_endpoints_need_the_kpi_permission(listener, client, staff_without_permission, support, url):
    for user in (staff_without_permission, support):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 403, user
        assert response.json() == {
            "error": "You need the permission analytics.view_kpis (the Analyst role has it) to read KPIs.",
            "parameter": None,
        }


@pytest.mark.parametrize("url", KPI_URLS)
def test_analysts_read_kpis_by_session_and_by_token(listener, client, analyst, analyst_token, url):
    assert client.get(url, headers=token_header(analyst_token)).status_code == 200
    client.force_login(analyst)
    assert client.get(url).status_code == 200


def test_user_stats_needs_the_listener_and_payment_permissions(
    listener, client, staff_without_permission, support, analyst
):
    url = _user_stats(listener)
    client.force_login(staff_without_permission)
    response = client.get(url)
    assert response.status_code == 403
    assert response.json() == {
        "error": "You need the permissions billing.view_listener and billing.view_payment "
        "to read a listener's history.",
        "parameter": None,
    }
    # Support may see listeners and payments but not KPIs; Analysts see both.
    for user in (support, analyst):
        client.force_login(user)
        assert client.get(url).status_code == 200, user


def test_non_staff_users_are_refused_even_with_the_permission(listener, client, analyst_not_staff):
    token = Token.objects.create(user=analyst_not_staff)
    response = client.get("/api/subscriptions", headers=token_header(token.key))
    assert response.status_code == 403
    client.force_login(analyst_not_staff)
    assert client.get("/api/kpis/").status_code == 403


def test_inactive_users_tokens_stop_working(listener, client, analyst, analyst_token):
    analyst.is_active = False
    analyst.save()
    response = client.get("/api/subscriptions", headers=token_header(analyst_token))
    assert response.status_code == 401
    assert response.json() == {"error": "User inactive or deleted.", "parameter": None}


def _rates(rate: str) -> dict:
    return {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": rate}}


def test_token_clients_are_throttled_and_told_when_to_retry(listener, client, analyst, analyst_token):
    with override_settings(REST_FRAMEWORK=_rates("2/minute")):
        for _ in range(2):
            assert client.get("/api/subscriptions", headers=token_header(analyst_token)).status_code == 200
        response = client.get("/api/kpis/", headers=token_header(analyst_token))
        assert response.status_code == 429
        assert 0 < int(response["Retry-After"]) <= 60
        assert response.json()["parameter"] is None
        assert response.json()["error"].startswith("Request was throttled.")
        # Staff in the browser are not throttled.
        client.force_login(analyst)
        assert client.get("/api/kpis/").status_code == 200


def test_throttling_counts_each_token_separately(listener, client, analyst, staff_in_role):
    other = Token.objects.create(user=staff_in_role("Analyst", username="second-analyst")).key
    mine = Token.objects.create(user=analyst).key
    with override_settings(REST_FRAMEWORK=_rates("1/minute")):
        assert client.get("/api/subscriptions", headers=token_header(mine)).status_code == 200
        assert client.get("/api/subscriptions", headers=token_header(mine)).status_code == 429
        assert client.get("/api/subscriptions", headers=token_header(other)).status_code == 200


def test_schema_is_served_to_staff_only(listener, client, analyst, analyst_token, analyst_not_staff):
    response = client.get("/api/schema/?format=json", headers=token_header(analyst_token))
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/subscriptions" in schema["paths"]
    client.force_login(analyst_not_staff)
    assert client.get("/api/schema/?format=json").status_code == 403


def test_docs_page_serves_swagger_ui_from_local_static_files(listener, client, analyst, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client.force_login(analyst)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn." not in page and "unpkg" not in page
    # No inline script (the Content-Security-Policy forbids them): the start-up script is a file.
    assert 'src="/api/docs/?script="' in page
    assert re.search(r"<script>\s*\S", page) is None
    script = client.get("/api/docs/?script")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


def test_docs_page_sends_anonymous_visitors_to_the_login(listener, client):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/api/docs/"
