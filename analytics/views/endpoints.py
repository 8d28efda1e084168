"""JSON chart endpoints and CSV downloads of single KPIs.

The chart endpoint is a django-chartjs line chart view with two fixes of the released
package (2.3): its context carried the view object's repr and the URL's keyword
arguments into every response, and its encoder turned Decimals into strings. Here the
context is only what the page draws, and numbers are JSON numbers.

Access: staff holding `analytics.view_kpis`. Unlike the pages, which send anonymous
visitors to the login form, the endpoints answer 403 with a JSON body: they are
fetched by scripts, for which a redirect to an HTML login page is only confusing.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from chartjs.views.lines import BaseLineChartView
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from analytics.charts import chart_config, json_number
from analytics.csv_export import kpi_csv_response
from analytics.forms import KpiFilterForm
from analytics.kpis.registry import FILTERS, Kpi, KpiRun, UnknownKpi, get_kpi, run_kpi
from analytics.views.access import can_view_kpis, events_up_to
from analytics.views.tables import kpi_table


class _JSONEncoder(json.JSONEncoder):
    """Decimals as numbers, dates as ISO text; anything else is a bug and raises."""

    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal | date):
            return json_number(o)
        return super().default(o)


def json_response(payload: dict[str, Any], status: int = 200) -> HttpResponse:
    content = json.dumps(payload, cls=_JSONEncoder, allow_nan=False)
    return HttpResponse(content, content_type="application/json", status=status)


def json_error(message: str, field: str | None = None, status: int = 400) -> HttpResponse:
    return json_response({"error": message, "field": field}, status=status)


def _denied(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return json_error("Log in as staff with the permission to view KPIs.", status=403)
    if not can_view_kpis(request):
        return json_error("You do not have the permission to view KPIs.", status=403)
    return None


class ChartDataView(BaseLineChartView):
    """django-chartjs's line chart view, answering with chart data only.

    Subclasses fill `get_labels` and `get_datasets` (and may add keys with
    `get_extra_data`); the response holds exactly those keys.
    """

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # Not super(): TemplateView would add the view itself and the URL kwargs.
        return {"labels": self.get_labels(), "datasets": self.get_datasets(), **self.get_extra_data()}

    def get_extra_data(self) -> dict[str, Any]:
        return {}

    def convert_context_to_json(self, context: dict[str, Any]) -> str:
        return json.dumps(context, cls=_JSONEncoder, allow_nan=False)


@method_decorator(never_cache, name="dispatch")
class KpiChartView(ChartDataView):
    """`GET /admin/kpis/chart/<slug>/?start=..&end=..&country=..`: one KPI, chart-ready."""

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if denied := _denied(request):
            return denied
        try:
            self.kpi = get_kpi(kwargs["slug"])
        except UnknownKpi as exc:
            return json_error(str(exc.args[0]), status=404)
        form = KpiFilterForm(request.GET, today=timezone.localdate())
        if not form.is_valid():
            field, message = form.first_error()
            return json_error(message, field)
        self.form = form
        self.run = _run(self.kpi, form)
        self.chart = chart_config(self.kpi, self.run.result, self.run.previous)
        return self.render_to_response(self.get_context_data())

    def get_labels(self) -> list[str]:
        return self.chart["data"]["labels"]

    def get_datasets(self) -> list[dict[str, Any]]:
        return self.chart["data"]["datasets"]

    def get_extra_data(self) -> dict[str, Any]:
        kpi, run = self.kpi, self.run
        _last, freshness = events_up_to()
        return {
            "slug": kpi.slug,
            "title": kpi.title,
            "family": kpi.family,
            "unit": kpi.unit,
            "kind": kpi.chart,
            "type": self.chart["type"],
            "definition": kpi.definition,
            "start": run.start.isoformat(),
            "end": run.end.isoformat(),
            "filters": {k: v for k, v in self.form.kpi_filters().items() if k in kpi.filters},
            "ignored_filters": ignored_filters(kpi, self.form),
            "previous_datasets": self.chart["previous_datasets"],
            "options": self.chart["options"],
            "axis_units": self.chart["axis_units"],
            "table": kpi_table(run, self.request.user),
            "notes": [*run.result.notes, *([self.chart["note"]] if self.chart["note"] else [])],
            "freshness": freshness,
            "csv": csv_url(kpi, self.form),
        }


@never_cache
def kpi_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """`GET /admin/kpis/csv/<slug>/?...`: the KPI's table for the same filters as the page."""
    if denied := _denied(request):
        return denied
    try:
        kpi = get_kpi(slug)
    except UnknownKpi as exc:
        return json_error(str(exc.args[0]), status=404)
    form = KpiFilterForm(request.GET, today=timezone.localdate())
    if not form.is_valid():
        field, message = form.first_error()
        return json_error(message, field)
    return kpi_csv_response(_run(kpi, form, compare=False))


def chart_url(kpi: Kpi, form: KpiFilterForm) -> str:
    return f"{reverse('admin:kpi-chart', args=[kpi.slug])}?{urlencode(form.query())}"


def csv_url(kpi: Kpi, form: KpiFilterForm) -> str:
    query = {key: value for key, value in form.query().items() if key != "compare"}
    return f"{reverse('admin:kpi-csv', args=[kpi.slug])}?{urlencode(query)}"


def ignored_filters(kpi: Kpi, form: KpiFilterForm) -> list[str]:
    """Filters that are set but that this KPI does not accept (shown, never silent)."""
    return [name for name in FILTERS if name in form.kpi_filters() and name not in kpi.filters]


def _run(kpi: Kpi, form: KpiFilterForm, *, compare: bool | None = None) -> KpiRun:
    start, end = form.period()
    return run_kpi(
        kpi.slug,
        start=start,
        end=end,
        today=form.today,
        compare=form.cleaned_data["compare"] if compare is None else compare,
        **form.kpi_filters(),
    )
