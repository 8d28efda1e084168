"""Geography KPIs on a tiny hand-built dataset, read from the rollups and from raw data.

Listeners: se1 (SE, signed up Jan 1, premium since Jan 1), se2 (SE, Feb 20, free),
us1 (US, Jan 15, premium since Feb 10), br (BR, Jan 5, free, never plays), late (JP,
signed up Mar 10, after the period). Payments: se1 10.99 on Jan 1 and Feb 1, us1 10.99
on Feb 10 and a failed attempt on Feb 11. Genres are created Pop, Rock, Jazz, Folk (ids
in that order). February plays (UTC; streams unless marked):

    se1  Pop Feb 3, Pop Feb 4, Rock Feb 5, Jazz Feb 6, Folk Feb 7, Pop 29 999 ms Feb 3
         Rock Jan 31 23:59 (before the period)
    se2  Jazz 29 999 ms Feb 25 (active, no stream)
    us1  Rock Feb 10, Rock Feb 11, Pop Feb 12, a podcast episode Feb 28 23:59:59

Track streams in February: SE Pop 2, Rock 1, Jazz 1, Folk 1 (5); US Rock 2, Pop 1 (3);
platform Pop 3, Rock 3, Jazz 1, Folk 1 (8).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count

from analytics.kpis.geography import genre_share_by_country, listeners_by_country, listeners_by_region
from analytics.kpis.registry import get_kpi, get_reference
from billing import rollups as billing_rollups
from billing.models import Listener, PaymentStatus
from billing.regions import region_of
from catalog import rollups as catalog_rollups
from tests.factories import (
    at,
    make_episode,
    make_event,
    make_genre,
    make_listener,
    make_payment,
    make_plan,
    make_subscription,
    make_track,
)

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 20)
START, END = date(2026, 2, 1), date(2026, 3, 1)
PRICE = Decimal("10.99")


@pytest.fixture
def world():
    genres = {name: make_genre(name) for name in ("Pop", "Rock", "Jazz", "Folk")}
    tracks = {name: make_track(name, genre=genre) for name, genre in genres.items()}
    premium = make_plan("premium", price=PRICE)
    se1 = make_listener(country="SE", signed_up_at=at(2026, 1, 1))
    se2 = make_listener(country="SE", signed_up_at=at(2026, 2, 20))
    us1 = make_listener(country="US", signed_up_at=at(2026, 1, 15))
    make_listener(country="BR", signed_up_at=at(2026, 1, 5))
    make_listener(country="JP", signed_up_at=at(2026, 3, 10))
    se1_sub = make_subscription(se1, premium, started_at=at(2026, 1, 1))
    make_payment(se1_sub, paid_at=at(2026, 1, 1))
    make_payment(se1_sub, paid_at=at(2026, 2, 1))
    us1_sub = make_subscription(us1, premium, started_at=at(2026, 2, 10))
    make_payment(us1_sub, paid_at=at(2026, 2, 10))
    make_payment(us1_sub, paid_at=at(2026, 2, 11), status=PaymentStatus.FAILED)

    for day, name in [(3, "Pop"), (4, "Pop"), (5, "Rock"), (6, "Jazz"), (7, "Folk")]:
        make_event(se1, track=tracks[name], played_at=at(2026, 2, day, 9))
    make_event(se1, track=tracks["Pop"], played_at=at(2026, 2, 3, 10), ms_played=29_999)
    make_event(se1, track=tracks["Rock"], played_at=at(2026, 1, 31, 23, 59))
    make_event(se2, track=tracks["Jazz"], played_at=at(2026, 2, 25), ms_played=29_999)
    for day, name in [(10, "Rock"), (11, "Rock"), (12, "Pop")]:
        make_event(us1, track=tracks[name], played_at=at(2026, 2, day, 18))
    make_event(us1, track=None, episode=make_episode(), played_at=at(2026, 2, 28, 23, 59, 59))

    catalog_rollups.refresh(since=None, full=True, today=TODAY)
    billing_rollups.refresh(since=None, full=True, today=TODAY)
    return genres


def _audience(listeners: int, active: int, paying: int, streams: int, gross: Decimal) -> dict:
    return {
        "listeners": listeners,
        "active_listeners": active,
        "paying_listeners": paying,
        "streams": streams,
        "gross": gross,
    }


ZERO = Decimal("0.00")
SE_ROW = {"country": "SE", **_audience(2, 2, 1, 5, PRICE), "country_name": "Sweden"}
BR_ROW = {"country": "BR", **_audience(1, 0, 0, 0, ZERO), "country_name": "Brazil"}
US_ROW = {"country": "US", **_audience(1, 1, 1, 4, PRICE), "country_name": "United States of America"}


def test_listeners_by_country_merges_audience_streams_and_revenue(world, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        result = listeners_by_country(start=START, end=END, today=TODAY)

    # SE: 2 signed up by Mar 1, both active (se2's short play counts), se1 paying,
    # 5 track streams (the Jan 31 one is before the period, the 29 999 ms one no
    # stream), gross = se1's Feb 1 payment. US: us1, paying since Feb 10, 3 track
    # streams + 1 episode = 4, gross = the Feb 10 payment (the failed one is none).
    # BR: signed up, idle. JP signed up after the period: left out. Order: listeners,
    # then code (BR before US).
    assert result.rows == [SE_ROW, BR_ROW, US_ROW]
    assert [c.key for c in result.columns] == [
        "country",
        "listeners",
        "active_listeners",
        "paying_listeners",
        "streams",
        "gross",
    ]


def test_listeners_by_country_filters_by_country_and_region(world):
    assert listeners_by_country(start=START, end=END, today=TODAY, country="US").rows == [US_ROW]
    assert listeners_by_country(start=START, end=END, today=TODAY, region="latin_america").rows == [BR_ROW]
    assert listeners_by_country(start=START, end=END, today=TODAY, region="europe", country="US").rows == []


def test_listeners_by_country_counts_the_period_edges(world):
    # [Feb 3, Feb 4): se1 streamed Pop once (and played 29 999 ms); listeners and
    # payers are taken at Feb 4 00:00: se2 and us1's subscription come later.
    rows = listeners_by_country(start=date(2026, 2, 3), end=date(2026, 2, 4), today=TODAY).rows

    assert rows == [
        {"country": "BR", **_audience(1, 0, 0, 0, ZERO), "country_name": "Brazil"},
        {"country": "SE", **_audience(1, 1, 1, 1, ZERO), "country_name": "Sweden"},
        {"country": "US", **_audience(1, 0, 0, 0, ZERO), "country_name": "United States of America"},
    ]


def test_listeners_by_region_lists_every_region_in_order(world, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        result = listeners_by_region(start=START, end=END, today=TODAY)

    assert result.rows == [
        {"region": "Europe", **_audience(2, 2, 1, 5, PRICE), "region_code": "europe"},
        {"region": "North America", **_audience(1, 1, 1, 4, PRICE), "region_code": "north_america"},
        {"region": "Latin America", **_audience(1, 0, 0, 0, ZERO), "region_code": "latin_america"},
        {"region": "Asia-Pacific", **_audience(0, 0, 0, 0, ZERO), "region_code": "asia_pacific"},
        {"region": "Middle East & Africa", **_audience(0, 0, 0, 0, ZERO), "region_code": "mea"},
    ]
    assert listeners_by_region(start=START, end=END, today=TODAY, country="SE").rows == [
        {"region": "Europe", **_audience(2, 2, 1, 5, PRICE), "region_code": "europe"},
    ]


def _share(country, name, rank, streams, share, platform_share, index, genres) -> dict:
    return {
        "country": country,
        "rank": rank,
        "genre": name,
        "streams": streams,
        "share": share,
        "platform_share": platform_share,
        "index": index,
        "country_name": {"SE": "Sweden", "US": "United States of America"}[country],
        "genre_id": genres[name].id,
    }


def test_genre_share_by_country_top_three_with_index(world, django_assert_max_num_queries):
    # The watermark, the country-genre sums, the platform-wide sums.
    with django_assert_max_num_queries(3):
        result = genre_share_by_country(start=START, end=END, today=TODAY)

    # SE (5 streams) before US (3). Index = (streams x 8) / (country total x platform
    # genre streams). SE's Rock, Jazz and Folk tie at 1: Folk has the highest id, out.
    assert result.rows == [
        _share("SE", "Pop", 1, 2, 2 / 5, 3 / 8, (2 * 8) / (5 * 3), world),
        _share("SE", "Rock", 2, 1, 1 / 5, 3 / 8, (1 * 8) / (5 * 3), world),
        _share("SE", "Jazz", 3, 1, 1 / 5, 1 / 8, (1 * 8) / (5 * 1), world),
        _share("US", "Rock", 1, 2, 2 / 3, 3 / 8, (2 * 8) / (3 * 3), world),
        _share("US", "Pop", 2, 1, 1 / 3, 3 / 8, (1 * 8) / (3 * 3), world),
    ]
    # The platform-wide share stays over every country when filtering.
    assert genre_share_by_country(start=START, end=END, today=TODAY, region="north_america").rows == [
        _share("US", "Rock", 1, 2, 2 / 3, 3 / 8, (2 * 8) / (3 * 3), world),
        _share("US", "Pop", 2, 1, 1 / 3, 3 / 8, (1 * 8) / (3 * 3), world),
    ]


def test_genre_share_by_country_is_empty_without_streams(world):
    assert genre_share_by_country(start=date(2026, 4, 1), end=date(2026, 5, 1), today=TODAY).rows == []


@pytest.mark.parametrize("slug", ["listeners-by-country", "listeners-by-region", "genre-share-by-country"])
@pytest.mark.parametrize(
    ("start", "end", "filters"),
    [
        (START, END, {}),
        (date(2026, 1, 1), date(2026, 4, 1), {"region": "europe"}),
        (date(2026, 1, 31), date(2026, 2, 11), {"country": "SE"}),
    ],
)
def test_geography_kpis_match_their_raw_references(world, slug, start, end, filters):
    rollup = get_kpi(slug).run(start=start, end=end, today=TODAY, **filters)
    raw = get_reference(slug)(start=start, end=end, today=TODAY, **filters)

    assert rollup.rows
    assert rollup == raw


# The seeded period is [2025-11-01, 2026-03-01): four months ending the day before Mar 1.
SEED_TODAY = date(2026, 2, 28)


def test_geography_kpis_match_their_raw_references_on_seeded_data():
    call_command("seed", listeners=150, events=15_000, months=4, seed=7, end_date="2026-03-01", quiet=True)
    catalog_rollups.refresh(since=None, full=True, today=SEED_TODAY)
    billing_rollups.refresh(since=None, full=True, today=SEED_TODAY)
    country = (
        Listener.objects.values_list("country", flat=True)
        .annotate(n=Count("id"))
        .order_by("-n", "country")
        .first()
    )
    cases = [
        (date(2025, 11, 1), date(2026, 3, 1), {}),
        (date(2025, 12, 10), date(2026, 2, 20), {"region": region_of(country)}),
        (date(2026, 1, 5), date(2026, 1, 25), {"country": country}),
        (date(2026, 2, 16), date(2026, 3, 16), {}),  # past the data
    ]
    for slug in ["listeners-by-country", "listeners-by-region", "genre-share-by-country"]:
        for start, end, filters in cases:
            rollup = get_kpi(slug).run(start=start, end=end, today=SEED_TODAY, **filters)
            raw = get_reference(slug)(start=start, end=end, today=SEED_TODAY, **filters)
            assert rollup.rows, (slug, start, end, filters)
            assert rollup == raw, (slug, start, end, filters)
