"""The data table under each chart: display formatting and drill-down links.

Values keep their JSON number next to the text shown, so the browser can sort or
re-format; the text is decided here, once: undefined is an em dash and money rounds
half-even to cents (for display only: the KPI and the CSV keep every digit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.base_user import AbstractBaseUser
from django.urls import NoReverseMatch, reverse

from analytics.charts import align_previous, json_number, label_text
from analytics.kpis.registry import Column, KpiRun, Value
from billing.models import Plan

EM_DASH = "—"
CENT = Decimal("0.01")


def format_value(value: Value, unit: str) -> str:
    """How a KPI value reads on a page."""
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return EM_DASH
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, str) or unit in ("text", "date"):
        return str(value)
    if unit == "money":
        return f"{Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_EVEN):,.2f}"
    if unit == "ratio":
        return f"{float(value) * 100:,.1f}%"
    if unit == "index":
        return f"{float(value):,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.1f}"


def format_change(current: Value, previous: Value, unit: str) -> str:
    """Change against the previous period: points for ratios, percent for the rest."""
    if current is None or previous is None or isinstance(current, str) or isinstance(previous, str):
        return EM_DASH
    if unit == "ratio":
        return f"{(float(current) - float(previous)) * 100:+.1f} pp"
    if previous == 0:
        return EM_DASH
    return f"{(Decimal(str(current)) - Decimal(str(previous))) / abs(Decimal(str(previous))) * 100:+.1f}%"


@dataclass(frozen=True)
class DrillDown:
    """A row key that names something the admin lists: its cell links to that list."""

    key: str  # the row's key holding the id or code
    cells: tuple[str, ...]  # columns whose cell gets the link, first present wins
    model: str  # "app_label.model_name" of the changelist
    lookup: str  # changelist query parameter (a standard list_filter lookup)


# The changelist parameters the KPI tables link with; each model's admin must list the
# field in `list_filter` for Django's changelist to accept it.
DRILL_DOWNS = (
    DrillDown("track_id", ("title", "track"), "analytics.listeningevent", "track__id__exact"),
    DrillDown("episode_id", ("title", "episode"), "analytics.listeningevent", "episode__id__exact"),
    DrillDown("playlist_id", ("playlist", "title"), "analytics.listeningevent", "playlist__id__exact"),
    DrillDown("artist_id", ("artist", "name"), "catalog.track", "primary_artist__id__exact"),
    DrillDown("album_id", ("album",), "catalog.track", "album__id__exact"),
    DrillDown("genre_id", ("genre",), "catalog.track", "genre__id__exact"),
    DrillDown("podcast_id", ("podcast",), "catalog.episode", "podcast__id__exact"),
    DrillDown("plan_id", ("plan",), "billing.subscription", "plan__id__exact"),
    DrillDown("method_code", ("method",), "billing.payment", "method__exact"),
    DrillDown("country_code", ("country",), "billing.listener", "country__exact"),
    DrillDown("country", ("country",), "billing.listener", "country__exact"),
)


def drill_down_params() -> list[str]:
    """Every `model?lookup` the tables may link to (documented for the admin owners)."""
    return sorted({f"{d.model}?{d.lookup}" for d in DRILL_DOWNS})


class _Linker:
    """Builds drill-down URLs for one user, resolving each changelist once."""

    def __init__(self, user: AbstractBaseUser | None, rows: list[dict[str, Value]]) -> None:
        self.user = user
        self._changelists: dict[str, str | None] = {}
        codes = {row["plan_code"] for row in rows if row.get("plan_code") and not row.get("plan_id")}
        # Plans are linked by id (the standard lookup); KPI rows carry the plan code.
        self._plan_ids = dict(Plan.objects.filter(code__in=codes).values_list("code", "id")) if codes else {}

    def changelist(self, model: str) -> str | None:
        if model not in self._changelists:
            app_label, model_name = model.split(".")
            url = None
            allowed = self.user is not None and (
                self.user.has_perm(f"{app_label}.view_{model_name}")
                or self.user.has_perm(f"{app_label}.change_{model_name}")
            )
            if allowed:
                try:
                    url = reverse(f"admin:{app_label}_{model_name}_changelist")
                except NoReverseMatch:  # the model has no admin (yet)
                    url = None
            self._changelists[model] = url
        return self._changelists[model]

    def links(self, row: dict[str, Value], column_keys: list[str]) -> dict[str, str]:
        row = dict(row)
        if row.get("plan_code") in self._plan_ids:
            row["plan_id"] = self._plan_ids[row["plan_code"]]
        links: dict[str, str] = {}
        for drill in DRILL_DOWNS:
            value = row.get(drill.key)
            if value in (None, ""):
                continue
            if drill.key == "country" and not _is_country_code(value):
                continue
            cell = next((key for key in drill.cells if key in column_keys), None)
            if cell is None or cell in links:
                continue
            base = self.changelist(drill.model)
            if base:
                links[cell] = f"{base}?{urlencode({drill.lookup: value})}"
        return links


def _is_country_code(value: Value) -> bool:
    return isinstance(value, str) and len(value) == 2 and value.isalpha() and value.isupper()


def kpi_table(run: KpiRun, user: AbstractBaseUser | None = None) -> dict[str, Any]:
    """The table of a KPI run, with previous-period columns when it was compared."""
    kpi, result = run.kpi, run.result
    columns: list[Column] = list(result.columns)
    keys = [column.key for column in columns]
    previous_columns: list[tuple[Column, list[Value]]] = []
    if run.previous is not None:
        labels = [label_text(value) for value in result.column(kpi.x)]
        previous_labels = [label_text(value) for value in run.previous.column(kpi.x)]
        for column in columns:
            if column.key in kpi.y:
                values = align_previous(labels, previous_labels, run.previous.column(column.key))
                previous_columns.append((column, values))
    linker = _Linker(user, result.rows)
    rows = []
    for index, row in enumerate(result.rows):
        links = linker.links(row, keys)
        cells = [_cell(row.get(column.key), column.unit, links.get(column.key)) for column in columns]
        for column, values in previous_columns:
            cells.append(_cell(values[index], column.unit, None))
            cells.append(
                {"value": None, "display": format_change(row.get(column.key), values[index], column.unit)}
            )
        rows.append(cells)
    header = [_header(c.key, c.label, c.unit) for c in columns]
    for column, _values in previous_columns:
        header.append(_header(f"{column.key}__previous", f"{column.label} (previous)", column.unit))
        header.append({**_header(f"{column.key}__change", "Change", "text"), "align": "right"})
    return {"columns": header, "rows": rows}


def _header(key: str, label: str, unit: str) -> dict[str, str]:
    align = "left" if unit in ("text", "date") else "right"
    return {"key": key, "label": label, "unit": unit, "align": align}


def _cell(value: Value, unit: str, href: str | None) -> dict[str, Any]:
    cell: dict[str, Any] = {"value": json_number(value), "display": format_value(value, unit)}
    if href:
        cell["href"] = href
    return cell
