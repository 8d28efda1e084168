"""Fixtures of the KPI pages' tests: a private KPI registry for fake KPIs.

KPI pages, chart endpoints and CSV downloads are generic over the registry; their
tests register small fake KPIs in an empty registry so they do not depend on the
real KPI modules (which have their own tests).
"""

from __future__ import annotations

import pytest

from analytics.kpis import registry


@pytest.fixture
def kpi_registry(monkeypatch):
    """An empty KPI registry for the test; the real one comes back afterwards.

    The real KPI modules are imported first: importing them later, inside the test,
    would register the real KPIs into the temporary registry and lose them.
    """
    registry.all_kpis()
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_REFERENCES", {})
    return registry


@pytest.fixture
def plain_static(settings):
    """Static URLs without a collectstatic manifest (tests run with DEBUG off)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
