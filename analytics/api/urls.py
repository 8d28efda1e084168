"""Routes of the JSON API, mounted at `/api/` (namespace `api`).

The dashboard-compatible paths have no trailing slash: the dashboard requests them so.
"""

from __future__ import annotations

from django.urls import path

from analytics.api import views

app_name = "api"

urlpatterns = [
    path("kpis/", views.KpiListView.as_view(), name="kpi-list"),
    path("kpis/<str:slug>/", views.KpiDataView.as_view(), name="kpi-data"),
    path("subscriptions", views.SubscriptionsView.as_view(), name="subscriptions"),
    path("top-content", views.TopContentView.as_view(), name="top-content"),
    path("revenue-trends", views.RevenueTrendsView.as_view(), name="revenue-trends"),
    path("payments-trend", views.PaymentsTrendView.as_view(), name="payments-trend"),
    path("watch-history-genre", views.WatchHistoryGenreView.as_view(), name="watch-history-genre"),
    path("listening-by-genre", views.ListeningByGenreView.as_view(), name="listening-by-genre"),
    path("popular-content-trend", views.PopularContentTrendView.as_view(), name="popular-content-trend"),
    path(
        "popular-content-over-time",
        views.PopularContentOverTimeView.as_view(),
        name="popular-content-over-time",
    ),
    path(
        "payment-method-distribution",
        views.PaymentMethodDistributionView.as_view(),
        name="payment-method-distribution",
    ),
    # Any text, so a malformed id gets the API's JSON 404, not Django's HTML one.
    path("user-stats/<str:listener_id>", views.UserStatsView.as_view(), name="user-stats"),
    path("schema/", views.SchemaView.as_view(), name="schema"),
    path("docs/", views.DocsView.as_view(), name="docs"),
]
