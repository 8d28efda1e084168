"""Public music catalog layouts import as tracks without editing the file."""

from __future__ import annotations

from datetime import date

import pytest

from catalog.models import Album, AlbumType, Artist, Genre, Track
from catalog.resources import UNKNOWN_GENRE, TrackResource
from spotilytics.importing.runner import import_file

pytestmark = pytest.mark.django_db


def _import(text: str, **kwargs):
    return import_file(resource_class=TrackResource, data=text.encode(), file_name="sample.csv", **kwargs)


SPOTIFY_TRACKS_DATASET = """\
,track_id,artists,album_name,track_name,popularity,duration_ms,explicit,danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,time_signature,track_genre
0,5SuOikwiRyPMVoIQDJUgSV,Gen Hoshino,Comedy,Comedy,73,230666,False,0.676,0.461,1,-6.746,0,0.143,0.0322,1.01e-06,0.358,0.715,87.917,4,acoustic
1,1iJBSr7s7jYXzM8EGcbK5b,Ingrid Michaelson;ZAYN,To Begin Again,To Begin Again,57,210826,True,0.438,0.359,0,-9.734,1,0.0557,0.21,0,0.117,0.12,76.332,4,acoustic
2,5SuOikwiRyPMVoIQDJUgSV,Gen Hoshino,Comedy,Comedy,73,230666,False,0.676,0.461,1,-6.746,0,0.143,0.0322,1.01e-06,0.358,0.715,87.917,4,j-pop
3,1kR4gIb7nGxHPI3D2ifs59,,,,0,0,False,0.501,0.583,7,-9.46,0,0.0605,0.69,0.00396,0.0747,0.734,138.391,4,k-pop
"""  # noqa: E501  (a dataset's rows, verbatim)


def test_spotify_tracks_dataset_imports_as_is():
    outcome = _import(SPOTIFY_TRACKS_DATASET)

    assert outcome.ok, outcome.problems
    # Line 4 repeats line 2's track under another genre; line 5 has no title nor artist.
    assert (outcome.rows, outcome.created, outcome.updated, outcome.skipped) == (4, 2, 0, 2)
    assert outcome.ignored_columns == ["time_signature"]
    comedy = Track.objects.get(external_id="5SuOikwiRyPMVoIQDJUgSV")
    assert (comedy.title, comedy.primary_artist.name, comedy.album.title, comedy.genre.name) == (
        "Comedy",
        "Gen Hoshino",
        "Comedy",
        "acoustic",
    )
    assert (comedy.duration_ms, comedy.popularity, comedy.explicit, comedy.key, comedy.mode) == (
        230666,
        73,
        False,
        1,
        0,
    )
    assert (comedy.danceability, comedy.loudness, comedy.instrumentalness, comedy.tempo) == (
        0.676,
        -6.746,
        1.01e-06,
        87.917,
    )
    duet = Track.objects.get(external_id="1iJBSr7s7jYXzM8EGcbK5b")
    assert duet.primary_artist.name == "Ingrid Michaelson"
    assert [artist.name for artist in duet.featured_artists.all()] == ["ZAYN"]
    assert duet.explicit is True
    assert sorted(Artist.objects.values_list("name", flat=True)) == [
        "Gen Hoshino",
        "Ingrid Michaelson",
        "ZAYN",
    ]
    assert list(Genre.objects.values_list("name", flat=True)) == ["acoustic"]


def test_spotify_tracks_dataset_imported_twice_creates_nothing_new():
    _import(SPOTIFY_TRACKS_DATASET)
    counts = (Track.objects.count(), Album.objects.count(), Artist.objects.count(), Genre.objects.count())

    outcome = _import(SPOTIFY_TRACKS_DATASET)

    assert outcome.ok
    assert (outcome.created, outcome.updated, outcome.skipped) == (0, 0, 4)
    assert (
        Track.objects.count(),
        Album.objects.count(),
        Artist.objects.count(),
        Genre.objects.count(),
    ) == counts


def test_track_id_used_for_two_different_tracks_is_refused():
    text = (
        "track_id,artists,album_name,track_name,duration_ms,track_genre\n"
        "abc,Artist One,Album,First Song,200000,pop\n"
        "abc,Artist Two,Album,Other Song,180000,pop\n"
    )

    outcome = _import(text)

    assert not outcome.ok
    assert [(p.line, p.column) for p in outcome.problems] == [(3, "track_id")]
    assert "already used on line 2 for another track" in outcome.problems[0].message
    assert Track.objects.count() == Artist.objects.count() == 0


TOP_SPOTIFY_SONGS_2023 = """\
track_name,artist(s)_name,artist_count,released_year,released_month,released_day,in_spotify_playlists,streams,bpm,key,mode,danceability_%,valence_%,energy_%,acousticness_%,instrumentalness_%,liveness_%,speechiness_%
Seven (feat. Latto) (Explicit Ver.),"Latto, Jung Kook",2,2023,7,14,553,141381703,125,B,Major,80,89,83,31,0,8,4
Flowers,Miley Cyrus,1,2023,1,12,12211,1316855716,118,,Major,71,65,68,6,0,3,7
"""


def test_top_spotify_songs_2023_needs_a_duration_and_says_so():
    outcome = _import(TOP_SPOTIFY_SONGS_2023)

    assert not outcome.ok
    assert "the file has no duration column" in outcome.problems[0].message
    assert "--default-duration-ms" in outcome.problems[0].message
    assert Track.objects.count() == 0


def test_top_spotify_songs_2023_imports_with_a_default_duration():
    outcome = _import(TOP_SPOTIFY_SONGS_2023, resource_kwargs={"default_duration_ms": 180_000})

    assert outcome.ok, outcome.problems
    assert outcome.created == 2
    seven = Track.objects.get(title="Seven (feat. Latto) (Explicit Ver.)")
    assert seven.primary_artist.name == "Latto"
    assert [a.name for a in seven.featured_artists.all()] == ["Jung Kook"]
    assert (seven.tempo, seven.key, seven.mode, seven.duration_ms) == (125.0, 11, 1, 180_000)
    # 0-100 percentages in the file, 0-1 in the database.
    assert (seven.danceability, seven.valence, seven.energy, seven.liveness) == (0.8, 0.89, 0.83, 0.08)
    # No album in the layout: each track is its own single, released on the given day.
    assert (seven.album.title, seven.album.album_type, seven.album.release_date) == (
        seven.title,
        AlbumType.SINGLE,
        date(2023, 7, 14),
    )
    assert seven.genre.name == UNKNOWN_GENRE
    assert Track.objects.get(title="Flowers").key is None


TOP_SPOTIFY_2010_2019 = """\
"",title,artist,top genre,year,bpm,nrgy,dnce,dB,live,val,dur,acous,spch,pop
1,"Hey, Soul Sister",Train,neo mellow,2010,97,89,67,-4,8,80,217,19,4,83
2,Love The Way You Lie,Eminem,detroit hip hop,2010,87,93,75,-5,52,64,263,24,23,82
"""


def test_top_spotify_songs_2010_2019_imports_with_its_short_headers():
    outcome = _import(TOP_SPOTIFY_2010_2019)

    assert outcome.ok, outcome.problems
    song = Track.objects.get(title="Hey, Soul Sister")
    assert (song.primary_artist.name, song.genre.name, song.album.release_date) == (
        "Train",
        "neo mellow",
        date(2010, 1, 1),
    )
    # dur is in seconds, nrgy/dnce/live/val/acous/spch are 0-100.
    assert (song.duration_ms, song.energy, song.danceability, song.liveness, song.valence) == (
        217_000,
        0.89,
        0.67,
        0.08,
        0.8,
    )
    assert (song.acousticness, song.speechiness, song.loudness, song.tempo, song.popularity) == (
        0.19,
        0.04,
        -4.0,
        97.0,
        83,
    )


SPOTIFY_1_2M_SONGS = """\
id,name,album,album_id,artists,artist_ids,track_number,disc_number,explicit,danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,duration_ms,time_signature,year,release_date
7lmeHLHBe4nmXzuXc0HDjk,Testify,The Battle Of Los Angeles,2eia0myWFgoHuttJytCxgX,['Rage Against The Machine'],['2d0hyoQ5ynDBnkvAbJKORj'],1,1,False,0.47,0.978,7,-5.399,1,0.0727,0.0261,1.09e-05,0.356,0.503,117.906,210133,4.0,1999,1999-11-02
1wsRitfRRtWyEapl0q22o8,Guerrilla Radio,The Battle Of Los Angeles,2eia0myWFgoHuttJytCxgX,"['Rage Against The Machine', ""Zack de la Rocha""]",['2d0hyoQ5ynDBnkvAbJKORj'],2,1,True,0.599,0.957,11,-5.764,1,0.188,0.0129,7.06e-05,0.155,0.489,103.68,206200,4.0,1999,1999
"""  # noqa: E501  (a dataset's rows, verbatim)


def test_spotify_1_2m_songs_imports_list_artists_and_partial_dates():
    outcome = _import(SPOTIFY_1_2M_SONGS)

    assert outcome.ok, outcome.problems
    testify = Track.objects.get(external_id="7lmeHLHBe4nmXzuXc0HDjk")
    radio = Track.objects.get(external_id="1wsRitfRRtWyEapl0q22o8")
    assert testify.album == radio.album
    assert testify.album.release_date == date(1999, 11, 2)
    assert radio.primary_artist.name == "Rage Against The Machine"
    assert [a.name for a in radio.featured_artists.all()] == ["Zack de la Rocha"]
    assert (radio.explicit, radio.key, radio.duration_ms) == (True, 11, 206200)


def test_semicolon_windows_1252_file_with_decimal_commas_imports():
    text = "Title;Artist;Genre;Duration (ms);Loudness;Energy\nCafé Noir;Zoë;chanson;201000;-7,5;0,42\n"

    outcome = import_file(resource_class=TrackResource, data=text.encode("cp1252"), file_name="fr.csv")

    assert outcome.ok, outcome.problems
    assert outcome.encoding == "cp1252"
    track = Track.objects.get()
    assert (track.title, track.primary_artist.name, track.loudness, track.energy) == (
        "Café Noir",
        "Zoë",
        -7.5,
        0.42,
    )


def test_track_rows_with_bad_values_name_line_column_and_reason():
    text = (
        "track_name,artists,duration_ms,danceability,key,explicit\n"
        "Fine,Someone,200000,0.5,3,no\n"
        "Bad,Someone,3:4x,1.7,H,maybe\n"
    )

    outcome = _import(text)

    assert not outcome.ok
    problems = {(p.line, p.column): p.message for p in outcome.problems}
    assert problems == {
        (3, "duration_ms"): "'3:4x' is not a duration; write milliseconds or m:ss, for example 3:45",
        (3, "danceability"): "ensure this value is less than or equal to 1.0",
        (3, "key"): "'H' is not a key; write 0-11 or a note such as C# or Eb",
        (3, "explicit"): "'maybe' is not yes or no; write true/false, yes/no or 1/0",
    }
    assert Track.objects.count() == Artist.objects.count() == 0
