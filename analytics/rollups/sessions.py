"""Sessions and playlist runs per local day (`SessionDay`, `PlaylistRunDay`).

A listener's events ordered by `(played_at, id)`; a new session starts when
`played_at - (previous played_at + previous ms_played) > 30 minutes`. A session belongs to
the local day of its first event, with its whole length and depth even when it runs
past midnight. A playlist run is a maximal sequence of consecutive events of one session
from the same playlist (`context = playlist`; a deleted playlist counts as one playlist).

Everything is computed in the database with window functions over the events of a time
window around the days: looking back far enough that the first session of a day is told
apart from one continuing from before (the longest play plus the gap), and forward until
no session of the days can continue past the window. Times are compared in whole
milliseconds since the epoch.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import connection

from analytics.kpis._time import day_start, days
from analytics.models import ListeningEvent, PlayContext, PlaylistRunDay, SessionDay
from analytics.rollups import _sql
from billing.models import Listener

SESSION_GAP_MS = 30 * 60 * 1000
MAX_RUN_DEPTH = 11  # runs of 11 events or more share one bucket: the funnel needs k + 1 <= 11

SessionTotals = dict[tuple[date, str], list[int]]  # (day, country) -> [sessions, length_ms, depth]
RunCounts = dict[tuple[date, str, int], int]  # (day, country, depth) -> runs


def _epoch_ms(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(ROUND(EXTRACT(EPOCH FROM {column}) * 1000) AS BIGINT)"
    # SQLite keeps naive UTC text; the Julian day of the Unix epoch is 2440587.5.
    return f"CAST(ROUND((julianday({column}) - 2440587.5) * 86400000.0) AS INTEGER)"


def epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


_SQL = """
WITH ev AS (
    SELECT e.listener_id AS lid, l.country AS country, e.id AS eid, e.played_at AS pa,
           {epoch} AS t0, e.ms_played AS ms,
           CASE WHEN e.context = %s THEN COALESCE(e.playlist_id, 0) END AS pl
    FROM {events} e JOIN {listeners} l ON l.id = e.listener_id
    WHERE e.played_at >= %s AND e.played_at < %s
),
a AS (
    SELECT lid, country, eid, pa, t0, ms, pl,
           LAG(t0 + ms) OVER w AS prev_end, LAG(pl) OVER w AS prev_pl, LEAD(t0) OVER w AS next_t0
    FROM ev WINDOW w AS (PARTITION BY lid ORDER BY pa, eid)
),
b AS (
    SELECT lid, country, eid, pa, t0, ms, pl,
           CASE WHEN prev_end IS NULL OR t0 - prev_end > {gap} THEN 1 ELSE 0 END AS s_start,
           CASE WHEN next_t0 IS NULL OR next_t0 - (t0 + ms) > {gap} THEN 1 ELSE 0 END AS s_last,
           CASE WHEN pl IS NOT NULL AND (prev_end IS NULL OR t0 - prev_end > {gap}
                                         OR prev_pl IS NULL OR prev_pl <> pl)
                THEN 1 ELSE 0 END AS r_start
    FROM a
),
c AS (
    SELECT lid, country, pa, t0, ms, pl, s_last,
           SUM(s_start) OVER w AS sn, SUM(r_start) OVER w AS rn
    FROM b WINDOW w AS (PARTITION BY lid ORDER BY pa, eid ROWS UNBOUNDED PRECEDING)
),
grouped AS (
    SELECT lid, sn, MAX(country) AS country, MIN(pa) AS first_pa, MIN(t0) AS first_t0,
           COUNT(*) AS depth, MAX(CASE WHEN s_last = 1 THEN t0 + ms END) AS last_end
    FROM c GROUP BY lid, sn
),
sessions AS (
    SELECT lid, sn, country, first_t0, depth, last_end, {day_number} AS n FROM grouped
),
runs AS (
    SELECT lid, sn, COUNT(*) AS depth FROM c WHERE pl IS NOT NULL GROUP BY lid, sn, rn
)
SELECT 's', s.n, s.country, COUNT(*), SUM(s.last_end - s.first_t0), SUM(s.depth),
       SUM(CASE WHEN s.last_end + {gap} >= %s THEN 1 ELSE 0 END)
FROM sessions s WHERE s.n >= 0 AND s.n < {days}
GROUP BY s.n, s.country
UNION ALL
SELECT 'r', s.n, s.country, CASE WHEN r.depth > {max_depth} THEN {max_depth} ELSE r.depth END,
       COUNT(*), 0, 0
FROM runs r
JOIN sessions s ON s.lid = r.lid AND s.sn = r.sn
WHERE s.n >= 0 AND s.n < {days}
GROUP BY s.n, s.country, CASE WHEN r.depth > {max_depth} THEN {max_depth} ELSE r.depth END
"""


def session_facts(
    lo: date, hi: date, *, max_ms_played: int, latest: datetime | None
) -> tuple[SessionTotals, RunCounts]:
    """Sessions started on the local days `[lo, hi)` and their playlist runs, per country.

    `max_ms_played` is the longest play there is (how far back a session may reach) and
    `latest` the last `played_at` there is (nothing can continue past it).
    """
    day_list = days(lo, hi)
    window_start = day_start(lo) - timedelta(milliseconds=max_ms_played + SESSION_GAP_MS + 1)
    window_end = day_start(hi) + timedelta(days=1)
    # A session's day, as its number from `lo`: the local date of its first play.
    first_day, first_day_params = _sql.local_date("first_pa")
    sql = _SQL.format(
        day_number=_sql.days_between(first_day, "%s"),
        days=len(day_list),
        epoch=_epoch_ms("e.played_at"),
        events=_sql.table(ListeningEvent),
        listeners=_sql.table(Listener),
        gap=SESSION_GAP_MS,
        max_depth=MAX_RUN_DEPTH,
    )
    while True:
        params = [
            PlayContext.PLAYLIST.value,
            _sql.dt(window_start),
            _sql.dt(window_end),
            *first_day_params,
            _sql.d(lo),
            epoch_ms(window_end),
        ]
        rows = _sql.fetchall(sql, params)
        open_sessions = sum(row[6] for row in rows if row[0] == "s")
        # A session that may go on past the window is cut short: widen the window and
        # count again (only sessions running over a whole day without a 30-minute break).
        if open_sessions and latest is not None and window_end <= latest:
            window_end += timedelta(days=1)
            continue
        break
    sessions: SessionTotals = {}
    runs: RunCounts = {}
    for kind, n, country, a, b, c, _ in rows:
        day = day_list[n]
        if kind == "s":
            sessions[(day, country)] = [int(a), int(b), int(c)]
        else:
            runs[(day, country, int(a))] = int(b)
    return sessions, runs


def write_sessions(lo: date, hi: date, *, max_ms_played: int, latest: datetime | None) -> tuple[int, int]:
    """Rewrite `SessionDay` and `PlaylistRunDay` for `[lo, hi)` in one transaction."""
    with _sql.atomic():
        sessions, runs = session_facts(lo, hi, max_ms_played=max_ms_played, latest=latest)
        SessionDay.objects.filter(day__gte=lo, day__lt=hi).delete()
        PlaylistRunDay.objects.filter(day__gte=lo, day__lt=hi).delete()
        SessionDay.objects.bulk_create(
            (
                SessionDay(day=day, country=country, sessions=n, length_ms=length, depth=depth)
                for (day, country), (n, length, depth) in sorted(sessions.items())
            ),
            batch_size=5_000,
        )
        PlaylistRunDay.objects.bulk_create(
            (
                PlaylistRunDay(day=day, country=country, depth=depth, runs=n)
                for (day, country, depth), n in sorted(runs.items())
            ),
            batch_size=5_000,
        )
    return len(sessions), len(runs)
