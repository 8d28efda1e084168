"""Content rollups: stream counts per track, genre, podcast and listener country, and
listener activity per month, refreshed from the raw listening events.

Tables (see their docstrings in `catalog.models` for the grains): `TrackStreams`,
`TrackCountryStreams`, `GenreCountryStreams`, `PodcastCountryStreams` (day and month
rows) and `ListenerMonthActivity` (a bitmap of active days per listener and month).

`refresh` recomputes whole local days, one transaction per day, then the month rows of
every month it touched, one transaction per month; a re-run writes the same rows. The
incremental run starts at the last day it refreshed (that day may have been partial)
or earlier when events with older dates were loaded since (a backfill), and ends with
`today`. Deleted events are only forgotten by `--since` over their days or `--full`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Max, Min, Q, QuerySet
from django.utils import timezone

from analytics.kpis._time import day_start, local_date, month_end, month_start, months
from analytics.models import STREAM_MIN_MS, ListeningEvent
from billing.models import Listener
from catalog.models import (
    ContentRollupWatermark,
    Episode,
    GenreCountryStreams,
    ListenerMonthActivity,
    PodcastCountryStreams,
    RollupGrain,
    Track,
    TrackCountryStreams,
    TrackStreams,
)

Progress = Callable[[str, int, int], None]
WATERMARK_KEY = "content"
_ALL_DAY_BITS = 2**31 - 1

# Each count table: its dimension columns and how one day's events produce them. The
# SQL is written out because Django has no INSERT ... SELECT, and moving millions of
# aggregated rows through Python would make a full refresh many times slower.
_EVENT = ListeningEvent._meta.db_table
_LISTENER = Listener._meta.db_table
_TRACK = Track._meta.db_table
_EPISODE = Episode._meta.db_table
_COUNT_TABLES: dict[str, tuple[type, list[str], list[str], str]] = {
    # name: (model, dimension columns, their expressions over the event, joins)
    "track_streams": (TrackStreams, ["track_id"], ["e.track_id"], ""),
    "track_country_streams": (
        TrackCountryStreams,
        ["country", "track_id"],
        ["l.country", "e.track_id"],
        f"JOIN {_LISTENER} l ON l.id = e.listener_id",
    ),
    "genre_country_streams": (
        GenreCountryStreams,
        ["country", "genre_id"],
        ["l.country", "t.genre_id"],
        f"JOIN {_LISTENER} l ON l.id = e.listener_id JOIN {_TRACK} t ON t.id = e.track_id",
    ),
    "podcast_country_streams": (
        PodcastCountryStreams,
        ["country", "device", "podcast_id"],
        ["l.country", "e.device", "p.podcast_id"],
        f"JOIN {_LISTENER} l ON l.id = e.listener_id JOIN {_EPISODE} p ON p.id = e.episode_id",
    ),
}
_ACTIVITY = "listener_month_activity"
TABLES = (*_COUNT_TABLES, _ACTIVITY)


def period_q(start: date, end: date) -> Q:
    """Rows of a two-grain count table that add up to the local day range `[start, end)`:
    month rows for the whole months inside it, day rows for the partial months at its
    edges. Summing the matched rows counts every day of the range exactly once."""
    first_whole = start if start.day == 1 else month_end(start)
    last_whole_end = month_start(end)
    if first_whole >= last_whole_end:
        return Q(grain=RollupGrain.DAY, period__gte=start, period__lt=end)
    edges = Q(grain=RollupGrain.DAY) & (
        Q(period__gte=start, period__lt=first_whole) | Q(period__gte=last_whole_end, period__lt=end)
    )
    whole = Q(grain=RollupGrain.MONTH, period__gte=first_whole, period__lt=last_whole_end)
    return whole | edges


def active_in(start: date, end: date) -> QuerySet[ListenerMonthActivity]:
    """`ListenerMonthActivity` rows of listeners active on some day of `[start, end)`:
    any row of a whole month inside the range, and rows of the partial months at its
    edges whose day bits meet the range's days. Count distinct listeners over them."""
    rows = ListenerMonthActivity.objects.all()
    condition, whole = Q(), []
    for index, month in enumerate(months(start, end)):
        lo, hi = max(start, month), min(end, month_end(month))
        if lo == month and hi == month_end(month):
            whole.append(month)
            continue
        mask = sum(1 << (day - 1) for day in range(lo.day, lo.day + (hi - lo).days))
        rows = rows.alias(**{f"edge_{index}": F("days").bitand(mask)})
        condition |= Q(month=month, **{f"edge_{index}__gt": 0})
    if whole:
        condition |= Q(month__in=whole)
    return rows.filter(condition)


def refresh(
    *, since: date | None, full: bool, today: date, progress: Progress | None = None
) -> dict[str, int]:
    """Refresh the content rollups through local day `today`; returns rows written per table."""
    written = dict.fromkeys(TABLES, 0)
    bounds = ListeningEvent.objects.aggregate(first=Min("played_at"), last_id=Max("id"))
    max_event_id = bounds["last_id"] or 0
    first_event_day = local_date(bounds["first"]) if bounds["first"] else None
    watermark = ContentRollupWatermark.objects.filter(key=WATERMARK_KEY).first()

    if full:
        _delete_outside(first_event_day, today)
        start = first_event_day
    else:
        start = _incremental_start(watermark, first_event_day)
        if since is not None:
            # Never leave a gap behind the watermark: --since widens, it does not skip.
            start = since if start is None else min(since, start)
        if start is not None and first_event_day is not None:
            start = max(start, first_event_day)

    if start is None or start > today:
        _save_watermark(through=today, max_event_id=max_event_id)
        return written

    total = (today - start).days + 1
    done = 0
    for month in months(start, today + timedelta(days=1)):
        day = max(start, month)
        last = min(today, month_end(month) - timedelta(days=1))
        while day <= last:
            with transaction.atomic():
                for table, count in _refresh_day(day).items():
                    written[table] += count
            done += 1
            if progress is not None:
                progress("content rollups", done, total)
            day += timedelta(days=1)
        with transaction.atomic():
            for table, count in _refresh_month(month).items():
                written[table] += count
            _save_watermark(through=last, max_event_id=max_event_id)
    return written


def _incremental_start(watermark: ContentRollupWatermark | None, first_event_day: date | None) -> date | None:
    if watermark is None:
        return first_event_day
    start = watermark.through
    backfilled = ListeningEvent.objects.filter(id__gt=watermark.max_event_id).aggregate(
        first=Min("played_at")
    )["first"]
    if backfilled is not None:
        start = min(start, local_date(backfilled))
    return start


def _save_watermark(*, through: date, max_event_id: int) -> None:
    ContentRollupWatermark.objects.update_or_create(
        key=WATERMARK_KEY,
        defaults={"through": through, "max_event_id": max_event_id, "refreshed_at": timezone.now()},
    )


def _delete_outside(first_day: date | None, today: date) -> None:
    """A full refresh recomputes `[first_day, today]`; rows outside it are stale."""
    with transaction.atomic():
        for model, *_ in _COUNT_TABLES.values():
            rows = model.objects.all()
            if first_day is not None:
                rows = rows.filter(
                    Q(grain=RollupGrain.DAY, period__lt=first_day)
                    | Q(grain=RollupGrain.MONTH, period__lt=month_start(first_day))
                    | Q(period__gt=today)
                )
            rows.delete()
        activity = ListenerMonthActivity.objects.all()
        if first_day is not None:
            # The first month is rebuilt bit by bit from `first_day`: clear all of it.
            activity = activity.filter(Q(month__lte=month_start(first_day)) | Q(month__gt=today))
        activity.delete()


def _date(value: date) -> object:
    return connection.ops.adapt_datefield_value(value)


def _instant(value: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(value)


def _refresh_day(day: date) -> dict[str, int]:
    """Recompute the day rows of local day `day` and its bit in the activity bitmaps."""
    lo, hi = _instant(day_start(day)), _instant(day_start(day + timedelta(days=1)))
    written: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table, (model, columns, expressions, joins) in _COUNT_TABLES.items():
            db_table = model._meta.db_table
            cursor.execute(
                f"DELETE FROM {db_table} WHERE grain = %s AND period = %s", [RollupGrain.DAY, _date(day)]
            )
            content = "e.episode_id" if table == "podcast_country_streams" else "e.track_id"
            cursor.execute(
                f"INSERT INTO {db_table} (grain, period, {', '.join(columns)}, streams) "
                f"SELECT %s, %s, {', '.join(expressions)}, COUNT(*) FROM {_EVENT} e {joins} "
                f"WHERE e.played_at >= %s AND e.played_at < %s AND e.ms_played >= %s "
                f"AND {content} IS NOT NULL "
                f"GROUP BY {', '.join(expressions)}",
                [RollupGrain.DAY, _date(day), lo, hi, STREAM_MIN_MS],
            )
            written[table] = max(cursor.rowcount, 0)
        written[_ACTIVITY] = _refresh_activity_bit(cursor, day, lo, hi)
    return written


def _refresh_activity_bit(cursor, day: date, lo: object, hi: object) -> int:
    table = ListenerMonthActivity._meta.db_table
    month, bit = _date(month_start(day)), 1 << (day.day - 1)
    # Clear the day's bit first (dropping rows left with no day) so a re-run after
    # events were deleted forgets them; the check constraint forbids empty bitmaps.
    cursor.execute(f"DELETE FROM {table} WHERE month = %s AND days = %s", [month, bit])
    cursor.execute(
        f"UPDATE {table} SET days = days & %s WHERE month = %s AND (days & %s) <> 0",
        [_ALL_DAY_BITS ^ bit, month, bit],
    )
    cursor.execute(
        f"INSERT INTO {table} (month, listener_id, country, days) "
        f"SELECT %s, e.listener_id, l.country, %s FROM {_EVENT} e "
        f"JOIN {_LISTENER} l ON l.id = e.listener_id "
        f"WHERE e.played_at >= %s AND e.played_at < %s "
        f"GROUP BY e.listener_id, l.country "
        f"ON CONFLICT (month, listener_id) DO UPDATE "
        f"SET days = {table}.days | excluded.days, country = excluded.country",
        [month, bit, lo, hi],
    )
    return max(cursor.rowcount, 0)


def _refresh_month(month: date) -> dict[str, int]:
    """Recompute the month rows of `month` as the sums of its day rows."""
    written: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table, (model, columns, _, _) in _COUNT_TABLES.items():
            db_table = model._meta.db_table
            cursor.execute(
                f"DELETE FROM {db_table} WHERE grain = %s AND period = %s",
                [RollupGrain.MONTH, _date(month)],
            )
            cursor.execute(
                f"INSERT INTO {db_table} (grain, period, {', '.join(columns)}, streams) "
                f"SELECT %s, %s, {', '.join(columns)}, SUM(streams) FROM {db_table} "
                f"WHERE grain = %s AND period >= %s AND period < %s "
                f"GROUP BY {', '.join(columns)}",
                [
                    RollupGrain.MONTH,
                    _date(month),
                    RollupGrain.DAY,
                    _date(month),
                    _date(month_end(month)),
                ],
            )
            written[table] = max(cursor.rowcount, 0)
    return written
