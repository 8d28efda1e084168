"""Exported cells that a spreadsheet would run as formulas are neutralised; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import openpyxl
import pytest

from billing.models import Payment
from billing.resources import PaymentResource
from catalog.models import Track
from catalog.resources import TrackResource
from spotilytics.importing.exporting import csv_lines, export_rows, neutralise, unneutralise, write_xlsx
from spotilytics.importing.runner import import_file
from tests.factories import (
    at,
    make_artist,
    make_listener,
    make_payment,
    make_plan,
    make_subscription,
    make_track,
)

PAYLOADS = ['=HYPERLINK("http://evil.example","click")', "+1", "-2", "@SUM(A1:A2)", "\t=1", "\r=2"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_neutralise_prefixes_a_quote_and_unneutralise_takes_it_off(payload):
    assert neutralise(payload) == "'" + payload
    assert unneutralise(neutralise(payload)) == payload
    # Text that already starts with a quote before a trigger keeps it through a round trip.
    assert unneutralise(neutralise("'" + payload)) == "'" + payload


@pytest.mark.parametrize("value", ["plain", "'quoted", "", -5.2, 3, Decimal("-1.50"), None, True])
def test_neutralise_leaves_harmless_text_and_all_non_text_alone(value):
    assert neutralise(value) == value


@pytest.fixture
def payload_tracks(db):
    artist = make_artist("-Minus")
    for n, payload in enumerate(PAYLOADS):
        make_track(payload, artist=artist, loudness=-5.2 - n, tempo=120.0, isrc=f"SEXYZ260000{n}")
    return Track.objects.order_by("isrc")


def _csv_rows(resource_class, queryset) -> list[list[str]]:
    resource = resource_class()
    data = b"".join(csv_lines(resource.get_export_headers(), export_rows(resource, queryset, None)))
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_export_neutralises_formulas_and_keeps_negative_numbers(payload_tracks):
    header, *rows = _csv_rows(TrackResource, payload_tracks)
    title, artists, loudness = header.index("title"), header.index("artists"), header.index("loudness")

    assert [row[title] for row in rows] == ["'" + payload for payload in PAYLOADS]
    assert {row[artists] for row in rows} == {"'-Minus"}
    assert [row[loudness] for row in rows] == [repr(-5.2 - n) for n in range(len(PAYLOADS))]


def test_xlsx_export_neutralises_formulas_and_keeps_numbers_numeric(payload_tracks):
    resource = TrackResource()
    buffer = io.BytesIO()
    write_xlsx(resource.get_export_headers(), export_rows(resource, payload_tracks, None), buffer)

    sheet = openpyxl.load_workbook(io.BytesIO(buffer.getvalue())).active
    header = [cell.value for cell in sheet[1]]
    rows = list(sheet.iter_rows(min_row=2))

    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    titles = [row[header.index("title")] for row in rows]
    # XML reads a stored carriage return back as a line feed; the quote is what matters.
    assert [cell.value for cell in titles] == ["'" + payload.replace("\r", "\n") for payload in PAYLOADS]
    assert {cell.data_type for cell in titles} == {"s"}
    loudness = [row[header.index("loudness")] for row in rows]
    assert [cell.value for cell in loudness] == [-5.2 - n for n in range(len(PAYLOADS))]
    assert {cell.data_type for cell in loudness} == {"n"}
    assert {row[header.index("duration_ms")].value for row in rows} == {200_000}


def test_xlsx_export_keeps_money_numeric_and_instants_in_the_reporting_zone(db, settings):
    settings.TIME_ZONE = "Europe/Stockholm"
    listener = make_listener(email="@evil.example")
    subscription = make_subscription(listener, make_plan(), started_at=at(2026, 1, 1))
    make_payment(subscription, paid_at=at(2026, 1, 15, 12), amount=Decimal("10.99"), idempotency_key="-1+1")
    resource = PaymentResource()
    buffer = io.BytesIO()
    write_xlsx(resource.get_export_headers(), export_rows(resource, Payment.objects.all(), None), buffer)

    sheet = openpyxl.load_workbook(io.BytesIO(buffer.getvalue())).active
    header = [cell.value for cell in sheet[1]]
    row = {name: cell for name, cell in zip(header, sheet[2], strict=True)}

    assert (row["amount"].value, row["amount"].data_type) == (10.99, "n")
    assert (row["idempotency_key"].value, row["listener"].value) == ("'-1+1", "'@evil.example")
    assert row["paid_at"].value.isoformat() == "2026-01-15T13:00:00"  # 12:00 UTC in Stockholm


def test_neutralised_export_imports_back_unchanged(payload_tracks):
    resource = TrackResource()
    data = b"".join(csv_lines(resource.get_export_headers(), export_rows(resource, payload_tracks, None)))
    before = list(payload_tracks.values_list("isrc", "title", "primary_artist__name", "loudness"))

    outcome = import_file(resource_class=TrackResource, data=data, file_name="tracks.csv")

    assert outcome.ok, outcome.problems
    assert (outcome.created, outcome.updated, outcome.skipped) == (0, 0, len(PAYLOADS))
    assert list(payload_tracks.values_list("isrc", "title", "primary_artist__name", "loudness")) == before
