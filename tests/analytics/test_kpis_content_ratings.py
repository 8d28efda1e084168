"""Top-rated tracks and artist followers on tiny hand-built datasets."""

from __future__ import annotations

import random
from datetime import date
from fractions import Fraction

import pytest

from analytics.kpis import content_ratings
from analytics.kpis.registry import get_kpi, get_reference
from catalog.models import Follow, Rating
from catalog.rollups import refresh_totals
from tests.factories import at, make_artist, make_episode, make_genre, make_listener, make_track

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["rollups", "reference"])
def compute(request):
    """Runs a KPI through its rollup sums (refreshed on the first call) or its reference."""
    refreshed = []

    def run(slug: str, **params):
        if request.param == "reference":
            return get_reference(slug)(**params)
        if not refreshed:
            refresh_totals()
            refreshed.append(True)
        return get_kpi(slug).fn(**params)

    return run


@pytest.fixture
def rated():
    """Six listeners rate tracks (scores listed per track, one listener each)."""
    pop, rock = make_genre("Pop"), make_genre("Rock")
    listeners = [make_listener() for _ in range(6)]
    ada, bo = make_artist("Ada"), make_artist("Bo")
    tracks = {
        "A": make_track("A", artist=ada, genre=pop),
        "B": make_track("B", artist=ada, genre=pop),
        "C": make_track("C", artist=bo, genre=rock),
        "D": make_track("D", artist=bo, genre=rock),
        "E": make_track("E", artist=bo, genre=rock),
        "F": make_track("F", artist=bo, genre=rock),
    }
    scores = {
        "A": [5, 5, 5, 5, 4],
        "B": [4, 4, 4, 4, 4, 4],
        "C": [5, 5, 5, 5, 5],
        "D": [1, 1],
        "E": [5, 5, 5, 5],
        "F": [5, 5, 5, 5, 5],
    }
    for name, values in scores.items():
        for listener, score in zip(listeners, values, strict=False):
            Rating.objects.create(
                listener=listener, track=tracks[name], score=score, rated_at=at(2026, 1, 10)
            )
    # The fifth rating of E comes after the range: E stays below 5 votes.
    Rating.objects.create(listener=listeners[4], track=tracks["E"], score=5, rated_at=at(2026, 2, 1))
    # Episodes are not tracks: left out, and out of C.
    Rating.objects.create(listener=listeners[0], episode=make_episode(), score=1, rated_at=at(2026, 1, 10))
    return {"pop": pop, "rock": rock, **tracks}


def _row(rank, track, artist, genre, votes, total, score):
    return {
        "rank": rank,
        "title": track.title,
        "artist": artist,
        "genre": genre,
        "rating": total / votes,
        "votes": votes,
        "score": score,
        "track_id": track.pk,
    }


def test_top_rated_ranks_by_bayesian_average(rated, django_assert_max_num_queries, compute):
    # As of Feb 1: votes A 5 (sum 24), B 6 (24), C 5 (25), D 2 (2), E 4 (20), F 5 (25).
    # C = 120 / 27 = 40/9 over every rating, D and E included; m = 5, so m x C = 200/9.
    # score = (sum + m x C) / (v + m):
    #   C, F: (25 + 200/9) / 10 = 425/90; A: (24 + 200/9) / 10 = 416/90;
    #   B: (24 + 200/9) / 11 = 416/99. C and F tie: the lower track id first.
    compute("top-rated", start=date(2026, 1, 1), end=date(2026, 2, 1), today=date(2026, 3, 1))
    with django_assert_max_num_queries(4):
        result = compute("top-rated", start=date(2026, 1, 1), end=date(2026, 2, 1), today=date(2026, 3, 1))
    assert result.rows == [
        _row(1, rated["C"], "Bo", "Rock", 5, 25, 425 / 90),
        _row(2, rated["F"], "Bo", "Rock", 5, 25, 425 / 90),
        _row(3, rated["A"], "Ada", "Pop", 5, 24, 416 / 90),
        _row(4, rated["B"], "Ada", "Pop", 6, 24, 416 / 99),
    ]


def test_top_rated_counts_ratings_up_to_today_when_the_range_runs_on(rated, compute):
    # Range into the future, today Feb 1: t = Feb 2, E's fifth rating (Feb 1) counts.
    # C = 125 / 28, m x C = 625/28; C, E, F: (25 + 625/28) / 10 = 1325/280 (ids break the
    # tie); A: (24 + 625/28) / 10 = 1297/280; B: (24 + 625/28) / 11 = 1297/308.
    result = compute("top-rated", start=date(2026, 1, 1), end=date(2026, 3, 1), today=date(2026, 2, 1))
    assert [(row["title"], row["votes"]) for row in result.rows] == [
        ("C", 5),
        ("E", 5),
        ("F", 5),
        ("A", 5),
        ("B", 6),
    ]
    assert [row["score"] for row in result.rows] == [1325 / 280] * 3 + [1297 / 280, 1297 / 308]


def test_top_rated_genre_filter_narrows_the_mean_too(rated, compute):
    # Pop only: C = 48 / 11; A: (24 + 240/11) / 10 = 504/110, B: (24 + 240/11) / 11 = 504/121.
    result = compute(
        "top-rated",
        start=date(2026, 1, 1),
        end=date(2026, 2, 1),
        today=date(2026, 3, 1),
        genre=rated["pop"].pk,
    )
    assert result.rows == [
        _row(1, rated["A"], "Ada", "Pop", 5, 24, 504 / 110),
        _row(2, rated["B"], "Ada", "Pop", 6, 24, 504 / 121),
    ]


def test_top_rated_min_votes(rated, compute):
    # m = 6: only B qualifies; C = 40/9, (24 + 6 x 40/9) / 12 = 456/108.
    result = compute(
        "top-rated", start=date(2026, 1, 1), end=date(2026, 2, 1), today=date(2026, 3, 1), min_votes=6
    )
    assert result.rows == [_row(1, rated["B"], "Ada", "Pop", 6, 24, 456 / 108)]
    with pytest.raises(ValueError, match="min_votes"):
        compute(
            "top-rated", start=date(2026, 1, 1), end=date(2026, 2, 1), today=date(2026, 3, 1), min_votes=0
        )


def test_top_rated_without_ratings_is_empty(compute):
    result = compute("top-rated", start=date(2026, 1, 1), end=date(2026, 2, 1), today=date(2026, 3, 1))
    assert result.rows == []
    assert [column.key for column in result.columns] == [
        "rank",
        "title",
        "artist",
        "genre",
        "rating",
        "votes",
        "score",
    ]


@pytest.fixture
def follows():
    pop, rock = make_genre("Pop"), make_genre("Rock")
    x, y, z = make_artist("X"), make_artist("Y"), make_artist("Z")
    x.genres.add(pop)
    y.genres.add(rock)
    z.genres.add(pop)
    people = [make_listener() for _ in range(5)]

    def follow(listener, artist, followed, unfollowed=None):
        Follow.objects.create(
            listener=listener, artist=artist, followed_at=followed, unfollowed_at=unfollowed
        )

    follow(people[0], x, at(2025, 12, 15))
    follow(people[1], x, at(2026, 1, 10))
    follow(people[2], x, at(2026, 1, 20), at(2026, 2, 5))
    follow(people[3], x, at(2026, 2, 10))
    follow(people[4], x, at(2026, 3, 5))  # after t
    follow(people[0], y, at(2026, 1, 5))
    follow(people[1], y, at(2026, 1, 6))
    follow(people[2], y, at(2026, 1, 7))
    follow(people[0], z, at(2025, 11, 1), at(2026, 1, 15))
    follow(people[1], z, at(2026, 2, 20))
    return {"pop": pop, "x": x, "y": y, "z": z}


def test_artist_followers_as_of_range_end_with_net_new_per_month(
    follows, django_assert_max_num_queries, compute
):
    # t = Mar 1. X: followed by 0, 1, 3 (2 left Feb 5, 4 comes Mar 5) = 3;
    #   Jan +2 (1, 2), Feb +1 (3) -1 (2 leaves) = 0.
    # Y: 3 followers, all in Jan; ties with X on 3: the lower artist id (X) first.
    # Z: 0 left Jan 15 (-1), 1 came Feb 20 (+1): 1 follower, net 0.
    compute("artist-followers", start=date(2026, 1, 1), end=date(2026, 3, 1), today=date(2026, 3, 10))
    with django_assert_max_num_queries(6):
        result = compute(
            "artist-followers", start=date(2026, 1, 1), end=date(2026, 3, 1), today=date(2026, 3, 10)
        )
    assert result.rows == [
        {
            "rank": 1,
            "artist": "X",
            "followers": 3,
            "net_new": 2,
            "artist_id": follows["x"].pk,
            "net_new_2026_01": 2,
            "net_new_2026_02": 0,
        },
        {
            "rank": 2,
            "artist": "Y",
            "followers": 3,
            "net_new": 3,
            "artist_id": follows["y"].pk,
            "net_new_2026_01": 3,
            "net_new_2026_02": 0,
        },
        {
            "rank": 3,
            "artist": "Z",
            "followers": 1,
            "net_new": 0,
            "artist_id": follows["z"].pk,
            "net_new_2026_01": -1,
            "net_new_2026_02": 1,
        },
    ]
    assert [column.key for column in result.columns] == [
        "rank",
        "artist",
        "followers",
        "net_new",
        "net_new_2026_01",
        "net_new_2026_02",
    ]


def test_artist_followers_genre_filter(follows, compute):
    result = compute(
        "artist-followers",
        start=date(2026, 1, 1),
        end=date(2026, 3, 1),
        today=date(2026, 3, 10),
        genre=follows["pop"].pk,
    )
    assert [(row["artist"], row["followers"], row["net_new"]) for row in result.rows] == [
        ("X", 3, 2),
        ("Z", 1, 0),
    ]


def test_artist_followers_stops_at_today(follows, compute):
    # today Feb 9: t = Feb 10 00:00, the instant person 3 follows X: in force at t.
    # X: 0, 1, 3 = 3; Feb so far: -1 (2 leaves) +1 (3) = 0. Y: 3, after X on the tie.
    # Z has no follower at t (1 comes Feb 20): not listed. No March column.
    result = compute("artist-followers", start=date(2026, 1, 1), end=date(2026, 4, 1), today=date(2026, 2, 9))
    assert [
        (row["artist"], row["followers"], row["net_new_2026_01"], row["net_new_2026_02"])
        for row in result.rows
    ] == [("X", 3, 2, 0), ("Y", 3, 3, 0)]
    assert "net_new_2026_03" not in result.rows[0]


def test_artist_followers_net_new_adds_up_to_the_change_in_followers(follows, compute):
    # Followers at Jan 1 00:00 (t of the range ending Jan 1): X 1, Z 1. At Mar 1: X 3, Y 3, Z 1.
    before = compute(
        "artist-followers", start=date(2025, 12, 1), end=date(2026, 1, 1), today=date(2026, 3, 10)
    )
    after = compute("artist-followers", start=date(2026, 1, 1), end=date(2026, 3, 1), today=date(2026, 3, 10))
    at_start = {row["artist"]: row["followers"] for row in before.rows}
    assert at_start == {"X": 1, "Z": 1}
    for row in after.rows:
        assert row["followers"] - at_start.get(row["artist"], 0) == row["net_new"]


def test_content_rating_kpis_read_the_sums_and_their_references_the_source_rows():
    assert get_kpi("top-rated").fn is content_ratings.top_rated
    assert get_reference("top-rated") is content_ratings.top_rated_from_ratings
    assert get_kpi("artist-followers").fn is content_ratings.artist_followers
    assert get_reference("artist-followers") is content_ratings.artist_followers_from_follows


def test_top_rated_candidate_cut_keeps_the_exact_ranking():
    # 600 tracks, many with equal or nearly equal scores: the float pre-selection must
    # give exactly the ranking of exact fractions over every track.
    rng = random.Random(7)
    per_track = [(track_id, rng.randint(5, 40), 0) for track_id in range(1, 601)]
    per_track = [(track_id, votes, rng.randint(votes, 5 * votes)) for track_id, votes, _ in per_track]
    per_track += [(1000 + n, 10, 50) for n in range(60)]  # 60 perfect 5.0 ties
    mean_all = Fraction(sum(t for _, _, t in per_track), sum(v for _, v, _ in per_track))

    top = content_ratings._top_by_bayesian_score(per_track, min_votes=5, mean_all=mean_all)

    exact = sorted(
        (
            ((total + 5 * mean_all) / (votes + 5), votes, total, track_id)
            for track_id, votes, total in per_track
        ),
        key=lambda item: (-item[0], -item[1], item[3]),
    )
    assert len(top) == content_ratings.TOP_RATED
    assert top == exact[: content_ratings.TOP_RATED]


def test_artist_followers_ranks_corrected_artists_from_past_the_first_twenty(compute):
    # 25 artists: artist n has 30 - n followers now (followed on Jan 1). Artist 25 (5
    # now, 22nd) had 20 more at the range's end, unfollowed since: 25 then. Artist 1 (29
    # now) gained 25 of them since: 4 then, out of the top 20.
    artists = [make_artist(f"A{n:02d}") for n in range(1, 26)]
    people = [make_listener() for _ in range(60)]
    for n, artist in enumerate(artists, start=1):
        for person in people[: 30 - n]:
            followed = at(2026, 3, 2) if n == 1 and person in people[4:29] else at(2026, 1, 1)
            Follow.objects.create(listener=person, artist=artist, followed_at=followed)
    for person in people[30:50]:
        Follow.objects.create(
            listener=person, artist=artists[24], followed_at=at(2026, 1, 1), unfollowed_at=at(2026, 3, 1, 12)
        )

    # The range ends as Mar 1 starts: the follows of Mar 1 noon and Mar 2 come after.
    result = compute("artist-followers", start=date(2026, 2, 1), end=date(2026, 3, 1), today=date(2026, 3, 5))

    followers = [(row["artist"], row["followers"]) for row in result.rows]
    # A05 and A25 tie at 25: by id. A21 (9) is 21st.
    expected = [
        ("A02", 28),
        ("A03", 27),
        ("A04", 26),
        ("A05", 25),
        ("A25", 25),
        *((f"A{n:02d}", 30 - n) for n in range(6, 21)),
    ]
    assert followers == expected
    assert [row["net_new_2026_02"] for row in result.rows] == [0] * 20
