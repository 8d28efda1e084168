"""Exports that are safe to open and never hold a whole table in memory.

- Formula neutralisation: a text cell that starts with `=`, `+`, `-`, `@`, a tab or a
  carriage return gets a leading `'`, so Excel, LibreOffice and Google Sheets show it
  instead of running it (OWASP "CSV injection"). Numbers stay numbers: a loudness of
  -5.2 is exported as the number -5.2, never as text. django-import-export's own
  `IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT` only strips a leading `=`, and turns every
  cell into text, so it is not used.
- CSV is streamed: rows are read with `.iterator(chunk_size=...)` and written as they
  come; the first bytes leave before the last row is read.
- XLSX is built by openpyxl's write-only workbook into a temporary file.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
EXPORT_CHUNK_SIZE = 2000
# One row less than a worksheet holds: the header takes the first.
XLSX_MAX_ROWS = 1_048_575
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def neutralise(value: Any) -> Any:
    """Prefix a quote to text a spreadsheet would run as a formula; other values pass.

    Text that already starts with quotes before a trigger gets one more, so that
    `unneutralise` gives back exactly the stored text on import.
    """
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def unneutralise(text: str) -> str:
    """Undo `neutralise` on imported text, so an export imports back unchanged."""
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


def export_rows(resource: Any, queryset: QuerySet, fields: list[str] | None) -> Iterator[list[Any]]:
    """Native values (numbers as numbers, instants aware) of each object, in chunks."""
    names = [resource.get_field_name(field) for field in resource.get_export_fields(fields)]
    paths = getattr(resource, "export_paths", {})
    if paths and all(name in paths for name in names):
        # Big tables (listening events, payments) declare where each column lives: one
        # flat tuple per row and no model instances, several times faster.
        flat = queryset.values_list(*(paths[name] for name in names))
        for values in flat.iterator(chunk_size=EXPORT_CHUNK_SIZE):
            yield list(values)
        return
    queryset = resource.prepare_export_queryset(queryset)
    for instance in queryset.iterator(chunk_size=EXPORT_CHUNK_SIZE):
        yield resource.export_resource(instance, selected_fields=fields, force_native_type=True)


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return (
            timezone.localtime(value).isoformat(sep=" ") if timezone.is_aware(value) else value.isoformat(" ")
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return neutralise(str(value))


def xlsx_cell(value: Any) -> Any:
    if isinstance(value, datetime) and timezone.is_aware(value):
        return timezone.localtime(value).replace(tzinfo=None)  # worksheets have no time zones
    if isinstance(value, str):
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        return neutralise(ILLEGAL_CHARACTERS_RE.sub("\N{REPLACEMENT CHARACTER}", value))
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(headers: list[str], rows: Iterable[list[Any]]) -> Iterator[bytes]:
    writer = csv.writer(_Echo())
    # A BOM: Excel then reads the UTF-8 correctly; our own import skips it.
    yield "\ufeff".encode() + writer.writerow([neutralise(h) for h in headers]).encode()
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row]).encode()


def streaming_csv_response(
    resource: Any, queryset: QuerySet, *, fields: list[str] | None, filename: str
) -> StreamingHttpResponse:
    headers = resource.get_export_headers(selected_fields=fields)
    response = StreamingHttpResponse(
        csv_lines(headers, export_rows(resource, queryset, fields)), content_type=CSV_CONTENT_TYPE
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def write_xlsx(headers: list[str], rows: Iterable[list[Any]], target: Any) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append([xlsx_cell(h) for h in headers])
    for count, row in enumerate(rows, start=1):
        if count > XLSX_MAX_ROWS:
            raise ValueError(
                f"An XLSX sheet holds at most {XLSX_MAX_ROWS:,} rows: narrow the filters or choose CSV."
            )
        sheet.append([xlsx_cell(value) for value in row])
    book.save(target)


def xlsx_response(
    resource: Any, queryset: QuerySet, *, fields: list[str] | None, filename: str
) -> FileResponse:
    if queryset[: XLSX_MAX_ROWS + 1].count() > XLSX_MAX_ROWS:
        raise ValueError(
            f"An XLSX sheet holds at most {XLSX_MAX_ROWS:,} rows: narrow the filters or choose CSV."
        )
    target = tempfile.TemporaryFile()  # noqa: SIM115  (FileResponse closes it)
    write_xlsx(
        resource.get_export_headers(selected_fields=fields), export_rows(resource, queryset, fields), target
    )
    target.seek(0)
    return FileResponse(target, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE)
