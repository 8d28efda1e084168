"""Endpoints on an empty database: empty lists, never a made-up zero series."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_endpoints_without_data_answer_empty_lists(analyst_client):
    for path in (
        "/api/revenue-trends",
        "/api/payments-trend",
        "/api/watch-history-genre",
        "/api/listening-by-genre",
        "/api/popular-content-trend",
        "/api/payment-method-distribution",
        "/api/top-content",
    ):
        assert analyst_client.get(path).json() == [], path
    # The free tier is always listed.
    assert analyst_client.get("/api/subscriptions").json() == [{"subscription": "Free", "user_count": 0}]
