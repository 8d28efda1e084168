"""Views of the KPI pages, chart endpoints and CSV downloads (mounted by the admin site)."""

from analytics.views.access import can_view_kpis, events_up_to
from analytics.views.endpoints import KpiChartView, kpi_csv
from analytics.views.pages import DataModelSvgView, DataModelView, KpiFamilyView, dashboard_callback

__all__ = [
    "DataModelSvgView",
    "DataModelView",
    "KpiChartView",
    "KpiFamilyView",
    "can_view_kpis",
    "dashboard_callback",
    "events_up_to",
    "kpi_csv",
]
