"""Exports stream: nothing is read before the response is consumed, rows come in chunks."""

from __future__ import annotations

import csv
import io

import pytest
from django.http import StreamingHttpResponse

from analytics.models import ListeningEvent
from billing.models import Payment
from billing.resources import PaymentResource
from catalog.models import Track
from catalog.resources import TrackResource
from spotilytics.importing import exporting
from spotilytics.importing.events import ListeningEventResource
from spotilytics.importing.exporting import csv_lines, export_rows, streaming_csv_response
from tests.factories import (
    at,
    make_artist,
    make_event,
    make_listener,
    make_payment,
    make_plan,
    make_subscription,
    make_track,
)

pytestmark = pytest.mark.django_db


def _read(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body, newline="")))


def test_csv_export_is_a_lazy_streaming_response(django_assert_num_queries):
    artist, guest = make_artist("Ana"), make_artist("Bo")
    for n in range(3):
        make_track(f"Song {n}", artist=artist).featured_artists.add(guest)

    with django_assert_num_queries(0):
        response = streaming_csv_response(
            TrackResource(), Track.objects.order_by("title"), fields=["title", "artists"], filename="t.csv"
        )

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"] == 'attachment; filename="t.csv"'
    assert _read(response) == [["title", "artists"], *[[f"Song {n}", "Ana;Bo"] for n in range(3)]]


def test_csv_export_reads_rows_in_chunks_not_one_query_per_row(monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(exporting, "EXPORT_CHUNK_SIZE", 10)
    artist = make_artist("Ana")
    for n in range(25):
        make_track(f"Song {n:02d}", artist=artist)
    response = streaming_csv_response(
        TrackResource(), Track.objects.order_by("title"), fields=None, filename="t.csv"
    )

    # Three chunks of rows (tracks with album, artist and genre joined), each with one
    # query for the featured artists: the count does not grow with the number of rows.
    with django_assert_max_num_queries(6):
        rows = _read(response)

    assert len(rows) == 26


def _payments() -> None:
    plan = make_plan()
    for n in range(3):
        listener = make_listener(email=f"=cmd{n}@example.com")
        subscription = make_subscription(listener, plan, started_at=at(2026, 1, 1))
        make_payment(subscription, paid_at=at(2026, 1, 2 + n, 10, 30), refunded_at=None)


class _PaymentsThroughInstances(PaymentResource):
    export_paths = {}


def test_flat_payment_export_equals_the_per_instance_export():
    _payments()
    queryset = Payment.objects.order_by("paid_at")
    flat_resource, instance_resource = PaymentResource(), _PaymentsThroughInstances()
    headers = flat_resource.get_export_headers()

    flat = b"".join(csv_lines(headers, export_rows(flat_resource, queryset, None)))
    per_instance = b"".join(csv_lines(headers, export_rows(instance_resource, queryset, None)))

    assert flat == per_instance
    assert b"'=cmd0@example.com" in flat


def test_flat_export_of_selected_columns_runs_one_query(django_assert_num_queries):
    _payments()

    with django_assert_num_queries(1):
        rows = list(
            export_rows(PaymentResource(), Payment.objects.order_by("paid_at"), ["listener", "amount"])
        )

    assert [row[0] for row in rows] == [f"=cmd{n}@example.com" for n in range(3)]


class _EventsThroughInstances(ListeningEventResource):
    export_paths = {}


def test_listening_event_export_is_flat_and_matches_the_resource():
    listener = make_listener(email="ana@example.com")
    make_event(listener, played_at=at(2026, 1, 1, 8), ms_played=12_000, skipped=True)
    make_event(listener, played_at=at(2026, 1, 1, 9), device="car", context="radio")
    queryset = ListeningEvent.objects.order_by("played_at")
    headers = ListeningEventResource().get_export_headers()

    flat = b"".join(csv_lines(headers, export_rows(ListeningEventResource(), queryset, None)))
    per_instance = b"".join(csv_lines(headers, export_rows(_EventsThroughInstances(), queryset, None)))

    assert flat == per_instance
    rows = list(csv.reader(io.StringIO(flat.decode("utf-8-sig"), newline="")))
    assert rows[0] == [
        "id",
        "played_at",
        "listener",
        "track",
        "episode",
        "ms_played",
        "skipped",
        "device",
        "context",
        "playlist",
    ]
    assert rows[1][1:3] + rows[1][5:9] == [
        "2026-01-01 08:00:00+00:00",
        "ana@example.com",
        "12000",
        "true",
        "mobile",
        "album",
    ]
    assert rows[2][7:9] == ["car", "radio"]
