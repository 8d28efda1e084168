"""File reading, header aliases and plain-language problems of `spotilytics.importing`."""

from __future__ import annotations

import io
from decimal import InvalidOperation

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from spotilytics.importing.headers import PERCENT, SECONDS, Alias, map_headers, normalize
from spotilytics.importing.problems import Problem, describe_exception, describe_validation_error
from spotilytics.importing.reading import (
    FileRefused,
    check_upload_size,
    detect_encoding,
    read_table,
)


def _rows(table) -> list[tuple[int, list]]:
    return [(row.line, row.cells) for row in table.rows]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_read_table_detects_the_delimiter(delimiter):
    text = delimiter.join(["title", "artist", "price"]) + "\n"
    text += delimiter.join(["Song", '"Doe, Jane; Jr"', "1.5"]) + "\n"

    table = read_table(text.encode())

    assert table.delimiter == delimiter
    assert table.headers == ["title", "artist", "price"]
    assert _rows(table) == [(2, ["Song", "Doe, Jane; Jr", "1.5"])]


def test_read_table_skips_a_utf8_bom():
    table = read_table("\ufefftitle,artist\nCafé,Zoë\n".encode())

    assert table.encoding == "utf-8-sig"
    assert table.headers == ["title", "artist"]
    assert _rows(table) == [(2, ["Café", "Zoë"])]


def test_read_table_reads_windows_1252_and_latin_1():
    cp1252 = "title,artist\nNaïve “quotes”,Beyoncé\n".encode("cp1252")
    latin1 = "title,artist\nCafé,Zoë\n".encode("latin-1") + b"\x81\n"

    assert detect_encoding(cp1252) == "cp1252"
    assert _rows(read_table(cp1252))[0][1] == ["Naïve “quotes”", "Beyoncé"]
    # 0x81 has no character in Windows-1252: only Latin-1 reads every byte.
    assert detect_encoding(latin1) == "latin-1"
    assert _rows(read_table(latin1))[0][1] == ["Café", "Zoë"]


def test_read_table_honours_a_chosen_encoding():
    data = "title\nCafé\n".encode("cp1252")

    table = read_table(data, encoding="latin-1")

    assert table.encoding == "latin-1"
    assert _rows(table) == [(2, ["Café"])]


def test_read_table_reports_invalid_bytes_at_their_line_and_column():
    # The file is UTF-8 (it has "é" written correctly), so the stray 0xE9 byte on line 3
    # is damage, not a hint that the file is Windows-1252.
    data = "title,artist\nCafé,Zoë\n".encode() + b"Ok,Bad\xe9name\nFine,Row\n"

    rows = list(read_table(data).rows)

    assert [row.line for row in rows] == [2, 3, 4]
    assert rows[0].problems == [] and rows[2].problems == []
    (problem,) = rows[1].problems
    assert (problem.line, problem.column) == (3, "artist")
    assert "not valid UTF-8" in problem.message and "0xE9" in problem.message


def test_read_table_reports_rows_with_more_cells_than_headers():
    rows = list(read_table(b"title,artist\nA,B,extra\nC,D\n").rows)

    assert "has 3 cells but the header has 2 columns" in rows[0].problems[0].message
    assert rows[1].cells == ["C", "D"] and rows[1].problems == []


def test_read_table_pads_short_rows_and_skips_blank_lines():
    rows = _rows(read_table(b"title,artist,album\n\nA,B\n,,\nC,D,E\n"))

    assert rows == [(3, ["A", "B", ""]), (5, ["C", "D", "E"])]


def test_read_table_counts_lines_of_quoted_multiline_cells():
    rows = _rows(read_table(b'title,notes\nA,"two\nlines"\nB,x\n'))

    assert rows == [(2, ["A", "two\nlines"]), (4, ["B", "x"])]


def test_read_table_reads_the_first_sheet_of_an_xlsx():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["title", "loudness", "explicit"])
    sheet.append(["Song", -5.2, True])
    sheet.append([None, None, None])
    sheet.append(["Other", 3, False])
    buffer = io.BytesIO()
    book.save(buffer)

    table = read_table(buffer.getvalue(), file_name="tracks.xlsx")

    assert table.file_format == "xlsx"
    assert table.headers == ["title", "loudness", "explicit"]
    assert _rows(table) == [(2, ["Song", -5.2, True]), (4, ["Other", 3, False])]


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"", "empty.csv", "empty"),
        (b"\xd0\xcf\x11\xe0rest", "old.xls", "Old Excel files"),
        (b"title\nA\n", "renamed.xlsx", "not an Excel workbook"),
        (b"PK\x03\x04broken", "broken.xlsx", "not a readable XLSX"),
    ],
)
def test_read_table_refuses_unreadable_files_in_plain_words(data, name, reason):
    with pytest.raises(FileRefused, match=reason):
        read_table(data, file_name=name)


def test_check_upload_size_refuses_files_over_the_setting(settings):
    settings.IMPORT_MAX_UPLOAD_MB = 2

    check_upload_size(2 * 1024 * 1024)
    with pytest.raises(FileRefused, match=r"3.0 MB, over the 2 MB limit"):
        check_upload_size(3 * 1024 * 1024)


def test_normalize_ignores_case_and_punctuation():
    assert normalize("Artist(s) Name") == normalize("artist(s)_name") == "artistsname"
    assert normalize("danceability_%") == "danceability%"


def test_map_headers_prefers_exact_names_then_aliases():
    aliases = {
        "trackname": Alias("title"),
        "artist": Alias("artists"),
        "bpm": Alias("tempo"),
        "dur": Alias("duration_ms", SECONDS),
    }
    headers = ["", "Track Name", "ARTIST", "title", "BPM", "Danceability %", "dur", "streams"]

    mapped = map_headers(headers, ["title", "artists", "tempo", "danceability", "duration_ms"], aliases)

    assert mapped.indexes == {"title": 3, "artists": 2, "tempo": 4, "danceability": 5, "duration_ms": 6}
    assert mapped.scales == {"danceability": PERCENT, "duration_ms": SECONDS}
    assert mapped.ignored == ["Track Name", "streams"]
    assert mapped.file_column("danceability") == "Danceability %"


def test_header_map_apply_scales_values_and_leaves_bad_ones_for_the_resource():
    mapped = map_headers(
        ["energy_%", "dur"], ["energy", "duration_ms"], {"dur": Alias("duration_ms", SECONDS)}
    )

    assert mapped.apply(["83", "215"]) == ["0.83", "215000"]
    assert mapped.apply(["lots", ""]) == ["lots", ""]


def test_problem_reads_as_a_sentence():
    assert (
        str(Problem("is not a number", line=7, column="amount")) == "Line 7, column 'amount': is not a number"
    )
    assert str(Problem("The file is empty.")) == "The file is empty."


@pytest.mark.parametrize(
    "exc",
    [
        InvalidOperation([InvalidOperation]),
        IntegrityError("UNIQUE constraint failed: billing_payment.idempotency_key"),
        TypeError("unsupported operand type(s) for +: 'NoneType' and 'int'"),
        ValueError("invalid literal for int() with base 10: 'x'"),
    ],
)
def test_describe_exception_never_shows_python_names(exc):
    message = describe_exception(exc)

    assert message
    for technical in ("decimal", "Error", "Exception", "()", "<class", "NoneType"):
        assert technical not in message


def test_describe_validation_error_names_constraints_and_columns():
    error = ValidationError(
        {
            "amount": ["Constraint “payment_amount_positive” is violated."],
            "__all__": ["Something else."],
        }
    )

    pairs = describe_validation_error(error, column_of=lambda key: f"col:{key}")

    assert pairs == [("col:amount", "the amount must be more than 0"), (None, "something else")]
