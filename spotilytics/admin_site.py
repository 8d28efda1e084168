"""The Spotilytics admin site: django-unfold's site plus the KPI pages."""

from __future__ import annotations

from unfold.sites import UnfoldAdminSite


class SpotilyticsAdminSite(UnfoldAdminSite):
    site_header = "Spotilytics"
    site_title = "Spotilytics"
    index_title = "Dashboard"
