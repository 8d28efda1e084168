"""Track identity on import: ISRC, then track id, then title and primary artist."""

from __future__ import annotations

import pytest

from catalog.models import Album, Artist, Track
from catalog.resources import AlbumResource, ArtistResource, EpisodeResource, PodcastResource, TrackResource
from spotilytics.importing.exporting import csv_lines, export_rows
from spotilytics.importing.runner import import_file
from tests.factories import make_artist, make_episode, make_genre, make_track

pytestmark = pytest.mark.django_db


def _import(resource_class, text: str, **kwargs):
    return import_file(resource_class=resource_class, data=text.encode(), file_name="f.csv", **kwargs)


def _export(resource_class, queryset) -> bytes:
    resource = resource_class()
    return b"".join(csv_lines(resource.get_export_headers(), export_rows(resource, queryset, None)))


def test_track_matched_by_isrc_is_updated_with_its_featured_artists():
    track = make_track("Old Title", isrc="SEXYZ2600001", artist=make_artist("Ana"))
    track.featured_artists.add(make_artist("Bo"))

    outcome = _import(TrackResource, "isrc,title,artists,duration_ms\nsexyz2600001,New Title,Ana;Cy,123000\n")

    assert outcome.ok, outcome.problems
    assert (outcome.created, outcome.updated) == (0, 1)
    track.refresh_from_db()
    assert (track.title, track.duration_ms) == ("New Title", 123000)
    assert [artist.name for artist in track.featured_artists.all()] == ["Cy"]


def test_track_without_identifiers_is_matched_by_title_and_primary_artist():
    make_track("Hello", artist=make_artist("Adele"), genre=make_genre("soul"))

    outcome = _import(TrackResource, "title,artist,genre,duration\nhello,ADELE,soul,4:55\n")

    assert (outcome.created, outcome.updated) == (0, 1), outcome.problems
    assert Track.objects.get().duration_ms == 295_000


def test_identifier_of_another_track_in_the_database_is_a_plain_problem():
    make_track("By ISRC", isrc="SEXYZ2600001")
    make_track("By track id", external_id="spotify-2")

    # The ISRC names the first track; the track id the file gives it belongs to the second.
    outcome = _import(
        TrackResource,
        "external_id,isrc,title,artists,duration_ms\nspotify-2,SEXYZ2600001,Other,Someone,100000\n",
    )

    assert [(p.line, p.column, p.message) for p in outcome.problems] == [
        (2, "external_id", "another row already uses this identifier")
    ]
    assert sorted(Track.objects.values_list("title", flat=True)) == ["By ISRC", "By track id"]


def test_track_export_imports_back_identically():
    genre = make_genre("pop")
    album_artist = make_artist("Ana")
    album = Album.objects.create(title="First", artist=album_artist)
    for n in range(3):
        track = make_track(
            f"Song {n}",
            artist=album_artist,
            genre=genre,
            album=album,
            isrc=f"SEXYZ260000{n}",
            loudness=-n - 0.5,
        )
        track.featured_artists.add(make_artist(f"Guest {n}"))
    exported = _export(TrackResource, Track.objects.order_by("isrc"))
    Track.objects.all().delete()
    Album.objects.all().delete()
    Artist.objects.all().delete()

    outcome = _import(TrackResource, exported.decode("utf-8-sig"))

    assert outcome.ok, outcome.problems
    assert outcome.related_created == {"artists": 4, "albums": 1}
    assert _export(TrackResource, Track.objects.order_by("isrc")) == exported


@pytest.mark.parametrize(
    ("resource_class", "build", "queryset"),
    [
        (
            ArtistResource,
            lambda: make_artist("Ana", country="SE").genres.add(make_genre("pop")),
            Artist.objects,
        ),
        (AlbumResource, lambda: Album.objects.create(title="One", artist=make_artist("Ana")), Album.objects),
        (PodcastResource, lambda: make_episode(number=1).podcast, None),
        (EpisodeResource, lambda: make_episode(number=3, title="=1+1"), None),
    ],
)
def test_catalog_exports_import_back_and_again_create_nothing(resource_class, build, queryset):
    build()
    model = resource_class._meta.model
    exported = _export(resource_class, model.objects.order_by("pk"))

    outcome = _import(resource_class, exported.decode("utf-8-sig"))

    assert outcome.ok, outcome.problems
    assert (outcome.created, outcome.updated, outcome.skipped) == (0, 0, model.objects.count())
    assert _export(resource_class, model.objects.order_by("pk")) == exported


def test_episode_of_an_unknown_podcast_is_refused_by_name():
    outcome = _import(
        EpisodeResource, "podcast,number,title,release_date,duration_ms\nNope,1,Pilot,2026-01-01,1000\n"
    )

    assert [(p.line, p.column, p.message) for p in outcome.problems] == [
        (2, "podcast", "there is no podcast 'Nope'")
    ]
