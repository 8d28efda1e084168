"""Sessions and playlist runs per local day (`SessionDay`, `PlaylistRunDay`).

A listener's events ordered by `(played_at, id)`; a new session starts when
`played_at - (previous played_at + previous ms_played) > 30 minutes`. A session belongs to
the local day of its first event, with its whole length and depth even when it runs
past midnight. A playlist run is a maximal sequence of consecutive events of one session
from the same playlist (`context = playlist`; a deleted playlist counts as one playlist).

The events of a time window around the days are read as integer columns and walked with
numpy: looking back far enough that the first session of a day is told apart from one
continuing from before (the longest play plus the gap), and forward until no session of
the days can continue past the window. Times are compared in whole milliseconds since
the epoch, rounded half up from the stored microseconds. PostgreSQL's window functions
took twice as long for the same walk: they carry every event's row through
several sorted stages, where numpy sorts three integer columns once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from analytics.kpis._time import day_start, days
from analytics.models import PlaylistRunDay, SessionDay
from analytics.rollups import _sql
from analytics.rollups._sql import epoch_us
from analytics.rollups.plays import NO_PLAYLIST, Lookups, Plays, day_edges, group_sums, read_plays

SESSION_GAP_MS = 30 * 60 * 1000
MAX_RUN_DEPTH = 11  # runs of 11 events or more share one bucket: the funnel needs k + 1 <= 11

SessionTotals = dict[tuple[date, str], list[int]]  # (day, country) -> [sessions, length_ms, depth]
RunCounts = dict[tuple[date, str, int], int]  # (day, country, depth) -> runs


def _epoch_ms(epoch_us: np.ndarray | int) -> np.ndarray | int:
    """Whole milliseconds, rounded half up, of microseconds since the epoch."""
    return (epoch_us + 500) // 1000


def session_window(lo: date, hi: date, *, max_ms_played: int) -> tuple[datetime, datetime]:
    """The events to read for the sessions started on the local days `[lo, hi)`: from far
    enough back that a day's first session is told apart from one continuing from before
    (the longest play plus the gap), to a day past the last day."""
    start = day_start(lo) - timedelta(milliseconds=max_ms_played + SESSION_GAP_MS + 1)
    return start, day_start(hi) + timedelta(days=1)


def session_facts(
    lo: date,
    hi: date,
    *,
    max_ms_played: int,
    latest: datetime | None,
    lookups: Lookups,
    plays: Plays | None = None,
) -> tuple[SessionTotals, RunCounts]:
    """Sessions started on the local days `[lo, hi)` and their playlist runs, per country.

    `max_ms_played` is the longest play there is (how far back a session may reach) and
    `latest` the last `played_at` there is (nothing can continue past it). `plays`, when
    given, holds at least the window's events (see `session_window`).
    """
    window_start, window_end = session_window(lo, hi, max_ms_played=max_ms_played)
    while True:
        if plays is not None and plays.start <= window_start and window_end <= plays.end:
            window = plays.between(window_start, window_end)
        else:
            window = read_plays(window_start, window_end, lookups)
        walk = _walk(window, lo, hi, lookups)
        # A session that may go on past the window is cut short: widen the window and
        # count again (only sessions running over a whole day without a 30-minute break).
        if walk.cut_short and latest is not None and window_end <= latest:
            window_end += timedelta(days=1)
            continue
        return walk.sessions, walk.runs


@dataclass
class _Walk:
    sessions: SessionTotals
    runs: RunCounts
    cut_short: bool


def _walk(plays: Plays, lo: date, hi: date, lookups: Lookups) -> _Walk:
    """Sessions and runs started on the days `[lo, hi)`, from the events of the window."""
    if not len(plays):
        return _Walk({}, {}, cut_short=False)
    order = np.lexsort((plays.event_id, plays.played_us, plays.listener))
    listener, played_us, playlist = plays.listener[order], plays.played_us[order], plays.playlist[order]
    country = plays.country[order]
    t0 = _epoch_ms(played_us)
    play_ends = t0 + plays.ms_played[order]

    # Session starts: a listener's first play, or a play after a break beyond the gap.
    starts_session = np.ones(len(order), dtype=bool)
    starts_session[1:] = (listener[1:] != listener[:-1]) | (t0[1:] - play_ends[:-1] > SESSION_GAP_MS)
    firsts = np.flatnonzero(starts_session)
    lasts = np.append(firsts[1:], len(order)) - 1
    lengths = play_ends[lasts] - t0[firsts]
    depths = lasts - firsts + 1

    # A session's day is the local day of its first play, numbered from `lo`.
    day_number = np.searchsorted(day_edges(lo, hi), played_us[firsts], side="right") - 1
    kept = (day_number >= 0) & (day_number < (hi - lo).days)
    cut_short = bool(np.any(play_ends[lasts][kept] + SESSION_GAP_MS >= _epoch_ms(epoch_us(plays.end))))

    numbers, session_country = np.unique(country[firsts], return_inverse=True)
    codes = [_sql.country_code(number) for number in numbers.tolist()]
    cell = day_number * len(codes) + session_country  # (day, country) as one integer
    day_list = days(lo, hi)
    sessions: SessionTotals = {}
    for key, count, length, depth in _sums(cell[kept], lengths[kept], depths[kept]):
        day, code = divmod(key, len(codes))
        sessions[(day_list[day], codes[code])] = [count, length, depth]

    # Runs: a session's first playlist play, or one from another playlist than the play
    # before it (a play outside a playlist in between also ends a run).
    in_playlist = playlist != NO_PLAYLIST
    starts_run = in_playlist.copy()
    starts_run[1:] &= starts_session[1:] | (playlist[1:] != playlist[:-1])
    run_firsts = np.flatnonzero(starts_run)
    run_depths = np.bincount(np.cumsum(starts_run)[in_playlist] - 1, minlength=len(run_firsts))
    run_session = np.cumsum(starts_session)[run_firsts] - 1
    run_kept = kept[run_session]
    run_cell = (
        cell[run_session][run_kept] * (MAX_RUN_DEPTH + 1) + np.minimum(run_depths, MAX_RUN_DEPTH)[run_kept]
    )
    runs: RunCounts = {}
    for key, count in _sums(run_cell):
        day_code, depth = divmod(key, MAX_RUN_DEPTH + 1)
        day, code = divmod(day_code, len(codes))
        runs[(day_list[day], codes[code], depth)] = count
    return _Walk(sessions, runs, cut_short)


def _sums(keys: np.ndarray, *columns: np.ndarray) -> list[tuple[int, ...]]:
    """(key, rows, sum of each column) per distinct key, in exact integers."""
    (distinct,), counts, sums = group_sums([keys], list(columns))
    return [tuple(map(int, row)) for row in zip(distinct, counts, *sums, strict=True)]


def write_sessions(
    lo: date,
    hi: date,
    *,
    max_ms_played: int,
    latest: datetime | None,
    lookups: Lookups,
    plays: Plays | None = None,
) -> tuple[int, int]:
    """Rewrite `SessionDay` and `PlaylistRunDay` for `[lo, hi)` in one transaction."""
    with _sql.atomic():
        sessions, runs = session_facts(
            lo, hi, max_ms_played=max_ms_played, latest=latest, lookups=lookups, plays=plays
        )
        SessionDay.objects.filter(day__gte=lo, day__lt=hi).delete()
        PlaylistRunDay.objects.filter(day__gte=lo, day__lt=hi).delete()
        # COPY of plain tuples: model instances cost more than the database's own work.
        _sql.insert_rows(
            SessionDay,
            ("day", "country", "sessions", "length_ms", "depth"),
            [(_sql.d(day), country, *totals) for (day, country), totals in sorted(sessions.items())],
        )
        _sql.insert_rows(
            PlaylistRunDay,
            ("day", "country", "depth", "runs"),
            [(_sql.d(day), country, depth, n) for (day, country, depth), n in sorted(runs.items())],
        )
    return len(sessions), len(runs)
