"""Catalog imports through the admin: preview, confirm, all or nothing, limits, roles."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import Artist, Episode, Podcast, Track
from spotilytics.models import ImportLog, ImportStatus
from spotilytics.roles import ANALYST, CATALOG_EDITOR, SUPPORT
from tests.spotilytics.test_export_admin import use_import_export_admin

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def import_export_admin(settings):
    use_import_export_admin(settings)


def make_podcast(title: str) -> Podcast:
    return Podcast.objects.create(title=title, host="Ana", category="News")


IMPORT_URL = "admin:catalog_track_import"
PROCESS_URL = "admin:catalog_track_process_import"
CSV_FORMAT = "0"  # the first format offered: CSV
TRACKS = (
    "track_id,artists,album_name,track_name,duration_ms,track_genre\n"
    "id1,Ana;Bo,First,Song One,200000,pop\n"
    "id2,Cy,Second,Song Two,180000,rock\n"
)


@pytest.fixture
def editor_client(client, staff_in_role):
    client.force_login(staff_in_role(CATALOG_EDITOR))
    return client


def _upload(client, text: str | bytes, *, name: str = "tracks.csv", url: str = IMPORT_URL, **fields):
    data = text.encode() if isinstance(text, str) else text
    payload = {"resource": "0", "format": CSV_FORMAT, "import_file": SimpleUploadedFile(name, data), **fields}
    return client.post(reverse(url), payload)


def _confirm(client, preview):
    form = preview.context["confirm_form"]
    data = {name: form[name].value() or "" for name in form.fields}
    return client.post(reverse(PROCESS_URL), data)


def test_track_import_previews_then_writes_on_confirmation(editor_client):
    preview = _upload(editor_client, TRACKS)

    assert preview.status_code == 200
    assert Track.objects.count() == Artist.objects.count() == 0
    content = preview.content.decode()
    assert "2 row(s) read: 2 would be created, 0 updated, 0 skipped" in content
    assert "New along the way: 3 artists, 2 genres, 2 albums" in content
    assert len(re.findall(r">\s*New\s*<", content)) == 2  # the preview's two rows

    done = _confirm(editor_client, preview)

    assert done.status_code == 302
    assert done["Location"] == reverse("admin:catalog_track_changelist")
    assert sorted(Track.objects.values_list("title", flat=True)) == ["Song One", "Song Two"]
    logs = list(ImportLog.objects.order_by("id").values_list("dry_run", "status", "created"))
    assert logs == [(True, ImportStatus.SUCCEEDED, 2), (False, ImportStatus.SUCCEEDED, 2)]


def test_track_import_with_bad_rows_lists_them_and_offers_no_confirmation(editor_client):
    text = TRACKS + "id3,Dee,Third,Song Three,soon,pop\nid1,Eve,Fourth,Another Song,1000,pop\n"

    response = _upload(editor_client, text)

    assert "confirm_form" not in response.context
    problems = [(p.line, p.column, p.message) for p in response.context["outcome"].problems]
    assert problems == [
        (4, "duration_ms", "'soon' is not a number"),
        (
            5,
            "track_id",
            "'id1' is already used on line 2 for another track; "
            "a track id or ISRC may identify only one track",
        ),
    ]
    content = response.content.decode()
    assert "Nothing was imported: 2 problem(s) in 4 row(s)" in content
    assert "&#x27;soon&#x27; is not a number" in content
    assert not re.search(r"decimal\.|Error\b|Exception\b|DoesNotExist", content)
    assert Track.objects.count() == Artist.objects.count() == 0


def test_confirmation_writes_nothing_when_a_row_became_invalid_since_the_preview(editor_client):
    first, second = make_podcast("Morning"), make_podcast("Evening")
    text = (
        "podcast,number,title,release_date,duration_ms\n"
        "Morning,1,Pilot,2026-01-01,1800000\n"
        "Evening,1,Pilot,2026-01-01,1800000\n"
    )
    preview = _upload(editor_client, text, url="admin:catalog_episode_import")
    assert preview.context["outcome"].ok
    second.delete()  # someone removes a podcast before the import is confirmed

    form = preview.context["confirm_form"]
    response = editor_client.post(
        reverse("admin:catalog_episode_process_import"),
        {name: form[name].value() or "" for name in form.fields},
    )

    assert response.status_code == 200
    assert [(p.line, p.column, p.message) for p in response.context["outcome"].problems] == [
        (3, "podcast", "there is no podcast 'Evening'")
    ]
    assert not Episode.objects.filter(podcast=first).exists()
    assert ImportLog.objects.order_by("id").last().status == ImportStatus.FAILED


def test_track_import_refuses_a_file_over_the_size_limit_before_reading_it(editor_client, settings):
    settings.IMPORT_MAX_UPLOAD_MB = 1
    big = TRACKS.encode() + b"x" * (1024 * 1024)

    response = _upload(editor_client, big, name="huge.csv")

    assert response.status_code == 200
    assert "over the 1 MB limit for uploads" in response.content.decode()
    assert "outcome" not in response.context or response.context["outcome"] is None
    log = ImportLog.objects.get()
    assert (log.status, log.file_name, log.rows) == (ImportStatus.REFUSED, "huge.csv", 0)
    assert Track.objects.count() == 0


def test_track_import_uses_the_encoding_chosen_on_the_form(editor_client):
    text = "title,artists,duration_ms\nDéjà vu,Zoë,200000\n".encode("latin-1")

    preview = _upload(editor_client, text, encoding="latin-1")
    _confirm(editor_client, preview)

    assert Track.objects.get().title == "Déjà vu"


def test_track_import_form_takes_a_default_duration_for_layouts_without_one(editor_client):
    text = (
        'track_name,artist(s)_name,released_year,bpm,danceability_%\nSeven,"Latto, Jung Kook",2023,125,80\n'
    )

    refused = _upload(editor_client, text)
    preview = _upload(editor_client, text, default_duration_ms="180000")
    _confirm(editor_client, preview)

    assert "the file has no duration column" in refused.content.decode()
    track = Track.objects.get()
    assert (track.duration_ms, track.danceability, track.tempo) == (180000, 0.8, 125.0)


@pytest.mark.parametrize(
    ("role", "can_import", "can_export"),
    [(CATALOG_EDITOR, True, True), (ANALYST, False, True), (SUPPORT, False, False), (None, True, True)],
)
@pytest.mark.parametrize("model", ["artist", "album", "track", "podcast", "episode"])
def test_catalog_import_and_export_pages_follow_the_roles(
    client, staff_in_role, admin_user, role, can_import, can_export, model
):
    client.force_login(staff_in_role(role) if role else admin_user)

    import_page = client.get(reverse(f"admin:catalog_{model}_import"))
    export_page = client.get(reverse(f"admin:catalog_{model}_export"))
    upload = client.post(
        reverse(f"admin:catalog_{model}_import"),
        {"format": CSV_FORMAT, "import_file": SimpleUploadedFile("p.csv", b"title,host\nShow,Ana\n")},
    )

    assert import_page.status_code == (200 if can_import else 403)
    assert upload.status_code == (200 if can_import else 403)
    assert export_page.status_code == (200 if can_export else 403)
    assert Podcast.objects.count() == 0  # uploads only preview
