"""Periods of the dashboard-compatible endpoints, and the month a `month=` names.

The dashboard's endpoints mostly take no period. They then read all the data there is,
up to today: from the local day of the first record their KPI reads (first payment for
revenue and payment methods, first listening event for streams) to today included, i.e.
the half-open range `[first day, today + 1)`. Point-in-time KPIs (subscribers per plan,
top-rated tracks) are evaluated now: at the first instant of tomorrow.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from analytics.api import selectors
from analytics.api.errors import BadParameter
from analytics.forms import EARLIEST_START
from analytics.kpis.registry import KpiRun, run_kpi

ONE_DAY = timedelta(days=1)

# English names and abbreviations, fixed here so the server's locale plays no part.
_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
MONTHS: dict[str, int] = {
    **{name: number for number, name in enumerate(_MONTH_NAMES, start=1)},
    **{name[:3]: number for number, name in enumerate(_MONTH_NAMES, start=1)},
    "sept": 9,
}
_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")
_MONTH_HELP = "Use YYYY-MM (e.g. 2025-08) or an English month name or abbreviation (Aug, August)."


def now(today: date) -> tuple[date, date]:
    """The one-day range whose end is the first instant of tomorrow: "as of now"."""
    return today, today + ONE_DAY


def since_first(first_day: date | None, today: date) -> tuple[date, date] | None:
    """`[first day with data, today + 1)`, or None when there is no data at all."""
    if first_day is None:
        return None
    return min(first_day, today), today + ONE_DAY


def payments_period(today: date) -> tuple[date, date] | None:
    return since_first(selectors.first_payment_day(), today)


def events_period(today: date) -> tuple[date, date] | None:
    return since_first(selectors.first_event_day(), today)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _top_tracks(month: date, today: date) -> KpiRun:
    return run_kpi("top-tracks", start=month, end=min(_next_month(month), today + ONE_DAY), today=today)


def top_tracks_of_month(text: str, *, today: date) -> KpiRun:
    """The `top-tracks` run of the month `text` names: `YYYY-MM`, or a month name meaning
    the latest such month (up to today) with streams. 400 when that month has none."""
    value = text.strip()
    this_month = today.replace(day=1)
    if match := _YEAR_MONTH.fullmatch(value):
        year, number = int(match[1]), int(match[2])
        if not 1 <= number <= 12:
            raise BadParameter(f"{value!r} is not a month. {_MONTH_HELP}", "month")
        month = date(year, number, 1)
        if month < EARLIEST_START or month > this_month:
            raise BadParameter(
                f"No streams in {value}: use a month from {EARLIEST_START:%Y-%m} to {this_month:%Y-%m}.",
                "month",
            )
        run = _top_tracks(month, today)
        if not run.result.rows:
            raise BadParameter(f"No streams in {value}.", "month")
        return run
    number = MONTHS.get(value.casefold())
    if number is None:
        raise BadParameter(f"Unknown month {value!r}. {_MONTH_HELP}", "month")
    first = selectors.first_event_day()
    if first is not None:
        # One candidate a year, newest first, back to the first listening event.
        for year in range(today.year, max(first.year, EARLIEST_START.year) - 1, -1):
            month = date(year, number, 1)
            if month > this_month or _next_month(month) <= first:
                continue
            run = _top_tracks(month, today)
            if run.result.rows:
                return run
    raise BadParameter(f"No streams in any {_MONTH_NAMES[number - 1].title()} up to today.", "month")
