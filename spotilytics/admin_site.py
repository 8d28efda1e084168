"""The Spotilytics admin site: django-unfold's site plus the KPI pages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import URLPattern, URLResolver, path, reverse
from unfold.sites import UnfoldAdminSite

APP_ICONS = {"catalog": "library_music", "billing": "credit_card", "analytics": "analytics", "auth": "shield"}


class SpotilyticsAdminSite(UnfoldAdminSite):
    site_header = "Spotilytics"
    site_title = "Spotilytics"
    index_title = "Dashboard"

    def get_urls(self) -> list[URLResolver | URLPattern]:
        from analytics import views

        pages = [
            # Pages go through admin_view: login redirect, staff check, no caching.
            path(
                "kpis/<slug:family>/",
                self.admin_view(views.KpiFamilyView.as_view(admin_site=self)),
                name="kpi-family",
            ),
            path(
                "data-model/",
                self.admin_view(views.DataModelView.as_view(admin_site=self)),
                name="data-model",
            ),
            path(
                "data-model.svg",
                self.admin_view(views.DataModelSvgView.as_view(admin_site=self)),
                name="data-model-svg",
            ),
            # Endpoints answer anonymous callers with 403 JSON instead of a login redirect.
            path("kpis/chart/<slug:slug>/", views.KpiChartView.as_view(), name="kpi-chart"),
            path("kpis/csv/<slug:slug>/", views.kpi_csv, name="kpi-csv"),
        ]
        return pages + super().get_urls()


def favicon_url(request: HttpRequest) -> str:
    """UNFOLD["SITE_FAVICONS"]: without one, browsers ask for /favicon.ico and log a 404."""
    return static("analytics/favicon.svg")


def can_view_kpis(request: HttpRequest) -> bool:
    """Sidebar permission callback of the KPI items."""
    from analytics.views import can_view_kpis as check

    return check(request)


def sidebar_navigation(request: HttpRequest) -> list[dict[str, Any]]:
    """UNFOLD["SIDEBAR"]["navigation"]: Dashboard, the KPI families, the data model,
    then every app's models the user may see (read from the admin registry, so models
    registered later appear without touching this list)."""
    # Imported here: the KPI package imports every KPI module, which the admin site's
    # own import (at start-up) should not depend on.
    from analytics.kpis.registry import FAMILIES

    kpi_items = [
        {
            "title": label,
            "icon": _family_icon(slug),
            "link": reverse("admin:kpi-family", args=[slug]),
            "permission": can_view_kpis,
        }
        for slug, label in FAMILIES.items()
    ]
    navigation = [
        {
            "title": "KPIs",
            "items": [
                {"title": "Dashboard", "icon": "dashboard", "link": reverse("admin:index")},
                *kpi_items,
                {
                    "title": "Data model",
                    "icon": "schema",
                    "link": reverse("admin:data-model"),
                    "permission": can_view_kpis,
                },
            ],
        }
    ]
    for app in admin.site.get_app_list(request):
        navigation.append(
            {
                "title": app["name"],
                "separator": True,
                "items": [
                    {
                        "title": model["name"],
                        "icon": APP_ICONS.get(app["app_label"], "table"),
                        "link": model["admin_url"],
                    }
                    for model in app["models"]
                    if model.get("admin_url")
                ],
            }
        )
    return navigation


def _family_icon(slug: str) -> str:
    from analytics.views.pages import FAMILY_ICONS

    return FAMILY_ICONS.get(slug, "monitoring")
