"""Content KPIs on a tiny hand-built dataset, read from the rollups and from raw events.

Dataset (UTC, the default reporting zone); streams are plays of 30 000 ms or more:

    track  artist (primary)   genre  album  streams
    Alpha  Ada                Pop    A1     SE Jan 31 23:59:59; US Feb 10
    Beta   Bo                 Rock   B1     US Feb 1 00:00;     SE Mar 1
    Gamma  Bo (feat. Ada)     Pop    B1     US Feb 1 12:00; SE Feb 2; US Feb 15

plus one 29 999 ms play of Alpha by SE on Feb 1 00:00 (not a stream). The main period
[Jan 31, Mar 2) reads Jan 31 and Mar 1 as day rows and February as its month row.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command
from django.db.models import Count

from analytics.kpis.content import (
    popular_over_time,
    top_albums,
    top_artists,
    top_genres,
    top_tracks,
)
from analytics.kpis.registry import get_kpi, get_reference
from analytics.models import ListeningEvent
from billing.models import Listener
from billing.regions import region_of
from catalog.models import Album, Genre
from catalog.rollups import refresh
from tests.factories import (
    at,
    make_artist,
    make_episode,
    make_event,
    make_genre,
    make_listener,
    make_track,
)

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 20)
START, END = date(2026, 1, 31), date(2026, 3, 2)
SLUGS = ["top-tracks", "top-artists", "top-albums", "top-genres", "popular-over-time", "podcasts-by-region"]


@pytest.fixture
def music():
    pop, rock = make_genre("Pop"), make_genre("Rock")
    ada, bo = make_artist("Ada"), make_artist("Bo")
    a1 = Album.objects.create(title="A1", artist=ada)
    b1 = Album.objects.create(title="B1", artist=bo)
    alpha = make_track("Alpha", artist=ada, genre=pop, album=a1)
    beta = make_track("Beta", artist=bo, genre=rock, album=b1)
    gamma = make_track("Gamma", artist=bo, genre=pop, album=b1)
    gamma.featured_artists.add(ada)
    se, us = make_listener(country="SE"), make_listener(country="US")
    make_event(se, track=alpha, played_at=at(2026, 1, 31, 23, 59, 59), ms_played=30_000)
    make_event(se, track=alpha, played_at=at(2026, 2, 1), ms_played=29_999)
    make_event(us, track=beta, played_at=at(2026, 2, 1), ms_played=30_000)
    make_event(us, track=gamma, played_at=at(2026, 2, 1, 12))
    make_event(se, track=gamma, played_at=at(2026, 2, 2))
    make_event(us, track=alpha, played_at=at(2026, 2, 10))
    make_event(us, track=gamma, played_at=at(2026, 2, 15))
    make_event(se, track=beta, played_at=at(2026, 3, 1))
    refresh(since=None, full=True, today=TODAY)
    return {
        "pop": pop,
        "rock": rock,
        "ada": ada,
        "bo": bo,
        "a1": a1,
        "b1": b1,
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "se": se,
        "us": us,
    }


def _track(rank: int, track, streams: int) -> dict:
    return {
        "rank": rank,
        "title": track.title,
        "artist": track.primary_artist.name,
        "streams": streams,
        "track_id": track.id,
        "artist_id": track.primary_artist_id,
    }


def test_top_tracks_ranks_by_streams_then_id(music, django_assert_max_num_queries):
    alpha, beta, gamma = music["alpha"], music["beta"], music["gamma"]

    # The watermark, the leaders, their sums (the floor), the candidates, the pruned
    # ranking, the names.
    with django_assert_max_num_queries(6):
        result = top_tracks(start=START, end=END, today=TODAY)

    # Gamma 3 (Feb 1, 2, 15); Alpha 2 (Jan 31, Feb 10; the 29 999 ms play is no
    # stream) ties Beta 2 (Feb 1, Mar 1) and comes first by its lower id.
    assert result.rows == [_track(1, gamma, 3), _track(2, alpha, 2), _track(3, beta, 2)]
    assert [c.key for c in result.columns] == ["rank", "title", "artist", "streams"]


def test_top_tracks_filters_by_country_region_and_genre(music):
    alpha, beta, gamma = music["alpha"], music["beta"], music["gamma"]

    # SE: Alpha Jan 31, Gamma Feb 2, Beta Mar 1: one each, so by id.
    assert top_tracks(start=START, end=END, today=TODAY, country="SE").rows == [
        _track(1, alpha, 1),
        _track(2, beta, 1),
        _track(3, gamma, 1),
    ]
    # North America is the US: Gamma Feb 1 + Feb 15 = 2, Alpha 1, Beta 1.
    assert top_tracks(start=START, end=END, today=TODAY, region="north_america").rows == [
        _track(1, gamma, 2),
        _track(2, alpha, 1),
        _track(3, beta, 1),
    ]
    # SE is not in North America: nothing is left.
    assert top_tracks(start=START, end=END, today=TODAY, country="SE", region="north_america").rows == []
    assert top_tracks(start=START, end=END, today=TODAY, genre=music["rock"].id).rows == [_track(1, beta, 2)]
    # Pop by US listeners: Gamma 2 (Feb 1, Feb 15), Alpha 1 (Feb 10).
    assert top_tracks(start=START, end=END, today=TODAY, country="US", genre=music["pop"].id).rows == [
        _track(1, gamma, 2),
        _track(2, alpha, 1),
    ]


def test_top_tracks_cuts_the_period_on_day_boundaries(music):
    alpha, beta, gamma = music["alpha"], music["beta"], music["gamma"]

    # [Feb 1, Mar 1): February only. Gamma 3, Alpha 1 (Feb 10), Beta 1 (Feb 1).
    assert top_tracks(start=date(2026, 2, 1), end=date(2026, 3, 1), today=TODAY).rows == [
        _track(1, gamma, 3),
        _track(2, alpha, 1),
        _track(3, beta, 1),
    ]
    # [Jan 31, Feb 1): only the stream one second before midnight.
    assert top_tracks(start=START, end=date(2026, 2, 1), today=TODAY).rows == [_track(1, alpha, 1)]


def test_top_tracks_keeps_the_first_fifty(django_assert_max_num_queries):
    listener = make_listener()
    tracks = [make_track(f"T{n:02d}") for n in range(51)]
    for track in tracks:
        make_event(listener, track=track, played_at=at(2026, 2, 5))
    refresh(since=None, full=True, today=TODAY)

    with django_assert_max_num_queries(6):
        rows = top_tracks(start=START, end=END, today=TODAY).rows

    # 51 tracks tie at one stream: the 50 lowest ids, in id order.
    assert [row["track_id"] for row in rows] == [track.id for track in tracks[:50]]
    assert [row["rank"] for row in rows] == list(range(1, 51))


def test_top_artists_credits_primary_artists_only(music, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        result = top_artists(start=START, end=END, today=TODAY)

    # Bo: Beta 2 + Gamma 3 = 5. Ada: Alpha 2; her feature on Gamma does not count.
    assert result.rows == [
        {"rank": 1, "artist": "Bo", "streams": 5, "artist_id": music["bo"].id},
        {"rank": 2, "artist": "Ada", "streams": 2, "artist_id": music["ada"].id},
    ]
    # SE: Bo = Gamma Feb 2 + Beta Mar 1 = 2; Ada = Alpha Jan 31 = 1.
    assert top_artists(start=START, end=END, today=TODAY, country="SE").rows == [
        {"rank": 1, "artist": "Bo", "streams": 2, "artist_id": music["bo"].id},
        {"rank": 2, "artist": "Ada", "streams": 1, "artist_id": music["ada"].id},
    ]


def test_top_albums_sums_their_tracks(music, django_assert_max_num_queries):
    a1, b1 = music["a1"], music["b1"]

    with django_assert_max_num_queries(6):
        result = top_albums(start=START, end=END, today=TODAY, genre=music["pop"].id)

    # Pop only: B1 holds Gamma 3, A1 holds Alpha 2 (Beta is rock).
    bo, ada = music["bo"].id, music["ada"].id
    assert result.rows == [
        {"rank": 1, "title": "B1", "artist": "Bo", "streams": 3, "album_id": b1.id, "artist_id": bo},
        {"rank": 2, "title": "A1", "artist": "Ada", "streams": 2, "album_id": a1.id, "artist_id": ada},
    ]


def test_top_genres_lists_every_genre_with_streams(music, django_assert_max_num_queries):
    pop, rock = music["pop"], music["rock"]
    make_genre("Jazz")  # no streams: left out

    with django_assert_max_num_queries(2):
        result = top_genres(start=START, end=END, today=TODAY)

    # Pop: Alpha 2 + Gamma 3 = 5; Rock: Beta 2.
    assert result.rows == [
        {"rank": 1, "genre": "Pop", "streams": 5, "genre_id": pop.id},
        {"rank": 2, "genre": "Rock", "streams": 2, "genre_id": rock.id},
    ]
    # Europe (SE): Pop = Alpha Jan 31 + Gamma Feb 2 = 2, Rock = Beta Mar 1 = 1.
    assert top_genres(start=START, end=END, today=TODAY, region="europe").rows == [
        {"rank": 1, "genre": "Pop", "streams": 2, "genre_id": pop.id},
        {"rank": 2, "genre": "Rock", "streams": 1, "genre_id": rock.id},
    ]


def test_top_genres_breaks_ties_by_genre_id(music):
    # [Feb 1, Feb 2) US: Beta (Rock) 1 at 00:00, Gamma (Pop) 1 at 12:00: Pop's id is lower.
    assert top_genres(start=date(2026, 2, 1), end=date(2026, 2, 2), today=TODAY).rows == [
        {"rank": 1, "genre": "Pop", "streams": 1, "genre_id": music["pop"].id},
        {"rank": 2, "genre": "Rock", "streams": 1, "genre_id": music["rock"].id},
    ]


def _popular(month: str, rank: int, track, streams: int) -> dict:
    row = _track(rank, track, streams)
    return {"month": month, **row}


def test_popular_over_time_ranks_each_month_inside_the_period(music, django_assert_max_num_queries):
    alpha, beta, gamma = music["alpha"], music["beta"], music["gamma"]

    # The watermark; the months' floors, candidates and leaders (a UNION ALL each); the names.
    with django_assert_max_num_queries(5):
        result = popular_over_time(start=START, end=END, today=TODAY)

    # January counts only Jan 31, March only Mar 1; February is whole.
    assert result.rows == [
        _popular("2026-01", 1, alpha, 1),
        _popular("2026-02", 1, gamma, 3),
        _popular("2026-02", 2, alpha, 1),  # Feb 10; ties Beta (Feb 1), lower id
        _popular("2026-02", 3, beta, 1),
        _popular("2026-03", 1, beta, 1),
    ]
    assert [c.key for c in result.columns] == ["month", "rank", "title", "artist", "streams"]
    # US only, rock only: Beta on Feb 1.
    assert popular_over_time(
        start=START, end=END, today=TODAY, country="US", genre=music["rock"].id
    ).rows == [_popular("2026-02", 1, beta, 1)]


def test_popular_over_time_keeps_ten_per_month():
    listener = make_listener()
    tracks = [make_track(f"T{n:02d}") for n in range(12)]
    # March: every track once, and the last track three times: it leads, then ids.
    for track in tracks:
        make_event(listener, track=track, played_at=at(2026, 3, 3))
    for hour in (1, 2):
        make_event(listener, track=tracks[-1], played_at=at(2026, 3, 4, hour))
    refresh(since=None, full=True, today=TODAY)

    rows = popular_over_time(start=date(2026, 3, 1), end=date(2026, 4, 1), today=TODAY).rows

    assert [(row["rank"], row["track_id"], row["streams"]) for row in rows] == [
        (1, tracks[-1].id, 3),
        *[(n + 2, tracks[n].id, 1) for n in range(9)],
    ]


@pytest.fixture
def podcasts(music):
    """Episode streams in February: P1 SE mobile, P1 US car, P2 US car x2, P2 SE car;
    a 29 999 ms P1 play by the US is no stream."""
    p1_ep1 = make_episode(number=1)
    p1_ep2 = make_episode(p1_ep1.podcast, number=2)
    p2_ep = make_episode(number=1)
    se, us = music["se"], music["us"]
    make_event(se, track=None, episode=p1_ep1, played_at=at(2026, 2, 3), device="mobile")
    make_event(us, track=None, episode=p1_ep2, played_at=at(2026, 2, 3), device="car")
    make_event(us, track=None, episode=p1_ep2, played_at=at(2026, 2, 4), device="car", ms_played=29_999)
    make_event(us, track=None, episode=p2_ep, played_at=at(2026, 2, 4), device="car")
    make_event(us, track=None, episode=p2_ep, played_at=at(2026, 2, 28, 23), device="car")
    make_event(se, track=None, episode=p2_ep, played_at=at(2026, 2, 5), device="car")
    refresh(since=None, full=True, today=TODAY)
    return {"p1": p1_ep1.podcast, "p2": p2_ep.podcast}


def test_podcasts_by_region_sums_episode_streams(podcasts, django_assert_max_num_queries):
    p1, p2 = podcasts["p1"], podcasts["p2"]
    kpi = get_kpi("podcasts-by-region")

    def row(region: str, code: str, podcast, streams: int) -> dict:
        return {
            "region": region,
            "podcast": podcast.title,
            "streams": streams,
            "region_code": code,
            "podcast_id": podcast.id,
        }

    with django_assert_max_num_queries(3):
        result = kpi.run(start=START, end=END, today=TODAY)

    # Europe (SE): P1 1, P2 1, tie by id. North America (US): P2 2, P1 1 (its
    # 29 999 ms play does not count). Regions in their fixed order.
    assert result.rows == [
        row("Europe", "europe", p1, 1),
        row("Europe", "europe", p2, 1),
        row("North America", "north_america", p2, 2),
        row("North America", "north_america", p1, 1),
    ]
    assert kpi.run(start=START, end=END, today=TODAY, device="car").rows == [
        row("Europe", "europe", p2, 1),
        row("North America", "north_america", p2, 2),
        row("North America", "north_america", p1, 1),
    ]
    # [Feb 1, Feb 28) leaves out the P2 play at 23:00 on Feb 28.
    america = kpi.run(start=date(2026, 2, 1), end=date(2026, 2, 28), today=TODAY, region="north_america")
    assert america.rows == [
        row("North America", "north_america", p1, 1),
        row("North America", "north_america", p2, 1),
    ]


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize(
    ("start", "end", "filters"),
    [
        (START, END, {}),
        (date(2026, 1, 1), date(2026, 4, 1), {"country": "US"}),
        (date(2026, 2, 1), date(2026, 2, 16), {"region": "europe"}),
        (START, END, {"genre": "pop", "device": "car"}),
    ],
)
def test_content_kpis_match_their_raw_references(podcasts, music, slug, start, end, filters):
    filters = {**filters, "genre": music["pop"].id} if "genre" in filters else filters
    kpi = get_kpi(slug)

    rollup = kpi.run(start=start, end=end, today=TODAY, **filters)
    raw = get_reference(slug)(start=start, end=end, today=TODAY, **kpi_filters(kpi, filters))

    assert rollup.rows  # every case has data
    assert rollup == raw


def kpi_filters(kpi, filters: dict) -> dict:
    return {name: value for name, value in filters.items() if name in kpi.filters}


def _streams(listener, track, played_at, count: int) -> list[ListeningEvent]:
    return [
        ListeningEvent(
            listener=listener,
            track=track,
            played_at=played_at,
            ms_played=60_000,
            device="mobile",
            context="album",
        )
        for _ in range(count)
    ]


@pytest.fixture
def charts():
    """55 tracks over January-March 2026 (refreshed through Mar 31): T0..T49 have 4
    streams each in January, T50..T53 one each in February, T54 30 in March; T0..T9
    are streamed by a Norwegian, the rest by a Swede."""
    se, no = make_listener(country="SE"), make_listener(country="NO")
    tracks = [make_track(f"T{n:02d}") for n in range(55)]
    events = []
    for n, track in enumerate(tracks[:50]):
        events += _streams(no if n < 10 else se, track, at(2026, 1, 10), 4)
    for track in tracks[50:54]:
        events += _streams(se, track, at(2026, 2, 10), 1)
    events += _streams(se, tracks[54], at(2026, 3, 10), 30)
    ListeningEvent.objects.bulk_create(events)
    refresh(since=None, full=True, today=date(2026, 3, 31))
    return tracks


def test_top_tracks_pruning_keeps_the_exact_ranking(charts, django_assert_max_num_queries):
    # The floor: January's 50 leaders (T0..T49) sum to 4 each over the quarter, so a
    # top-50 track has a month with >= ceil(4 / 3 months) = 2 streams: T50..T53 (one
    # stream) are never summed, T54 (30 in March) is.
    with django_assert_max_num_queries(6):
        rows = top_tracks(start=date(2026, 1, 1), end=date(2026, 4, 1), today=TODAY).rows

    # T54 30, then T0..T48 at 4 (T49 ties and loses on id).
    assert [(row["track_id"], row["streams"]) for row in rows] == [
        (charts[54].id, 30),
        *[(track.id, 4) for track in charts[:49]],
    ]


def test_top_tracks_pruning_by_country_keeps_the_exact_ranking(charts):
    # Sweden: T10..T49 (40 tracks, 4 each), T50..T53 (1 each), T54 (30): 45 tracks, too
    # few for a floor, so all are summed. Norway: T0..T9 only.
    sweden = top_tracks(start=date(2026, 1, 1), end=date(2026, 4, 1), today=TODAY, country="SE").rows
    norway = top_tracks(start=date(2026, 1, 1), end=date(2026, 4, 1), today=TODAY, region="europe").rows

    assert [(row["track_id"], row["streams"]) for row in sweden] == [
        (charts[54].id, 30),
        *[(track.id, 4) for track in charts[10:50]],
        *[(track.id, 1) for track in charts[50:54]],
    ]
    # Europe = SE + NO: the same as the whole platform.
    assert [(row["track_id"], row["streams"]) for row in norway] == [
        (charts[54].id, 30),
        *[(track.id, 4) for track in charts[:49]],
    ]


def test_top_tracks_of_one_country_prune_by_that_country_s_month_rows():
    # Sweden streams T0..T49 4 times each in January, T51 30 times in March, T50 once in
    # February, when Norway streams T50 9 times. Sweden's floor is 4, so a Swedish top-50
    # track has a Swedish month row of at least ceil(4 / 3) = 2: T50 (1 in Sweden, though
    # 10 over all listeners) is never summed. The ranking is exact either way.
    se, no = make_listener(country="SE"), make_listener(country="NO")
    tracks = [make_track(f"T{n:02d}") for n in range(52)]
    events = [event for track in tracks[:50] for event in _streams(se, track, at(2026, 1, 10), 4)]
    events += _streams(se, tracks[50], at(2026, 2, 10), 1) + _streams(no, tracks[50], at(2026, 2, 11), 9)
    events += _streams(se, tracks[51], at(2026, 3, 10), 30)
    ListeningEvent.objects.bulk_create(events)
    refresh(since=None, full=True, today=date(2026, 3, 31))
    start, end = date(2026, 1, 1), date(2026, 4, 1)

    result = top_tracks(start=start, end=end, today=TODAY, country="SE")

    assert [(row["track_id"], row["streams"]) for row in result.rows] == [
        (tracks[51].id, 30),
        *[(track.id, 4) for track in tracks[:49]],
    ]
    assert result == get_reference("top-tracks")(start=start, end=end, today=TODAY, country="SE")
    everyone = top_tracks(start=start, end=end, today=TODAY).rows
    assert [(row["track_id"], row["streams"]) for row in everyone[:2]] == [
        (tracks[51].id, 30),
        (tracks[50].id, 10),
    ]


def test_top_tracks_reads_the_current_month_row_past_the_last_refresh(charts):
    # Refreshed through Mar 31: [Mar 1, Apr 15) reads March's month row (no day rows
    # exist after Mar 31) and gives the same table as the raw events.
    start, end = date(2026, 3, 1), date(2026, 4, 15)
    kpi = get_kpi("top-tracks")

    result = kpi.run(start=start, end=end, today=date(2026, 4, 14))

    assert result.rows == [_track(1, charts[54], 30)]
    assert result == get_reference("top-tracks")(start=start, end=end, today=date(2026, 4, 14))
    assert get_kpi("top-artists").run(start=start, end=end, today=TODAY).rows == [
        {
            "rank": 1,
            "artist": charts[54].primary_artist.name,
            "streams": 30,
            "artist_id": charts[54].primary_artist_id,
        }
    ]


# The seeded period is [2025-11-01, 2026-03-01): four months ending the day before Mar 1.
SEED_TODAY = date(2026, 2, 28)


@pytest.fixture
def seeded():
    call_command("seed", listeners=150, events=15_000, months=4, seed=7, end_date="2026-03-01", quiet=True)
    refresh(since=None, full=True, today=SEED_TODAY)


def test_content_kpis_match_their_raw_references_on_seeded_data(seeded):
    genre = (
        Genre.objects.annotate(n=Count("tracks")).order_by("-n", "id").values_list("id", flat=True).first()
    )
    country = (
        Listener.objects.values_list("country", flat=True)
        .annotate(n=Count("id"))
        .order_by("-n", "country")
        .first()
    )
    cases = [
        (date(2025, 11, 1), date(2026, 3, 1), {}),
        (date(2025, 11, 1), date(2026, 3, 1), {"genre": genre, "device": "mobile"}),
        (date(2025, 12, 10), date(2026, 2, 20), {"country": country}),
        (date(2026, 1, 5), date(2026, 1, 25), {"region": region_of(country)}),
        (date(2026, 2, 16), date(2026, 3, 16), {"country": country, "genre": genre}),  # past the data
    ]
    checked = 0
    for slug in SLUGS:
        kpi = get_kpi(slug)
        for start, end, filters in cases:
            rollup = kpi.run(start=start, end=end, today=SEED_TODAY, **filters)
            raw = get_reference(slug)(start=start, end=end, today=SEED_TODAY, **kpi_filters(kpi, filters))
            assert rollup == raw, (slug, start, end, filters)
            checked += bool(rollup.rows)
    # Nearly every case has rows (a narrow filter may leave a podcast case empty).
    assert checked >= len(SLUGS) * len(cases) - 3


@pytest.mark.parametrize(
    ("filters", "january", "later"),
    [
        ({}, slice(0, 10), True),
        ({"region": "europe"}, slice(0, 10), True),  # SE + NO: everyone
        ({"country": "SE"}, slice(10, 20), True),
        ({"country": "NO"}, slice(0, 10), False),  # Norway streamed T0..T9 in January only
    ],
)
def test_popular_over_time_pruned_months_keep_the_exact_leaders(charts, filters, january, later):
    # [Jan 5, Mar 15): January and March are partial (day rows, pruned by the month
    # rows), February is whole. January: 4 streams each, the first ten by id;
    # February: T50..T53 at 1; March: T54 at 30.
    start, end = date(2026, 1, 5), date(2026, 3, 15)

    result = popular_over_time(start=start, end=end, today=TODAY, **filters)

    expected = [("2026-01", track.id, 4) for track in charts[january]]
    if later:
        expected += [("2026-02", track.id, 1) for track in charts[50:54]] + [("2026-03", charts[54].id, 30)]
    assert [(row["month"], row["track_id"], row["streams"]) for row in result.rows] == expected
    assert result == get_reference("popular-over-time")(start=start, end=end, today=TODAY, **filters)
