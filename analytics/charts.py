"""The only code that knows Chart.js: it turns a KPI's result into a chart configuration.

Everything returned here is plain JSON data (numbers as numbers, undefined as None).
The browser code (`static/analytics/kpi.js`) hands `type`, `data` and `options` to
Chart.js as they are; it only adds what JSON cannot carry (tick formatters, colours
that follow the light/dark theme). Heatmaps and tables are not Chart.js charts: their
`type` is "heatmap" or "table" and the browser draws them as HTML tables.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from analytics.kpis.registry import Column, Kpi, KpiResult, Value

# Tailwind's 500 shades: legible on unfold's white and on its dark (base-900) background.
PALETTE = (
    "#8b5cf6",  # violet
    "#0ea5e9",  # sky
    "#f59e0b",  # amber
    "#10b981",  # emerald
    "#ef4444",  # red
    "#ec4899",  # pink
    "#14b8a6",  # teal
    "#84cc16",  # lime
    "#6366f1",  # indigo
    "#f97316",  # orange
)
# Line charts with more points than this draw no point markers: they would hide the line.
MAX_MARKED_POINTS = 60
# A ranked bar chart (countries, artists) draws its first rows only; the table has them all.
MAX_BARS = 30

_CHART_TYPES = {
    "line": "line",
    "bar": "bar",
    "stacked-bar": "bar",
    "horizontal-bar": "bar",
    "doughnut": "doughnut",
    "heatmap": "heatmap",
    "table": "table",
}
_UNIT_TITLES = {
    "count": "Count",
    "minutes": "Minutes",
    "ms": "Milliseconds",
    "seconds": "Seconds",
    "money": "Amount",
    "ratio": "Share",
    "index": "Index",
}


def json_number(value: Value | bool) -> int | float | str | None:
    """A value as JSON wants it: Decimal becomes a number, NaN and None become null."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"A KPI value must be a number, text or None; got {type(value).__name__}")


def label_text(value: Any) -> str:
    """A category label: dates in ISO form, undefined as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def colour(index: int, alpha: str = "") -> str:
    """A palette colour, optionally with a two-digit hex alpha (e.g. "66")."""
    return PALETTE[index % len(PALETTE)] + alpha


def chart_config(kpi: Kpi, result: KpiResult, previous: KpiResult | None = None) -> dict[str, Any]:
    """Chart.js `type`, `data` and `options` for one KPI result.

    With `previous` (the same KPI over the previous period) the previous values are
    returned as extra datasets aligned to the current labels: by label when the two
    periods share categories (countries, plans), by position when they do not (days).
    `note` says when the chart leaves rows out.
    """
    columns = _y_columns(kpi, result)
    note = ""
    if kpi.chart == "horizontal-bar" and len(result.rows) > MAX_BARS:
        note = f"The chart shows the first {MAX_BARS} of {len(result.rows)} rows; the table lists them all."
        result = KpiResult(columns=result.columns, rows=result.rows[:MAX_BARS], notes=result.notes)
    labels = [label_text(value) for value in result.column(kpi.x)]
    datasets = [_dataset(kpi, result, columns, index, len(labels)) for index in range(len(columns))]
    previous_datasets = []
    if previous is not None and kpi.chart not in ("doughnut", "heatmap", "table"):
        previous_labels = [label_text(value) for value in previous.column(kpi.x)]
        for index, column in enumerate(columns):
            values = align_previous(labels, previous_labels, previous.column(column.key))
            previous_datasets.append(_previous_dataset(kpi, columns, index, values))
    return {
        "type": _CHART_TYPES[kpi.chart],
        "data": {"labels": labels, "datasets": datasets},
        "previous_datasets": previous_datasets,
        "options": _options(kpi, columns, len(datasets) + len(previous_datasets)),
        "axis_units": _axis_units(kpi, columns),
        "note": note,
    }


def sparkline_config(values: list[Value], unit: str) -> dict[str, Any]:
    """A tiny axis-free line of a KPI's headline series, for the dashboard cards."""
    return {
        "type": "line",
        "data": {
            "labels": [str(index) for index in range(len(values))],
            "datasets": [
                {
                    "data": [json_number(value) for value in values],
                    "borderColor": colour(0),
                    "backgroundColor": colour(0, "33"),
                    "borderWidth": 2,
                    "fill": True,
                    "pointRadius": 0,
                    "tension": 0.3,
                    "spanGaps": False,
                    "unit": unit,
                }
            ],
        },
        "options": {
            "responsive": True,
            "maintainAspectRatio": False,
            "animation": False,
            "events": [],
            "plugins": {"legend": {"display": False}, "tooltip": {"enabled": False}},
            "scales": {"x": {"display": False}, "y": {"display": False}},
        },
        "axis_units": {},
    }


def _y_columns(kpi: Kpi, result: KpiResult) -> list[Column]:
    by_key = {column.key: column for column in result.columns}
    return [by_key.get(key) or Column(key, key.replace("_", " ").capitalize(), kpi.unit) for key in kpi.y]


def _secondary(kpi: Kpi, columns: list[Column], column: Column) -> bool:
    # A second unit (e.g. a ratio next to counts) gets its own axis on the right.
    return kpi.chart in ("line", "bar") and column.unit != columns[0].unit


def _dataset(kpi: Kpi, result: KpiResult, columns: list[Column], index: int, points: int) -> dict[str, Any]:
    column = columns[index]
    data = [json_number(value) for value in result.column(column.key)]
    dataset: dict[str, Any] = {"label": column.label, "data": data, "unit": column.unit}
    if kpi.chart == "line":
        dataset.update(
            borderColor=colour(index),
            backgroundColor=colour(index, "33"),
            borderWidth=2,
            pointRadius=2 if points <= MAX_MARKED_POINTS else 0,
            tension=0.2,
            fill=False,
        )
    elif kpi.chart == "doughnut":
        dataset.update(backgroundColor=[colour(i) for i in range(points)], borderWidth=0)
    else:
        dataset.update(backgroundColor=colour(index, "cc"), borderColor=colour(index), borderWidth=1)
    if _secondary(kpi, columns, column):
        dataset["yAxisID"] = "y1"
    return dataset


def _previous_dataset(kpi: Kpi, columns: list[Column], index: int, values: list[Value]) -> dict[str, Any]:
    column = columns[index]
    dataset: dict[str, Any] = {
        "label": f"{column.label} (previous period)",
        "data": [json_number(value) for value in values],
        "unit": column.unit,
        "previous": True,
    }
    if kpi.chart == "line":
        dataset.update(
            borderColor=colour(index, "99"),
            backgroundColor=colour(index, "22"),
            borderWidth=2,
            borderDash=[6, 4],
            pointRadius=0,
            tension=0.2,
            fill=False,
        )
    else:
        dataset.update(backgroundColor=colour(index, "55"), borderColor=colour(index, "99"), borderWidth=1)
        if kpi.chart == "stacked-bar":
            dataset["stack"] = "previous"
    if _secondary(kpi, columns, column):
        dataset["yAxisID"] = "y1"
    return dataset


def align_previous(labels: list[str], previous_labels: list[str], values: list[Value]) -> list[Value]:
    """The previous period's values lined up with this period's labels.

    Periods that share categories (countries, plans) are matched by label; periods
    whose labels are all different (days, months) are matched by position.
    """
    by_label = dict(zip(previous_labels, values, strict=True))
    if set(labels) & set(by_label):
        return [by_label.get(label) for label in labels]
    return [values[i] if i < len(values) else None for i in range(len(labels))]


def _axis_units(kpi: Kpi, columns: list[Column]) -> dict[str, str]:
    if kpi.chart in ("doughnut", "heatmap", "table") or not columns:
        return {}
    value_axis = "x" if kpi.chart == "horizontal-bar" else "y"
    units = {value_axis: columns[0].unit}
    for column in columns:
        if _secondary(kpi, columns, column):
            units["y1"] = column.unit
    return units


def _options(kpi: Kpi, columns: list[Column], dataset_count: int) -> dict[str, Any]:
    options: dict[str, Any] = {
        "responsive": True,
        "maintainAspectRatio": False,
        "animation": False,
        "plugins": {"legend": {"display": dataset_count > 1, "position": "bottom"}},
    }
    if kpi.chart in ("heatmap", "table"):
        return options
    if kpi.chart == "doughnut":
        options["plugins"]["legend"] = {"display": True, "position": "right"}
        return options
    horizontal = kpi.chart == "horizontal-bar"
    stacked = kpi.chart == "stacked-bar"
    value_axis, category_axis = ("x", "y") if horizontal else ("y", "x")
    unit = columns[0].unit if columns else kpi.unit
    options["interaction"] = {"mode": "index", "intersect": False}
    category_scale: dict[str, Any] = {"stacked": stacked, "grid": {"display": False}}
    if not horizontal:
        # Long series (a year of days) keep level, readable date labels.
        category_scale["ticks"] = {"autoSkip": True, "maxRotation": 0, "maxTicksLimit": 12}
    options["scales"] = {
        category_axis: category_scale,
        value_axis: {
            "stacked": stacked,
            "beginAtZero": True,
            "title": {"display": True, "text": _UNIT_TITLES.get(unit, unit.capitalize())},
        },
    }
    if horizontal:
        options["indexAxis"] = "y"
    secondary = [column for column in columns if _secondary(kpi, columns, column)]
    if secondary:
        options["scales"]["y1"] = {
            "position": "right",
            "beginAtZero": True,
            "grid": {"drawOnChartArea": False},
            "title": {"display": True, "text": _UNIT_TITLES.get(secondary[0].unit, secondary[0].unit)},
        }
    return options
