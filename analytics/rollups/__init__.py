"""Listening rollups: the pre-aggregated tables the audience, engagement and cohort KPIs read.

`refresh()` brings them up to date with the raw `ListeningEvent` table:

- incremental by default: events with an id above the stored watermark name the local
  days to rebuild, so events that arrive late for past days are picked up too;
- `since`: also rebuild every day from that date on; `full`: empty and rebuild it all
  (also done by itself when the reporting time zone changed since the last refresh);
- idempotent: each day's rows are deleted and rebuilt from the events, so a re-run writes
  the same rows; one transaction per day, or per calendar month of consecutive days
  when many days are rebuilt (--since), and per month for the monthly tables;
- a full rebuild is one transaction: on PostgreSQL, unless it runs inside a caller's
  transaction, the emptied tables lose their indexes meanwhile and get them back at the
  end (a sorted build beats inserting a year of rows into them), and readers wait for the
  commit instead of seeing empty tables;
- what a day feeds is rebuilt with it: the rolling 7/28-day windows of the 27 days after
  it, the sessions of the day before and after (sessions cross midnight and belong to the
  day they start), its month's MAU, lifecycle and cohorts, and the next active day of each
  of its listeners (whose "previous activity" a late event changes).

Deleting events or editing a listener's country or sign-up date is not seen by an
incremental refresh; run `refresh_rollups --full` (or `--since`) after such edits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Max, Min
from django.utils import timezone

from analytics.kpis._time import day_bounds, days, local_date, month_chunks, month_start
from analytics.models import (
    ActiveListenersDay,
    ActivityDay,
    ActivityMonth,
    CohortActivity,
    CohortDay,
    CohortSize,
    ListeningDay,
    ListeningEvent,
    PlaylistRunDay,
    RollupState,
    SessionDay,
)
from analytics.rollups import _sql
from analytics.rollups.dims import DEVICE_BITS, STORED_GROUPINGS, Dim, grouping_for
from analytics.rollups.facts import (
    LastActive,
    build_activity,
    build_listening_days,
    derive_listening_days,
    insert_listening_days,
    local_day,
    next_active_days,
)
from analytics.rollups.monthly import build_activity_month, build_cohort_activity, build_cohort_sizes
from analytics.rollups.plays import Lookups, read_plays
from analytics.rollups.sessions import SESSION_GAP_MS, session_window, write_sessions
from analytics.rollups.windows import R28_DAYS, build_active_days

__all__ = [
    "DEVICE_BITS",
    "MODULE",
    "SESSION_GAP_MS",
    "STORED_GROUPINGS",
    "Dim",
    "freshness",
    "grouping_for",
    "refresh",
]

MODULE = "analytics"
ROLLUP_MODELS = (
    ActivityDay,
    CohortDay,
    ActiveListenersDay,
    ActivityMonth,
    CohortSize,
    CohortActivity,
    ListeningDay,
    SessionDay,
    PlaylistRunDay,
)

Progress = Callable[[str, int, int], None]


def freshness() -> datetime | None:
    """The last `played_at` the listening rollups cover ("events up to ..."), or None."""
    return RollupState.objects.filter(module=MODULE).values_list("covered_until", flat=True).first()


def refresh(
    *, since: date | None, full: bool, today: date, progress: Progress | None = None
) -> dict[str, int]:
    """Bring the listening rollups up to date; returns rows written per table."""
    report = progress or (lambda label, done, total: None)
    state, _ = RollupState.objects.get_or_create(module=MODULE)
    if state.refreshed_at is None or state.time_zone != settings.TIME_ZONE:
        full = True
    if not full:
        return _refresh(state, since=since, full=False, today=today, report=report)
    with _sql.rebuilding(ROLLUP_MODELS):
        written = _refresh(RollupState(module=MODULE), since=None, full=True, today=today, report=report)
    return written


def _refresh(
    state: RollupState, *, since: date | None, full: bool, today: date, report: Progress
) -> dict[str, int]:
    written = {model.__name__: 0 for model in ROLLUP_MODELS}
    events = ListeningEvent.objects.order_by()
    if full:
        scope = events.aggregate(
            max_id=Max("id"), first=Min("played_at"), latest=Max("played_at"), max_ms=Max("ms_played")
        )
    else:
        scope = events.filter(id__gt=state.last_event_id).aggregate(
            max_id=Max("id"), first=Min("played_at"), latest=Max("played_at"), max_ms=Max("ms_played")
        )
    max_id = scope["max_id"] or state.last_event_id
    latest = max(filter(None, [state.covered_until, scope["latest"]]), default=None)
    first_day = min(
        filter(None, [state.first_day, scope["first"] and local_date(scope["first"])]), default=None
    )
    max_ms = max(state.max_ms_played, scope["max_ms"] or 0)
    if latest is None or first_day is None:
        _save_state(state, max_id=max_id, latest=None, max_ms=0, first_day=None, horizon=None)
        written["CohortSize"] += build_cohort_sizes(force=full or since is not None)
        return written
    last_day = local_date(latest)
    horizon = min(max(today, last_day), last_day + timedelta(days=R28_DAYS - 1))

    if full:
        event_days = days(first_day, last_day + timedelta(days=1))
    else:
        new_days = {local_date(moment) for moment in (scope["first"], scope["latest"]) if moment}
        if len(new_days) > 1:  # new events of several days (a daily run's lie in one)
            found = (
                events.filter(id__gt=state.last_event_id, id__lte=max_id)
                .annotate(day=local_day())
                .values_list("day", flat=True)
                .distinct()
            )
            new_days = set(found)
        wanted = new_days
        if since is not None:
            wanted.update(days(max(since, first_day), last_day + timedelta(days=1)))
        event_days = sorted(wanted)

    # Days whose listeners' previous activity may have changed: for an event that arrived
    # late, the next active day of each of its listeners (a full rebuild redoes them all).
    activity_days = set(event_days)
    if not full:
        for lo, hi in _runs(event_days):
            if hi <= last_day:
                activity_days |= next_active_days(lo, hi)
    activity_days = {day for day in activity_days if day <= last_day}

    # Sessions cross midnight: the neighbouring days' sessions may change too (a full
    # rebuild writes them with the day facts).
    session_days = set() if full else {day + timedelta(days=k) for day in event_days for k in (-1, 0, 1)}
    session_chunks = month_chunks(sorted(day for day in session_days if first_day <= day <= last_day))

    # 1. Day facts from the days' plays, read once per chunk: one transaction per day, or
    #    per calendar month of consecutive days when many days are rebuilt (a commit per
    #    day would dominate a full rebuild); a day is never half-written either way.
    lookups = Lookups()
    last_active = LastActive(carried=full)  # a full rebuild walks every day in order
    day_chunks = month_chunks(sorted(activity_days))
    for n, (lo, hi) in enumerate(day_chunks, 1):
        # The sessions of the days around these are read with them, once: the sessions'
        # wider window holds the days (a full rebuild's session days are its event days).
        together = [(lo, hi)] if full else [c for c in session_chunks if c[0] < hi and lo < c[1]]
        windows = [day_bounds(lo, hi), *(session_window(*chunk, max_ms_played=max_ms) for chunk in together)]
        with _sql.atomic():
            plays = read_plays(min(start for start, _ in windows), max(end for _, end in windows), lookups)
            for table, rows in build_activity(
                plays, lo, hi, lookups=lookups, last_active=last_active
            ).items():
                written[table] += rows
            if full:  # into empty tables; the coarser groupings once, at the end
                written["ListeningDay"] += insert_listening_days(plays, lo, hi, lookups=lookups)
            else:
                written["ListeningDay"] += build_listening_days(plays, lo, hi, lookups=lookups)
            for chunk in together:
                sessions, runs = write_sessions(
                    *chunk, max_ms_played=max_ms, latest=latest, lookups=lookups, plays=plays
                )
                written["SessionDay"] += sessions
                written["PlaylistRunDay"] += runs
        session_chunks = [chunk for chunk in session_chunks if chunk not in together]
        report("listening days", n, len(day_chunks))
    if full and day_chunks:
        written["ListeningDay"] += derive_listening_days(day_chunks[0][0], day_chunks[-1][1])

    # 2. The sessions of days no chunk above read.
    for n, (lo, hi) in enumerate(session_chunks, 1):
        sessions, runs = write_sessions(lo, hi, max_ms_played=max_ms, latest=latest, lookups=lookups)
        written["SessionDay"] += sessions
        written["PlaylistRunDay"] += runs
        report("sessions", n, len(session_chunks))

    # 3. Rolling windows: a day counts in the 7 and 28 days that follow it.
    window_days: set[date] = set()
    for day in activity_days:
        window_days.update(days(day, min(day + timedelta(days=R28_DAYS), horizon + timedelta(days=1))))
    if state.active_through and not full:
        window_days.update(days(state.active_through + timedelta(days=1), horizon + timedelta(days=1)))
    segments = _runs(sorted(window_days))
    for n, (lo, hi) in enumerate(segments, 1):
        written["ActiveListenersDay"] += build_active_days(lo, hi)
        report("active listeners", n, len(segments))

    # 4. Months of every rebuilt day: MAU, lifecycle and cohort activity.
    months = sorted({month_start(day) for day in activity_days})
    for n, month in enumerate(months, 1):
        with _sql.atomic():
            written["ActivityMonth"] += build_activity_month(month)
            written["CohortActivity"] += build_cohort_activity(month)
        report("months", n, len(months))
    with _sql.atomic():
        written["CohortSize"] += build_cohort_sizes(force=full or since is not None)

    _save_state(state, max_id=max_id, latest=latest, max_ms=max_ms, first_day=first_day, horizon=horizon)
    return written


def _save_state(
    state: RollupState,
    *,
    max_id: int,
    latest: datetime | None,
    max_ms: int,
    first_day: date | None,
    horizon: date | None,
) -> None:
    state.last_event_id = max_id
    state.covered_until = latest
    state.max_ms_played = max_ms
    state.first_day = first_day
    state.last_day = local_date(latest) if latest else None
    state.active_through = horizon
    state.time_zone = settings.TIME_ZONE
    state.refreshed_at = timezone.now()
    state.save()


def _runs(sorted_days: list[date]) -> list[tuple[date, date]]:
    """Runs of consecutive days as `[lo, hi)` ranges."""
    out: list[tuple[date, date]] = []
    for day in sorted_days:
        if out and out[-1][1] == day:
            out[-1] = (out[-1][0], day + timedelta(days=1))
        else:
            out.append((day, day + timedelta(days=1)))
    return out
