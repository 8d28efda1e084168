"""Content KPIs from ratings and follows: top-rated tracks and artist followers.

Both read the sums kept by the content refresh (`TrackRatings`, `ArtistFollowers`) and
correct them by the few rows made after their instant; their references read the source
tables alone.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from fractions import Fraction
from itertools import pairwise

from django.db.models import Count, Q, Sum

from analytics.kpis import _time
from analytics.kpis.registry import Column, KpiResult, kpi, reference
from catalog.models import Artist, ArtistFollowers, Follow, Rating, Track, TrackRatings

TOP_RATED = 50
TOP_ARTISTS = 20
DEFAULT_MIN_VOTES = 5


@kpi(
    slug="top-rated",
    title="Top-rated tracks",
    family="content",
    unit="index",
    chart="table",
    x="title",
    y=("score",),
    filters=("genre",),
)
def top_rated(
    *, start: date, end: date, today: date, genre: int | None = None, min_votes: int = DEFAULT_MIN_VOTES
) -> KpiResult:
    """Tracks with at least m ratings (m = min_votes, 5 by default), ranked by the Bayesian average
    v/(v+m) x R + m/(v+m) x C (v the track's ratings, R their mean, C the mean of all track ratings);
    the rating shown is R.

    Ratings count as of t, the first instant of min(end, today + 1 day). C is the mean
    of every rating in scope (the genre filter applies), including tracks below the
    threshold, as IMDb's formula has it. Ties: more ratings first, then the lower track
    id. The top 50.
    """
    _time.check_range(start, end)
    _check_min_votes(min_votes)
    at = _time.as_of(end=end, today=today)
    # The sums as of the last refresh, less the ratings made from `at` on.
    totals = TrackRatings.objects.all()
    later = Rating.objects.filter(track__isnull=False, rated_at__gte=at)
    if genre:
        totals, later = totals.filter(genre_id=genre), later.filter(track__genre_id=genre)
    later_by_track = {
        track_id: (votes, total)
        for track_id, votes, total in later.values("track_id")
        .annotate(votes=Count("id"), total=Sum("score"))
        .values_list("track_id", "votes", "total")
    }
    overall = totals.aggregate(votes=Sum("votes"), total=Sum("total"))
    votes_all = (overall["votes"] or 0) - sum(votes for votes, _ in later_by_track.values())
    total_all = (overall["total"] or 0) - sum(total for _, total in later_by_track.values())
    per_track = []
    # A track's count only falls by what came later: one below min_votes stays below.
    for track_id, votes, total in totals.filter(votes__gte=min_votes).values_list(
        "track_id", "votes", "total"
    ):
        later_votes, later_total = later_by_track.get(track_id, (0, 0))
        if votes - later_votes >= min_votes:
            per_track.append((track_id, votes - later_votes, total - later_total))
    return _top_rated_result(per_track, votes_all=votes_all, total_all=total_all, min_votes=min_votes)


@reference("top-rated")
def top_rated_from_ratings(
    *, start: date, end: date, today: date, genre: int | None = None, min_votes: int = DEFAULT_MIN_VOTES
) -> KpiResult:
    _time.check_range(start, end)
    _check_min_votes(min_votes)
    ratings = Rating.objects.filter(track__isnull=False, rated_at__lt=_time.as_of(end=end, today=today))
    if genre:
        ratings = ratings.filter(track__genre_id=genre)
    overall = ratings.aggregate(votes=Count("id"), total=Sum("score"))
    per_track = (
        ratings.values("track_id")
        .annotate(votes=Count("id"), total=Sum("score"))
        .filter(votes__gte=min_votes)
        .values_list("track_id", "votes", "total")
    )
    return _top_rated_result(
        list(per_track), votes_all=overall["votes"], total_all=overall["total"] or 0, min_votes=min_votes
    )


def _check_min_votes(min_votes: int) -> None:
    if min_votes < 1:
        raise ValueError(f"min_votes must be at least 1; got {min_votes}.")


def _top_rated_result(
    per_track: list[tuple[int, int, int]], *, votes_all: int, total_all: int, min_votes: int
) -> KpiResult:
    columns = [
        Column("rank", "Rank"),
        Column("title", "Track", "text"),
        Column("artist", "Artist", "text"),
        Column("genre", "Genre", "text"),
        Column("rating", "Mean rating", "index"),
        Column("votes", "Ratings"),
        Column("score", "Bayesian score", "index"),
    ]
    if not votes_all:
        return KpiResult(columns=columns, rows=[])
    mean_all = Fraction(total_all, votes_all)
    top = _top_by_bayesian_score(per_track, min_votes=min_votes, mean_all=mean_all)
    tracks = {
        row["id"]: row
        for row in Track.objects.filter(id__in=[item[3] for item in top]).values(
            "id", "title", "primary_artist__name", "genre__name"
        )
    }
    rows = [
        {
            "rank": rank,
            "title": tracks[track_id]["title"],
            "artist": tracks[track_id]["primary_artist__name"],
            "genre": tracks[track_id]["genre__name"],
            "rating": total / votes,
            "votes": votes,
            "score": float(score),
            "track_id": track_id,
        }
        for rank, (score, votes, total, track_id) in enumerate(top, start=1)
    ]
    return KpiResult(columns=columns, rows=rows)


def _top_by_bayesian_score(
    per_track: list[tuple[int, int, int]], *, min_votes: int, mean_all: Fraction
) -> list[tuple[Fraction, int, int, int]]:
    """The TOP_RATED best (score, votes, total, track id), ranked exactly.

    Exact fractions decide the order, but building one per rated track costs more than
    the query: a float score (numerator and denominator are exact in a float, only the
    division rounds) picks the candidates, with a margin far wider than that rounding.
    """
    scale, base = mean_all.denominator, min_votes * mean_all.numerator

    def approximate(row: tuple[int, int, int]) -> float:
        _, votes, total = row
        return (total * scale + base) / (votes + min_votes)

    if len(per_track) > TOP_RATED:
        cutoff = sorted(map(approximate, per_track), reverse=True)[TOP_RATED - 1]
        per_track = [row for row in per_track if approximate(row) >= cutoff * (1 - 1e-9)]
    ranked = [
        ((total + min_votes * mean_all) / (votes + min_votes), votes, total, track_id)
        for track_id, votes, total in per_track
    ]
    ranked.sort(key=lambda item: (-item[0], -item[1], item[3]))
    return ranked[:TOP_RATED]


@kpi(
    slug="artist-followers",
    title="Artist followers",
    family="content",
    unit="count",
    chart="horizontal-bar",
    x="artist",
    y=("followers",),
    filters=("genre",),
)
def artist_followers(*, start: date, end: date, today: date, genre: int | None = None) -> KpiResult:
    """The 20 artists with the most followers at the end of the range (or now, if earlier), with
    their net new followers (follows made - unfollows made) in each month of the range.

    A follow counts over [followed_at, unfollowed_at), so a month's net new is its
    followers at its end minus at its start. Months are the calendar months overlapping
    the range, the last one cut at t. Ties by artist id. The genre filter keeps artists
    tagged with the genre.
    """
    _time.check_range(start, end)
    at = _time.as_of(end=end, today=today)
    totals, follows = ArtistFollowers.objects.all(), Follow.objects.all()
    if genre:
        totals, follows = totals.filter(artist__genres=genre), follows.filter(artist__genres=genre)
    # In force at `at` = open now, less the open ones followed after `at`, plus the ones
    # followed by `at` and unfollowed after it.
    corrections: dict[int, int] = defaultdict(int)
    for rows, sign in (
        (follows.filter(unfollowed_at__isnull=True, followed_at__gt=at), -1),
        (follows.filter(unfollowed_at__gt=at, followed_at__lte=at), 1),
    ):
        for artist_id, count in (
            rows.values("artist_id").annotate(n=Count("id")).values_list("artist_id", "n")
        ):
            corrections[artist_id] += sign * count
    # Only corrected artists can change places: the first 20 + k of the open counts (k
    # corrected artists) hold at least 20 uncorrected ones, ahead of every artist after
    # them (ties by id alike), so the top 20 is among those and the corrected artists.
    order = totals.order_by("-followers", "artist_id").values_list("artist_id", "followers")
    followers = dict(order[: TOP_ARTISTS + len(corrections)])
    missing = [artist_id for artist_id in corrections if artist_id not in followers]
    if missing:
        followers.update(order.filter(artist_id__in=missing))
    for artist_id, change in corrections.items():
        followers[artist_id] = followers.get(artist_id, 0) + change
    ranked = sorted((item for item in followers.items() if item[1] > 0), key=lambda item: (-item[1], item[0]))
    return _followers_result(ranked[:TOP_ARTISTS], start=start, end=end, at=at)


@reference("artist-followers")
def artist_followers_from_follows(
    *, start: date, end: date, today: date, genre: int | None = None
) -> KpiResult:
    _time.check_range(start, end)
    at = _time.as_of(end=end, today=today)
    follows = Follow.objects.all()
    if genre:
        follows = follows.filter(artist__genres=genre)
    top = list(
        follows.filter(Q(unfollowed_at__isnull=True) | Q(unfollowed_at__gt=at), followed_at__lte=at)
        .values("artist_id")
        .annotate(followers=Count("id"))
        .order_by("-followers", "artist_id")
        .values_list("artist_id", "followers")[:TOP_ARTISTS]
    )
    return _followers_result(top, start=start, end=end, at=at)


def _followers_result(top: list[tuple[int, int]], *, start: date, end: date, at: datetime) -> KpiResult:
    """The table of the top artists with their net new followers per month of the range."""
    months = [month for month in _time.months(start, end) if _time.day_start(month) < at]
    ids = [artist_id for artist_id, _ in top]
    net: dict[tuple[int, date], int] = defaultdict(int)
    if months and ids:
        # A follow made at a month's first instant is already in force then, so it belongs
        # to the month before: a month counts the events of (its start, the next month's
        # start], the last one cut at `at`, and its net new is exactly followers(end) -
        # followers(start). One count per month, compared as instants: no time-zone
        # conversion of every row.
        edges = [_time.day_start(month) for month in months] + [at]
        for field, sign in (("followed_at", 1), ("unfollowed_at", -1)):
            counts = {
                f"month_{n}": Count("id", filter=Q(**{f"{field}__gt": lo, f"{field}__lte": hi}))
                for n, (lo, hi) in enumerate(pairwise(edges))
            }
            made = (
                Follow.objects.filter(artist_id__in=ids, **{f"{field}__gt": edges[0], f"{field}__lte": at})
                .values("artist_id")
                .annotate(**counts)
            )
            for row in made:
                for n, month in enumerate(months):
                    net[(row["artist_id"], month)] += sign * row[f"month_{n}"]
    names = dict(Artist.objects.filter(id__in=ids).values_list("id", "name"))
    rows = []
    for rank, (artist_id, followers) in enumerate(top, start=1):
        row = {
            "rank": rank,
            "artist": names[artist_id],
            "followers": followers,
            "net_new": sum(net[(artist_id, month)] for month in months),
            "artist_id": artist_id,
        }
        row.update({_month_key(month): net[(artist_id, month)] for month in months})
        rows.append(row)
    return KpiResult(
        columns=[
            Column("rank", "Rank"),
            Column("artist", "Artist", "text"),
            Column("followers", "Followers"),
            Column("net_new", "Net new in range"),
            *(Column(_month_key(month), f"Net new {month:%Y-%m}") for month in months),
        ],
        rows=rows,
    )


def _month_key(month: date) -> str:
    return f"net_new_{month:%Y_%m}"
