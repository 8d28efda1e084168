"""The dashboard-compatible endpoints on the hand-built dataset (see conftest.py):
literal JSON, numbers worked out by hand from the dataset table."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def _get(client, url: str, status: int = 200):
    response = client.get(url)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


def test_subscriptions_counts_listeners_per_plan_now_free_tier_included(dataset, analyst_client):
    # br has no subscription, de is on Free, fr's Premium ended Feb 20: three on Free.
    assert _get(analyst_client, "/api/subscriptions") == [
        {"subscription": "Free", "user_count": 3},
        {"subscription": "Premium", "user_count": 1},
        {"subscription": "Duo", "user_count": 1},
    ]


def test_top_content_ranks_tracks_with_enough_ratings_by_bayesian_average(dataset, analyst_client):
    # C = 58 / 14; Alpha (23 + 5C) / 10 = 4.37 beats Beta (15 + 5C) / 10 = 3.57; Gamma has 4 votes.
    assert _get(analyst_client, "/api/top-content") == [
        {"title": "Alpha", "genre": "Pop", "rating": 4.6},
        {"title": "Beta", "genre": "Rock", "rating": 3.0},
    ]


def test_top_content_filters_by_genre_name_case_insensitively(dataset, analyst_client):
    assert _get(analyst_client, "/api/top-content?genre=rOCK") == [
        {"title": "Beta", "genre": "Rock", "rating": 3.0}
    ]
    assert _get(analyst_client, "/api/top-content?genre=Jazz") == []
    # An empty value means no filter, as the dashboard sends it.
    assert len(_get(analyst_client, "/api/top-content?genre=")) == 2


def test_top_content_unknown_genre_is_a_400_naming_the_parameter(dataset, analyst_client):
    assert _get(analyst_client, "/api/top-content?genre=Polka", 400) == {
        "error": "Unknown genre 'Polka': use a genre name such as Pop.",
        "parameter": "genre",
    }


def test_revenue_trends_daily_with_both_days_included(dataset, analyst_client):
    body = _get(analyst_client, "/api/revenue-trends?start_date=2026-02-28&end_date=2026-03-02")
    assert body == [
        {"date": "2026-02-28", "revenue": 0.0},
        {"date": "2026-03-01", "revenue": 14.99},  # refunded later: still gross revenue
        {"date": "2026-03-02", "revenue": 0.0},
    ]


def test_revenue_trends_by_month_defaults_to_all_payments_up_to_today(dataset, analyst_client):
    # Jan 10.99 + 10.99; Feb 10.99 + 14.99 + 10.99; Mar 14.99 + 10.99 (the failed one is not revenue).
    assert _get(analyst_client, "/api/revenue-trends?interval=month") == [
        {"date": "2026-01-01", "revenue": 21.98},
        {"date": "2026-02-01", "revenue": 36.97},
        {"date": "2026-03-01", "revenue": 25.98},
    ]


def test_revenue_trends_daily_default_runs_from_the_first_payment_to_today(dataset, analyst_client):
    body = _get(analyst_client, "/api/revenue-trends")
    assert len(body) == 79  # Jan 1 .. Mar 20
    assert (body[0]["date"], body[-1]["date"]) == ("2026-01-01", "2026-03-20")
    assert [row for row in body if row["revenue"]] == [
        {"date": "2026-01-01", "revenue": 10.99},
        {"date": "2026-01-05", "revenue": 10.99},
        {"date": "2026-02-01", "revenue": 25.98},
        {"date": "2026-02-05", "revenue": 10.99},
        {"date": "2026-03-01", "revenue": 14.99},
        {"date": "2026-03-06", "revenue": 10.99},
    ]


def test_revenue_trends_weeks_are_labelled_by_their_monday(dataset, analyst_client):
    body = _get(analyst_client, "/api/revenue-trends?start_date=2026-02-25&end_date=2026-03-08&interval=week")
    assert body == [
        {"date": "2026-02-23", "revenue": 14.99},  # only Feb 25 .. Mar 1 of that week
        {"date": "2026-03-02", "revenue": 10.99},
    ]


@pytest.mark.parametrize(
    ("query", "parameter", "error"),
    [
        ("start_date=2026-13-01", "start_date", "Enter a date as YYYY-MM-DD, e.g. 2026-01-31."),
        ("end_date=yesterday", "end_date", "Enter a date as YYYY-MM-DD, e.g. 2026-01-31."),
        (
            "start_date=2026-03-02&end_date=2026-03-01",
            "end_date",
            "end_date must be on or after start_date (both days are included).",
        ),
        (
            "end_date=2026-03-21",
            "end_date",
            "end_date must be today (2026-03-20) or earlier: no data after today.",
        ),
        ("start_date=1999-12-31", "start_date", "start_date must be on or after 2000-01-01."),
        (
            "start_date=2026-03-21",
            "start_date",
            "start_date must be today (2026-03-20) or earlier: no data after today.",
        ),
        ("interval=year", "interval", "Unknown interval year: use day, week or month."),
    ],
)
def test_revenue_trends_bad_parameters_are_400s(dataset, analyst_client, query, parameter, error):
    assert _get(analyst_client, f"/api/revenue-trends?{query}", 400) == {
        "error": error,
        "parameter": parameter,
    }


def test_payments_trend_is_weekly_gross_revenue_from_the_first_payment(dataset, analyst_client):
    assert _get(analyst_client, "/api/payments-trend") == [
        {"week": "2025-12-29", "total_revenue": 10.99},
        {"week": "2026-01-05", "total_revenue": 10.99},
        {"week": "2026-01-12", "total_revenue": 0.0},
        {"week": "2026-01-19", "total_revenue": 0.0},
        {"week": "2026-01-26", "total_revenue": 25.98},  # Sunday Feb 1: 10.99 + 14.99
        {"week": "2026-02-02", "total_revenue": 10.99},
        {"week": "2026-02-09", "total_revenue": 0.0},
        {"week": "2026-02-16", "total_revenue": 0.0},
        {"week": "2026-02-23", "total_revenue": 14.99},
        {"week": "2026-03-02", "total_revenue": 10.99},
        {"week": "2026-03-09", "total_revenue": 0.0},
        {"week": "2026-03-16", "total_revenue": 0.0},
    ]


def test_genre_endpoints_count_streams_per_genre_over_all_data(dataset, analyst_client):
    # Pop: Alpha e1 e3 e7 e8 + Gamma e0 e4 (e5 is a skip); Rock: Beta e2 e6 e10; the episode has no genre.
    assert _get(analyst_client, "/api/watch-history-genre") == [
        {"genre": "Pop", "watch_count": 6},
        {"genre": "Rock", "watch_count": 3},
    ]
    assert _get(analyst_client, "/api/listening-by-genre") == [
        {"genre": "Pop", "streams": 6},
        {"genre": "Rock", "streams": 3},
    ]


def test_popular_content_trend_lists_the_top_tracks_of_every_month_with_streams(dataset, analyst_client):
    assert _get(analyst_client, "/api/popular-content-trend") == [
        {"month": "2025-12", "title": "Gamma", "watch_count": 1},
        {"month": "2026-01", "title": "Alpha", "watch_count": 2},
        {"month": "2026-01", "title": "Beta", "watch_count": 1},
        {"month": "2026-02", "title": "Beta", "watch_count": 1},  # tie with Gamma: lower track id first
        {"month": "2026-02", "title": "Gamma", "watch_count": 1},
        {"month": "2026-03", "title": "Alpha", "watch_count": 2},
        {"month": "2026-03", "title": "Beta", "watch_count": 1},
    ]


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        (
            "2026-02",
            [
                {"title": "Beta", "artist": "Bo", "streams": 1},
                {"title": "Gamma", "artist": "Bo", "streams": 1},
            ],
        ),
        # A name is the latest such month with streams: December 2026 is to come, 2025 has one.
        ("Dec", [{"title": "Gamma", "artist": "Bo", "streams": 1}]),
        ("DECEMBER", [{"title": "Gamma", "artist": "Bo", "streams": 1}]),
        (
            "mar",
            [
                {"title": "Alpha", "artist": "Ada", "streams": 2},
                {"title": "Beta", "artist": "Bo", "streams": 1},
            ],
        ),
    ],
)
def test_popular_content_over_time_reads_one_month(dataset, analyst_client, month, expected):
    assert _get(analyst_client, f"/api/popular-content-over-time?month={month}") == expected


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("month=2025-11", "No streams in 2025-11."),
        ("month=Apr", "No streams in any April up to today."),
        ("month=2026-04", "No streams in 2026-04: use a month from 2000-01 to 2026-03."),
        (
            "month=2026-13",
            "'2026-13' is not a month. Use YYYY-MM (e.g. 2025-08) or an English month name or "
            "abbreviation (Aug, August).",
        ),
        (
            "month=Brumaire",
            "Unknown month 'Brumaire'. Use YYYY-MM (e.g. 2025-08) or an English month name or "
            "abbreviation (Aug, August).",
        ),
        ("", "Give a month: YYYY-MM, or a month name such as Aug."),
    ],
)
def test_popular_content_over_time_bad_month_is_a_400(dataset, analyst_client, query, error):
    body = _get(analyst_client, f"/api/popular-content-over-time?{query}", 400)
    assert body == {"error": error, "parameter": "month"}


def test_payment_method_distribution_counts_attempts_per_method(dataset, analyst_client):
    assert _get(analyst_client, "/api/payment-method-distribution") == [
        {"method": "Credit card", "count": 5},  # the failed attempt counts too
        {"method": "PayPal", "count": 2},
        {"method": "Apple Pay", "count": 1},
    ]
