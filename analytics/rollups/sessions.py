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
from datetime import UTC, date, datetime, timedelta

import numpy as np
from django.db.models import BigIntegerField, Case, F, Value, When
from django.db.models.functions import Coalesce

from analytics.kpis._time import day_start, days
from analytics.models import ListeningEvent, PlayContext, PlaylistRunDay, SessionDay
from analytics.rollups import _sql

SESSION_GAP_MS = 30 * 60 * 1000
MAX_RUN_DEPTH = 11  # runs of 11 events or more share one bucket: the funnel needs k + 1 <= 11

SessionTotals = dict[tuple[date, str], list[int]]  # (day, country) -> [sessions, length_ms, depth]
RunCounts = dict[tuple[date, str, int], int]  # (day, country, depth) -> runs

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_PLAYLIST = -1


def _epoch_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _epoch_ms(epoch_us: np.ndarray | int) -> np.ndarray | int:
    """Whole milliseconds, rounded half up, of microseconds since the epoch."""
    return (epoch_us + 500) // 1000


def session_facts(
    lo: date, hi: date, *, max_ms_played: int, latest: datetime | None
) -> tuple[SessionTotals, RunCounts]:
    """Sessions started on the local days `[lo, hi)` and their playlist runs, per country.

    `max_ms_played` is the longest play there is (how far back a session may reach) and
    `latest` the last `played_at` there is (nothing can continue past it).
    """
    window_start = day_start(lo) - timedelta(milliseconds=max_ms_played + SESSION_GAP_MS + 1)
    window_end = day_start(hi) + timedelta(days=1)
    while True:
        walk = _walk(lo, hi, window_start, window_end)
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


def _walk(lo: date, hi: date, window_start: datetime, window_end: datetime) -> _Walk:
    """Sessions and runs started on the days `[lo, hi)`, from the events of the window."""
    listener, country, played_us, event_id, ms_played, playlist = _sql.int_columns(
        ListeningEvent.objects.filter(played_at__gte=window_start, played_at__lt=window_end),
        F("listener_id"),
        _sql.country_number("listener__country"),
        _sql.EpochMicroseconds("played_at"),
        F("id"),
        F("ms_played"),
        Case(
            When(context=PlayContext.PLAYLIST, then=Coalesce("playlist_id", Value(0))),
            default=Value(_NO_PLAYLIST),
            output_field=BigIntegerField(),
        ),
    )
    if not len(listener):
        return _Walk({}, {}, cut_short=False)
    order = np.lexsort((event_id, played_us, listener))
    listener, played_us, playlist = listener[order], played_us[order], playlist[order]
    t0 = _epoch_ms(played_us)
    play_ends = t0 + ms_played[order]

    # Session starts: a listener's first play, or a play after a break beyond the gap.
    starts_session = np.ones(len(order), dtype=bool)
    starts_session[1:] = (listener[1:] != listener[:-1]) | (t0[1:] - play_ends[:-1] > SESSION_GAP_MS)
    firsts = np.flatnonzero(starts_session)
    lasts = np.append(firsts[1:], len(order)) - 1
    lengths = play_ends[lasts] - t0[firsts]
    depths = lasts - firsts + 1

    # A session's day is the local day of its first play, numbered from `lo`.
    day_edges = np.array([_epoch_us(day_start(day)) for day in days(lo, hi + timedelta(days=1))])
    day_number = np.searchsorted(day_edges, played_us[firsts], side="right") - 1
    kept = (day_number >= 0) & (day_number < len(day_edges) - 1)
    cut_short = bool(np.any(play_ends[lasts][kept] + SESSION_GAP_MS >= _epoch_ms(_epoch_us(window_end))))

    numbers, session_country = np.unique(country[order[firsts]], return_inverse=True)
    codes = [_sql.country_code(number) for number in numbers.tolist()]
    cell = day_number * len(codes) + session_country  # (day, country) as one integer
    day_list = days(lo, hi)
    sessions: SessionTotals = {}
    for key, count, length, depth in _sums(cell[kept], lengths[kept], depths[kept]):
        day, code = divmod(key, len(codes))
        sessions[(day_list[day], codes[code])] = [count, length, depth]

    # Runs: a session's first playlist play, or one from another playlist than the play
    # before it (a play outside a playlist in between also ends a run).
    in_playlist = playlist != _NO_PLAYLIST
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
    if not len(keys):
        return []
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    firsts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    counts = np.diff(np.append(firsts, len(keys)))
    sums = [np.add.reduceat(column[order], firsts) for column in columns]
    return [tuple(map(int, row)) for row in zip(keys[firsts], counts, *sums, strict=True)]


def write_sessions(lo: date, hi: date, *, max_ms_played: int, latest: datetime | None) -> tuple[int, int]:
    """Rewrite `SessionDay` and `PlaylistRunDay` for `[lo, hi)` in one transaction."""
    with _sql.atomic():
        sessions, runs = session_facts(lo, hi, max_ms_played=max_ms_played, latest=latest)
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
