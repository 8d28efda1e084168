"""Exports through the admin: streamed CSV, neutralised XLSX, listening events export-only."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.http import FileResponse, StreamingHttpResponse
from django.urls import NoReverseMatch, reverse

from catalog.models import Track
from spotilytics.roles import ANALYST, CATALOG_EDITOR, SUPPORT
from tests.factories import at, make_artist, make_event, make_listener, make_track
from tests.spotilytics.admin_helpers import admin_test_settings

pytestmark = pytest.mark.django_db

EVENTS_EXPORT = "admin:analytics_listeningevent_export"


def use_import_export_admin(settings) -> None:
    """Serve the project's admin (import and export are wired in at app loading)."""
    admin_test_settings(settings)


@pytest.fixture(autouse=True)
def import_export_admin(settings):
    use_import_export_admin(settings)


def _post_export(client, url: str, *, file_format: str = "0"):
    form = client.get(url).context["form"]
    data = {"resource": "0", "format": file_format}
    data.update(
        {name: "on" for name, field in form.fields.items() if getattr(field, "is_selectable_field", False)}
    )
    return client.post(url, data)


def _csv(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body, newline="")))


@pytest.mark.parametrize(("role", "allowed"), [(ANALYST, True), (SUPPORT, False), (CATALOG_EDITOR, False)])
def test_listening_event_export_needs_the_view_permission(client, staff_in_role, role, allowed):
    listener = make_listener(email="ana@example.com")
    make_event(listener, played_at=at(2026, 1, 1, 8), ms_played=12_000, skipped=True)
    make_event(listener, played_at=at(2026, 1, 2, 8))
    client.force_login(staff_in_role(role))

    page = client.get(reverse(EVENTS_EXPORT))

    assert page.status_code == (200 if allowed else 403)
    if allowed:
        assert [label for _, label in page.context["form"].fields["format"].choices] == ["csv"]
        rows = _csv(_post_export(client, reverse(EVENTS_EXPORT)))
        assert rows[0][:3] == ["id", "played_at", "listener"]
        assert [row[1] for row in rows[1:]] == ["2026-01-02 08:00:00+00:00", "2026-01-01 08:00:00+00:00"]


def test_listening_events_cannot_be_imported_through_the_browser():
    with pytest.raises(NoReverseMatch):
        reverse("admin:analytics_listeningevent_import")


def test_listening_event_export_follows_the_changelist_filters(client, admin_user):
    listener = make_listener(email="ana@example.com")
    make_event(listener, played_at=at(2026, 1, 1, 8), device="car")
    make_event(listener, played_at=at(2026, 1, 2, 8), device="mobile")
    client.force_login(admin_user)

    rows = _csv(_post_export(client, reverse(EVENTS_EXPORT) + "?device__exact=car"))

    assert [row[7] for row in rows[1:]] == ["car"]


def test_track_xlsx_export_from_the_admin_is_neutralised_and_numeric(client, staff_in_role):
    artist = make_artist("Ana")
    make_track('=HYPERLINK("http://evil.example")', artist=artist, loudness=-5.2, isrc="SEXYZ2600001")
    make_track("@SUM(A1:A9)", artist=artist, loudness=-1.0, isrc="SEXYZ2600002", explicit=True)
    make_track("Harmless", artist=artist, loudness=-3.5, isrc="SEXYZ2600003")
    client.force_login(staff_in_role(CATALOG_EDITOR))
    url = reverse("admin:catalog_track_export") + "?q=SEXYZ2600001"  # the admin's search

    response = _post_export(client, url, file_format="1")

    assert isinstance(response, FileResponse)
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header = [cell.value for cell in sheet[1]]
    (row,) = list(sheet.iter_rows(min_row=2))
    cells = dict(zip(header, row, strict=True))
    assert (cells["title"].value, cells["title"].data_type) == ('\'=HYPERLINK("http://evil.example")', "s")
    assert (cells["loudness"].value, cells["loudness"].data_type) == (-5.2, "n")
    assert (cells["explicit"].value, cells["explicit"].data_type) == (False, "b")
    assert Track.objects.count() == 3
