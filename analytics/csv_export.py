"""CSV downloads of KPI results: the data under a chart, every digit kept.

Rounding is for display only, so money is written exactly as the KPI computed it;
an undefined value is an empty cell (a dash would break number parsing).
"""

from __future__ import annotations

import csv
from decimal import Decimal

from django.http import HttpResponse

from analytics.kpis.registry import KpiRun, Value

# Spreadsheets run text that starts with these as a formula; a leading apostrophe stops it.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_value(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def csv_filename(run: KpiRun) -> str:
    return f"{run.kpi.slug}_{run.start.isoformat()}_{run.end.isoformat()}.csv"


def kpi_csv_response(run: KpiRun) -> HttpResponse:
    """The KPI's table as a CSV attachment: a header of column labels, then the rows."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{csv_filename(run)}"'
    writer = csv.writer(response)
    columns = run.result.columns
    writer.writerow([column.label for column in columns])
    for row in run.result.rows:
        writer.writerow([csv_value(row.get(column.key)) for column in columns])
    return response
