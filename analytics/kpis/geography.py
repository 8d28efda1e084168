"""Geography KPIs: listeners, activity, streams and revenue by listener country and
region, and the genre mix of each country.

Streams, active listeners and genre shares read the content rollups
(`catalog.rollups`); sign-ups read the listener table; paying listeners and gross
revenue come from the `revenue-by-country` KPI, merged by country code. Each KPI has a
raw reference (events, and the revenue KPI's own reference) registered with
`reference(slug)`; tests compare both.

Readings where the specification is silent:
- Listeners = listeners signed up by t, the first instant of min(end, today + 1 day);
  paying listeners are counted at the same t. Active listeners = distinct listeners
  with at least one event (of any length) in the period. Streams = events of 30 s or
  more in the period, tracks and podcast episodes alike. Gross revenue = payments that
  succeeded in the period, refunded ones included.
- A listener belongs to the country recorded on the listener (rollups record it when a
  day is refreshed; see `analytics.kpis.content`).
- Genre share counts track streams only (episodes have no genre): share = streams of
  genre g by listeners of c / track streams by listeners of c; the platform-wide share
  is over every country whatever the filter; index = share / platform-wide share.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet, Sum

import catalog.rollups as rollups  # a module import: see analytics.kpis.content
from analytics.kpis import _time
from analytics.kpis._names import country_name
from analytics.kpis.content import covering, listener_countries, stream_events
from analytics.kpis.registry import Column, KpiResult, get_kpi, get_reference, kpi, reference
from analytics.models import ListeningEvent
from billing.models import Listener
from billing.regions import Region, region_of
from catalog.models import CountrySignups, CountryStreams, GenreCountryStreams

TOP_GENRES_PER_COUNTRY = 3
ZERO = Decimal("0.00")


@dataclass
class Audience:
    """One country's or region's figures."""

    listeners: int = 0
    active_listeners: int = 0
    paying_listeners: int = 0
    streams: int = 0
    gross: Decimal = ZERO

    def add(self, other: Audience) -> None:
        self.listeners += other.listeners
        self.active_listeners += other.active_listeners
        self.paying_listeners += other.paying_listeners
        self.streams += other.streams
        self.gross += other.gross

    def is_empty(self) -> bool:
        return not any(
            (self.listeners, self.active_listeners, self.paying_listeners, self.streams, self.gross)
        )


_AUDIENCE_COLUMNS = [
    Column("listeners", "Listeners"),
    Column("active_listeners", "Active listeners"),
    Column("paying_listeners", "Paying listeners"),
    Column("streams", "Streams"),
    Column("gross", "Gross revenue", "money"),
]


# A source gives, for `[start, end)` and the countries kept (None: all), (country,
# count) pairs of: listeners signed up by the instant t, active listeners, streams.
Pairs = Iterable[tuple[str, int]]
Source = Callable[[date, date, datetime, frozenset[str] | None], tuple[Pairs, Pairs, Pairs]]


def _audience(
    *,
    start: date,
    end: date,
    today: date,
    country: str | None,
    region: str | None,
    source: Source,
    revenue: Callable[..., KpiResult],
) -> dict[str, Audience]:
    """Per country code, the figures of `[start, end)` from `source` and `revenue`."""
    _time.check_range(start, end)
    countries = listener_countries(country, region)
    out: dict[str, Audience] = defaultdict(Audience)
    signed_up, active, streams = source(start, end, _time.as_of(end=end, today=today), countries)
    for code, listeners in signed_up:
        out[code].listeners += listeners
    for code, listeners in active:
        out[code].active_listeners += listeners
    for code, count in streams:
        out[code].streams += count
    # The revenue KPI filters by region only; a country filter is applied here.
    for row in revenue(start=start, end=end, today=today, **({"region": region} if region else {})).rows:
        code = str(row["country"])
        if countries is None or code in countries:
            out[code].paying_listeners += int(row["paying_listeners"])
            out[code].gross += row["gross"]
    return {code: figures for code, figures in out.items() if not figures.is_empty()}


def _in(rows: QuerySet, countries: frozenset[str] | None, field: str = "country") -> QuerySet:
    return rows if countries is None else rows.filter(**{f"{field}__in": countries})


def _rollups(
    start: date, end: date, at: datetime, countries: frozenset[str] | None
) -> tuple[Pairs, Pairs, Pairs]:
    covered = covering(start, end)
    signups = _in(CountrySignups.objects.filter(rollups.signups_before(_time.local_date(at))), countries)
    streams = _in(CountryStreams.objects.filter(covered.q()), countries)
    return (
        signups.values_list("country").annotate(n=Sum("signups")).order_by(),
        rollups.active_listener_counts(covered, countries),
        streams.values_list("country").annotate(n=Sum("streams")).order_by(),
    )


def _raw(
    start: date, end: date, at: datetime, countries: frozenset[str] | None
) -> tuple[Pairs, Pairs, Pairs]:
    lo, hi = _time.day_bounds(start, end)
    events = _in(
        ListeningEvent.objects.filter(played_at__gte=lo, played_at__lt=hi), countries, "listener__country"
    )
    signed_up = _in(Listener.objects.filter(signed_up_at__lt=at), countries)
    return (
        signed_up.values_list("country").annotate(n=Count("id")).order_by(),
        events.values_list("listener__country").annotate(n=Count("listener", distinct=True)).order_by(),
        stream_events(start, end, countries).values_list("listener__country").annotate(n=Count("id")),
    )


def _figures(audience: Audience) -> dict[str, Any]:
    return {
        "listeners": audience.listeners,
        "active_listeners": audience.active_listeners,
        "paying_listeners": audience.paying_listeners,
        "streams": audience.streams,
        "gross": audience.gross,
    }


# Listeners by country.


def _by_country(per_country: dict[str, Audience]) -> KpiResult:
    ordered = sorted(per_country.items(), key=lambda item: (-item[1].listeners, item[0]))
    return KpiResult(
        columns=[Column("country", "Country", "text"), *_AUDIENCE_COLUMNS],
        rows=[
            {"country": code, **_figures(figures), "country_name": country_name(code)}
            for code, figures in ordered
        ],
    )


@kpi(
    slug="listeners-by-country",
    title="Listeners by country",
    family="geography",
    unit="count",
    chart="horizontal-bar",
    x="country",
    y=("listeners", "active_listeners", "paying_listeners"),
    filters=("country", "region"),
)
def listeners_by_country(
    *, start: date, end: date, today: date, country: str | None = None, region: str | None = None
) -> KpiResult:
    """Per listener country: listeners signed up and paying listeners at the period's end,
    active listeners (at least one play) and streams (plays of 30 s or more) in the
    period, and gross revenue (successful payments in the period).

    Countries by listeners, most first, ties by country code; countries with nothing
    to show are left out. Rows carry the ISO code (`country`) and `country_name`.
    """
    return _by_country(
        _audience(
            start=start,
            end=end,
            today=today,
            country=country,
            region=region,
            revenue=get_kpi("revenue-by-country").run,
            source=_rollups,
        )
    )


@reference("listeners-by-country")
def listeners_by_country_raw(
    *, start: date, end: date, today: date, country: str | None = None, region: str | None = None
) -> KpiResult:
    """Listeners by country from the raw events and the revenue KPI's reference."""
    return _by_country(
        _audience(
            start=start,
            end=end,
            today=today,
            country=country,
            region=region,
            revenue=get_reference("revenue-by-country"),
            source=_raw,
        )
    )


# Listeners by region.


def _by_region(per_country: dict[str, Audience], countries: frozenset[str] | None) -> KpiResult:
    in_scope = Region.values if countries is None else {region_of(code) for code in countries}
    per_region = {slug: Audience() for slug in Region.values if slug in in_scope}
    for code, figures in per_country.items():
        slug = region_of(code)
        if slug in per_region:
            per_region[slug].add(figures)
    return KpiResult(
        columns=[Column("region", "Region", "text"), *_AUDIENCE_COLUMNS],
        rows=[
            {"region": Region(slug).label, **_figures(figures), "region_code": slug}
            for slug, figures in per_region.items()
        ],
    )


@kpi(
    slug="listeners-by-region",
    title="Listeners by region",
    family="geography",
    unit="count",
    chart="bar",
    x="region",
    y=("listeners", "active_listeners", "paying_listeners"),
    filters=("country", "region"),
)
def listeners_by_region(
    *, start: date, end: date, today: date, country: str | None = None, region: str | None = None
) -> KpiResult:
    """Per region (Europe, North America, Latin America, Asia-Pacific, Middle East &
    Africa, by listener country): listeners and paying listeners at the period's end,
    active listeners and streams in the period, and gross revenue.

    Every region in scope is listed, in this fixed order, zeros included.
    """
    per_country = _audience(
        start=start,
        end=end,
        today=today,
        country=country,
        region=region,
        revenue=get_kpi("revenue-by-country").run,
        source=_rollups,
    )
    return _by_region(per_country, listener_countries(country, region))


@reference("listeners-by-region")
def listeners_by_region_raw(
    *, start: date, end: date, today: date, country: str | None = None, region: str | None = None
) -> KpiResult:
    """Listeners by region from the raw events and the revenue KPI's reference."""
    per_country = _audience(
        start=start,
        end=end,
        today=today,
        country=country,
        region=region,
        revenue=get_reference("revenue-by-country"),
        source=_raw,
    )
    return _by_region(per_country, listener_countries(country, region))


# Genre share by country.


def _genre_share(
    per_country_genre: Iterable[tuple[str, int, str, int]], per_genre: Iterable[tuple[int, int]]
) -> KpiResult:
    """Rows from (country, genre id, genre name, streams) and platform-wide (genre id,
    streams); shares and indexes from the exact integer counts."""
    platform = dict(per_genre)
    platform_total = sum(platform.values())
    by_country: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for code, genre, name, streams in per_country_genre:
        by_country[code].append((genre, name, streams))
    totals = {code: sum(streams for _, _, streams in genres) for code, genres in by_country.items()}
    rows = []
    for code in sorted(by_country, key=lambda code: (-totals[code], code)):
        top = sorted(by_country[code], key=lambda item: (-item[2], item[0]))[:TOP_GENRES_PER_COUNTRY]
        for rank, (genre, name, streams) in enumerate(top, start=1):
            rows.append(
                {
                    "country": code,
                    "rank": rank,
                    "genre": name,
                    "streams": streams,
                    "share": streams / totals[code],
                    "platform_share": platform[genre] / platform_total,
                    "index": (streams * platform_total) / (totals[code] * platform[genre]),
                    "country_name": country_name(code),
                    "genre_id": genre,
                }
            )
    return KpiResult(
        columns=[
            Column("country", "Country", "text"),
            Column("rank", "Rank"),
            Column("genre", "Genre", "text"),
            Column("streams", "Streams"),
            Column("share", "Share of the country's streams", "ratio"),
            Column("platform_share", "Platform-wide share", "ratio"),
            Column("index", "Index vs platform", "index"),
        ],
        rows=rows,
    )


@kpi(
    slug="genre-share-by-country",
    title="Genre share by country",
    family="geography",
    unit="ratio",
    chart="table",
    x="country",
    y=("share",),
    filters=("country", "region"),
)
def genre_share_by_country(
    *, start: date, end: date, today: date, country: str | None = None, region: str | None = None
) -> KpiResult:
    """Per listener country, the 3 genres with the most track streams in the period, each
    with its share of the country's track streams and its index against the
    platform-wide share (share in the country / share over all countries; above 1 means
    the country streams the genre more than the platform does).

    Countries by track streams, most first, ties by code; genres by streams, ties by id.
    """
    rows = GenreCountryStreams.objects.filter(covering(start, end).q())
    platform = rows.values_list("genre").annotate(n=Sum("streams")).order_by()
    if (countries := listener_countries(country, region)) is not None:
        rows = rows.filter(country__in=countries)
    per_country = rows.values_list("country", "genre", "genre__name").annotate(n=Sum("streams")).order_by()
    return _genre_share(per_country, platform)


@reference("genre-share-by-country")
def genre_share_by_country_raw(
    *, start: date, end: date, today: date, country: str | None = None, region: str | None = None
) -> KpiResult:
    """Genre share by country from the raw events."""
    _time.check_range(start, end)
    streams: QuerySet = stream_events(start, end, None).filter(track__isnull=False)
    platform = streams.values_list("track__genre").annotate(n=Count("id"))
    if (countries := listener_countries(country, region)) is not None:
        streams = streams.filter(listener__country__in=countries)
    per_country = streams.values_list("listener__country", "track__genre", "track__genre__name").annotate(
        n=Count("id")
    )
    return _genre_share(per_country, platform)
