"""Uploaded bytes to a table of cells: CSV (dialect, encoding and BOM detected) or XLSX.

Nothing here knows about models. A CSV is decoded with `surrogateescape`, so bytes that
are not valid in the file's encoding survive to the row they are on and are reported
there (line and column) instead of failing the whole file with a codec error.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from spotilytics.importing.problems import Problem

CSV = "csv"
XLSX = "xlsx"
FORMATS = (CSV, XLSX)
AUTO = ""
# Encodings offered on the import form and by `import_catalog --encoding`.
ENCODINGS = {
    AUTO: "Detect automatically",
    "utf-8": "UTF-8 (with or without BOM)",
    "cp1252": "Windows-1252 (Excel on Windows)",
    "latin-1": "Latin-1 (ISO-8859-1)",
    "utf-16": "UTF-16 (Excel 'Unicode text')",
}
DELIMITERS = (",", ";", "\t")

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 .xls
# A well-formed multi-byte UTF-8 sequence: its presence means the file is UTF-8 text,
# so any other non-ASCII byte is damage to report, not a hint of another encoding.
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_SNIFF_LINES = 50


class FileRefused(Exception):
    """The file cannot be read at all; the message says why in plain words."""


@dataclass
class Row:
    line: int
    cells: list[Any]
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Table:
    headers: list[str]
    rows: Iterator[Row]
    file_format: str
    encoding: str | None = None
    delimiter: str | None = None
    # Roughly the number of data rows, for progress bars; never used for logic.
    approximate_rows: int = 0


def max_upload_bytes() -> int:
    return settings.IMPORT_MAX_UPLOAD_MB * 1024 * 1024


def check_upload_size(size: int) -> None:
    """Refuse an upload above `settings.IMPORT_MAX_UPLOAD_MB`, before anything parses it."""
    limit = settings.IMPORT_MAX_UPLOAD_MB
    if size > max_upload_bytes():
        raise FileRefused(
            f"This file is {size / 1024 / 1024:.1f} MB, over the {limit} MB limit for uploads. "
            "Split it into smaller files, or ask an engineer to load it with "
            "`manage.py import_catalog`, which has no size limit."
        )


def detect_format(data: bytes, file_name: str = "") -> str:
    if data.startswith(_ZIP_MAGIC):
        return XLSX
    if data.startswith(_OLE_MAGIC) or file_name.lower().endswith(".xls"):
        raise FileRefused("Old Excel files (.xls) are not supported: save the sheet as XLSX or CSV.")
    if file_name.lower().endswith(".xlsx"):
        raise FileRefused("This file is named .xlsx but is not an Excel workbook; is it a renamed CSV?")
    return CSV


def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes say so, else Windows-1252, else Latin-1."""
    if data.startswith(_UTF8_BOM):
        return "utf-8-sig"
    if data.startswith(_UTF16_BOMS):
        return "utf-16"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    if _UTF8_SEQUENCE.search(data):
        return "utf-8"
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def read_table(data: bytes, *, file_name: str = "", file_format: str = AUTO, encoding: str = AUTO) -> Table:
    """Read CSV or XLSX bytes. Raises `FileRefused` when the file as a whole is unreadable."""
    file_format = file_format or detect_format(data, file_name)
    if file_format == XLSX:
        return _read_xlsx(data)
    if file_format != CSV:
        raise FileRefused(f"Unknown file format {file_format!r}: use CSV or XLSX.")
    return _read_csv(data, encoding)


def _read_csv(data: bytes, encoding: str) -> Table:
    if not data.strip():
        raise FileRefused("The file is empty.")
    if data.startswith(_ZIP_MAGIC):
        raise FileRefused("This is an Excel workbook, not a CSV file: choose XLSX as the format.")
    if encoding == "utf-8" and data.startswith(_UTF8_BOM):
        encoding = "utf-8-sig"
    encoding = encoding or detect_encoding(data)
    try:
        text = data.decode(encoding, errors="surrogateescape")
    except (LookupError, UnicodeError):
        raise FileRefused(f"The file cannot be read as {encoding}: choose another encoding.") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    delimiter = _detect_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)

    headers: list[str] = []
    line = 0
    for cells in reader:
        line = reader.line_num
        if any(cell.strip() for cell in cells):
            headers = [cell.strip() for cell in cells]
            break
    if not headers:
        raise FileRefused("The file has no header row.")
    header_problems = _undecodable(Row(line, headers), headers, encoding)
    if header_problems:
        raise FileRefused(f"{header_problems[0]} (in the header row)")

    def rows() -> Iterator[Row]:
        start = reader.line_num + 1
        for cells in reader:
            row = Row(start, cells)
            start = reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            row.problems.extend(_undecodable(row, headers, encoding))
            row.problems.extend(_shape_problems(row, headers))
            row.cells = (cells + [""] * len(headers))[: len(headers)]
            yield row

    return Table(
        headers=headers,
        rows=rows(),
        file_format=CSV,
        encoding=encoding,
        delimiter=delimiter,
        approximate_rows=max(text.count("\n") - line, 0),
    )


def _detect_delimiter(text: str) -> str:
    """The candidate that splits the first lines into the same, largest number of columns."""
    sample = text[: 64 * 1024].splitlines()[:_SNIFF_LINES]
    if len(sample) > 1 and len(text) > 64 * 1024:
        sample = sample[:-1]  # the sample may end mid-line
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        widths = [len(cells) for cells in csv.reader(sample, delimiter=delimiter) if cells]
        if not widths or widths[0] < 2:
            continue
        consistent = sum(1 for width in widths if width == widths[0]) / len(widths)
        score = (round(consistent, 2), widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _undecodable(row: Row, headers: list[str], encoding: str) -> list[Problem]:
    problems = []
    for index, cell in enumerate(row.cells):
        bad = [ord(ch) - 0xDC00 for ch in cell if "\udc80" <= ch <= "\udcff"]
        if bad:
            shown = " ".join(f"0x{byte:02X}" for byte in bad[:3])
            problems.append(
                Problem(
                    f"contains bytes that are not valid {_encoding_name(encoding)} text ({shown}). "
                    "Save the file as UTF-8, or choose its encoding on the import form.",
                    line=row.line,
                    column=headers[index] if index < len(headers) else None,
                )
            )
        elif "\x00" in cell:
            problems.append(
                Problem(
                    "contains a NUL character: the file is damaged or is not text",
                    line=row.line,
                    column=headers[index] if index < len(headers) else None,
                )
            )
    return problems


def _shape_problems(row: Row, headers: list[str]) -> list[Problem]:
    extra = [cell for cell in row.cells[len(headers) :] if str(cell).strip()]
    if extra:
        return [
            Problem(
                f"has {len(row.cells)} cells but the header has {len(headers)} columns; "
                "is a value with a separator missing its quotes?",
                line=row.line,
            )
        ]
    return []


def _encoding_name(encoding: str) -> str:
    return {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "cp1252": "Windows-1252"}.get(encoding, encoding)


def _read_xlsx(data: bytes) -> Table:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise FileRefused(
            "The file is not a readable XLSX workbook; is it damaged or password-protected?"
        ) from None
    if not book.worksheets:
        raise FileRefused("The workbook has no sheet.")
    sheet = book.worksheets[0]
    values = sheet.iter_rows(values_only=True)

    headers: list[str] = []
    line = 0
    for cells in values:
        line += 1
        if any(_filled(cell) for cell in cells):
            headers = ["" if cell is None else str(cell).strip() for cell in cells]
            break
    if not headers:
        raise FileRefused("The first sheet has no header row.")
    while headers and not headers[-1]:
        headers.pop()

    def rows() -> Iterator[Row]:
        try:
            for number, cells in enumerate(values, start=line + 1):
                if not any(_filled(cell) for cell in cells):
                    continue
                row = Row(number, list(cells))
                row.problems.extend(_shape_problems(row, headers))
                row.cells = (row.cells + [None] * len(headers))[: len(headers)]
                yield row
        finally:
            book.close()

    return Table(
        headers=headers,
        rows=rows(),
        file_format=XLSX,
        approximate_rows=max((sheet.max_row or 0) - line, 0),
    )


def _filled(cell: Any) -> bool:
    return cell is not None and str(cell).strip() != ""
