"""`/api/user-stats/<listener_id>`: one listener's plays and payments, newest first."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def _get(client, url: str, status: int = 200):
    response = client.get(url)
    assert response.status_code == status, response.content
    return response.json()


def test_user_stats_lists_plays_and_collected_payments_newest_first(dataset, analyst_client):
    se = dataset["se"].pk
    assert _get(analyst_client, f"/api/user-stats/{se}") == {
        "user_id": se,
        "watch_history": [
            {"title": "Pilot", "progress": 0.5, "watched_on": "2026-03-04T06:00:00Z"},
            {"title": "Alpha", "progress": 0.15, "watched_on": "2026-03-03T18:00:00Z"},
            {"title": "Gamma", "progress": 0.1, "watched_on": "2026-02-10T09:00:00Z"},
            {"title": "Beta", "progress": 0.5, "watched_on": "2026-01-10T10:05:00Z"},
            {"title": "Alpha", "progress": 1.0, "watched_on": "2026-01-10T10:00:00Z"},
        ],
        # The failed attempt of Mar 5 is not a payment made.
        "payment_history": [
            {"amount": 10.99, "method": "PayPal", "payment_date": "2026-03-06T09:00:00Z"},
            {"amount": 10.99, "method": "Credit card", "payment_date": "2026-02-05T10:00:00Z"},
            {"amount": 10.99, "method": "Credit card", "payment_date": "2026-01-05T10:00:00Z"},
        ],
    }


def test_user_stats_caps_progress_at_one_and_keeps_refunded_payments(dataset, analyst_client):
    us = dataset["us"].pk
    body = _get(analyst_client, f"/api/user-stats/{us}")
    assert body["watch_history"] == [
        {"title": "Gamma", "progress": 0.25, "watched_on": "2026-02-03T08:00:00Z"},
        {"title": "Alpha", "progress": 1.0, "watched_on": "2026-01-20T20:00:00Z"},  # 250 s of 200 s
    ]
    assert body["payment_history"] == [
        {"amount": 14.99, "method": "Apple Pay", "payment_date": "2026-03-01T12:00:00Z"},
        {"amount": 14.99, "method": "PayPal", "payment_date": "2026-02-01T12:00:00Z"},
    ]


def test_user_stats_pages_both_lists_with_limit_and_offset(dataset, analyst_client):
    se = dataset["se"].pk
    body = _get(analyst_client, f"/api/user-stats/{se}?limit=2&offset=1")
    assert [(p["title"], p["watched_on"]) for p in body["watch_history"]] == [
        ("Alpha", "2026-03-03T18:00:00Z"),
        ("Gamma", "2026-02-10T09:00:00Z"),
    ]
    assert [p["payment_date"] for p in body["payment_history"]] == [
        "2026-02-05T10:00:00Z",
        "2026-01-05T10:00:00Z",
    ]
    assert _get(analyst_client, f"/api/user-stats/{se}?offset=50") == {
        "user_id": se,
        "watch_history": [],
        "payment_history": [],
    }


def test_user_stats_of_a_listener_without_history(dataset, analyst_client):
    de = dataset["de"].pk
    body = _get(analyst_client, f"/api/user-stats/{de}")
    assert body == {
        "user_id": de,
        "watch_history": [{"title": "Beta", "progress": 1.0, "watched_on": "2026-03-10T15:00:00Z"}],
        "payment_history": [],
    }


@pytest.mark.parametrize("listener_id", ["999999", "abc", "-1", "1.5", "99999999999999999999"])
def test_user_stats_unknown_or_malformed_id_is_a_json_404(dataset, analyst_client, listener_id):
    assert _get(analyst_client, f"/api/user-stats/{listener_id}", 404) == {
        "error": f"No listener with id {listener_id!r}.",
        "parameter": "listener_id",
    }


@pytest.mark.parametrize(
    ("query", "parameter", "error"),
    [
        ("limit=0", "limit", "Ensure this value is greater than or equal to 1."),
        ("limit=1001", "limit", "Ensure this value is less than or equal to 1000."),
        ("limit=ten", "limit", "A valid integer is required."),
        ("offset=-1", "offset", "Ensure this value is greater than or equal to 0."),
        ("offset=1000001", "offset", "Ensure this value is less than or equal to 1000000."),
    ],
)
def test_user_stats_bad_limit_or_offset_is_a_400(dataset, analyst_client, query, parameter, error):
    se = dataset["se"].pk
    body = _get(analyst_client, f"/api/user-stats/{se}?{query}", 400)
    assert body == {"error": error, "parameter": parameter}
