"""Catalog: genres, artists, albums, tracks (with audio features by genre), podcasts, episodes.

Popularity is Zipf-like: artists are ranked within their genre and weighted 1/rank^1.1,
tracks multiply their artist's weight by a lognormal factor. The weights drive which
tracks the listening events pick, so top charts have a long tail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.seeding.config import SeedConfig
from analytics.seeding.loading import Coded, Rows
from analytics.seeding.names import faker, titles
from analytics.seeding.timeline import Timeline
from catalog.models import Album, Artist, Episode, Genre, Podcast, Track


@dataclass(frozen=True)
class GenreProfile:
    name: str
    share: float  # of global listening
    energy: float
    danceability: float
    acousticness: float
    valence: float
    tempo: float
    duration_s: float
    speechiness: float = 0.05
    instrumentalness: float = 0.05
    skip_bias: float = 0.0  # added to the skip logit
    explicit: float = 0.08


GENRES: tuple[GenreProfile, ...] = (
    GenreProfile("Pop", 0.20, 0.68, 0.67, 0.15, 0.56, 118, 200, skip_bias=0.25),
    GenreProfile("Hip-Hop", 0.15, 0.64, 0.78, 0.12, 0.47, 102, 205, 0.24, skip_bias=0.3, explicit=0.6),
    GenreProfile("Rock", 0.09, 0.79, 0.50, 0.08, 0.46, 126, 235),
    GenreProfile("Electronic", 0.07, 0.83, 0.69, 0.05, 0.40, 125, 245, instrumentalness=0.45, skip_bias=0.15),
    GenreProfile("R&B", 0.05, 0.55, 0.67, 0.25, 0.50, 98, 220),
    GenreProfile("Latin", 0.07, 0.75, 0.74, 0.18, 0.66, 104, 205),
    GenreProfile("Reggaeton", 0.05, 0.78, 0.80, 0.12, 0.67, 94, 200, explicit=0.35),
    GenreProfile("Indie", 0.05, 0.58, 0.55, 0.32, 0.42, 118, 225, skip_bias=-0.05),
    GenreProfile("Country", 0.04, 0.63, 0.58, 0.28, 0.56, 116, 198),
    GenreProfile("Metal", 0.03, 0.92, 0.42, 0.02, 0.30, 134, 285, skip_bias=-0.2),
    GenreProfile("K-Pop", 0.04, 0.78, 0.70, 0.10, 0.61, 120, 198, skip_bias=0.1),
    GenreProfile("Afrobeats", 0.03, 0.70, 0.80, 0.18, 0.72, 106, 205),
    GenreProfile("Jazz", 0.02, 0.38, 0.52, 0.65, 0.48, 110, 330, instrumentalness=0.6, skip_bias=-0.4),
    GenreProfile("Classical", 0.02, 0.17, 0.28, 0.92, 0.30, 96, 390, instrumentalness=0.9, skip_bias=-0.6),
    GenreProfile("Folk", 0.02, 0.38, 0.50, 0.70, 0.45, 112, 230, skip_bias=-0.2),
    GenreProfile("Soul", 0.02, 0.50, 0.60, 0.40, 0.56, 100, 225, skip_bias=-0.1),
    GenreProfile("Blues", 0.01, 0.50, 0.52, 0.45, 0.48, 104, 250, skip_bias=-0.2),
    GenreProfile("Punk", 0.01, 0.90, 0.45, 0.04, 0.43, 160, 165),
    GenreProfile("Ambient", 0.01, 0.15, 0.25, 0.82, 0.20, 88, 320, instrumentalness=0.85, skip_bias=-0.5),
    GenreProfile("Lo-fi", 0.02, 0.30, 0.65, 0.55, 0.45, 82, 150, instrumentalness=0.7, skip_bias=-0.3),
)  # fmt: skip
GENRE_NAMES = [g.name for g in GENRES]

# Where a genre's artists come from (the rest of the world otherwise).
_GENRE_COUNTRIES = {
    "Latin": ["MX", "CO", "AR", "ES", "PR", "CL"],
    "Reggaeton": ["PR", "CO", "MX", "DO"],
    "K-Pop": ["KR"],
    "Afrobeats": ["NG", "GH", "ZA", "KE"],
    "Country": ["US", "CA"],
    "Metal": ["SE", "FI", "NO", "DE", "US", "GB"],
}
_ARTIST_COUNTRIES = ["US", "GB", "US", "CA", "AU", "DE", "FR", "SE", "NL", "BR", "JP", "IE", "NZ"]
_LABELS = [
    "Universal Music", "Sony Music", "Warner Records", "Atlantic", "Columbia", "Interscope",
    "XL Recordings", "Sub Pop", "Domino", "Ninja Tune", "Warp", "4AD", "Rough Trade", "Matador",
    "Def Jam", "Capitol", "Island", "Epic", "Republic", "Parlophone", "Big Machine",
    "Rimas Entertainment", "HYBE", "SM Entertainment", "Mavin Records", "Deutsche Grammophon",
    "Blue Note", "Nonesuch", "Secretly Canadian", "Independent",
]  # fmt: skip
_PODCAST_CATEGORIES = {
    "News": 35, "Comedy": 55, "True Crime": 60, "Society & Culture": 50, "Sports": 55,
    "Business": 40, "Education": 35, "Technology": 45, "Health & Fitness": 35, "History": 50,
    "Music": 45, "Arts": 40,
}  # fmt: skip
_PUBLISHERS = ["Spotify Studios", "Parcast", "The Ringer", "Gimlet", "Wondery", "iHeart", "NPR", "BBC", ""]
_ALBUM_TYPES = np.array(["single", "ep", "album", "compilation"])


@dataclass
class CatalogData:
    """What later phases need to know about the catalog, as arrays indexed by id - 1."""

    genre_share: np.ndarray
    genre_skip: np.ndarray
    track_genre: np.ndarray
    track_album: np.ndarray  # album index
    track_artist: np.ndarray  # artist index
    track_duration: np.ndarray  # ms
    track_energy: np.ndarray
    track_release: np.ndarray  # days since 1970
    track_weight: np.ndarray
    album_first: np.ndarray  # first track index of each album (tracks are contiguous per album)
    album_size: np.ndarray
    artist_tracks: np.ndarray  # track indexes grouped by artist, most popular first
    artist_first: np.ndarray
    artist_size: np.ndarray
    artist_genre: np.ndarray
    by_genre: np.ndarray  # track indexes grouped by genre
    genre_cum: np.ndarray  # genre g's cumulative weights, scaled into [g, g + 1)
    old_by_genre: np.ndarray  # same, tracks released before the period only
    old_genre_cum: np.ndarray
    podcast_weight: np.ndarray
    podcast_first_episode: np.ndarray  # episode index of number 1
    podcast_episodes: np.ndarray  # number of episodes
    podcast_first_release: np.ndarray  # day number of episode 1
    episode_duration: np.ndarray
    episode_release: np.ndarray
    episode_podcast: np.ndarray

    @property
    def tracks(self) -> int:
        return len(self.track_genre)

    @property
    def genres(self) -> int:
        return len(self.genre_share)

    def sample_tracks(self, genre: np.ndarray, u: np.ndarray, *, released_only: bool = False) -> np.ndarray:
        """Track indexes of the given genres, drawn by popularity from uniforms `u`."""
        order, cum = (
            (self.old_by_genre, self.old_genre_cum) if released_only else (self.by_genre, self.genre_cum)
        )
        position = np.searchsorted(cum, genre + u, side="right")
        return order[np.minimum(position, len(order) - 1)]


def _grouped_cum(groups: np.ndarray, weights: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((np.arange(len(groups)), groups))
    grouped = groups[order]
    w = weights[order]
    totals = np.bincount(grouped, weights=w, minlength=n_groups)
    cum = np.cumsum(w)
    before = np.concatenate([[0.0], np.cumsum(totals)])[grouped]
    scaled = (cum - before) / np.where(totals[grouped] > 0, totals[grouped], 1.0)
    # The last track of a genre ends exactly at g + 1, so g + u (u < 1) never reaches past it.
    return order, grouped + np.where(scaled > 1 - 1e-9, 1.0, scaled)


def _unit(rng: np.random.Generator, mean: np.ndarray, spread: float) -> np.ndarray:
    return np.round(np.clip(mean + rng.normal(0, spread, len(mean)), 0.0, 1.0), 3)


def build_catalog(
    config: SeedConfig, timeline: Timeline, rng: np.random.Generator
) -> tuple[CatalogData, list[Rows]]:
    n_genres = len(GENRES)
    share = np.array([g.share for g in GENRES])
    share = share / share.sum()
    end_day = int(timeline.day_number[-1]) + 1
    start_day = timeline.start_day_number
    fake = faker(config.seed)

    # Artists: genre by global share, Zipf weight by rank within the genre.
    n_artists = config.artists
    artist_genre = rng.choice(n_genres, n_artists, p=share)
    artist_genre[:n_genres] = np.arange(n_genres)  # every genre has artists
    second_genre = np.where(rng.random(n_artists) < 0.4, rng.integers(0, n_genres, n_artists), -1)
    second_genre[second_genre == artist_genre] = -1
    rank = np.empty(n_artists, dtype=np.int64)
    for g in range(n_genres):
        members = np.flatnonzero(artist_genre == g)
        rank[members] = rng.permutation(len(members))
    artist_weight = 1.0 / (rank + 1.0) ** 1.1
    artist_names = []
    for kind in rng.choice(3, n_artists, p=[0.5, 0.3, 0.2]):
        if kind == 0:
            artist_names.append(fake.name())
        elif kind == 1:
            artist_names.append(f"The {fake.word().title()} {fake.word().title()}s")
        else:
            artist_names.append(fake.word().title() + fake.random_element(["", " X", " Club", " Kid", "a"]))
    countries = []
    for g in artist_genre:
        pool = _GENRE_COUNTRIES.get(GENRES[g].name, _ARTIST_COUNTRIES)
        countries.append(pool[int(rng.integers(0, len(pool)))])
    # Careers: the most popular artist of each genre has released music long before the period.
    career_start = end_day - (rng.exponential(8 * 365, n_artists) + 60).astype(np.int64)
    career_start[rank == 0] = np.minimum(career_start[rank == 0], start_day - 365)
    career_start = np.maximum(career_start, end_day - 60 * 365)

    # Albums.
    albums_per_artist = 1 + rng.poisson(1.2 + 3.0 * np.sqrt(artist_weight))
    n_albums = int(albums_per_artist.sum())
    album_artist = np.repeat(np.arange(n_artists), albums_per_artist)
    album_kind = rng.choice(4, n_albums, p=[0.35, 0.15, 0.45, 0.05])
    span = end_day - career_start[album_artist]
    album_release = career_start[album_artist] + (rng.random(n_albums) ** 0.7 * span).astype(np.int64)
    album_release = np.minimum(album_release, end_day - 1)
    first_album = np.concatenate([[0], np.cumsum(albums_per_artist)[:-1]])
    album_release[first_album] = career_start  # the debut opens the career
    size_low = np.array([1, 4, 8, 14])[album_kind]
    size_high = np.array([2, 6, 16, 24])[album_kind]
    album_size = rng.integers(size_low, size_high + 1)
    album_label = rng.integers(0, len(_LABELS), n_albums)

    # Tracks, contiguous per album and in track order.
    n_tracks = int(album_size.sum())
    track_album = np.repeat(np.arange(n_albums), album_size)
    album_first = np.concatenate([[0], np.cumsum(album_size)[:-1]])
    position = np.arange(n_tracks) - album_first[track_album]
    track_artist = album_artist[track_album]
    primary = artist_genre[track_artist]
    secondary = second_genre[track_artist]
    # Debut albums stay in the primary genre, so every genre has music from before the period.
    debut = np.isin(track_album, first_album)
    use_second = (secondary >= 0) & (rng.random(n_tracks) < 0.25) & ~debut
    track_genre = np.where(use_second, secondary, primary)
    profile = {
        field: np.array([getattr(g, field) for g in GENRES])[track_genre]
        for field in (
            "energy",
            "danceability",
            "acousticness",
            "valence",
            "tempo",
            "duration_s",
            "speechiness",
            "instrumentalness",
            "explicit",
        )
    }
    duration = np.clip(profile["duration_s"] * rng.lognormal(0, 0.22, n_tracks), 62, 1_200)
    duration_ms = (duration * 1000).astype(np.int64) + rng.integers(0, 1000, n_tracks)
    energy = _unit(rng, profile["energy"], 0.12)
    single_boost = np.where(album_kind[track_album] == 0, 1.6, 1.0)
    track_weight = (
        artist_weight[track_artist] * rng.lognormal(0, 0.8, n_tracks) * single_boost / (1 + 0.12 * position)
    )
    pct = np.argsort(np.argsort(track_weight)) / max(n_tracks - 1, 1)
    popularity = np.clip(np.round(100 * pct**1.8 - rng.integers(0, 5, n_tracks)), 0, 100).astype(np.int64)
    year = (
        album_release[track_album].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    ) % 100
    track_ids = np.arange(1, n_tracks + 1)
    country = np.array(countries)[track_artist]
    registrant = np.array([np.base_repr(i // 100_000, 36).rjust(3, "0") for i in track_ids])
    isrc = [
        f"{c}{r}{y:02d}{i % 100_000:05d}"
        for c, r, y, i in zip(
            country.tolist(), registrant.tolist(), year.tolist(), track_ids.tolist(), strict=True
        )
    ]
    key = rng.integers(0, 12, n_tracks)
    key[rng.random(n_tracks) < 0.01] = -1

    # Artists' tracks, most popular first: the artist page context plays them in that order.
    artist_order = np.lexsort((-track_weight, track_artist))
    artist_size = np.bincount(track_artist, minlength=n_artists)
    artist_first = np.concatenate([[0], np.cumsum(artist_size)[:-1]])

    by_genre, genre_cum = _grouped_cum(track_genre, track_weight, n_genres)
    released_before = album_release[track_album] < start_day
    old_by_genre, old_genre_cum = _grouped_cum(
        track_genre, np.where(released_before, track_weight, 0.0), n_genres
    )

    # Featured artists on some tracks, from the same genre.
    featured_tracks = np.flatnonzero(rng.random(n_tracks) < np.where(profile["explicit"] > 0.3, 0.25, 0.07))
    featured_artist = rng.integers(0, n_artists, len(featured_tracks))
    ok = featured_artist != track_artist[featured_tracks]
    featured_tracks, featured_artist = featured_tracks[ok], featured_artist[ok]

    # Podcasts: weekly episodes numbered 1, 2, 3...; most still running.
    n_podcasts = config.podcasts
    categories = list(_PODCAST_CATEGORIES)
    podcast_category = rng.integers(0, len(categories), n_podcasts)
    first_release = end_day - rng.integers(21, 4 * 365, n_podcasts)
    last_release = np.where(
        rng.random(n_podcasts) < 0.15, end_day - rng.integers(14, 200, n_podcasts), end_day - 1
    )
    last_release = np.maximum(last_release, first_release)
    podcast_episodes = (last_release - first_release) // 7 + 1
    podcast_first_episode = np.concatenate([[0], np.cumsum(podcast_episodes)[:-1]])
    n_episodes = int(podcast_episodes.sum())
    episode_podcast = np.repeat(np.arange(n_podcasts), podcast_episodes)
    episode_number = np.arange(n_episodes) - podcast_first_episode[episode_podcast] + 1
    episode_release = first_release[episode_podcast] + 7 * (episode_number - 1)
    mean_minutes = np.array([_PODCAST_CATEGORIES[c] for c in categories])[podcast_category]
    episode_duration = (
        np.clip(mean_minutes[episode_podcast] * rng.lognormal(0, 0.25, n_episodes), 8, 180) * 60_000
    ).astype(np.int64)
    podcast_weight = 1.0 / (rng.permutation(n_podcasts) + 1.0) ** 0.9

    genre_rows = Rows(Genre, {"id": np.arange(1, n_genres + 1), "name": GENRE_NAMES})
    artist_ids = np.arange(1, n_artists + 1)
    artist_rows = Rows(Artist, {"id": artist_ids, "name": artist_names, "country": Coded.of(countries)})
    has_second = second_genre >= 0
    through = Artist.genres.through
    artist_genre_rows = Rows(
        through,
        {
            "id": np.arange(1, n_artists + int(has_second.sum()) + 1),
            "artist_id": np.concatenate([artist_ids, artist_ids[has_second]]),
            "genre_id": np.concatenate([artist_genre, second_genre[has_second]]) + 1,
        },
    )
    album_rows = Rows(
        Album,
        {
            "id": np.arange(1, n_albums + 1),
            "title": titles(rng, n_albums, max_words=3),
            "artist_id": album_artist + 1,
            "release_date": album_release,
            "album_type": Coded(album_kind, _ALBUM_TYPES.tolist()),
            "label": Coded(album_label, _LABELS),
        },
    )
    track_rows = Rows(
        Track,
        {
            "id": track_ids,
            "title": titles(rng, n_tracks),
            "album_id": track_album + 1,
            "primary_artist_id": track_artist + 1,
            "genre_id": track_genre + 1,
            "duration_ms": duration_ms,
            "explicit": rng.random(n_tracks) < profile["explicit"],
            "isrc": isrc,
            "external_id": [None] * n_tracks,
            "popularity": popularity,
            "danceability": _unit(rng, profile["danceability"], 0.1),
            "energy": energy,
            "valence": _unit(rng, profile["valence"], 0.15),
            "acousticness": _unit(rng, profile["acousticness"], 0.12),
            "speechiness": _unit(rng, profile["speechiness"], 0.04),
            "instrumentalness": _unit(rng, profile["instrumentalness"], 0.1),
            "liveness": _unit(rng, np.full(n_tracks, 0.15), 0.08),
            "tempo": np.round(profile["tempo"] + rng.normal(0, 12, n_tracks), 3),
            "loudness": np.round(-4 - 12 * (1 - energy) + rng.normal(0, 1.5, n_tracks), 3),
            "key": key,
            "mode": (rng.random(n_tracks) < 0.6).astype(np.int64),
        },
    )
    featured_rows = Rows(
        Track.featured_artists.through,
        {
            "id": np.arange(1, len(featured_tracks) + 1),
            "track_id": featured_tracks + 1,
            "artist_id": featured_artist + 1,
        },
    )
    podcast_rows = Rows(
        Podcast,
        {
            "id": np.arange(1, n_podcasts + 1),
            "title": [
                f"The {t} Podcast" if i % 3 == 0 else t
                for i, t in enumerate(titles(rng, n_podcasts, max_words=3))
            ],
            "host": [fake.name() for _ in range(n_podcasts)],
            "publisher": Coded(rng.integers(0, len(_PUBLISHERS), n_podcasts), _PUBLISHERS),
            "category": Coded(podcast_category, categories),
        },
    )
    episode_titles = titles(rng, n_episodes, min_words=2, max_words=5)
    episode_rows = Rows(
        Episode,
        {
            "id": np.arange(1, n_episodes + 1),
            "podcast_id": episode_podcast + 1,
            "number": episode_number,
            "title": [f"{n}. {t}" for n, t in zip(episode_number.tolist(), episode_titles, strict=True)],
            "release_date": episode_release,
            "duration_ms": episode_duration,
        },
    )
    data = CatalogData(
        genre_share=share,
        genre_skip=np.array([g.skip_bias for g in GENRES]),
        track_genre=track_genre,
        track_album=track_album,
        track_artist=track_artist,
        track_duration=duration_ms,
        track_energy=energy,
        track_release=album_release[track_album],
        track_weight=track_weight,
        album_first=album_first,
        album_size=album_size,
        artist_tracks=artist_order,
        artist_first=artist_first,
        artist_size=artist_size,
        artist_genre=artist_genre,
        by_genre=by_genre,
        genre_cum=genre_cum,
        old_by_genre=old_by_genre,
        old_genre_cum=old_genre_cum,
        podcast_weight=podcast_weight,
        podcast_first_episode=podcast_first_episode,
        podcast_episodes=podcast_episodes,
        podcast_first_release=first_release,
        episode_duration=episode_duration,
        episode_release=episode_release,
        episode_podcast=episode_podcast,
    )
    return data, [
        genre_rows,
        artist_rows,
        artist_genre_rows,
        album_rows,
        track_rows,
        featured_rows,
        podcast_rows,
        episode_rows,
    ]
