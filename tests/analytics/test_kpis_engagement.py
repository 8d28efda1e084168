"""Engagement KPIs on a hand-built dataset, through the rollups and through the raw reference.

Reporting zone UTC, today 2026-01-20. Plans: free (0), premium (10.99), duo (14.99).
L1 (SE) has premium from 2026-01-10 12:00 and nothing before; L2 (US) is on the free plan.

    play  listener  played_at            ms_played  skipped  context      device   genre
    e1    L1        01-10 10:00:00       180 000             album        mobile   Pop
    e2    L1        01-10 10:33:00        30 000             playlist P1  mobile   Pop
    e3    L1        01-10 10:33:30        29 000    yes      playlist P1  desktop  Rock
    e4    L1        01-10 11:04:00        29 999             playlist P1  mobile   Pop
    e5    L1        01-10 23:59:59        60 000             playlist P2  mobile   Rock
    e6    L1        01-11 00:00:30       120 000             playlist P2  mobile   Pop
    e7    L1        01-11 00:02:30        60 000             playlist P1  mobile   Pop
    f1    L2        01-11 15:00:00       200 000             album        web      Rock
    f2    L2        01-11 15:10:00         5 000    yes      radio        web      Pop
    f3    L2        01-11 20:00:00     1 800 000             library      speaker  (podcast episode)

Sessions: e1 ends 10:03:00 and e2 starts 30 minutes later exactly: same session S1
(e1-e3). e3 ends 10:33:59, e4 starts 30 min 1 s later: a new session S2 (e4). S3 starts
at 23:59:59 on Jan 10 and runs past midnight (e5-e7): it counts on Jan 10. S4 = f1, f2
(6 min 40 s apart), S5 = f3. Premium plays: e5, e6, e7 (after 12:00 on Jan 10).
"""

from __future__ import annotations

from datetime import date

import pytest

from analytics import rollups
from analytics.kpis.registry import get_reference, run_kpi
from billing.models import Tier
from catalog.models import Playlist
from tests.factories import (
    at,
    make_episode,
    make_event,
    make_genre,
    make_listener,
    make_plan,
    make_subscription,
    make_track,
)

TODAY = date(2026, 1, 20)
JAN_10, JAN_11, JAN_12 = date(2026, 1, 10), date(2026, 1, 11), date(2026, 1, 12)
NONE = {"events": 0, "skips": 0, "skip_rate": None}


def rows_of(
    slug: str, *, start: date = JAN_10, end: date = JAN_12, today: date = TODAY, **filters
) -> list[dict]:
    """The KPI's rows through the rollups; the raw reference must give the very same."""
    rolled = run_kpi(slug, start=start, end=end, today=today, **filters).result.rows
    raw = get_reference(slug)(start=start, end=end, today=today, **filters).rows
    assert raw == rolled, f"{slug}: the raw reference disagrees with the rollups"
    return rolled


@pytest.fixture
def plays(db):
    pop, rock = make_genre("Pop"), make_genre("Rock")
    pop_track, rock_track = make_track(genre=pop), make_track(genre=rock)
    free = make_plan("free", tier=Tier.FREE, price="0")
    premium = make_plan("premium", price="10.99")
    make_plan("duo", tier=Tier.DUO, price="14.99")
    l1 = make_listener(country="SE", signed_up_at=at(2026, 1, 1))
    l2 = make_listener(country="US", signed_up_at=at(2026, 1, 1))
    make_subscription(l1, premium, started_at=at(2026, 1, 10, 12))
    make_subscription(l2, free, started_at=at(2026, 1, 1))
    p1 = Playlist.objects.create(title="P1", created_at=at(2025, 1, 1))
    p2 = Playlist.objects.create(title="P2", created_at=at(2025, 1, 1))

    def play(
        listener, played_at, ms, track, *, context="album", playlist=None, device="mobile", skipped=False
    ):
        make_event(
            listener,
            played_at=played_at,
            track=track,
            ms_played=ms,
            skipped=skipped,
            context="playlist" if playlist else context,
            playlist=playlist,
            device=device,
        )

    play(l1, at(2026, 1, 10, 10, 0, 0), 180_000, pop_track)
    play(l1, at(2026, 1, 10, 10, 33, 0), 30_000, pop_track, playlist=p1)
    play(l1, at(2026, 1, 10, 10, 33, 30), 29_000, rock_track, playlist=p1, device="desktop", skipped=True)
    play(l1, at(2026, 1, 10, 11, 4, 0), 29_999, pop_track, playlist=p1)
    play(l1, at(2026, 1, 10, 23, 59, 59), 60_000, rock_track, playlist=p2)
    play(l1, at(2026, 1, 11, 0, 0, 30), 120_000, pop_track, playlist=p2)
    play(l1, at(2026, 1, 11, 0, 2, 30), 60_000, pop_track, playlist=p1)
    play(l2, at(2026, 1, 11, 15, 0, 0), 200_000, rock_track, device="web")
    play(l2, at(2026, 1, 11, 15, 10, 0), 5_000, pop_track, context="radio", device="web", skipped=True)
    make_event(
        l2,
        played_at=at(2026, 1, 11, 20),
        episode=make_episode(),
        ms_played=1_800_000,
        context="library",
        device="speaker",
    )
    rollups.refresh(since=None, full=True, today=TODAY)
    return {"pop": pop, "rock": rock}


def test_listening_minutes_sum_ms_played_per_day(plays, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        run_kpi("listening-minutes", start=JAN_10, end=JAN_12, today=TODAY)
    assert rows_of("listening-minutes") == [
        # e1..e5: 180 000 + 30 000 + 29 000 + 29 999 + 60 000 = 328 999 ms
        {"period": "2026-01-10", "minutes": 328_999 / 60_000},
        # e6, e7, f1, f2, f3: 120 000 + 60 000 + 200 000 + 5 000 + 1 800 000 = 2 185 000 ms
        {"period": "2026-01-11", "minutes": 2_185_000 / 60_000},
    ]


def test_listening_minutes_filters_by_genre_and_plan(plays, django_assert_max_num_queries):
    # Rock: e3 + e5 on Jan 10, f1 on Jan 11.
    assert rows_of("listening-minutes", genre=plays["rock"].pk) == [
        {"period": "2026-01-10", "minutes": 89_000 / 60_000},
        {"period": "2026-01-11", "minutes": 200_000 / 60_000},
    ]
    # Premium: e5 on Jan 10; e6 + e7 on Jan 11. The plan code is looked up once.
    with django_assert_max_num_queries(2):
        run_kpi("listening-minutes", start=JAN_10, end=JAN_12, today=TODAY, plan="premium")
    assert rows_of("listening-minutes", plan="premium") == [
        {"period": "2026-01-10", "minutes": 60_000 / 60_000},
        {"period": "2026-01-11", "minutes": 180_000 / 60_000},
    ]
    # Free: e1..e4 before L1's premium started, and every play of L2 on the free plan.
    assert rows_of("listening-minutes", plan="free") == [
        {"period": "2026-01-10", "minutes": 268_999 / 60_000},
        {"period": "2026-01-11", "minutes": 2_005_000 / 60_000},
    ]


def test_listening_minutes_by_month_leaves_the_future_empty(plays):
    assert rows_of("listening-minutes", start=date(2026, 1, 1), end=date(2026, 3, 1), grain="month") == [
        {"period": "2026-01-01", "minutes": (328_999 + 2_185_000) / 60_000},
        {"period": "2026-02-01", "minutes": None},
    ]


def test_skip_rate_is_skips_over_events(plays):
    # One skip a day: e3 on Jan 10 (of 5 plays), f2 on Jan 11 (of 5).
    assert rows_of("skip-rate") == [
        {"period": "2026-01-10", "events": 5, "skips": 1, "skip_rate": 0.2},
        {"period": "2026-01-11", "events": 5, "skips": 1, "skip_rate": 0.2},
    ]
    # Desktop plays in Sweden: e3 alone, a skip; none on Jan 11 (undefined rate).
    assert rows_of("skip-rate", country="SE", device="desktop") == [
        {"period": "2026-01-10", "events": 1, "skips": 1, "skip_rate": 1.0},
        {"period": "2026-01-11", **NONE},
    ]


def test_skip_rate_by_genre(plays, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        run_kpi("skip-rate-by-genre", start=JAN_10, end=JAN_12, today=TODAY)
    pop, rock = plays["pop"].pk, plays["rock"].pk
    assert rows_of("skip-rate-by-genre") == [
        # Pop: e1, e2, e4, e6, e7, f2 (skipped). Rock: e3 (skipped), e5, f1. Podcasts: f3.
        {"genre": "Pop", "genre_id": pop, "events": 6, "skips": 1, "skip_rate": 1 / 6},
        {"genre": "Rock", "genre_id": rock, "events": 3, "skips": 1, "skip_rate": 1 / 3},
        {"genre": "Podcasts", "genre_id": None, "events": 1, "skips": 0, "skip_rate": 0.0},
    ]
    # Premium plays: e5 (Rock), e6 and e7 (Pop), no skips. With three filters the KPI reads
    # the four-dimension cube: premium mobile plays in Sweden are the same three.
    assert rows_of("skip-rate-by-genre", plan="premium", country="SE", device="mobile") == [
        {"genre": "Pop", "genre_id": pop, "events": 2, "skips": 0, "skip_rate": 0.0},
        {"genre": "Rock", "genre_id": rock, "events": 1, "skips": 0, "skip_rate": 0.0},
    ]
    assert rows_of("skip-rate-by-genre", plan="premium") == [
        {"genre": "Pop", "genre_id": pop, "events": 2, "skips": 0, "skip_rate": 0.0},
        {"genre": "Rock", "genre_id": rock, "events": 1, "skips": 0, "skip_rate": 0.0},
    ]


def test_skip_rate_by_hour_uses_the_local_hour(plays, django_assert_max_num_queries):
    expected = [{"hour": hour, **NONE} for hour in range(24)]
    expected[0] = {"hour": 0, "events": 2, "skips": 0, "skip_rate": 0.0}  # e6, e7
    expected[10] = {"hour": 10, "events": 3, "skips": 1, "skip_rate": 1 / 3}  # e1, e2, e3
    expected[11] = {"hour": 11, "events": 1, "skips": 0, "skip_rate": 0.0}  # e4
    expected[15] = {"hour": 15, "events": 2, "skips": 1, "skip_rate": 0.5}  # f1, f2
    expected[20] = {"hour": 20, "events": 1, "skips": 0, "skip_rate": 0.0}  # f3
    expected[23] = {"hour": 23, "events": 1, "skips": 0, "skip_rate": 0.0}  # e5
    with django_assert_max_num_queries(1):
        run_kpi("skip-rate-by-hour", start=JAN_10, end=JAN_12, today=TODAY)
    assert rows_of("skip-rate-by-hour") == expected
    # The United States: f1 and f2 (skipped) at 15h, f3 at 20h.
    narrowed = [{"hour": hour, **NONE} for hour in range(24)]
    narrowed[15] = {"hour": 15, "events": 2, "skips": 1, "skip_rate": 0.5}
    narrowed[20] = {"hour": 20, "events": 1, "skips": 0, "skip_rate": 0.0}
    assert rows_of("skip-rate-by-hour", country="US") == narrowed
    # North America (6 countries) over 13 months: more (day, country) pairs than are
    # listed, so the days are read as a range instead: the same rows.
    assert (
        rows_of("skip-rate-by-hour", start=date(2025, 6, 1), end=date(2026, 7, 1), region="north_america")
        == narrowed
    )


def test_skip_rate_by_device_lists_every_device(plays):
    assert rows_of("skip-rate-by-device") == [
        {"device": "Mobile", "device_code": "mobile", "events": 6, "skips": 0, "skip_rate": 0.0},
        {"device": "Desktop", "device_code": "desktop", "events": 1, "skips": 1, "skip_rate": 1.0},  # e3
        {"device": "Web player", "device_code": "web", "events": 2, "skips": 1, "skip_rate": 0.5},  # f1, f2
        {"device": "Tablet", "device_code": "tablet", **NONE},
        {"device": "Smart speaker", "device_code": "speaker", "events": 1, "skips": 0, "skip_rate": 0.0},
        {"device": "Car", "device_code": "car", **NONE},
        {"device": "TV", "device_code": "tv", **NONE},
    ]


def test_skip_rate_by_plan_takes_the_plan_active_at_played_at(plays, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        run_kpi("skip-rate-by-plan", start=JAN_10, end=JAN_12, today=TODAY)
    assert rows_of("skip-rate-by-plan") == [
        # Free: e1..e4 (before 12:00 on Jan 10, no subscription) and f1..f3 (free plan);
        # skips e3 and f2.
        {"plan": "Free", "plan_code": "free", "events": 7, "skips": 2, "skip_rate": 2 / 7},
        {"plan": "Premium", "plan_code": "premium", "events": 3, "skips": 0, "skip_rate": 0.0},
        {"plan": "Duo", "plan_code": "duo", **NONE},
    ]


def test_skip_rate_by_country_most_events_first(plays):
    assert rows_of("skip-rate-by-country") == [
        {"country": "Sweden", "country_code": "SE", "events": 7, "skips": 1, "skip_rate": 1 / 7},
        {
            "country": "United States of America",
            "country_code": "US",
            "events": 3,
            "skips": 1,
            "skip_rate": 1 / 3,
        },
    ]
    assert rows_of("skip-rate-by-country", region="north_america") == [
        {
            "country": "United States of America",
            "country_code": "US",
            "events": 3,
            "skips": 1,
            "skip_rate": 1 / 3,
        },
    ]


def test_sessions_split_on_gaps_over_30_minutes(plays, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        run_kpi("sessions", start=JAN_10, end=JAN_12, today=TODAY)
    assert rows_of("sessions") == [
        # S1: 10:00:00 -> e3's end 10:33:59 = 2 039 000 ms, 3 plays; S2: 29 999 ms, 1 play;
        # S3: 23:59:59 -> e7's end 00:03:30 = 211 000 ms, 3 plays (counted on Jan 10).
        {
            "period": "2026-01-10",
            "sessions": 3,
            "mean_length": (2_039_000 + 29_999 + 211_000) / 3 / 60_000,
            "mean_depth": 7 / 3,
        },
        # S4: 15:00:00 -> f2's end 15:10:05 = 605 000 ms, 2 plays; S5: 1 800 000 ms, 1 play.
        {"period": "2026-01-11", "sessions": 2, "mean_length": 2_405_000 / 2 / 60_000, "mean_depth": 3 / 2},
    ]
    assert rows_of("sessions", country="US") == [
        {"period": "2026-01-10", "sessions": 0, "mean_length": None, "mean_depth": None},
        {"period": "2026-01-11", "sessions": 2, "mean_length": 2_405_000 / 2 / 60_000, "mean_depth": 3 / 2},
    ]


def test_playlist_funnel_counts_runs_within_sessions(plays, django_assert_max_num_queries):
    # Runs: S1 e2-e3 (P1, depth 2); S2 e4 (P1 again, but a new session: depth 1);
    # S3 e5-e6 (P2, depth 2) then e7 (P1, depth 1). Runs with >= 1 play: 4, >= 2: 2.
    # Funnel(1) = 4/4, Funnel(2) = 2/4, Funnel(3) = 0; drop-off(1) = 1 - 0.5/1,
    # drop-off(2) = 1 - 0/0.5; from k = 3 on Funnel(k) = 0, so drop-off is undefined.
    with django_assert_max_num_queries(1):
        run_kpi("playlist-funnel", start=JAN_10, end=JAN_12, today=TODAY)
    assert rows_of("playlist-funnel") == [
        {"depth": 1, "runs": 4, "funnel": 1.0, "drop_off": 0.5},
        {"depth": 2, "runs": 2, "funnel": 0.5, "drop_off": 1.0},
        *({"depth": k, "runs": 0, "funnel": 0.0, "drop_off": None} for k in range(3, 11)),
    ]
    # Every run belongs to a session that started on Jan 10: Jan 11 alone has none.
    assert rows_of("playlist-funnel", start=JAN_11) == [
        {"depth": k, "runs": 0, "funnel": None, "drop_off": None} for k in range(1, 11)
    ]


@pytest.mark.django_db
def test_skip_rate_by_plan_takes_the_latest_started_of_overlapping_subscriptions():
    # Premium from Jan 1 (open) and, overlapping it, duo over [Jan 5, Jan 20): plays on
    # Jan 3 and Jan 25 are premium, the play on Jan 10 is duo (the one started last).
    premium = make_plan("premium", price="10.99")
    duo = make_plan("duo", tier=Tier.DUO, price="14.99")
    listener = make_listener(country="SE", signed_up_at=at(2026, 1, 1))
    make_subscription(listener, premium, started_at=at(2026, 1, 1))
    make_subscription(listener, duo, started_at=at(2026, 1, 5), ended_at=at(2026, 1, 20))
    track = make_track()
    for day in (3, 10, 25):
        make_event(listener, played_at=at(2026, 1, day, 12), track=track, ms_played=1_000, skipped=day == 10)
    rollups.refresh(since=None, full=True, today=date(2026, 1, 31))
    assert rows_of(
        "skip-rate-by-plan", start=date(2026, 1, 1), end=date(2026, 2, 1), today=date(2026, 1, 31)
    ) == [
        {"plan": "Free", "plan_code": "free", **NONE},
        {"plan": "Premium", "plan_code": "premium", "events": 2, "skips": 0, "skip_rate": 0.0},
        {"plan": "Duo", "plan_code": "duo", "events": 1, "skips": 1, "skip_rate": 1.0},
    ]
