"""The KPI pages inside the admin: the dashboard, one page per family, the data model.

The pages are generic over the KPI registry: a family page lists whatever KPIs the
registry holds for it. Only the dashboard names KPIs (its six cards). Pages render the
frame (filters, definitions, links); each chart and its table are fetched from the
chart endpoint by `static/analytics/kpi.js`, so a KPI is computed once per view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.generic import View
from unfold.widgets import CHECKBOX_CLASSES, INPUT_CLASSES, SELECT_CLASSES

from analytics import erd
from analytics.charts import sparkline_config
from analytics.forms import KpiFilterForm
from analytics.kpis.registry import (
    FAMILIES,
    FILTERS,
    Kpi,
    KpiResult,
    UnknownKpi,
    all_kpis,
    get_kpi,
    run_kpi,
)
from analytics.views.access import can_view_kpis, events_up_to
from analytics.views.endpoints import chart_url, csv_url, ignored_filters
from analytics.views.tables import EM_DASH, format_change, format_value

# The dashboard's cards, in order. Cards of KPIs not registered (yet) say so.
DASHBOARD_KPIS = ("active-28d", "paying-listeners", "mrr", "customer-churn", "clv", "net-revenue")
# Cards whose figure is better when it goes down (the change is coloured accordingly).
LOWER_IS_BETTER = frozenset({"customer-churn"})
FAMILY_ICONS = {
    "audience": "groups",
    "engagement": "touch_app",
    "revenue": "payments",
    "content": "library_music",
    "geography": "public",
    "cohorts": "grid_on",
}


def family_links(active: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "slug": slug,
            "label": label,
            "icon": FAMILY_ICONS.get(slug, "monitoring"),
            "url": reverse("admin:kpi-family", args=[slug]),
            "active": slug == active,
        }
        for slug, label in FAMILIES.items()
    ]


def _style(form: KpiFilterForm) -> None:
    # unfold's Tailwind classes: the controls look like the rest of the admin.
    for field in form.fields.values():
        widget = field.widget
        if widget.input_type == "checkbox":
            classes = CHECKBOX_CLASSES
        elif widget.input_type == "select":
            classes = SELECT_CLASSES
        else:
            classes = INPUT_CLASSES
        widget.attrs["class"] = " ".join(classes)


class _AdminPage(View):
    admin_site: AdminSite | None = None
    http_method_names = ["get", "head", "options"]

    def render(self, request: HttpRequest, template: str, context: dict[str, Any], status: int = 200):
        _last, freshness = events_up_to()
        full = {
            **self.admin_site.each_context(request),
            "freshness": freshness,
            "families": family_links(context.get("family")),
            "data_model_url": reverse("admin:data-model"),
            **context,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, template, full, status=status)


class KpiFamilyView(_AdminPage):
    """`/admin/kpis/<family>/`: every KPI of one family with the shared filters."""

    def get(self, request: HttpRequest, family: str) -> HttpResponse:
        if family not in FAMILIES:
            raise Http404(f"No KPI family {family!r}.")
        if not can_view_kpis(request):
            raise PermissionDenied
        form = KpiFilterForm(request.GET, today=timezone.localdate())
        _style(form)
        kpis = all_kpis(family)  # in the order their modules register them
        used = {name for kpi in kpis for name in kpi.filters}
        valid = form.is_valid()
        cards = [_chart_card(kpi, form) for kpi in kpis] if valid else []
        context = {
            "title": f"{FAMILIES[family]} KPIs",
            "family": family,
            "form": form,
            "period_fields": [form["start"], form["end"]],
            "filter_fields": [form[name] for name in FILTERS if name in used],
            "compare_field": form["compare"],
            "cards": cards,
            "has_kpis": bool(kpis),
        }
        return self.render(request, "analytics/family.html", context, status=200 if valid else 400)


def _chart_card(kpi: Kpi, form: KpiFilterForm) -> dict[str, Any]:
    return {
        "kpi": kpi,
        "dom_id": f"kpi-{kpi.slug}",
        "chart_url": chart_url(kpi, form),
        "csv_url": csv_url(kpi, form),
        "ignored": ignored_filters(kpi, form),
        "is_chart": kpi.chart not in ("heatmap", "table"),
    }


class DataModelView(_AdminPage):
    """`/admin/data-model/`: the ER diagram of the live models."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not can_view_kpis(request):
            raise PermissionDenied
        with_auth = request.GET.get("auth") == "1"
        app_labels = erd.DEFAULT_APPS + (erd.AUTH_APPS if with_auth else ())
        diagram = erd.describe(app_labels)
        context = {
            "title": "Data model",
            # Built from model metadata only, every text escaped in erd.py.
            "svg": mark_safe(erd.render_svg(app_labels)),
            "with_auth": with_auth,
            "model_count": len(diagram.boxes),
            "relation_count": len(diagram.relations),
            "svg_url": reverse("admin:data-model-svg") + ("?auth=1" if with_auth else ""),
        }
        return self.render(request, "analytics/data_model.html", context)


class DataModelSvgView(_AdminPage):
    """`/admin/data-model.svg`: the same diagram as a file with its own colours."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not can_view_kpis(request):
            raise PermissionDenied
        app_labels = erd.DEFAULT_APPS + (erd.AUTH_APPS if request.GET.get("auth") == "1" else ())
        response = HttpResponse(erd.render_svg(app_labels, standalone=True), content_type="image/svg+xml")
        response["Content-Disposition"] = 'inline; filename="spotilytics-data-model.svg"'
        return response


# The dashboard (the admin index).


@dataclass(frozen=True)
class Card:
    slug: str
    title: str
    value: str
    change: str
    trend: str  # "good", "bad" or "flat": colours the change
    period: str
    family_url: str | None
    definition: str
    sparkline: dict[str, Any] | None
    available: bool = True


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    """unfold's DASHBOARD_CALLBACK: the KPI cards of the admin index."""
    if not can_view_kpis(request):
        return context
    today = timezone.localdate()
    _last, freshness = events_up_to()
    context.update(
        kpi_cards=[dashboard_card(slug, today=today) for slug in DASHBOARD_KPIS],
        families=family_links(),
        freshness=freshness,
        data_model_url=reverse("admin:data-model"),
    )
    return context


def month_to_date(today: date) -> tuple[tuple[date, date], tuple[date, date]]:
    """This month so far, and the same days of the previous month: `[start, end)` each."""
    start, end = today.replace(day=1), today + timedelta(days=1)
    previous_start = (start - timedelta(days=1)).replace(day=1)
    return (start, end), (previous_start, min(previous_start + (end - start), start))


def _months_back(today: date, months: int) -> date:
    index = today.year * 12 + today.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def dashboard_card(slug: str, *, today: date) -> Card:
    """One card: this month's figure, its change against the same days of last month,
    and a twelve-month sparkline of the monthly figure."""
    try:
        kpi = get_kpi(slug)
    except UnknownKpi:
        return Card(slug, slug, EM_DASH, EM_DASH, "flat", "", None, "Not available yet.", None, False)
    (start, end), (previous_start, previous_end) = month_to_date(today)
    column = kpi.headline or kpi.y[0]
    result = run_kpi(slug, start=start, end=end, today=today).result
    current = _last(result, column)
    previous = _last(run_kpi(slug, start=previous_start, end=previous_end, today=today).result, column)
    history = run_kpi(slug, start=_months_back(today, 11), end=end, today=today, grain="month").result
    unit = next((c.unit for c in result.columns if c.key == column), kpi.unit)
    last_day = previous_end - timedelta(days=1)
    return Card(
        slug=slug,
        title=kpi.title,
        value=format_value(current, unit),
        change=format_change(current, previous, unit),
        trend=_trend(slug, current, previous),
        period=f"{start:%b} 1-{today.day} vs {previous_start:%b} 1-{last_day.day}",
        family_url=reverse("admin:kpi-family", args=[kpi.family]),
        definition=kpi.definition,
        sparkline=sparkline_config(history.column(column), unit) if history.rows else None,
    )


def _last(result: KpiResult, column: str) -> Any:
    values = result.column(column)
    return values[-1] if values else None


def _trend(slug: str, current: Any, previous: Any) -> str:
    if current is None or previous is None or current == previous:
        return "flat"
    up = current > previous
    return "good" if up != (slug in LOWER_IS_BETTER) else "bad"
