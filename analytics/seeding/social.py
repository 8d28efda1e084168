"""Playlists (editorial and listeners' own), follows and ratings.

Playlists are built before the listening events, which play them. Follows and ratings
are built after, from what each listener actually streamed: a listener follows an
artist with probability rising with their streams of it, and rates tracks they played,
higher when they streamed them often and skipped them rarely. So both correlate with
listening, as a recommendation model would expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analytics.seeding.catalog import GENRE_NAMES, CatalogData
from analytics.seeding.listeners import ListenerData
from analytics.seeding.loading import NULL_INT, Coded, Rows
from analytics.seeding.names import titles
from analytics.seeding.timeline import DAY, Timeline
from catalog.models import Follow, Playlist, PlaylistItem, Rating

EDITORIAL_PER_GENRE = ("{} Hits", "{} Essentials", "Deep {}")
_MOODS = (  # title, lowest energy, highest energy
    ("Chill Vibes", 0.0, 0.4),
    ("Workout Beats", 0.8, 1.0),
    ("Focus Flow", 0.1, 0.45),
    ("Party Starters", 0.75, 1.0),
    ("Morning Coffee", 0.3, 0.6),
    ("Road Trip", 0.6, 0.9),
)
_USER_TITLES = (
    "My Mix", "Favourites", "Summer", "Gym", "Late Night", "Sunday", "Study", "Road Trip",
    "Throwbacks", "Party", "Chill", "Commute", "Rainy Days", "Love Songs", "Dinner", "Running",
)  # fmt: skip
_REVIEWS = (
    "Love this one.", "On repeat all week.", "Not my thing.", "Great production.",
    "Better live.", "The chorus is everything.", "Too long.", "A classic.", "Meh.",
)  # fmt: skip


@dataclass
class PlaylistData:
    owner: np.ndarray  # listener index, -1 for editorial
    created: np.ndarray  # epoch seconds
    is_podcast: np.ndarray
    item_first: np.ndarray
    item_count: np.ndarray
    item_track: np.ndarray  # track index or -1
    item_episode: np.ndarray  # episode index or -1
    editorial_by_genre: np.ndarray  # (genres, 3) playlist indexes
    own_first: np.ndarray  # per listener: first own track playlist (in `own_order`)
    own_count: np.ndarray
    own_order: np.ndarray  # track playlists sorted by owner


def _take(values: np.ndarray, n: int) -> np.ndarray:
    _, first = np.unique(values, return_index=True)
    return values[np.sort(first)][:n]


def build_playlists(
    catalog: CatalogData, listeners: ListenerData, timeline: Timeline, rng: np.random.Generator
) -> tuple[PlaylistData, list[Rows]]:
    end = timeline.end
    owners, created, podcast, names, public = [], [], [], [], []
    items_track: list[np.ndarray] = []
    editorial = np.zeros((catalog.genres, len(EDITORIAL_PER_GENRE)), dtype=np.int64)
    editorial_created = timeline.start - 400 * DAY
    editorial_day = editorial_created // DAY
    released = catalog.track_release <= editorial_day

    def add(at: int, title: str, tracks: np.ndarray) -> int:
        owners.append(-1)
        created.append(at)
        podcast.append(False)
        names.append(title)
        public.append(True)
        items_track.append(tracks)
        return len(owners) - 1

    for g, name in enumerate(GENRE_NAMES):
        for k, pattern in enumerate(EDITORIAL_PER_GENRE):
            size = int(rng.integers(40, 81))
            picks = catalog.sample_tracks(np.full(size * 4, g), rng.random(size * 4))
            picks = _take(picks[released[picks]], size)
            at = editorial_created + int(rng.integers(0, 30 * DAY))
            editorial[g, k] = add(at, pattern.format(name), picks)
    for title, low, high in _MOODS:
        size = int(rng.integers(50, 101))
        genres = rng.choice(catalog.genres, size * 8, p=catalog.genre_share)
        picks = catalog.sample_tracks(genres, rng.random(size * 8))
        energy = catalog.track_energy[picks]
        picks = _take(picks[released[picks] & (energy >= low) & (energy <= high)], size)
        add(editorial_created + int(rng.integers(0, 30 * DAY)), title, picks)

    # Listeners' playlists: about 30% of listeners make one or more, soon after signing up.
    n = listeners.count
    per_owner = np.where(rng.random(n) < 0.3, rng.geometric(0.55, n), 0)
    owner = np.repeat(np.arange(n), per_owner)
    at = listeners.signup[owner] + rng.exponential(45 * DAY, len(owner)).astype(np.int64) + 60
    keep = at < end - DAY
    owner, at = owner[keep], at[keep]
    is_podcast = (listeners.podcast_share[owner] > 0) & (rng.random(len(owner)) < 0.25)
    size = np.where(is_podcast, rng.integers(4, 16, len(owner)), 8 + rng.poisson(14, len(owner)))
    total = int(size.sum())
    item_owner = np.repeat(owner, size)
    item_at = np.repeat(at, size)
    item_day = (item_at // DAY).astype(np.int64)
    u = rng.random(total)
    genre = (u[:, None] > listeners.taste_cum[item_owner]).sum(axis=1)
    genre = np.minimum(genre, catalog.genres - 1)
    tracks = catalog.sample_tracks(genre, rng.random(total))
    podcast_choice = np.searchsorted(
        np.cumsum(catalog.podcast_weight) / catalog.podcast_weight.sum(), rng.random(total)
    )
    podcast_choice = np.minimum(podcast_choice, len(catalog.podcast_weight) - 1)
    released_count = np.clip(
        (item_day - catalog.podcast_first_release[podcast_choice]) // 7 + 1,
        0,
        catalog.podcast_episodes[podcast_choice],
    )
    number = (rng.random(total) * released_count).astype(np.int64)
    episodes = np.where(released_count > 0, catalog.podcast_first_episode[podcast_choice] + number, -1)
    item_is_podcast = np.repeat(is_podcast, size)
    # Only what was out when the playlist was made, each item once; the rest is left out.
    valid = np.where(item_is_podcast, episodes >= 0, catalog.track_release[tracks] <= item_day)
    content = np.where(item_is_podcast, episodes, tracks)
    item_list = np.repeat(np.arange(len(owner)), size)
    candidates = np.flatnonzero(valid)
    _, first = np.unique(item_list[candidates] * (1 << 32) + content[candidates], return_index=True)
    kept = candidates[np.sort(first)]
    kept_count = np.bincount(item_list[kept], minlength=len(owner))
    made = kept_count > 0
    user_titles = np.array(_USER_TITLES)[rng.integers(0, len(_USER_TITLES), len(owner))]
    extra = np.array(titles(rng, len(owner), max_words=2), dtype=object)
    title = np.where(np.arange(len(owner)) % 3 > 0, user_titles.astype(object), extra)
    title = np.where(is_podcast, extra + " Podcasts", title)
    is_public = rng.random(len(owner)) < 0.55

    count = np.concatenate([[len(t) for t in items_track], kept_count[made]])
    item_first = np.concatenate([[0], np.cumsum(count)[:-1]])
    kept_podcast = item_is_podcast[kept]
    item_track = np.concatenate([*items_track, np.where(kept_podcast, -1, content[kept])])
    item_episode = np.concatenate(
        [np.full(len(t), -1) for t in items_track] + [np.where(kept_podcast, content[kept], -1)]
    )
    owner_arr = np.concatenate([np.array(owners, dtype=np.int64), owner[made]])
    created_arr = np.concatenate([np.array(created, dtype=np.int64), at[made]])
    podcast_arr = np.concatenate([np.array(podcast, dtype=bool), is_podcast[made]])
    names = [*names, *title[made].tolist()]
    public_arr = np.concatenate([np.array(public, dtype=bool), is_public[made]])
    own_tracks = np.flatnonzero((owner_arr >= 0) & ~podcast_arr)
    own_order = own_tracks[np.argsort(owner_arr[own_tracks], kind="stable")]
    own_count = np.bincount(owner_arr[own_order], minlength=n)
    own_first = np.concatenate([[0], np.cumsum(own_count)[:-1]])

    n_playlists = len(owner_arr)
    n_items = len(item_track)
    item_playlist = np.repeat(np.arange(n_playlists), count)
    position = np.arange(n_items) - item_first[item_playlist] + 1
    playlist_rows = Rows(
        Playlist,
        {
            "id": np.arange(1, n_playlists + 1),
            "owner_id": np.where(owner_arr >= 0, owner_arr + 1, NULL_INT),
            "title": names,
            "is_public": public_arr,
            "content_kind": Coded(podcast_arr.astype(np.int64), ["track", "podcast"]),
            "created_at": created_arr,
        },
    )
    item_rows = Rows(
        PlaylistItem,
        {
            "id": np.arange(1, n_items + 1),
            "playlist_id": item_playlist + 1,
            "position": position,
            "track_id": np.where(item_track >= 0, item_track + 1, NULL_INT),
            "episode_id": np.where(item_episode >= 0, item_episode + 1, NULL_INT),
            # Built in one sitting: a few seconds per added item.
            "added_at": created_arr[item_playlist] + 20 * position,
        },
    )
    data = PlaylistData(
        owner=owner_arr,
        created=created_arr,
        is_podcast=podcast_arr,
        item_first=item_first,
        item_count=count,
        item_track=item_track,
        item_episode=item_episode,
        editorial_by_genre=editorial,
        own_first=own_first,
        own_count=own_count,
        own_order=own_order,
    )
    return data, [playlist_rows, item_rows]


@dataclass
class SocialCollector:
    """Builds follows and ratings chunk by chunk from the events' (listener, item) streams."""

    catalog: CatalogData
    end: int
    seed: int
    track_quality: np.ndarray
    parts: dict[str, list[np.ndarray]] = field(default_factory=lambda: {})

    def _add(self, name: str, **columns: np.ndarray) -> None:
        for key, value in columns.items():
            self.parts.setdefault(f"{name}.{key}", []).append(value)

    @staticmethod
    def _pairs(key: np.ndarray, at: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per distinct key: the key, its first instant, the sum of weights and the count.

        The chunk is ordered by listener and time, so a key's first occurrence (which
        `np.unique` reports, its sort being stable) is its earliest play.
        """
        unique, first, inverse, counts = np.unique(
            key, return_index=True, return_inverse=True, return_counts=True
        )
        sums = np.bincount(inverse, weights=weight, minlength=len(unique)).astype(np.int64)
        return unique, at[first], sums, counts

    def collect(self, chunk: dict[str, np.ndarray], number: int) -> None:
        rng = np.random.default_rng([self.seed, 11, number])
        catalog = self.catalog
        is_track = chunk["track_id"] != NULL_INT
        stream = chunk["ms_played"] >= 30_000
        listener = chunk["listener_id"] - 1
        at = chunk["played_at"]

        rows = is_track & stream
        track = chunk["track_id"][rows] - 1
        artist = catalog.track_artist[track]
        n_artists = len(catalog.artist_size)
        key, first, streams, _ = self._pairs(
            listener[rows] * n_artists + artist, at[rows], np.ones(int(rows.sum()), dtype=np.int64)
        )
        follows = rng.random(len(key)) < 0.5 * (1 - np.exp(-streams / 5))
        followed_at = first + rng.exponential(5 * DAY, len(key)).astype(np.int64) + 1
        follows &= followed_at < self.end
        unfollowed_at = followed_at + 3600 + rng.exponential(50 * DAY, len(key)).astype(np.int64)
        unfollow = (rng.random(len(key)) < 0.12) & (unfollowed_at < self.end)
        self._add(
            "follow",
            listener=key[follows] // n_artists,
            artist=key[follows] % n_artists,
            followed_at=followed_at[follows],
            unfollowed_at=np.where(unfollow, unfollowed_at, NULL_INT)[follows],
        )

        n_tracks = catalog.tracks
        key, first, streams, plays = self._pairs(
            listener[is_track] * n_tracks + (chunk["track_id"][is_track] - 1),
            at[is_track],
            stream[is_track].astype(np.int64),
        )
        track = key % n_tracks
        skip_share = 1 - streams / plays
        rate = rng.random(len(key)) < np.where(streams >= 3, 0.2, np.where(streams >= 1, 0.05, 0.01))
        latent = 3.1 + 0.45 * np.log1p(streams) - 2.0 * skip_share + self.track_quality[track]
        score = np.clip(np.round(latent + rng.normal(0, 0.7, len(key))), 1, 5).astype(np.int64)
        rated_at = first + rng.exponential(3 * DAY, len(key)).astype(np.int64) + 1
        rate &= rated_at < self.end
        self._add(
            "rating",
            listener=key[rate] // n_tracks,
            track=track[rate],
            episode=np.full(int(rate.sum()), -1),
            score=score[rate],
            rated_at=rated_at[rate],
        )

        is_episode = ~is_track
        n_episodes = len(catalog.episode_duration)
        key, first, streams, plays = self._pairs(
            listener[is_episode] * n_episodes + (chunk["episode_id"][is_episode] - 1),
            at[is_episode],
            stream[is_episode].astype(np.int64),
        )
        rate = (rng.random(len(key)) < 0.08) & (streams > 0)
        rated_at = first + rng.exponential(2 * DAY, len(key)).astype(np.int64) + 1
        rate &= rated_at < self.end
        score = np.clip(np.round(3.8 + rng.normal(0, 0.9, len(key))), 1, 5).astype(np.int64)
        self._add(
            "rating",
            listener=key[rate] // n_episodes,
            track=np.full(int(rate.sum()), -1),
            episode=key[rate] % n_episodes,
            score=score[rate],
            rated_at=rated_at[rate],
        )

    def _column(self, name: str) -> np.ndarray:
        parts = self.parts.get(name, [])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def rows(self) -> list[Rows]:
        rng = np.random.default_rng([self.seed, 12])
        listener = self._column("follow.listener")
        order = np.lexsort((self._column("follow.artist"), listener, self._column("follow.followed_at")))
        follow_rows = Rows(
            Follow,
            {
                "id": np.arange(1, len(order) + 1),
                "listener_id": listener[order] + 1,
                "artist_id": self._column("follow.artist")[order] + 1,
                "followed_at": self._column("follow.followed_at")[order],
                "unfollowed_at": self._column("follow.unfollowed_at")[order],
            },
        )
        listener = self._column("rating.listener")
        track, episode = self._column("rating.track"), self._column("rating.episode")
        rated_at = self._column("rating.rated_at")
        order = np.lexsort((episode, track, listener, rated_at))
        with_review = rng.random(len(order)) < 0.1
        review = np.where(with_review, rng.integers(1, len(_REVIEWS) + 1, len(order)), 0)
        rating_rows = Rows(
            Rating,
            {
                "id": np.arange(1, len(order) + 1),
                "listener_id": listener[order] + 1,
                "track_id": np.where(track[order] >= 0, track[order] + 1, NULL_INT),
                "episode_id": np.where(episode[order] >= 0, episode[order] + 1, NULL_INT),
                "score": self._column("rating.score")[order],
                "review": Coded(review, ["", *_REVIEWS]),
                "rated_at": rated_at[order],
            },
        )
        return [follow_rows, rating_rows]
