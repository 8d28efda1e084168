"""Content KPIs: top tracks, artists, albums and genres, popular tracks per month and
podcast streams per region.

A stream is an event with `ms_played >= 30 000`. Every KPI reads the content rollups
(`catalog.rollups`: month rows for the whole months of the range, day rows for its
partial edge months) and has a raw-events reference registered with `reference(slug)`
that computes the same result from `ListeningEvent`; tests compare both.

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
- Podcast streams per region: the regions of `billing.regions`, in their fixed order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime

from django.db.models import Count, F, QuerySet, Sum, Window
from django.db.models.functions import RowNumber, TruncMonth

from analytics.kpis import _time
from analytics.kpis.registry import Column, KpiResult, kpi, reference
from analytics.models import STREAM_MIN_MS, ListeningEvent
from billing.regions import Region, countries_in, region_of
from catalog.models import (
    Album,
    Artist,
    GenreCountryStreams,
    Podcast,
    PodcastCountryStreams,
    Track,
    TrackCountryStreams,
    TrackStreams,
)
from catalog.rollups import period_q

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


# Where the per-track figures come from: the rollups, or the raw events.


def _rollup_tracks(start: date, end: date, countries: frozenset[str] | None, genre: int | None) -> QuerySet:
    """Rollup rows of `[start, end)` with a `track` and a `streams` column."""
    if countries is None:
        rows = TrackStreams.objects.filter(period_q(start, end))
    else:
        rows = TrackCountryStreams.objects.filter(period_q(start, end), country__in=countries)
    if genre:
        rows = rows.filter(track__genre_id=genre)
    return rows


def stream_events(start: date, end: date, countries: frozenset[str] | None) -> QuerySet:
    """Stream events of `[start, end)` by listeners of `countries`."""
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


def _top_tracks(rows: Callable[..., QuerySet], total: Sum | Count, **query) -> KpiResult:
    ranked = _top(rows(**query), "track_id", total, TOP_N)
    return KpiResult(columns=_TRACK_COLUMNS, rows=_track_rows(ranked))


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
    _time.check_range(start, end)
    return _top_tracks(
        _rollup_tracks, _SUM, start=start, end=end, countries=listener_countries(country, region), genre=genre
    )


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
    return _top_tracks(
        _raw_tracks, _COUNT, start=start, end=end, countries=listener_countries(country, region), genre=genre
    )


def _top_artists(rows: QuerySet, total: Sum | Count) -> KpiResult:
    ranked = _top(rows, "track__primary_artist_id", total, TOP_N)
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
    _time.check_range(start, end)
    return _top_artists(_rollup_tracks(start, end, listener_countries(country, region), genre), _SUM)


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
    return _top_artists(_raw_tracks(start, end, listener_countries(country, region), genre), _COUNT)


def _top_albums(rows: QuerySet, total: Sum | Count) -> KpiResult:
    ranked = _top(rows, "track__album_id", total, TOP_N)
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
    _time.check_range(start, end)
    return _top_albums(_rollup_tracks(start, end, listener_countries(country, region), genre), _SUM)


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
    return _top_albums(_raw_tracks(start, end, listener_countries(country, region), genre), _COUNT)


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
    _time.check_range(start, end)
    rows = GenreCountryStreams.objects.filter(period_q(start, end))
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


def _monthly_top(rows: QuerySet, month: TruncMonth, total: Sum | Count) -> list[tuple[date, int, int]]:
    """(month, track, streams) of the top tracks of every month, in one query: a window
    ranks the (month, track) sums and the outer query keeps the first ten of each."""
    ranked = (
        rows.annotate(month=month)
        .values("month", "track_id")
        .annotate(streams=total)
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
    _time.check_range(start, end)
    rows = _rollup_tracks(start, end, listener_countries(country, region), genre)
    return _popular_rows(_monthly_top(rows, TruncMonth("period"), _SUM))


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
    rows = _raw_tracks(start, end, listener_countries(country, region), genre)
    month = TruncMonth("played_at", tzinfo=_time.reporting_zone())
    return _popular_rows(_monthly_top(rows, month, _COUNT))


# Podcasts by region.


def _podcast_rows(per_country: Iterable[tuple[str, int, int]]) -> KpiResult:
    """Sum (country, podcast, streams) into regions; regions in their fixed order, then
    podcasts by streams, ties by podcast id."""
    totals: dict[tuple[str, int], int] = defaultdict(int)
    for country, podcast, streams in per_country:
        totals[(region_of(country) or "", podcast)] += streams
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
    filters=("country", "region", "device"),
)
def podcasts_by_region(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    device: str | None = None,
) -> KpiResult:
    """Episode streams (plays of 30 s or more) per podcast and listener region in the
    period; regions in their fixed order, podcasts by streams, ties by podcast id."""
    _time.check_range(start, end)
    rows = PodcastCountryStreams.objects.filter(period_q(start, end))
    if (countries := listener_countries(country, region)) is not None:
        rows = rows.filter(country__in=countries)
    if device:
        rows = rows.filter(device=device)
    grouped = rows.values_list("country", "podcast").annotate(streams=_SUM).order_by()
    return _podcast_rows(grouped)


@reference("podcasts-by-region")
def podcasts_by_region_raw(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None = None,
    region: str | None = None,
    device: str | None = None,
) -> KpiResult:
    """Podcasts by region from the raw events."""
    _time.check_range(start, end)
    rows = stream_events(start, end, listener_countries(country, region)).filter(episode__isnull=False)
    if device:
        rows = rows.filter(device=device)
    grouped = rows.values_list("listener__country", "episode__podcast").annotate(streams=_COUNT)
    return _podcast_rows(grouped)
