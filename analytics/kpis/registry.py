"""The KPI registry: every number the product shows is declared here once.

A KPI is a pure function `fn(*, start, end, today, **filters) -> KpiResult` plus its
metadata. Pages, chart endpoints, CSV downloads and the API all go through
`run_kpi`, never through the functions directly, so filters, comparison with the
previous period and validation behave the same everywhere.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

FAMILIES: dict[str, str] = {
    "audience": "Audience",
    "engagement": "Engagement",
    "revenue": "Revenue",
    "content": "Content",
    "geography": "Geography",
    "cohorts": "Cohorts",
}
# Parameters a KPI may accept besides its period; `grain` is the bucket size of a series
# ("day", "week", "month"), `experiment` an Experiment key, the rest narrow what is counted.
FILTERS = ("country", "region", "plan", "device", "genre", "grain", "experiment")
GRAINS = ("day", "week", "month")
CHART_KINDS = ("line", "bar", "stacked-bar", "horizontal-bar", "doughnut", "heatmap", "table")
UNITS = ("count", "minutes", "ms", "seconds", "money", "ratio", "index", "text", "date")

Value = int | float | Decimal | str | None


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: str = "count"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"Column {self.key!r}: unknown unit {self.unit!r}")


@dataclass(frozen=True)
class KpiResult:
    """A KPI's output: a table. Rows are dicts keyed by column key; a row may carry
    extra keys (ids for drill-down links) that are not columns. Counts are int, money
    is Decimal, ratios are float, undefined ratios are None."""

    columns: list[Column]
    rows: list[dict[str, Value]]
    notes: list[str] = field(default_factory=list)

    def column(self, key: str) -> list[Value]:
        return [row.get(key) for row in self.rows]


@dataclass(frozen=True)
class Kpi:
    slug: str
    title: str
    family: str
    unit: str
    chart: str
    x: str  # column holding the chart's labels
    y: tuple[str, ...]  # columns drawn as datasets
    definition: str
    fn: Callable[..., KpiResult]
    filters: tuple[str, ...] = ()
    headline: str | None = None  # column whose last value is the KPI's single figure

    def run(self, *, start: date, end: date, today: date, **filters: Any) -> KpiResult:
        accepted = {name: value for name, value in filters.items() if name in self.filters and value}
        return self.fn(start=start, end=end, today=today, **accepted)


_REGISTRY: dict[str, Kpi] = {}


class UnknownKpi(LookupError):
    pass


def kpi(
    *,
    slug: str,
    title: str,
    family: str,
    unit: str,
    chart: str,
    x: str,
    y: tuple[str, ...] | list[str],
    filters: tuple[str, ...] | list[str] = (),
    headline: str | None = None,
) -> Callable[[Callable[..., KpiResult]], Callable[..., KpiResult]]:
    """Register a KPI function; its docstring's first paragraph is the shown definition."""
    if family not in FAMILIES:
        raise ValueError(f"{slug}: unknown family {family!r}")
    if chart not in CHART_KINDS:
        raise ValueError(f"{slug}: unknown chart kind {chart!r}")
    if unknown := set(filters) - set(FILTERS):
        raise ValueError(f"{slug}: unknown filters {sorted(unknown)}")

    def register(fn: Callable[..., KpiResult]) -> Callable[..., KpiResult]:
        if slug in _REGISTRY:
            raise ValueError(f"KPI {slug!r} registered twice")
        doc = inspect.getdoc(fn) or ""
        definition = " ".join(doc.split("\n\n")[0].split())
        if not definition:
            raise ValueError(f"{slug}: the function's docstring (the definition) is empty")
        _REGISTRY[slug] = Kpi(
            slug=slug,
            title=title,
            family=family,
            unit=unit,
            chart=chart,
            x=x,
            y=tuple(y),
            definition=definition,
            fn=fn,
            filters=tuple(filters),
            headline=headline,
        )
        return fn

    return register


_REFERENCES: dict[str, Callable[..., KpiResult]] = {}


def reference(slug: str) -> Callable[[Callable[..., KpiResult]], Callable[..., KpiResult]]:
    """Register the raw-data implementation of a KPI (same signature, same result).

    Pages read rollups; the reference reads the source tables directly. Tests prove
    both agree and benchmarks time both. A KPI that reads source tables already
    registers its own function here too.
    """

    def register(fn: Callable[..., KpiResult]) -> Callable[..., KpiResult]:
        if slug in _REFERENCES:
            raise ValueError(f"Reference for KPI {slug!r} registered twice")
        _REFERENCES[slug] = fn
        return fn

    return register


def get_reference(slug: str) -> Callable[..., KpiResult]:
    _load()
    try:
        return _REFERENCES[slug]
    except KeyError:
        raise UnknownKpi(f"No reference implementation for KPI {slug!r}.") from None


def _load() -> None:
    # Importing the family modules registers their KPIs.
    from analytics import kpis  # noqa: F401


def get_kpi(slug: str) -> Kpi:
    _load()
    try:
        return _REGISTRY[slug]
    except KeyError:
        raise UnknownKpi(f"Unknown KPI {slug!r}.") from None


def all_kpis(family: str | None = None) -> list[Kpi]:
    _load()
    return [k for k in _REGISTRY.values() if family is None or k.family == family]


@dataclass(frozen=True)
class KpiRun:
    kpi: Kpi
    start: date
    end: date
    result: KpiResult
    previous: KpiResult | None = None


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length that ends where this one starts."""
    return start - (end - start), start


def run_kpi(
    slug: str, *, start: date, end: date, today: date, compare: bool = False, **filters: Any
) -> KpiRun:
    """Compute a KPI over the half-open day range `[start, end)` in the reporting time zone."""
    if end <= start:
        raise ValueError("end must be after start")
    spec = get_kpi(slug)
    result = spec.run(start=start, end=end, today=today, **filters)
    previous = None
    if compare:
        prev_start, prev_end = previous_period(start, end)
        previous = spec.run(start=prev_start, end=prev_end, today=today, **filters)
    return replace(KpiRun(kpi=spec, start=start, end=end, result=result), previous=previous)
