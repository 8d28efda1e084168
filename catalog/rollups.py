"""Content rollups: stream counts per track, artist, album, genre, podcast and listener
country, sign-ups per country, and listener activity, refreshed from the source tables.

The tables and their grains are documented on their models in `catalog.models`.
`refresh` recomputes whole local days, one transaction per day: each day's rows move to
what the source rows give now, and its month rows by the same change, so a re-run
changes no count row and a new day writes only the rows it adds to. The month's listener
bitmaps, unions of its days', are rewritten once per month touched. The
incremental run starts at the first day of the events and listeners added since the
last run, found by id (the rest of a day refreshed while it was going on, a late event,
a backfill, an import), and ends with `today`. Deleted events and listeners, and edits of the
attributes rows are grouped by (a listener's country, a track's genre, artist or
album), are only picked up by `--since` over the days concerned or by `--full`.

Readers get the rows of a day range from `Span`: month rows for the whole months, day
rows for the partial months at the edges. A tail month that reaches past the last
refreshed day reads its month row too: no data lies beyond that day, so the month row
holds exactly the range's days. The default "last twelve months" range thus reads
twelve month rows and no day rows.
"""

from __future__ import annotations

import array
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    Max,
    Min,
    Model,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from pyroaring import BitMap

from analytics.kpis._time import (
    day_start,
    local_date,
    month_end,
    month_start,
    months,
)
from analytics.models import STREAM_MIN_MS, ListeningEvent
from analytics.rollups import _sql, sources
from analytics.rollups.plays import DEVICE_NAMES, IdTable, day_edges, device_number, group_sums
from billing.models import Listener
from billing.regions import region_of
from catalog.models import (
    AlbumStreams,
    ArtistFollowers,
    ArtistStreams,
    ContentRollupWatermark,
    CountryListeners,
    CountrySignups,
    CountryStreams,
    Episode,
    Follow,
    GenreCountryStreams,
    PodcastDeviceStreams,
    PodcastRegionStreams,
    Rating,
    RollupGrain,
    Track,
    TrackCountryStreams,
    TrackRatings,
    TrackStreams,
)

Progress = Callable[[str, int, int], None]
TOTALS_PART = "content totals"  # its `RollupState` row: the source marks of the last sums
WATERMARK_KEY = "content"
MAX_BITMAP_ID = 2**32 - 1
_ONE_DAY = timedelta(days=1)
DAY, MONTH = RollupGrain.DAY.value, RollupGrain.MONTH.value

# (result key, model, dimension columns, counted column) of every two-grain table, in
# the order a day fills them: later tables are sums of earlier ones where they can be.
_COUNT_TABLES: list[tuple[str, type[Model], list[str], str]] = [
    ("track_country_streams", TrackCountryStreams, ["country", "track_id"], "streams"),
    ("track_streams", TrackStreams, ["track_id"], "streams"),
    ("artist_streams", ArtistStreams, ["artist_id"], "streams"),
    ("album_streams", AlbumStreams, ["album_id"], "streams"),
    ("genre_country_streams", GenreCountryStreams, ["country", "genre_id"], "streams"),
    ("podcast_region_streams", PodcastRegionStreams, ["region", "podcast_id"], "streams"),
    ("podcast_device_streams", PodcastDeviceStreams, ["device", "region", "podcast_id"], "streams"),
    ("country_streams", CountryStreams, ["country"], "streams"),
    ("country_signups", CountrySignups, ["country"], "signups"),
]
TABLES = (
    *(name for name, *_ in _COUNT_TABLES),
    "country_listeners",
    "track_ratings",
    "artist_followers",
)

# The incremental SQL is written out because Django has no INSERT ... SELECT. A full
# rebuild groups a month's plays in numpy instead (see `_rebuild`): rows pass through
# Python only as arrays, never one object per row.
_LISTENER = Listener._meta.db_table
_TRACK = Track._meta.db_table
_CL = CountryListeners._meta.db_table
_TR = TrackRatings._meta.db_table
_AF = ArtistFollowers._meta.db_table
_RATING = Rating._meta.db_table
_FOLLOW = Follow._meta.db_table
# Temporary tables of the incremental refresh.
_CHANGES = "content_changes"
_FRESH = "content_fresh"


def covered_through() -> date | None:
    """The last local day the content rollups were refreshed for (None before the first
    refresh)."""
    return ContentRollupWatermark.objects.filter(key=WATERMARK_KEY).values_list("through", flat=True).first()


@dataclass(frozen=True)
class Span:
    """The rows of a two-grain table that add up to a local day range: month rows for
    `months`, day rows for the half-open day ranges in `days`."""

    months: tuple[date, ...]
    days: tuple[tuple[date, date], ...]

    def q(self) -> Q:
        # Days as a list, not a range: an index on (grain, period, item) then finds one
        # item's rows by probing each day instead of scanning every item of the range.
        condition = Q(grain=MONTH, period__in=self.months) if self.months else Q()
        if self.days:
            condition |= Q(grain=DAY, period__in=self.day_list)
        return condition

    @property
    def day_list(self) -> list[date]:
        return [lo + timedelta(days=n) for lo, hi in self.days for n in range((hi - lo).days)]

    @property
    def touched_months(self) -> list[date]:
        """Every calendar month the span has rows in."""
        return sorted({*self.months, *(month_start(lo) for lo, _ in self.days)})

    @property
    def cells(self) -> int:
        """How many (grain, period) rows one item can have in the span."""
        return len(self.months) + sum((hi - lo).days for lo, hi in self.days)

    @property
    def sample(self) -> Q:
        """One (grain, period) cell of the span: its first whole month, else its first day."""
        if self.months:
            return Q(grain=MONTH, period=self.months[0])
        return Q(grain=DAY, period=self.days[0][0])

    def month_parts(self) -> list[tuple[date, Q, bool]]:
        """(month, rows of the span in that month, whether that is the month's one month
        row) for every month the span touches, in order."""
        parts = [(month, Q(grain=MONTH, period=month), True) for month in self.months]
        parts += [
            (month_start(lo), Q(grain=DAY, period__in=Span((), ((lo, hi),)).day_list), False)
            for lo, hi in self.days
        ]
        return sorted(parts, key=lambda part: part[0])


def span(start: date, end: date, *, through: date | None) -> Span:
    """How the rollups cover `[start, end)` when they were refreshed through `through`."""
    whole, partial = [], []
    for month in months(start, end):
        lo, hi = max(start, month), min(end, month_end(month))
        # Past the last refreshed day there is no data, so the month row is the range.
        reaches_past_data = through is not None and hi > through
        if lo == month and (hi == month_end(month) or reaches_past_data):
            whole.append(month)
        else:
            partial.append((lo, hi))
    return Span(months=tuple(whole), days=tuple(partial))


def active_listener_counts(covered: Span, countries: frozenset[str] | None) -> list[tuple[str, int]]:
    """(country, listeners with an event in the span), by country code, for the listener
    countries kept (None: all): the size of the union of each country's bitmaps."""
    rows = CountryListeners.objects.filter(covered.q())
    if countries is not None:
        rows = rows.filter(country__in=countries)
    if covered.cells == 1:
        return list(rows.order_by("country").values_list("country", "listeners"))
    bitmaps: dict[str, list[BitMap]] = defaultdict(list)
    for country, bitmap in rows.values_list("country", "bitmap"):
        bitmaps[country].append(BitMap.deserialize(bitmap))
    return [(country, len(BitMap.union(*parts))) for country, parts in sorted(bitmaps.items())]


def signups_before(day: date) -> Q:
    """`CountrySignups` rows of the listeners signed up before local day `day` starts."""
    first = month_start(day)
    return Q(grain=MONTH, period__lt=first) | Q(grain=DAY, period__gte=first, period__lt=day)


def refresh(
    *, since: date | None, full: bool, today: date, progress: Progress | None = None
) -> dict[str, int]:
    """Refresh the content rollups through local day `today`; returns rows written per table."""
    written = _refresh_counts(since=since, full=full, today=today, progress=progress)
    written.update(refresh_totals(force=full or since is not None))
    return written


def refresh_totals(*, force: bool = False) -> dict[str, int]:
    """Bring the rating sums per track and the open follows per artist up to date with
    every row; returns the rows written per table.

    Ratings and follows change at any time (and carry their own instants), so they are
    summed anew when they, or the tracks (a rating total carries its track's genre),
    changed since the last sum (`analytics.rollups.sources`): a few hundred thousand
    rows, summed in the database, where only the totals that differ are written.
    `force`: sum them anyway (a full or `--since` refresh, after edits made in raw SQL).
    """
    read_from = sources.marks(Rating, Follow, Track)
    if not force and sources.unchanged(TOTALS_PART, read_from):
        return {"track_ratings": 0, "artist_followers": 0}
    with _sql.atomic(), connection.cursor() as cursor:
        ratings = _sync_table(
            cursor,
            _TR,
            "track_id",
            ["genre_id", "votes", "total"],
            f"SELECT r.track_id, t.genre_id, r.votes, r.total FROM ("
            f"SELECT track_id, COUNT(*) AS votes, SUM(score) AS total FROM {_RATING} "
            f"WHERE track_id IS NOT NULL GROUP BY track_id) r JOIN {_TRACK} t ON t.id = r.track_id",
        )
        followers = _sync_table(
            cursor,
            _AF,
            "artist_id",
            ["followers"],
            f"SELECT artist_id, COUNT(*) AS followers FROM {_FOLLOW} WHERE unfollowed_at IS NULL "
            f"GROUP BY artist_id",
        )
        sources.record(TOTALS_PART, read_from)
    return {"track_ratings": ratings, "artist_followers": followers}


def _sync_table(cursor, table: str, key: str, columns: list[str], select: str) -> int:
    """Make `table` hold exactly the rows of `select` (unique by `key`, its columns named
    as the table's), writing only the rows that differ; returns the rows written."""
    written = 0
    with _sql.temporary_table(_FRESH, select, []) as fresh:
        same_key = f"fresh.{key} = {table}.{key}"
        cursor.execute(
            f"DELETE FROM {table} WHERE NOT EXISTS (SELECT 1 FROM {fresh} AS fresh WHERE {same_key})"
        )
        written += max(cursor.rowcount, 0)
        cursor.execute(
            f"UPDATE {table} SET {', '.join(f'{column} = fresh.{column}' for column in columns)} "
            f"FROM {fresh} AS fresh WHERE {same_key} "
            f"AND ({' OR '.join(f'{table}.{column} <> fresh.{column}' for column in columns)})"
        )
        written += max(cursor.rowcount, 0)
        names = ", ".join([key, *columns])
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {fresh} AS fresh "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {same_key})"
        )
        written += max(cursor.rowcount, 0)
    return written


def _refresh_counts(
    *, since: date | None, full: bool, today: date, progress: Progress | None
) -> dict[str, int]:
    written = dict.fromkeys(TABLES, 0)
    events = ListeningEvent.objects.aggregate(first=Min("played_at"), last_id=Max("id"))
    listeners = Listener.objects.aggregate(first=Min("signed_up_at"), last_id=Max("id"))
    seen = {"max_event_id": events["last_id"] or 0, "max_listener_id": listeners["last_id"] or 0}
    firsts = [local_date(moment) for moment in (events["first"], listeners["first"]) if moment]
    first_day = min(firsts) if firsts else None
    watermark = ContentRollupWatermark.objects.filter(key=WATERMARK_KEY).first()

    # A `today` before the last refresh would leave rows past it: rebuild instead.
    rebuild = full or watermark is None or today < watermark.through
    if rebuild:
        return _rebuild(first_day, today, seen=seen, progress=progress)
    start = _incremental_start(watermark, since)
    if first_day is not None:
        start = max(start, first_day)

    if start > today:
        with transaction.atomic():
            _save_watermark(through=today, **seen)
        return written

    total, done = (today - start).days + 1, 0
    lookups = _Lookups()
    # The days' watermarks keep the last run's ids: should this run stop halfway, the
    # next one finds the rows it had not reached by their ids, as new.
    before = {"max_event_id": watermark.max_event_id, "max_listener_id": watermark.max_listener_id}
    for month in months(start, today + _ONE_DAY):
        day, last = max(start, month), min(today, month_end(month) - _ONE_DAY)
        # A transaction per day, then one for the month's listener bitmaps. On SQLite a
        # month's days share one transaction (savepoints per day): each commit there
        # writes its pages to the log again. On PostgreSQL a month-long transaction would
        # be slower: it keeps every day's version of the activity bitmaps the days rewrite.
        with transaction.atomic() if connection.vendor == "sqlite" else nullcontext():
            while day <= last:
                with _sql.atomic(), connection.cursor() as cursor:
                    # Day rows past the last refreshed day can only be left over from an
                    # interrupted run of an older version, which summed the month rows
                    # at the end of the run: they are in no month row.
                    in_month_rows = day <= watermark.through
                    for table, count in _refresh_day(
                        cursor, day, in_month_rows=in_month_rows, lookups=lookups
                    ).items():
                        written[table] += count
                    _save_watermark(through=day, **before)
                done += 1
                if progress is not None:
                    progress("content rollups", done, total)
                day += _ONE_DAY
            with transaction.atomic(), connection.cursor() as cursor:
                written["country_listeners"] += _refresh_month_listeners(cursor, month)
                _save_watermark(through=last, **before)
    with transaction.atomic():
        _save_watermark(through=today, **seen)
    return written


def _incremental_start(watermark: ContentRollupWatermark, since: date | None) -> date:
    """The day after the last refreshed one, or earlier: the first day of the events or
    listeners added since the last run (found by id: the rest of a day refreshed while
    it was going on, a late event, a backfill), or `since`. A day with nothing new
    already has its rows: a daily run does not move the day before again."""
    starts = [watermark.through + _ONE_DAY] if since is None else [watermark.through + _ONE_DAY, since]
    backfilled = _first_since(ListeningEvent.objects, "played_at", watermark.max_event_id)
    joined = _first_since(Listener.objects, "signed_up_at", watermark.max_listener_id)
    starts += [local_date(moment) for moment in (backfilled, joined) if moment is not None]
    return min(starts)


def _first_since(rows: QuerySet, column: str, last_id: int) -> datetime | None:
    """The earliest `column` of the rows added after id `last_id`. Asked for the MIN
    alone, PostgreSQL walks the index of `column` from its start until it meets a new
    row: through every event when the new ones are the latest (10 s at 10M events).
    The count makes it read the new rows by id instead."""
    return rows.filter(id__gt=last_id).aggregate(first=Min(column), added=Count("id"))["first"]


def _save_watermark(*, through: date, max_event_id: int, max_listener_id: int) -> None:
    ContentRollupWatermark.objects.update_or_create(
        key=WATERMARK_KEY,
        defaults={
            "through": through,
            "max_event_id": max_event_id,
            "max_listener_id": max_listener_id,
            "refreshed_at": timezone.now(),
        },
    )


def _rebuild(
    first_day: date | None, today: date, *, seen: dict[str, int], progress: Progress | None
) -> dict[str, int]:
    """Rebuild every content rollup of `[first_day, today]` from nothing, in one transaction.

    Month by month: a month's plays are read once as integer columns and grouped with
    numpy, finest first; every coarser table sums the smallest groups it can, and the
    rows go back in one binary COPY per table (`_sql.insert_arrays`). On
    PostgreSQL, outside a caller's transaction, the emptied tables lose their indexes and
    foreign keys meanwhile and get them back at the end, as the seed loads events: at 10M
    events, inserting a month's rows into the indexed tables cost ten times grouping
    them (`_sql.rebuilding`). Readers keep the old rows until the commit (on PostgreSQL
    they wait for it).
    """
    written = dict.fromkeys(TABLES, 0)
    with _sql.rebuilding(_REBUILT):
        if first_day is not None and first_day <= today:
            end = today + _ONE_DAY
            chunks = [(max(first_day, month), min(end, month_end(month))) for month in months(first_day, end)]
            lookups = _Lookups()
            for done, (lo, hi) in enumerate(chunks, 1):
                for table, count in _rebuild_month(lo, hi, lookups).items():
                    written[table] += count
                if progress is not None:
                    progress("content months", done, len(chunks))
        _save_watermark(through=today, **seen)
    return written


_REBUILT = (*(model for _, model, *_ in _COUNT_TABLES), CountryListeners)


class _Lookups:
    """What the plays' ids stand for: a listener's country, a track's genre, artist and
    album, an episode's podcast."""

    def __init__(self) -> None:
        self.listeners = IdTable(Listener.objects, _sql.country_number("country"))
        self.tracks = IdTable(Track.objects, F("genre_id"), F("primary_artist_id"), F("album_id"))
        self.episodes = IdTable(Episode.objects, F("podcast_id"))


def _read_plays(lo: date, hi: date) -> list[np.ndarray]:
    """The plays of the local days `[lo, hi)` as integer columns: listener, instant
    (epoch microseconds), track and episode (0 for none), device number, and 1 for a
    stream."""
    return _sql.int_columns(
        ListeningEvent.objects.filter(played_at__gte=day_start(lo), played_at__lt=day_start(hi)),
        F("listener_id"),
        _sql.EpochMicroseconds("played_at"),
        Coalesce(F("track_id"), Value(0), output_field=BigIntegerField()),
        Coalesce(F("episode_id"), Value(0), output_field=BigIntegerField()),
        device_number(),
        Case(
            When(ms_played__gte=STREAM_MIN_MS, then=Value(1)),
            default=Value(0),
            output_field=BigIntegerField(),
        ),
    )


def _rebuild_month(lo: date, hi: date, lookups: _Lookups) -> dict[str, int]:
    """Day and month rows of the days `[lo, hi)` of one month (nothing else is in the
    month: a rebuild starts at the first data)."""
    listener, played_us, track, episode, device, is_stream = _read_plays(lo, hi)
    day = np.searchsorted(day_edges(lo, hi), played_us, side="right") - 1
    country = lookups.listeners.values(listener)
    rows = _MonthRows(first_day=lo.toordinal(), month=month_start(lo).toordinal())

    # Track streams: by (day, country, track), then coarser.
    streamed = (is_stream == 1) & (track != 0)
    (d, c, t), n, _ = group_sums([day[streamed], country[streamed], track[streamed]])
    rows.add(TrackCountryStreams, d, n, grouped=True, country=c, track_id=t)
    rows.add(GenreCountryStreams, d, n, country=c, genre_id=lookups.tracks.values(t, 0))
    (d, t), _, (n,) = group_sums([d, t], [n])
    rows.add(TrackStreams, d, n, grouped=True, track_id=t)
    rows.add(ArtistStreams, d, n, artist_id=lookups.tracks.values(t, 1))
    rows.add(AlbumStreams, d, n, album_id=lookups.tracks.values(t, 2))

    # Episode streams by podcast, listener region and device; all streams by country.
    streamed = (is_stream == 1) & (episode != 0)
    podcast = lookups.episodes.values(episode[streamed])
    region = _regions(country[streamed])
    rows.add(PodcastRegionStreams, day[streamed], None, region=region, podcast_id=podcast)
    rows.add(
        PodcastDeviceStreams, day[streamed], None, device=device[streamed], region=region, podcast_id=podcast
    )
    streamed = is_stream == 1
    rows.add(CountryStreams, day[streamed], None, country=country[streamed])
    written = rows.insert()

    # Sign-ups are listener rows, not plays: grouped in the database.
    start, end = _instant(day_start(lo)), _instant(day_start(hi))
    signup_day, signup_params = _sql.local_date("signed_up_at")
    with connection.cursor() as cursor:
        for period, group, params in (
            (signup_day, "2, 3", [DAY, *signup_params]),
            ("%s", "country", [MONTH, _date(month_start(lo))]),
        ):
            cursor.execute(
                f"INSERT INTO {CountrySignups._meta.db_table} (grain, period, country, signups) "
                f"SELECT %s, {period}, country, COUNT(*) FROM {_LISTENER} "
                f"WHERE signed_up_at >= %s AND signed_up_at < %s GROUP BY {group}",
                [*params, start, end],
            )
            written["country_signups"] += max(cursor.rowcount, 0)

    days = _bitmaps_by_day(lo, day, country, listener)
    written["country_listeners"] = _insert_listeners(DAY, days) + _insert_listeners(MONTH, _by_month(days))
    return written


class _MonthRows:
    """The day and month rows of a month's tables, gathered as arrays and inserted one
    table at a time."""

    def __init__(self, *, first_day: int, month: int) -> None:
        self.first_day, self.month = first_day, month
        self._tables: list[tuple[type[Model], dict[str, np.ndarray]]] = []

    def add(
        self,
        model: type[Model],
        day: np.ndarray,
        streams: np.ndarray | None,
        *,
        grouped: bool = False,
        **dims: np.ndarray,
    ) -> None:
        """Rows per day (index from the month's first day) and `dims`, summing `streams`
        or, without them, counting one per element; `grouped`: the elements are already
        one per (day, dims)."""
        names = list(dims)
        if streams is None:
            (day, *keys), streams, _ = group_sums([day, *dims.values()])
        elif not grouped:
            (day, *keys), _, (streams,) = group_sums([day, *dims.values()], [streams])
        else:
            keys = list(dims.values())
        month_keys, _, (month_streams,) = group_sums(keys, [streams])
        columns: dict[str, list[np.ndarray]] = {
            "grain": [],
            "period": [],
            **{n: [] for n in names},
            "streams": [],
        }
        for grain, period, grain_keys, sums in (
            (b"day", self.first_day + day, keys, streams),
            (b"month", np.full(len(month_streams), self.month), month_keys, month_streams),
        ):
            columns["grain"].append(np.full(len(sums), grain))
            columns["period"].append(period)
            for name, key in zip(names, grain_keys, strict=True):
                columns[name].append(_text(name, key))
            columns["streams"].append(sums)
        self._tables.append((model, {name: np.concatenate(parts) for name, parts in columns.items()}))

    def insert(self) -> dict[str, int]:
        written: dict[str, int] = defaultdict(int)
        for model, columns in self._tables:
            written[_KEY_OF[model]] += _sql.insert_arrays(model, columns)
        return written


_KEY_OF = {model: key for key, model, *_ in _COUNT_TABLES}
_MODEL_OF = {key: model for key, model, *_ in _COUNT_TABLES}


def _text(name: str, values: np.ndarray) -> np.ndarray:
    """Dimension values as their columns take them: country codes and device names from
    their numbers; regions are already text."""
    if name == "country":
        return _sql.country_codes(values)
    if name == "device":
        return DEVICE_NAMES[values]
    return values


def _regions(countries: np.ndarray) -> np.ndarray:
    """Each country number's region (`billing.regions`), as bytes ("" for none)."""
    distinct, index = np.unique(countries, return_inverse=True)
    names = [(region_of(_sql.country_code(number)) or "").encode() for number in distinct.tolist()]
    return np.array(names, dtype="S16")[index.ravel()]


def _bitmaps_by_day(
    lo: date, day: np.ndarray, country: np.ndarray, listener: np.ndarray
) -> dict[tuple[date, str], BitMap]:
    """Per (local day, listener country), the listeners who played anything."""
    if len(listener) and listener.max() > MAX_BITMAP_ID:
        _refuse_id(int(listener.max()))
    (d, c, ids), _, _ = group_sums([day, country, listener])
    changes = np.ones(len(d), dtype=bool)
    changes[1:] = (d[1:] != d[:-1]) | (c[1:] != c[:-1])
    starts = np.flatnonzero(changes).tolist()
    bitmaps = {}
    for start, stop in zip(starts, [*starts[1:], len(d)][: len(starts)], strict=True):
        key = (lo + timedelta(days=int(d[start])), _sql.country_code(int(c[start])))
        bitmaps[key] = BitMap(array.array("I", ids[start:stop].astype(np.uint32).tobytes()))
    return bitmaps


def _refuse_id(listener_id: int) -> None:
    raise OverflowError(
        f"Listener id {listener_id} is above {MAX_BITMAP_ID}, the largest id the "
        "listener bitmaps hold (catalog.CountryListeners)."
    )


def _by_month(days: dict[tuple[date, str], BitMap]) -> dict[tuple[date, str], BitMap]:
    """The union of the day bitmaps per (month, country)."""
    parts: dict[tuple[date, str], list[BitMap]] = defaultdict(list)
    for (day, country), bitmap in days.items():
        parts[(month_start(day), country)].append(bitmap)
    return {key: BitMap.union(*bitmaps) for key, bitmaps in parts.items()}


def _insert_listeners(grain: str, bitmaps: dict[tuple[date, str], BitMap]) -> int:
    rows = [
        (grain, _date(period), country, len(bitmap), bitmap.serialize())
        for (period, country), bitmap in sorted(bitmaps.items())
    ]
    return _sql.insert_rows(CountryListeners, ["grain", "period", "country", "listeners", "bitmap"], rows)


def _date(value: date) -> object:
    return connection.ops.adapt_datefield_value(value)


def _instant(value: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(value)


# An incremental refresh moves each table's day rows to what the source rows give now
# and its month rows by the same change, in the day's transaction: month rows always
# hold the sum of their days, a day that did not change writes nothing, and a new day
# writes its own rows and the month rows it adds to, not the whole month again.

_TABLE_OF = {key: (model._meta.db_table, columns, value) for key, model, columns, value in _COUNT_TABLES}


def _refresh_day(cursor, day: date, *, in_month_rows: bool, lookups: _Lookups) -> dict[str, int]:
    """Bring the day rows of local day `day` and, by the same change, the month rows of
    its month up to date; returns the rows written per table. `in_month_rows` false:
    the day's stored rows are in no month row, and are dropped first.

    The day's plays are read once, as integer columns, and grouped in numpy by listener
    country, track, podcast and device; the coarser track tables are sums of the
    per-country track groups, through the tracks' genre, artist and album."""
    d, m = _date(day), _date(month_start(day))
    lo, hi = _instant(day_start(day)), _instant(day_start(day + _ONE_DAY))
    if not in_month_rows:
        for model in _REBUILT:
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE grain = %s AND period = %s", [DAY, d])
    written: dict[str, int] = {}

    def move(key: str, fresh: str, params: list) -> None:
        written[key] = _move_day(cursor, *_TABLE_OF[key], d, m, fresh, params)

    def move_to(key: str, streams: np.ndarray, **dims: np.ndarray) -> None:
        """Move the day's rows to the groups `dims` (one array per dimension column of
        the table, each group once) with their `streams`."""
        table, columns, value = _TABLE_OF[key]
        fields = ", ".join([*columns, value])
        with _sql.temporary_table(_FRESH, f"SELECT {fields} FROM {table} WHERE 1 = 0", []) as fresh:
            rows = {name: _text(name, values) for name, values in dims.items()}
            _sql.insert_arrays(_MODEL_OF[key], {**rows, value: streams}, into=fresh)
            if _day_stored(cursor, table, d):
                move(key, f"SELECT {fields} FROM {fresh}", [])
            else:  # a new day: its groups are the change, all increases
                written[key] = _add_changes(
                    cursor, table, columns, value, d, m, fresh, moved=value, day_stored=False, decreases=False
                )

    def move_summed(key: str, streams: np.ndarray, **dims: np.ndarray) -> None:
        """`move_to` the sums of `streams` per distinct combination of `dims`."""
        keys, _, (sums,) = group_sums(list(dims.values()), [streams])
        move_to(key, sums, **dict(zip(dims, keys, strict=True)))

    listener, _, track, episode, device, is_stream = _read_plays(day, day + _ONE_DAY)
    country = lookups.listeners.values(listener)
    streamed = is_stream == 1
    ones = np.ones(len(listener), dtype=np.int64)

    # The day's track streams by country; the other track tables are sums of them.
    on_track = streamed & (track != 0)
    (c, t), n, _ = group_sums([country[on_track], track[on_track]])
    move_to("track_country_streams", n, country=c, track_id=t)
    move_summed("genre_country_streams", n, country=c, genre_id=lookups.tracks.values(t, 0))
    (t,), _, (n,) = group_sums([t], [n])
    move_to("track_streams", n, track_id=t)
    move_summed("artist_streams", n, artist_id=lookups.tracks.values(t, 1))
    move_summed("album_streams", n, album_id=lookups.tracks.values(t, 2))

    # Episode streams by podcast, listener region and device; all streams by country.
    on_episode = streamed & (episode != 0)
    podcast = lookups.episodes.values(episode[on_episode])
    region = _regions(country[on_episode])
    episode_plays, by_podcast = ones[on_episode], {"region": region, "podcast_id": podcast}
    move_summed("podcast_region_streams", episode_plays, **by_podcast)
    move_summed("podcast_device_streams", episode_plays, device=device[on_episode], **by_podcast)
    move_summed("country_streams", ones[streamed], country=country[streamed])

    move(
        "country_signups",
        f"SELECT country, COUNT(*) AS signups FROM {_LISTENER} "
        f"WHERE signed_up_at >= %s AND signed_up_at < %s GROUP BY country",
        [lo, hi],
    )
    cursor.execute(f"DELETE FROM {_CL} WHERE grain = %s AND period = %s", [DAY, d])
    played = _bitmaps_by_day(day, np.zeros(len(listener), dtype=np.int64), country, listener)
    written["country_listeners"] = _insert_listeners(DAY, played)
    return written


def _move_day(
    cursor, table: str, columns: list[str], value: str, d: object, m: object, fresh: str, params: list
) -> int:
    """Move the day rows of `table` for day `d` to the rows of the query `fresh` (its
    columns named as the table's), and the month rows of month `m` by the same change;
    returns the rows written. The change is worked out in the database first: where it
    is nothing, nothing is written."""
    dims = ", ".join(columns)
    select = (
        f"SELECT {dims}, SUM(moved) AS moved FROM ("
        f"SELECT {dims}, {value} AS moved FROM ({fresh}) fresh "
        f"UNION ALL SELECT {dims}, -{value} FROM {table} WHERE grain = %s AND period = %s"
        f") day_rows GROUP BY {dims} HAVING SUM(moved) <> 0"
    )
    with _sql.temporary_table(_CHANGES, select, [*params, DAY, d]) as changed:
        cursor.execute(f"SELECT COUNT(*), COUNT(CASE WHEN moved < 0 THEN 1 END) FROM {changed}")
        changes, decreases = cursor.fetchone()
        if not changes:
            return 0
        return _add_changes(
            cursor,
            table,
            columns,
            value,
            d,
            m,
            changed,
            day_stored=_day_stored(cursor, table, d),
            decreases=decreases,
        )


def _day_stored(cursor, table: str, d: object) -> bool:
    cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE grain = %s AND period = %s)", [DAY, d])
    return cursor.fetchone()[0]


def _add_changes(
    cursor,
    table: str,
    columns: list[str],
    value: str,
    d: object,
    m: object,
    changes: str,
    *,
    moved: str = "moved",
    day_stored: bool,
    decreases: bool,
) -> int:
    """Add the table `changes` (the dimension columns of `table` and a `moved` column)
    to the day rows of day `d` and the month rows of month `m`; returns the rows
    written. Rows moved to zero go."""
    written = 0
    for grain, period in (DAY, d), (MONTH, m):
        rows = _Rows(cursor, table, columns, value, changes, moved, grain, period)
        if grain == DAY and not day_stored:
            written += rows.insert_all()  # a new day: nothing to match
        elif connection.vendor == "postgresql" and connection.pg_version >= 150000:  # MERGE: 15+
            written += rows.merge()
        else:
            written += rows.update_then_insert()
        if decreases:
            cursor.execute(
                f"DELETE FROM {table} WHERE grain = %s AND period = %s AND {value} = 0", [grain, period]
            )
    return written


@dataclass(frozen=True)
class _Rows:
    """The rows of one (grain, period) of a table, and how to add the table of changes
    `changes` to them (its dimension columns named as the table's, and `moved`)."""

    cursor: object
    table: str
    columns: list[str]
    value: str
    changes: str
    moved: str
    grain: str
    period: object

    def insert_all(self) -> int:
        """Every change as a row of its own: the period has no rows yet."""
        dims = ", ".join(self.columns)
        return self._run(
            f"INSERT INTO {self.table} (grain, period, {dims}, {self.value}) "
            f"SELECT %s, %s, {dims}, {self.moved} FROM {self.changes}",
            [self.grain, self.period],
        )

    def merge(self) -> int:
        """PostgreSQL: one MERGE, whose one join with the period's rows costs a fifth
        less than the two of `update_then_insert` (a month of per-track-country rows at
        10M events). An upsert probes the unique index once per change: slower still."""
        on = " AND ".join(f"t.{column} = changes.{column}" for column in self.columns)
        values = ", ".join(f"changes.{column}" for column in self.columns)
        return self._run(
            f"MERGE INTO {self.table} AS t USING {self.changes} AS changes "
            f"ON t.grain = %s AND t.period = %s AND {on} "
            f"WHEN MATCHED THEN UPDATE SET {self.value} = t.{self.value} + changes.{self.moved} "
            f"WHEN NOT MATCHED THEN INSERT (grain, period, {', '.join(self.columns)}, {self.value}) "
            f"VALUES (%s, %s, {values}, changes.{self.moved})",
            [self.grain, self.period, self.grain, self.period],
        )

    def update_then_insert(self) -> int:
        """The rows there first, then the keys new to the period (only increases can be
        new: the month rows hold the day rows)."""
        table, dims = self.table, ", ".join(self.columns)
        matched = " AND ".join(f"{table}.{column} = changes.{column}" for column in self.columns)
        updated = self._run(
            f"UPDATE {table} SET {self.value} = {table}.{self.value} + changes.{self.moved} "
            f"FROM {self.changes} AS changes WHERE {table}.grain = %s AND {table}.period = %s AND {matched}",
            [self.grain, self.period],
        )
        return updated + self._run(
            f"INSERT INTO {table} (grain, period, {dims}, {self.value}) "
            f"SELECT %s, %s, {dims}, {self.moved} FROM {self.changes} AS changes WHERE NOT EXISTS ("
            f"SELECT 1 FROM {table} WHERE {table}.grain = %s AND {table}.period = %s AND {matched})",
            [self.grain, self.period, self.grain, self.period],
        )

    def _run(self, sql: str, params: list) -> int:
        self.cursor.execute(sql, params)
        return max(self.cursor.rowcount, 0)


def _refresh_month_listeners(cursor, month: date) -> int:
    """Rewrite the month's listener bitmaps as the unions of its days': a few thousand
    small rows."""
    days = CountryListeners.objects.filter(grain=DAY, period__gte=month, period__lt=month_end(month))
    cursor.execute(f"DELETE FROM {_CL} WHERE grain = %s AND period = %s", [MONTH, _date(month)])
    return _insert_listeners(
        MONTH,
        _by_month(
            {
                (day, country): BitMap.deserialize(bitmap)
                for day, country, bitmap in days.values_list("period", "country", "bitmap")
            }
        ),
    )
