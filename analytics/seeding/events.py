"""Listening events, generated with numpy a chunk of listeners at a time.

The recipe (every step is a few vectorised operations over the whole chunk):

1. Counts: the period's events are spread over listener-months by a multinomial draw
   weighted by the activity matrix (heavy-tailed, engagement-linked, see listeners.py).
2. Runs: each listener-month is cut into runs of consecutive plays with one context
   (album, playlist, artist page, search, radio, library, or podcast episodes). Run
   depth drops off after the first track: a run stops after one play with a context's
   first-stop chance (38% for playlists), then continues with a fixed chance (82%).
3. Sessions: runs group into sessions (a new session at a run boundary with 45%
   chance). A session starts on a day drawn by weekday weights and at a local hour
   drawn from a weekday or weekend daily rhythm, shifted by the listener's own habit.
4. Content: a run's genre comes from the listener's taste; album runs play an album in
   track order, playlist runs a playlist from its top (or a random position), artist
   runs the artist's most popular tracks, radio and search popularity-weighted tracks
   of the genre, library runs the listener's favourites. Nothing plays before its
   release or before the listener signed up; a playlist that ran out turns into radio.
5. Skips: a logistic model of the listener's propensity, genre, energy (low energy is
   skipped more by day, less at night), hour, context, depth in the run and free tier.
   Skipped plays stop before 30 s; others play in full or stop after 30 s.
6. Times: plays follow each other within a session; sessions of a listener are pushed
   apart so at least 30 minutes separate them, which is how the KPIs cut sessions.

The chunking is fixed by the counts, so a chunk's rows depend only on the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.seeding.catalog import CatalogData
from analytics.seeding.config import SeedConfig
from analytics.seeding.listeners import ListenerData
from analytics.seeding.loading import NULL_INT
from analytics.seeding.social import PlaylistData
from analytics.seeding.timeline import DAY, HOUR, Timeline

CHUNK_EVENTS = 400_000
ALBUM, PLAYLIST, ARTIST, SEARCH, RADIO, LIBRARY = range(6)  # order of loading.CONTEXTS
_FIRST_STOP = np.array([0.30, 0.38, 0.35, 0.65, 0.15, 0.25])
_CONTINUE = np.array([0.85, 0.82, 0.70, 0.50, 0.86, 0.80])
_CONTEXT_SKIP = np.array([-0.6, 0.1, 0.0, -0.3, 0.35, -0.35])
_SESSION_BREAK = 0.45
_SESSION_GAP = 30 * 60 + 1
_FAVOURITES = 30
_WEEKDAY_WEIGHT = np.array([0.97, 0.98, 1.0, 1.01, 1.06, 1.04, 0.94])
_HOURS_WEEKDAY = np.array(
    [0.6, 0.35, 0.2, 0.15, 0.15, 0.3, 1.0, 2.2, 2.8, 2.2, 1.8, 1.8,
     2.0, 1.9, 1.9, 2.1, 2.5, 3.0, 3.0, 2.8, 2.6, 2.3, 1.8, 1.1]
)  # fmt: skip
_HOURS_WEEKEND = np.array(
    [1.0, 0.7, 0.45, 0.3, 0.2, 0.2, 0.35, 0.7, 1.2, 1.8, 2.3, 2.5,
     2.6, 2.6, 2.5, 2.5, 2.6, 2.7, 2.7, 2.7, 2.6, 2.4, 2.0, 1.5]
)  # fmt: skip
# Device when not on the listener's usual one, by time of day (order of loading.DEVICES):
# night, commute, working hours, evening.
_DEVICE_BY_TIME = np.array(
    [
        [0.55, 0.1, 0.05, 0.1, 0.15, 0.0, 0.05],
        [0.4, 0.05, 0.02, 0.03, 0.05, 0.45, 0.0],
        [0.25, 0.4, 0.25, 0.03, 0.05, 0.02, 0.0],
        [0.3, 0.1, 0.05, 0.15, 0.2, 0.02, 0.18],
    ]
)


def _hour_class(hour: np.ndarray) -> np.ndarray:
    commute = ((hour >= 7) & (hour < 9)) | ((hour >= 17) & (hour < 19))
    work = (hour >= 9) & (hour < 17)
    evening = hour >= 19
    return np.select([commute, work, evening], [1, 2, 3], 0)


def _hash_uniform(keys: np.ndarray) -> np.ndarray:
    """Uniforms in [0, 1) from integer keys (splitmix64): the same key, the same number."""
    z = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.int64)
    np.cumsum(values[:-1], out=out[1:])
    return out


def _pick(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Category per row from row-wise cumulative weights `cum` and uniforms `u`."""
    return np.minimum((u[:, None] > cum).sum(axis=1), cum.shape[1] - 1)


@dataclass
class EventPlan:
    counts: np.ndarray  # (listeners, buckets) events per listener-month
    chunks: list[tuple[int, int]]  # listener index ranges [lo, hi)

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def plan_events(config: SeedConfig, listeners: ListenerData, rng: np.random.Generator) -> EventPlan:
    weights = listeners.activity.ravel()
    total = weights.sum()
    if config.events == 0 or total <= 0:
        counts = np.zeros(listeners.activity.shape, dtype=np.int64)
    else:
        counts = rng.multinomial(config.events, weights / total).reshape(listeners.activity.shape)
    per_listener = np.cumsum(counts.sum(axis=1))
    pieces = max(1, -(-int(per_listener[-1]) // CHUNK_EVENTS))
    edges = np.searchsorted(per_listener, np.arange(1, pieces) * CHUNK_EVENTS, side="left") + 1
    edges = np.unique(np.concatenate([[0], edges, [listeners.count]]))
    return EventPlan(counts=counts, chunks=list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True)))


class EventGenerator:
    def __init__(
        self,
        *,
        config: SeedConfig,
        timeline: Timeline,
        catalog: CatalogData,
        listeners: ListenerData,
        playlists: PlaylistData,
        paid_in_bucket: np.ndarray,
        plan: EventPlan,
    ) -> None:
        self.seed = config.seed
        self.timeline = timeline
        self.catalog = catalog
        self.listeners = listeners
        self.playlists = playlists
        self.paid = paid_in_bucket
        self.plan = plan
        self.day_cum = np.concatenate([[0.0], np.cumsum(_WEEKDAY_WEIGHT[timeline.weekday])])
        self.weekday_cum = np.cumsum(_HOURS_WEEKDAY) / _HOURS_WEEKDAY.sum()
        self.weekend_cum = np.cumsum(_HOURS_WEEKEND) / _HOURS_WEEKEND.sum()
        self.podcast_cum = np.cumsum(catalog.podcast_weight) / catalog.podcast_weight.sum()
        self.device_cum = np.cumsum(_DEVICE_BY_TIME, axis=1)

    def generate(self, number: int) -> dict[str, np.ndarray]:
        """The events of chunk `number`, ordered by listener and time, without ids."""
        lo, hi = self.plan.chunks[number]
        rng = np.random.default_rng([self.seed, 7, number])
        timeline, catalog, listeners = self.timeline, self.catalog, self.listeners

        # 1. Listener-months of the chunk and their event slots.
        cell_listener, cell_bucket = np.nonzero(self.plan.counts[lo:hi])
        cell_listener += lo
        cell_count = self.plan.counts[cell_listener, cell_bucket]
        n = int(cell_count.sum())
        if n == 0:
            return _empty()
        cell_first = _exclusive_cumsum(cell_count)
        slot_cell = np.repeat(np.arange(len(cell_count)), cell_count)
        slot_listener = cell_listener[slot_cell]

        # 2. Runs: a candidate run per slot; the j-th candidate of a month is its j-th run.
        is_podcast = rng.random(n) < listeners.podcast_share[slot_listener]
        context = _pick(listeners.context_cum[slot_listener], rng.random(n))
        context[is_podcast] = np.where(rng.random(int(is_podcast.sum())) < 0.7, LIBRARY, SEARCH)
        length = np.where(rng.random(n) < _FIRST_STOP[context], 1, 1 + rng.geometric(1 - _CONTINUE[context]))
        length[is_podcast] = 1 + (rng.random(int(is_podcast.sum())) < 0.2)
        before = np.cumsum(length) - length
        offset = before - before[cell_first][slot_cell]
        kept = np.flatnonzero(offset < cell_count[slot_cell])
        run_cell = slot_cell[kept]
        run_length = np.minimum(length[kept], cell_count[run_cell] - offset[kept])
        run_context = context[kept]
        run_podcast = is_podcast[kept]
        run_listener = cell_listener[run_cell]
        n_runs = len(kept)
        event_run = np.repeat(np.arange(n_runs), run_length)
        depth = np.arange(n) - _exclusive_cumsum(run_length)[event_run]

        # 3. Sessions and their start instants.
        first_of_month = np.ones(n_runs, dtype=bool)
        first_of_month[1:] = run_cell[1:] != run_cell[:-1]
        new_session = first_of_month | (rng.random(n_runs) < _SESSION_BREAK)
        run_session = np.cumsum(new_session) - 1
        session_cell = run_cell[new_session]
        session_listener = cell_listener[session_cell]
        bucket = cell_bucket[session_cell]
        n_sessions = len(session_cell)
        signup = listeners.signup[session_listener]
        open_from = np.maximum(timeline.bucket_start[bucket], signup)
        first_day = timeline.day_index(open_from)
        last_day = timeline.day_index(timeline.bucket_start[bucket + 1] - 1) + 1
        low, high = self.day_cum[first_day], self.day_cum[last_day]
        day = np.searchsorted(self.day_cum, low + rng.random(n_sessions) * (high - low), side="right") - 1
        day = np.clip(day, first_day, last_day - 1)
        weekend = timeline.weekday[day] >= 5
        u = rng.random(n_sessions)
        hour = np.where(weekend, np.searchsorted(self.weekend_cum, u), np.searchsorted(self.weekday_cum, u))
        hour = np.minimum(hour, 23)
        second = (
            hour * HOUR + rng.integers(0, HOUR, n_sessions) + listeners.hour_shift[session_listener]
        ) % DAY
        local_hour = second // HOUR
        start = timeline.day_start[day] + second
        late = start < signup
        start[late] = signup[late] + rng.integers(60, 1800, int(late.sum()))
        session_day = timeline.day_number[np.clip(timeline.day_index(start), 0, timeline.days - 1)]

        # 4. Content of each run, then of each play.
        run_day = session_day[run_session]
        run_start = start[run_session]
        run_genre = _pick(listeners.taste_cum[run_listener], rng.random(n_runs))
        seed_track = catalog.sample_tracks(run_genre, rng.random(n_runs))
        unreleased = catalog.track_release[seed_track] > run_day
        run_context[unreleased & ~run_podcast & ((run_context == ALBUM) | (run_context == ARTIST))] = RADIO
        playlists = self.playlists
        own = playlists.own_count[run_listener]
        pick = playlists.own_first[run_listener] + (rng.random(n_runs) * own).astype(np.int64)
        last = max(len(playlists.own_order) - 1, 0)
        own_order = playlists.own_order if len(playlists.own_order) else np.zeros(1, dtype=np.int64)
        own_pick = own_order[np.minimum(pick, last)]
        use_own = (own > 0) & (rng.random(n_runs) < 0.5)
        use_own &= playlists.created[own_pick] <= run_start
        editorial = playlists.editorial_by_genre[
            run_genre, rng.integers(0, playlists.editorial_by_genre.shape[1], n_runs)
        ]
        run_playlist = np.where(use_own, own_pick, editorial)
        playlist_size = playlists.item_count[run_playlist]
        playlist_from = np.where(
            rng.random(n_runs) < 0.75, 0, (rng.random(n_runs) * playlist_size).astype(np.int64)
        )
        album = catalog.track_album[seed_track]
        album_from = np.where(rng.random(n_runs) < 0.6, 0, seed_track - catalog.album_first[album])
        artist = catalog.track_artist[seed_track]

        ctx = run_context[event_run]
        podcast_play = run_podcast[event_run]
        listener = run_listener[event_run]
        genre = run_genre[event_run]
        track = np.full(n, -1, dtype=np.int64)
        playlist = np.full(n, -1, dtype=np.int64)
        run = event_run

        rows = np.flatnonzero(~podcast_play & (ctx == ALBUM))
        position = album_from[run[rows]] + depth[rows]
        fits = position < catalog.album_size[album[run[rows]]]
        track[rows[fits]] = catalog.album_first[album[run[rows[fits]]]] + position[fits]
        ctx[rows[~fits]] = RADIO

        rows = np.flatnonzero(~podcast_play & (ctx == PLAYLIST))
        position = playlist_from[run[rows]] + depth[rows]
        fits = position < playlist_size[run[rows]]
        item = playlists.item_first[run_playlist[run[rows[fits]]]] + position[fits]
        track[rows[fits]] = playlists.item_track[item]
        playlist[rows[fits]] = run_playlist[run[rows[fits]]]
        ctx[rows[~fits]] = RADIO

        rows = np.flatnonzero(~podcast_play & (ctx == ARTIST))
        top = np.minimum(catalog.artist_size[artist[run[rows]]], 10)
        track[rows] = catalog.artist_tracks[catalog.artist_first[artist[run[rows]]] + depth[rows] % top]

        rows = np.flatnonzero(~podcast_play & (ctx == SEARCH))
        first = depth[rows] == 0
        track[rows[first]] = seed_track[run[rows[first]]]
        rows = np.concatenate([rows[~first], np.flatnonzero(~podcast_play & (ctx == RADIO))])
        track[rows] = catalog.sample_tracks(genre[rows], rng.random(len(rows)))

        rows = np.flatnonzero(~podcast_play & (ctx == LIBRARY))
        favourite = rng.integers(0, _FAVOURITES, len(rows))
        key = (np.int64(self.seed) << 24) + listener[rows] * 64 + favourite
        favourite_genre = _pick(listeners.taste_cum[listener[rows]], _hash_uniform(key * 2))
        track[rows] = catalog.sample_tracks(favourite_genre, _hash_uniform(key * 2 + 1))

        # Nothing before its release: such picks become a popular older track of their genre.
        tracks = np.flatnonzero(~podcast_play)
        late = tracks[catalog.track_release[track[tracks]] > run_day[run[tracks]]]
        track[late] = catalog.sample_tracks(
            catalog.track_genre[track[late]], rng.random(len(late)), released_only=True
        )
        ctx[late[(ctx[late] == ALBUM) | (ctx[late] == ARTIST)]] = RADIO

        # Podcast runs: one of the listener's few shows, its latest episode or an older one.
        episode = np.full(n, -1, dtype=np.int64)
        podcast_runs = np.flatnonzero(run_podcast)
        show_key = (
            (np.int64(self.seed) << 24)
            + run_listener[podcast_runs] * 64
            + 40
            + rng.integers(0, 3, len(podcast_runs))
        )
        show = np.minimum(
            np.searchsorted(self.podcast_cum, _hash_uniform(show_key)), len(self.podcast_cum) - 1
        )
        out = np.clip(
            (run_day[podcast_runs] - catalog.podcast_first_release[show]) // 7 + 1,
            0,
            catalog.podcast_episodes[show],
        )
        latest = rng.random(len(podcast_runs)) < 0.55
        number = np.where(latest, out, 1 + (rng.random(len(podcast_runs)) * out).astype(np.int64))
        run_episode_number = np.full(n_runs, 0, dtype=np.int64)
        run_show = np.zeros(n_runs, dtype=np.int64)
        run_episode_number[podcast_runs] = np.where(out > 0, number, 0)
        run_show[podcast_runs] = show
        rows = np.flatnonzero(podcast_play)
        episode_number = np.maximum(run_episode_number[run[rows]] - depth[rows], 1)
        has_episode = run_episode_number[run[rows]] > 0
        episode[rows] = np.where(
            has_episode, catalog.podcast_first_episode[run_show[run[rows]]] + episode_number - 1, -1
        )
        valid = ~podcast_play | (episode >= 0)

        # 5. Skips and play lengths.
        is_track = ~podcast_play
        duration = np.where(
            is_track,
            catalog.track_duration[np.maximum(track, 0)],
            catalog.episode_duration[np.maximum(episode, 0)],
        )
        energy = np.where(is_track, catalog.track_energy[np.maximum(track, 0)], 0.5)
        event_session = run_session[run]
        hour_of_play = local_hour[event_session]
        night = (hour_of_play < 5) | (hour_of_play >= 22)
        free = ~self.paid[listener, bucket[event_session]]
        logit = (
            -1.35
            + listeners.skip_propensity[listener]
            + np.where(is_track, catalog.genre_skip[catalog.track_genre[np.maximum(track, 0)]], 0.0)
            + (energy - 0.55) * np.where(night, 0.8, -0.9)
            + np.where((hour_of_play >= 6) & (hour_of_play < 9), 0.25, 0.0)
            - np.where(night, 0.2, 0.0)
            + _CONTEXT_SKIP[ctx]
            + np.where(ctx == PLAYLIST, 0.06 * np.minimum(depth, 10), 0.0)
            + np.where((ctx == RADIO) & (depth == 0), 0.4, 0.0)
            + np.where((ctx == SEARCH) & (depth == 0), -1.2, 0.0)
            - np.where(free, 0.25, 0.0)
            - np.where(is_track, 0.0, 2.2)
        )
        skipped = rng.random(n) < 1 / (1 + np.exp(-logit))
        partial = 30_000 + (rng.random(n) * (duration - 30_000)).astype(np.int64)
        ms_played = np.where(rng.random(n) < 0.82, duration, partial)
        rows = np.flatnonzero(~is_track & ~skipped)
        listened = (rng.beta(2.2, 1.3, len(rows)) * duration[rows]).astype(np.int64)
        ms_played[rows] = np.maximum(30_000, listened)  # a podcast's part, at least 30 s
        rows = np.flatnonzero(skipped)
        ms_played[rows] = 1_000 + (rng.beta(1.3, 2.5, len(rows)) * 28_500).astype(np.int64)

        # 6. Times: plays back to back within a session, sessions at least 30 minutes apart.
        step = ms_played + np.where(skipped, rng.integers(0, 800, n), rng.integers(200, 3_000, n))
        session_first = np.searchsorted(event_session, np.arange(n_sessions))
        elapsed = np.cumsum(step) - step
        offset_ms = elapsed - elapsed[session_first][event_session]
        length_s = -(-np.bincount(event_session, weights=step, minlength=n_sessions).astype(np.int64) // 1000)
        order = np.lexsort((start, session_listener))
        listener_sorted = session_listener[order]
        spacing = length_s[order] + _SESSION_GAP
        listener_start = np.ones(n_sessions, dtype=bool)
        listener_start[1:] = listener_sorted[1:] != listener_sorted[:-1]
        group = np.cumsum(listener_start) - 1
        spent = np.cumsum(spacing) - spacing
        spent -= spent[np.flatnonzero(listener_start)][group]
        lift = group.astype(np.int64) << 40
        moved = np.maximum.accumulate(start[order] - spent + lift) - lift + spent
        final_start = np.empty(n_sessions, dtype=np.int64)
        final_start[order] = moved
        played_at = final_start[event_session] + offset_ms // 1000
        keep = valid & (played_at < timeline.end)
        # Plays in session order (listener, start): each session's block lands where the
        # sessions before it in that order end; a scatter, no sort of the plays.
        sizes = np.bincount(event_session, minlength=n_sessions)
        block_start = np.empty(n_sessions, dtype=np.int64)
        block_start[order] = _exclusive_cumsum(sizes[order])
        event_order = np.empty(n, dtype=np.int64)
        event_order[block_start[event_session] + np.arange(n) - session_first[event_session]] = np.arange(n)
        event_order = event_order[keep[event_order]]

        session_device = np.where(
            rng.random(n_sessions) < 0.72,
            listeners.device[session_listener],
            _pick(self.device_cum[_hour_class(local_hour)], rng.random(n_sessions)),
        )
        e = event_order
        return {
            "listener_id": listener[e] + 1,
            "track_id": np.where(is_track[e], track[e] + 1, NULL_INT),
            "episode_id": np.where(is_track[e], NULL_INT, episode[e] + 1),
            "played_at": played_at[e],
            "ms_played": ms_played[e],
            "skipped": skipped[e],
            "device": session_device[event_session[e]],
            "context": ctx[e],
            "playlist_id": np.where(playlist[e] >= 0, playlist[e] + 1, NULL_INT),
        }


def _empty() -> dict[str, np.ndarray]:
    z = np.zeros(0, dtype=np.int64)
    return {
        "listener_id": z,
        "track_id": z,
        "episode_id": z,
        "played_at": z,
        "ms_played": z,
        "skipped": np.zeros(0, dtype=bool),
        "device": z,
        "context": z,
        "playlist_id": z,
    }
