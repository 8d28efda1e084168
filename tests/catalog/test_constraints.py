"""Every database constraint of the catalog models rejects a bad row.

Each case builds a valid row and names the fields that break one constraint; the row
goes in through `objects.create` and through `bulk_create` (no model validation on
either path), and the database's own message must name the constraint (SQLite names a
unique index by its columns).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import IntegrityError, models, transaction

from catalog.models import (
    Album,
    Artist,
    Episode,
    Follow,
    Genre,
    Playlist,
    PlaylistItem,
    Podcast,
    Rating,
    Track,
)
from tests.factories import at, make_artist, make_episode, make_genre, make_listener, make_track

pytestmark = pytest.mark.django_db

MODELS = [Genre, Artist, Album, Track, Podcast, Episode, Playlist, PlaylistItem, Follow, Rating]
AUDIO_FEATURES = [
    "danceability",
    "energy",
    "valence",
    "acousticness",
    "speechiness",
    "instrumentalness",
    "liveness",
]


@dataclass(frozen=True)
class Case:
    id: str
    constraint: str  # the Meta constraint's name, or "unique:<field>" for a unique field
    model: type[models.Model]
    valid: Callable[[SimpleNamespace], dict[str, Any]]
    breaks: Callable[[SimpleNamespace], dict[str, Any]]
    error: str  # a regex the database's error message matches


@pytest.fixture
def world() -> SimpleNamespace:
    """Existing rows to clash with: a track, an episode, a playlist item, a follow, ratings."""
    artist = make_artist("Robyn")
    track = make_track("Dancing On My Own", artist=artist, isrc="SEA011000001", external_id="spotify:1")
    other_track = make_track("Hang With Me", artist=artist)
    episode = make_episode(number=1)
    other_episode = make_episode(episode.podcast, number=2)
    listener = make_listener()
    playlist = Playlist.objects.create(title="Mix", owner=listener, created_at=at(2026, 1, 1))
    PlaylistItem.objects.create(playlist=playlist, position=1, track=track, added_at=at(2026, 1, 1))
    Follow.objects.create(listener=listener, artist=artist, followed_at=at(2026, 1, 1))
    Rating.objects.create(listener=listener, track=track, score=5, rated_at=at(2026, 1, 1))
    Rating.objects.create(listener=listener, episode=episode, score=4, rated_at=at(2026, 1, 1))
    return SimpleNamespace(
        artist=artist,
        other_artist=make_artist("Lykke Li"),
        album=track.album,
        genre=make_genre(),
        track=track,
        other_track=other_track,
        podcast=episode.podcast,
        episode=episode,
        other_episode=other_episode,
        listener=listener,
        playlist=playlist,
    )


def _genre(w):
    return {"name": "Jazz"}


def _track(w):
    features = dict.fromkeys(AUDIO_FEATURES, 0.5)
    return {
        "title": "Call Your Girlfriend",
        "album": w.album,
        "primary_artist": w.artist,
        "genre": w.genre,
        "duration_ms": 220_000,
        "popularity": 100,
        "isrc": "SEA011000002",
        "external_id": "spotify:2",
        "key": 11,
        "mode": 1,
        "tempo": 120.0,
        **features,
    }


def _episode(w):
    return {
        "podcast": w.podcast,
        "number": 3,
        "title": "Three",
        "release_date": date(2026, 1, 3),
        "duration_ms": 1_800_000,
    }


def _item(w):
    return {"playlist": w.playlist, "position": 2, "track": w.other_track, "added_at": at(2026, 1, 2)}


def _follow(w):
    return {"listener": w.listener, "artist": w.other_artist, "followed_at": at(2026, 1, 1)}


def _track_rating(w):
    return {"listener": w.listener, "track": w.other_track, "score": 1, "rated_at": at(2026, 1, 2)}


def _episode_rating(w):
    return {"listener": w.listener, "episode": w.other_episode, "score": 5, "rated_at": at(2026, 1, 2)}


CASES = [
    Case(
        "genre-name-taken",
        "unique:name",
        Genre,
        _genre,
        lambda w: {"name": w.genre.name},
        r"catalog_genre[._]name",
    ),
    Case(
        "track-duration-zero",
        "track_duration_positive",
        Track,
        _track,
        lambda w: {"duration_ms": 0},
        "track_duration_positive",
    ),
    Case(
        "popularity-over-100",
        "track_popularity_0_100",
        Track,
        _track,
        lambda w: {"popularity": 101},
        "track_popularity_0_100",
    ),
    *(
        Case(
            f"{feature}-{label}",
            f"track_{feature}_0_1",
            Track,
            _track,
            lambda w, feature=feature, value=value: {feature: value},
            f"track_{feature}_0_1",
        )
        for feature in AUDIO_FEATURES
        for label, value in (("over-1", 1.01), ("under-0", -0.01))
    ),
    Case("key-12", "track_key_pitch_class", Track, _track, lambda w: {"key": 12}, "track_key_pitch_class"),
    Case(
        "key-minus-2", "track_key_pitch_class", Track, _track, lambda w: {"key": -2}, "track_key_pitch_class"
    ),
    Case("mode-2", "track_mode_minor_major", Track, _track, lambda w: {"mode": 2}, "track_mode_minor_major"),
    Case(
        "tempo-negative",
        "track_tempo_not_negative",
        Track,
        _track,
        lambda w: {"tempo": -1.0},
        "track_tempo_not_negative",
    ),
    Case(
        "isrc-taken",
        "unique:isrc",
        Track,
        _track,
        lambda w: {"isrc": "SEA011000001"},
        r"catalog_track[._]isrc",
    ),
    Case(
        "external-id-taken",
        "unique:external_id",
        Track,
        _track,
        lambda w: {"external_id": "spotify:1"},
        r"catalog_track[._]external_id",
    ),
    Case(
        "episode-number-taken",
        "episode_number_unique_per_podcast",
        Episode,
        _episode,
        lambda w: {"number": 1},
        r"episode_number_unique_per_podcast|catalog_episode\.podcast_id, catalog_episode\.number",
    ),
    Case(
        "episode-number-zero",
        "episode_number_from_one",
        Episode,
        _episode,
        lambda w: {"number": 0},
        "episode_number_from_one",
    ),
    Case(
        "episode-duration-zero",
        "episode_duration_positive",
        Episode,
        _episode,
        lambda w: {"duration_ms": 0},
        "episode_duration_positive",
    ),
    Case(
        "item-position-taken",
        "playlist_item_unique_position",
        PlaylistItem,
        _item,
        lambda w: {"position": 1},
        r"playlist_item_unique_position|catalog_playlistitem\.playlist_id, catalog_playlistitem\.position",
    ),
    Case(
        "item-neither",
        "playlist_item_track_xor_episode",
        PlaylistItem,
        _item,
        lambda w: {"track": None},
        "playlist_item_track_xor_episode",
    ),
    Case(
        "item-both",
        "playlist_item_track_xor_episode",
        PlaylistItem,
        _item,
        lambda w: {"episode": w.episode},
        "playlist_item_track_xor_episode",
    ),
    Case(
        "second-open-follow",
        "follow_one_open_per_listener_artist",
        Follow,
        _follow,
        lambda w: {"artist": w.artist},
        r"follow_one_open_per_listener_artist|catalog_follow\.listener_id, catalog_follow\.artist_id",
    ),
    Case(
        "unfollow-at-follow",
        "follow_unfollow_after_follow",
        Follow,
        _follow,
        lambda w: {"unfollowed_at": at(2026, 1, 1)},
        "follow_unfollow_after_follow",
    ),
    Case("score-0", "rating_score_1_5", Rating, _track_rating, lambda w: {"score": 0}, "rating_score_1_5"),
    Case("score-6", "rating_score_1_5", Rating, _track_rating, lambda w: {"score": 6}, "rating_score_1_5"),
    Case(
        "rating-neither",
        "rating_track_xor_episode",
        Rating,
        _track_rating,
        lambda w: {"track": None},
        "rating_track_xor_episode",
    ),
    Case(
        "rating-both",
        "rating_track_xor_episode",
        Rating,
        _track_rating,
        lambda w: {"episode": w.other_episode},
        "rating_track_xor_episode",
    ),
    Case(
        "second-track-rating",
        "rating_one_per_listener_track",
        Rating,
        _track_rating,
        lambda w: {"track": w.track},
        r"rating_one_per_listener_track|catalog_rating\.listener_id, catalog_rating\.track_id",
    ),
    Case(
        "second-episode-rating",
        "rating_one_per_listener_episode",
        Rating,
        _episode_rating,
        lambda w: {"episode": w.episode},
        r"rating_one_per_listener_episode|catalog_rating\.listener_id, catalog_rating\.episode_id",
    ),
]


def _insert(model: type[models.Model], how: str, fields: dict[str, Any]) -> None:
    with transaction.atomic():
        if how == "create":
            model.objects.create(**fields)
        else:
            model.objects.bulk_create([model(**fields)])


@pytest.mark.parametrize("how", ["create", "bulk_create"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_constraint_rejects_the_invalid_row(world, case, how):
    before = case.model.objects.count()

    with pytest.raises(IntegrityError, match=case.error):
        _insert(case.model, how, {**case.valid(world), **case.breaks(world)})

    assert case.model.objects.count() == before


@pytest.mark.parametrize("how", ["create", "bulk_create"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_constraint_accepts_the_valid_row(world, case, how):
    before = case.model.objects.count()

    _insert(case.model, how, case.valid(world))

    assert case.model.objects.count() == before + 1


@pytest.mark.parametrize(
    "fields",
    [
        {"popularity": 0, "key": -1, "mode": 0, "tempo": 0.0, **dict.fromkeys(AUDIO_FEATURES, 0.0)},
        {"popularity": 100, "key": 11, "mode": 1, **dict.fromkeys(AUDIO_FEATURES, 1.0)},
        {"key": None, "mode": None, "tempo": None, **dict.fromkeys(AUDIO_FEATURES, None)},
    ],
    ids=["lower-bounds", "upper-bounds", "unknown"],
)
def test_constraint_track_accepts_the_bounds_and_unknown_features(world, fields):
    Track.objects.create(**{**_track(world), **fields})

    assert Track.objects.filter(isrc="SEA011000002").count() == 1


def test_constraint_cases_cover_every_constraint_of_the_catalog_models():
    declared = {(model, constraint.name) for model in MODELS for constraint in model._meta.constraints} | {
        (model, f"unique:{field.name}")
        for model in MODELS
        for field in model._meta.concrete_fields
        if field.unique and not field.primary_key
    }

    assert {(case.model, case.constraint) for case in CASES} == declared
