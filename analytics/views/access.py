"""Who may see the KPI pages, and how fresh their data is: shared by every KPI view."""

from __future__ import annotations

import importlib
import importlib.util
from datetime import datetime

from django.http import HttpRequest
from django.utils import timezone

KPI_PERMISSION = "analytics.view_kpis"


def can_view_kpis(request: HttpRequest) -> bool:
    """Active staff holding `analytics.view_kpis` (superusers hold every permission)."""
    user = request.user
    return bool(user.is_active and user.is_staff and user.has_perm(KPI_PERMISSION))


def events_up_to() -> tuple[datetime | None, str]:
    """The last event the rollups cover, and the sentence the pages show about it.

    `analytics.rollups.freshness()` is the source. Until that module exists the pages
    say so instead of failing; an error inside the module itself is not hidden.
    """
    if importlib.util.find_spec("analytics.rollups") is None:
        return None, "Events up to: unknown (the listening rollups are not installed yet)."
    freshness = getattr(importlib.import_module("analytics.rollups"), "freshness", None)
    if freshness is None:
        return None, "Events up to: unknown (the listening rollups report no freshness yet)."
    last = freshness()
    if last is None:
        return None, "No listening events have been rolled up yet: run `manage.py refresh_rollups`."
    local = timezone.localtime(last)
    return last, f"Events up to {local:%Y-%m-%d %H:%M} {local.tzname()}."
