"""Content KPIs: top tracks, artists, albums and genres, popular tracks per month and
podcast streams per region.

A stream is an event with `ms_played >= 30 000`. Every KPI reads the content rollups
(`catalog.rollups`) and has a raw-events reference registered with `reference(slug)`
that computes the same result from `ListeningEvent`; tests compare both.

How the rankings stay fast over long ranges: a top-N over many periods would sum a
row per item and period (a year of month rows is most of the catalogue twelve times).
Instead `_pruned_top` (1) sums, over the whole range and with the filters, N items
leading one month of it: the smallest of those sums is a floor F that the true N-th
item reaches; (2) an item's filtered streams in the range are at most the sum of its
unfiltered month rows (a track's: its country's rows, under a one-country filter) over
the m months the range touches, so an item reaching F has a month row of at least
F / m; only items with such a month row (read off the streams index) are summed, each
through an index on the item. The result is exact; ties are broken by id. While a
refresh is running, a month row may briefly lag its day rows.

Readings where the specification is silent:
- Rankings break ties by id (track, artist, album, genre, podcast), so ranks are 1..n.
- `country` and `region` filter by the listener's country; both given means both hold.
  Rollups record it when a day is refreshed, the reference reads it now: they differ
  only for listeners who moved since, until `refresh_rollups --full`.
- Artists are credited with streams of the tracks they are the primary artist of;
  featured artists are not counted. An album's streams are its tracks' streams.
- Top genres and genre shares attribute a stream to the track's genre as of the
  refresh; the `genre` filter of track rankings uses the track's genre now.
- `popular-over-time` ranks each calendar month overlapping the range on the days of
  that month inside the range, so a partial month at an edge is ranked on its part.
- Podcast streams per region: the regions of `billing.regions`, in their fixed order;
  filters are the region and the device (the rollup keeps regions, not countries).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber, TruncMonth

# A module import, not `from catalog.rollups import ...`: `catalog.rollups` imports
# `analytics.kpis._time`, which runs this package's __init__ and so this module while
# `catalog.rollups` is still half-initialized.
import catalog.rollups as rollups
from analytics.kpis import _time
from analytics.kpis.registry import Column, KpiResult, kpi, reference
from analytics.models import STREAM_MIN_MS, ListeningEvent
from billing.regions import Region, countries_in, region_of
from catalog.models import (
    Album,
    AlbumStreams,
    Artist,
    ArtistStreams,
    GenreCountryStreams,
    Podcast,
    PodcastDeviceStreams,
    PodcastRegionStreams,
    Track,
    TrackCountryStreams,
    TrackStreams,
)

TOP_N = 50
TOP_PER_MONTH = 10
_RANKING_FILTERS = ("country", "region", "genre")


def listener_countries(country: str | None = None, region: str | None = None) -> frozenset[str] | None:
    """The listener countries a `country` / `region` filter keeps; None keeps all."""
    countries = frozenset(countries_in(region)) if region else None
    if country:
        chosen = frozenset({country.upper()})
        countries = chosen if countries is None else chosen & countries
    return countries


def covering(start: date, end: date) -> rollups.Span:
    """The rollup rows that make up `[start, end)` (reads the refresh watermark)."""
    _time.check_range(start, end)
    return rollups.span(start, end, through=rollups.covered_through())


# Where the per-track figures come from: the rollups, or the raw events.


def _rollup_tracks(covered: rollups.Span, countries: frozenset[str] | None, genre: int | None) -> QuerySet:
    """Rollup rows of the span with a `track` and a `streams` column."""
    if countries is None:
        rows = TrackStreams.objects.filter(covered.q())
    else:
        rows = TrackCountryStreams.objects.filter(covered.q(), country__in=countries)
    return rows.filter(track__genre_id=genre) if genre else rows


def _track_bound(countries: frozenset[str] | None, genre: int | None) -> QuerySet:
    """Month rows bounding a track's streams under the filters, one per track and month:
    the country's own rows under a one-country filter (far tighter than all listeners',
    so far fewer candidates), all listeners' otherwise."""
    if countries is not None and len(countries) == 1:
        rows = TrackCountryStreams.objects.filter(country=next(iter(countries)))
    else:
        rows = TrackStreams.objects.all()
    return rows.filter(track__genre_id=genre) if genre else rows


def stream_events(start: date, end: date, countries: frozenset[str] | None) -> QuerySet:
    """Stream events of `[start, end)` by listeners of `countries` (None: all)."""
    lo, hi = _time.day_bounds(start, end)
    rows = ListeningEvent.objects.filter(played_at__gte=lo, played_at__lt=hi, ms_played__gte=STREAM_MIN_MS)
    if countries is not None:
        rows = rows.filter(listener__country__in=countries)
    return rows.order_by()


def _raw_tracks(start: date, end: date, countries: frozenset[str] | None, genre: int | None) -> QuerySet:
    rows = stream_events(start, end, countries).filter(track__isnull=False)
    if genre:
        rows = rows.filter(track__genre_id=genre)
    return rows


def _top(rows: QuerySet, key: str, total: Sum | Count, limit: int | None) -> list[tuple[int, int]]:
    """(id, streams) of the `limit` largest groups of `key`, ties by id."""
    ranked = rows.values(key).annotate(streams=total).order_by("-streams", key)
    if limit is not None:
        ranked = ranked[:limit]
    return [(row[key], row["streams"]) for row in ranked]


# With this many candidates or more, pruning is not worth it.
_MAX_CANDIDATES = 500


def _pruned_top(
    exact: QuerySet,
    key: str,
    *,
    covered: rollups.Span,
    leaders: QuerySet,
    bound: QuerySet,
    bound_key: str | None = None,
    limit: int = TOP_N,
) -> list[tuple[int, int]]:
    """`_top` of the rollup rows `exact` (filtered, of the span), reading few rows (see
    the module docstring).

    `leaders` is a sliced queryset of `limit` ids likely to rank high (any ids are
    correct; they are read first). `bound` holds month rows, one per item (`bound_key`) and month, whose
    streams are at least the item's in `exact` for that month.
    """
    # Ids as literal lists throughout: the planner then sees how few there are and
    # looks each one up, where a subquery's size is guessed (often badly).
    sums = list(
        exact.filter(**{f"{key}__in": list(leaders)})
        .values(key)
        .annotate(total=Sum("streams"))
        .values_list("total", flat=True)
        .order_by()
    )
    if len(sums) == limit:
        touched = covered.touched_months
        threshold = -(-min(sums) // len(touched))  # ceil(F / m)
        candidates = bound.filter(grain=rollups.MONTH, period__in=touched, streams__gte=threshold)
        found = list(
            candidates.values_list(bound_key or key, flat=True).distinct().order_by()[:_MAX_CANDIDATES]
        )
        # Past the cap the floor prunes little (items of similar size): summing every
        # item in one pass is then cheaper than looking each one up.
        if len(found) < _MAX_CANDIDATES:
            exact = exact.filter(**{f"{key}__in": found})
    return _top(exact, key, Sum("streams"), limit)


def _month_leaders(rows: QuerySet, key: str, month: date, limit: int) -> QuerySet:
    """The `limit` items with the most streams in the month row of `month`."""
    return (
        rows.filter(grain=rollups.MONTH, period=month)
        .order_by("-streams", key)
        .values_list(key, flat=True)[:limit]
    )


_SUM = Sum("streams")
_COUNT = Count("id")


# Top tracks, artists and albums.

_TRACK_COLUMNS = [
    Column("rank", "Rank"),
    Column("title", "Track", "text"),
    Column("artist", "Artist", "text"),
    Column("streams", "Streams"),
]


def _track_rows(ranked: list[tuple[int, int]]) -> list[dict]:
    names = {
        row["id"]: row
        for row in Track.objects.filter(id__in=[track for track, _ in ranked]).values(
            "id", "title", "primary_artist_id", "primary_artist__name"
        )
    }
    return [
        {
            "rank": rank,
            "title": names[track]["title"],
            "artist": names[track]["primary_artist__name"],
            "streams": streams,
            "track_id": track,
            "artist_id": names[track]["primary_artist_id"],
        }
        for rank, (track, streams) in enumerate(ranked, start=1)
    ]


def _rollup_top_tracks(
    start: date, end: date, countries: frozenset[str] | None, genre: int | None
) -> list[tuple[int, int]]:
    covered = covering(start, end)
    bound = _track_bound(countries, genre)
    return _pruned_top(
        _rollup_tracks(covered, countries, genre),
        "track_id",
        covered=covered,
        leaders=_month_leaders(bound, "track_id", covered.touched_months[0], TOP_N),
        bound=bound,
    )


@kpi(
    slug="top-tracks",
    title="Top tracks",
    family="content",
    unit="count",
    chart="horizontal-bar",
    x="title",
    y=("streams",),
    filters=_RANKING_FILTERS,
)
def top_tracks(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    genre: int | None = None,
) -> KpiResult:
    """The 50 tracks with the most streams (plays of 30 s or more) in the period, ties by
    track id.

    Rows carry `track_id` and `artist_id` (the primary artist) for drill-down links.
    """
    ranked = _rollup_top_tracks(start, end, listener_countries(country, region), genre)
    return KpiResult(columns=_TRACK_COLUMNS, rows=_track_rows(ranked))


@reference("top-tracks")
def top_tracks_raw(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    genre: int | None = None,
) -> KpiResult:
    """Top tracks from the raw events."""
    _time.check_range(start, end)
    rows = _raw_tracks(start, end, listener_countries(country, region), genre)
    return KpiResult(columns=_TRACK_COLUMNS, rows=_track_rows(_top(rows, "track_id", _COUNT, TOP_N)))


def _rollup_top_of(
    model: type[ArtistStreams | AlbumStreams],
    key: str,
    track_key: str,
    *,
    start: date,
    end: date,
    countries: frozenset[str] | None,
    genre: int | None,
) -> list[tuple[int, int]]:
    """Top artists or albums: from their own rollup without filters; with a filter,
    summed from the track rollups (their rows carry the country and the genre), their
    own month rows bounding the sums."""
    covered = covering(start, end)
    bound = model.objects.all()
    first = covered.touched_months[0]
    if countries is None and not genre:
        exact = model.objects.filter(covered.q())
        return _pruned_top(
            exact, key, covered=covered, leaders=_month_leaders(bound, key, first, TOP_N), bound=bound
        )
    exact = _rollup_tracks(covered, countries, genre)
    if genre:
        # The genre's leaders, not the platform's: summed from its tracks' month rows.
        leaders = (
            _track_bound(countries, genre)
            .filter(grain=rollups.MONTH, period=first)
            .values(track_key)
            .annotate(total=Sum("streams"))
            .order_by("-total", track_key)
            .values_list(track_key, flat=True)[:TOP_N]
        )
    else:
        leaders = _month_leaders(bound, key, first, TOP_N)
    return _pruned_top(exact, track_key, covered=covered, leaders=leaders, bound=bound, bound_key=key)


def _artists_result(ranked: list[tuple[int, int]]) -> KpiResult:
    names = dict(Artist.objects.filter(id__in=[a for a, _ in ranked]).values_list("id", "name"))
    return KpiResult(
        columns=[Column("rank", "Rank"), Column("artist", "Artist", "text"), Column("streams", "Streams")],
        rows=[
            {"rank": rank, "artist": names[artist], "streams": streams, "artist_id": artist}
            for rank, (artist, streams) in enumerate(ranked, start=1)
        ],
    )


@kpi(
    slug="top-artists",
    title="Top artists",
    family="content",
    unit="count",
    chart="horizontal-bar",
    x="artist",
    y=("streams",),
    filters=_RANKING_FILTERS,
)
def top_artists(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    genre: int | None = None,
) -> KpiResult:
    """The 50 artists with the most streams in the period, counting the streams of the
    tracks they are the primary artist of (featured appearances do not count), ties by
    artist id."""
    countries = listener_countries(country, region)
    return _artists_result(
        _rollup_top_of(
            ArtistStreams,
            "artist_id",
            "track__primary_artist_id",
            start=start,
            end=end,
            countries=countries,
            genre=genre,
        )
    )


@reference("top-artists")
def top_artists_raw(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    genre: int | None = None,
) -> KpiResult:
    """Top artists from the raw events."""
    _time.check_range(start, end)
    rows = _raw_tracks(start, end, listener_countries(country, region), genre)
    return _artists_result(_top(rows, "track__primary_artist_id", _COUNT, TOP_N))


def _albums_result(ranked: list[tuple[int, int]]) -> KpiResult:
    albums = {
        row["id"]: row
        for row in Album.objects.filter(id__in=[a for a, _ in ranked]).values(
            "id", "title", "artist_id", "artist__name"
        )
    }
    return KpiResult(
        columns=[
            Column("rank", "Rank"),
            Column("title", "Album", "text"),
            Column("artist", "Artist", "text"),
            Column("streams", "Streams"),
        ],
        rows=[
            {
                "rank": rank,
                "title": albums[album]["title"],
                "artist": albums[album]["artist__name"],
                "streams": streams,
                "album_id": album,
                "artist_id": albums[album]["artist_id"],
            }
            for rank, (album, streams) in enumerate(ranked, start=1)
        ],
    )


@kpi(
    slug="top-albums",
    title="Top albums",
    family="content",
    unit="count",
    chart="horizontal-bar",
    x="title",
    y=("streams",),
    filters=_RANKING_FILTERS,
)
def top_albums(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    genre: int | None = None,
) -> KpiResult:
    """The 50 albums with the most streams of their tracks in the period, ties by album id."""
    countries = listener_countries(country, region)
    return _albums_result(
        _rollup_top_of(
            AlbumStreams,
            "album_id",
            "track__album_id",
            start=start,
            end=end,
            countries=countries,
            genre=genre,
        )
    )


@reference("top-albums")
def top_albums_raw(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    genre: int | None = None,
) -> KpiResult:
    """Top albums from the raw events."""
    _time.check_range(start, end)
    rows = _raw_tracks(start, end, listener_countries(country, region), genre)
    return _albums_result(_top(rows, "track__album_id", _COUNT, TOP_N))


# Top genres.


def _genre_rows(ranked: Iterable[dict], key: str) -> KpiResult:
    return KpiResult(
        columns=[Column("rank", "Rank"), Column("genre", "Genre", "text"), Column("streams", "Streams")],
        rows=[
            {"rank": rank, "genre": row[f"{key}__name"], "streams": row["streams"], "genre_id": row[key]}
            for rank, row in enumerate(ranked, start=1)
        ],
    )


@kpi(
    slug="top-genres",
    title="Top genres",
    family="content",
    unit="count",
    chart="doughnut",
    x="genre",
    y=("streams",),
    filters=("country", "region"),
)
def top_genres(
    *, start: date, end: date, today: date, country: str | None = None, region: str | None = None
) -> KpiResult:
    """Every genre with streams in the period, by streams of its tracks, ties by genre id."""
    rows = GenreCountryStreams.objects.filter(covering(start, end).q())
    if (countries := listener_countries(country, region)) is not None:
        rows = rows.filter(country__in=countries)
    ranked = rows.values("genre", "genre__name").annotate(streams=_SUM).order_by("-streams", "genre")
    return _genre_rows(ranked, "genre")


@reference("top-genres")
def top_genres_raw(
    *, start: date, end: date, today: date, country: str | None = None, region: str | None = None
) -> KpiResult:
    """Top genres from the raw events."""
    _time.check_range(start, end)
    rows = _raw_tracks(start, end, listener_countries(country, region), None)
    ranked = (
        rows.values("track__genre", "track__genre__name")
        .annotate(streams=_COUNT)
        .order_by("-streams", "track__genre")
    )
    return _genre_rows(ranked, "track__genre")


# Popular tracks per month.


def _rollup_monthly_top(
    covered: rollups.Span, countries: frozenset[str] | None, genre: int | None
) -> list[tuple[date, int, int]]:
    """(month, track, streams) of the top tracks of every month the span touches.

    A month read from one row per track (a whole month, all listeners or one country)
    takes its leaders off the streams index. Any other month is pruned as in
    `_pruned_top`: the month's ten leaders in the bound's month rows (the country's
    under a one-country filter, else all listeners') give a floor F, and only tracks
    whose bound row reaches F are summed. Three UNION ALL statements in all.
    """
    parts = covered.month_parts()
    bound = _track_bound(countries, genre)

    def exact(rows_q: Q) -> QuerySet:
        return _rollup_tracks(covered, countries, genre).filter(rows_q)

    direct = {
        index
        for index, (_, _, month_row) in enumerate(parts)
        if month_row and (countries is None or len(countries) == 1)
    }
    pruned = [index for index in range(len(parts)) if index not in direct]
    seeded = [
        (
            index,
            exact(parts[index][1])
            .filter(track__in=_month_leaders(bound, "track_id", parts[index][0], TOP_PER_MONTH))
            .values("track_id")
            .annotate(total=Sum("streams"))
            .values_list("total"),
        )
        for index in pruned
    ]
    floors = {
        index: int(floor)
        for index, found, floor in _union_all(seeded, "COUNT(*), MIN(total)")
        if found == TOP_PER_MONTH
    }
    candidates: dict[int, list[int]] = defaultdict(list)
    reaching = [
        (
            index,
            bound.filter(grain=rollups.MONTH, period=parts[index][0], streams__gte=floor).values_list(
                "track_id"
            ),
        )
        for index, floor in floors.items()
    ]
    for index, track in _union_all(reaching, "*"):
        candidates[index].append(track)
    ranked = []
    for index, (_, rows_q, _) in enumerate(parts):
        rows = exact(rows_q)
        if index in direct:
            ranked.append((index, rows.order_by("-streams", "track_id").values_list("track_id", "streams")))
            continue
        if index in floors:
            rows = rows.filter(track__in=candidates[index])
        ranked.append(
            (
                index,
                rows.values("track_id")
                .annotate(total=Sum("streams"))
                .order_by("-total", "track_id")
                .values_list("track_id", "total"),
            )
        )
    ranked = [(index, rows[:TOP_PER_MONTH]) for index, rows in ranked]
    return [(parts[index][0], track, int(streams)) for index, track, streams in _union_all(ranked, "*")]


def _union_all(selects: list[tuple[int, QuerySet]], columns: str) -> list[tuple]:
    """Run querysets as one UNION ALL statement; each row starts with its part's index.

    Django has no UNION of limited querysets on SQLite; wrapping each one in a subquery
    is valid SQL on both databases. `columns` is selected from each wrapped query: "*",
    or aggregates (one row per part)."""
    statements, params = [], []
    for index, queryset in selects:
        try:
            sql, part_params = queryset.query.sql_with_params()
        except EmptyResultSet:  # filters that keep nothing (a country outside the region)
            continue
        prefix = f"p{index}." if columns == "*" else ""
        statements.append(f"SELECT {index} AS part, {prefix}{columns} FROM ({sql}) p{index}")
        params.extend(part_params)
    if not statements:
        return []
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(statements), params)
        return cursor.fetchall()


def _raw_monthly_top(rows: QuerySet) -> list[tuple[date, int, int]]:
    """(month, track, streams) of the top tracks of every month, in one query: a window
    ranks the (month, track) counts and the outer query keeps the first ten of each."""
    ranked = (
        rows.annotate(month=TruncMonth("played_at", tzinfo=_time.reporting_zone()))
        .values("month", "track_id")
        .annotate(streams=_COUNT)
        .annotate(
            position=Window(
                RowNumber(), partition_by=F("month"), order_by=[F("streams").desc(), F("track_id").asc()]
            )
        )
        .filter(position__lte=TOP_PER_MONTH)
        .values_list("month", "track_id", "streams")
    )
    out = []
    for month_value, track, streams in ranked:
        if isinstance(month_value, datetime):
            month_value = month_value.astimezone(_time.reporting_zone()).date()
        out.append((month_value, track, streams))
    return out


def _popular_rows(top: list[tuple[date, int, int]]) -> KpiResult:
    top.sort(key=lambda item: (item[0], -item[2], item[1]))
    rows, rank, current = [], 0, None
    for (month, track, streams), row in zip(top, _track_rows([(t, s) for _, t, s in top]), strict=True):
        rank = rank + 1 if month == current else 1
        current = month
        rows.append(
            {
                "month": f"{month:%Y-%m}",
                "rank": rank,
                "title": row["title"],
                "artist": row["artist"],
                "streams": streams,
                "track_id": track,
                "artist_id": row["artist_id"],
            }
        )
    return KpiResult(
        columns=[
            Column("month", "Month", "text"),
            Column("rank", "Rank"),
            Column("title", "Track", "text"),
            Column("artist", "Artist", "text"),
            Column("streams", "Streams"),
        ],
        rows=rows,
    )


@kpi(
    slug="popular-over-time",
    title="Popular tracks over time",
    family="content",
    unit="count",
    chart="table",
    x="month",
    y=("streams",),
    filters=_RANKING_FILTERS,
)
def popular_over_time(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    genre: int | None = None,
) -> KpiResult:
    """The 10 most streamed tracks of every calendar month overlapping the period, each
    month counted on its days inside the period, ties by track id."""
    covered = covering(start, end)
    return _popular_rows(_rollup_monthly_top(covered, listener_countries(country, region), genre))


@reference("popular-over-time")
def popular_over_time_raw(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    genre: int | None = None,
) -> KpiResult:
    """Popular tracks over time from the raw events."""
    _time.check_range(start, end)
    return _popular_rows(
        _raw_monthly_top(_raw_tracks(start, end, listener_countries(country, region), genre))
    )


# Podcasts by region.


def _podcast_rows(per_region: Iterable[tuple[str, int, int]]) -> KpiResult:
    """Rows from (region, podcast, streams); regions in their fixed order, then podcasts
    by streams, ties by podcast id."""
    totals: dict[tuple[str, int], int] = defaultdict(int)
    for region, podcast, streams in per_region:
        totals[(region or "", podcast)] += streams
    titles = dict(Podcast.objects.filter(id__in={p for _, p in totals}).values_list("id", "title"))
    order = {slug: index for index, slug in enumerate(Region.values)}
    ranked = sorted(
        totals.items(), key=lambda item: (order.get(item[0][0], len(order)), -item[1], item[0][1])
    )
    return KpiResult(
        columns=[
            Column("region", "Region", "text"),
            Column("podcast", "Podcast", "text"),
            Column("streams", "Episode streams"),
        ],
        rows=[
            {
                "region": Region(region).label if region else "Unknown",
                "podcast": titles[podcast],
                "streams": streams,
                "region_code": region,
                "podcast_id": podcast,
            }
            for (region, podcast), streams in ranked
        ],
    )


@kpi(
    slug="podcasts-by-region",
    title="Podcasts by region",
    family="content",
    unit="count",
    chart="table",
    x="podcast",
    y=("streams",),
    filters=("region", "device"),
)
def podcasts_by_region(
    *, start: date, end: date, today: date, region: str | None = None, device: str | None = None
) -> KpiResult:
    """Episode streams (plays of 30 s or more) per podcast and listener region in the
    period; regions in their fixed order, podcasts by streams, ties by podcast id."""
    model = PodcastDeviceStreams if device else PodcastRegionStreams
    rows = model.objects.filter(covering(start, end).q())
    if region:
        rows = rows.filter(region=region)
    if device:
        rows = rows.filter(device=device)
    return _podcast_rows(rows.values_list("region", "podcast").annotate(streams=_SUM).order_by())


@reference("podcasts-by-region")
def podcasts_by_region_raw(
    *, start: date, end: date, today: date, region: str | None = None, device: str | None = None
) -> KpiResult:
    """Podcasts by region from the raw events."""
    _time.check_range(start, end)
    rows = stream_events(start, end, listener_countries(None, region)).filter(episode__isnull=False)
    if device:
        rows = rows.filter(device=device)
    per_country = rows.values_list("listener__country", "episode__podcast").annotate(streams=_COUNT)
    return _podcast_rows((region_of(code), podcast, streams) for code, podcast, streams in per_country)
