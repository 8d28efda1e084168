"""Content rollups: the rows `catalog.rollups.refresh` writes, on hand-built events."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import override_settings

from analytics.models import ListeningEvent
from catalog.models import (
    ContentRollupWatermark,
    GenreCountryStreams,
    ListenerMonthActivity,
    PodcastCountryStreams,
    TrackCountryStreams,
    TrackStreams,
)
from catalog.rollups import active_in, period_q, refresh
from tests.factories import at, make_episode, make_event, make_genre, make_listener, make_track

pytestmark = pytest.mark.django_db

TODAY = date(2026, 2, 3)


def _track_rows() -> list[tuple]:
    return sorted(
        (row.grain, str(row.period), row.track_id, row.streams) for row in TrackStreams.objects.all()
    )


@pytest.fixture
def data():
    """Two listeners (SE, US), two tracks in two genres, one podcast episode; plays on
    both sides of the Jan/Feb boundary and of the 30-second rule."""
    pop, rock = make_genre("Pop"), make_genre("Rock")
    t1, t2 = make_track(genre=pop), make_track(genre=rock)
    ep = make_episode()
    se, us = make_listener(country="SE"), make_listener(country="US")
    make_event(se, track=t1, played_at=at(2026, 1, 31, 23, 59), ms_played=30_000)  # stream, Jan 31
    make_event(se, track=t1, played_at=at(2026, 2, 1, 0, 0), ms_played=30_000)  # stream, Feb 1
    make_event(se, track=t1, played_at=at(2026, 2, 1, 9), ms_played=29_999)  # not a stream
    make_event(us, track=t1, played_at=at(2026, 2, 1, 10))  # stream, Feb 1
    make_event(us, track=t2, played_at=at(2026, 2, 3, 12))  # stream, Feb 3 (today)
    make_event(us, episode=ep, track=None, played_at=at(2026, 2, 3, 13), device="car")
    return {"pop": pop, "rock": rock, "t1": t1, "t2": t2, "podcast": ep.podcast, "se": se, "us": us}


def test_refresh_writes_day_and_month_rows_of_streams_only(data):
    written = refresh(since=None, full=False, today=TODAY)

    t1, t2 = data["t1"].id, data["t2"].id
    assert _track_rows() == sorted(
        [
            ("day", "2026-01-31", t1, 1),
            ("month", "2026-01-01", t1, 1),
            # 00:00 on Feb 1 belongs to Feb 1; the 29 999 ms play is not a stream.
            ("day", "2026-02-01", t1, 2),
            ("day", "2026-02-03", t2, 1),
            ("month", "2026-02-01", t1, 2),
            ("month", "2026-02-01", t2, 1),
        ]
    )
    assert sorted(
        (r.grain, str(r.period), r.country, r.track_id, r.streams) for r in TrackCountryStreams.objects.all()
    ) == sorted(
        [
            ("day", "2026-01-31", "SE", t1, 1),
            ("day", "2026-02-01", "SE", t1, 1),
            ("day", "2026-02-01", "US", t1, 1),
            ("day", "2026-02-03", "US", t2, 1),
            ("month", "2026-01-01", "SE", t1, 1),
            ("month", "2026-02-01", "SE", t1, 1),
            ("month", "2026-02-01", "US", t1, 1),
            ("month", "2026-02-01", "US", t2, 1),
        ]
    )
    pop, rock = data["pop"].id, data["rock"].id
    assert sorted(
        (r.grain, str(r.period), r.country, r.genre_id, r.streams) for r in GenreCountryStreams.objects.all()
    ) == sorted(
        [
            ("day", "2026-01-31", "SE", pop, 1),
            ("day", "2026-02-01", "SE", pop, 1),
            ("day", "2026-02-01", "US", pop, 1),
            ("day", "2026-02-03", "US", rock, 1),
            ("month", "2026-01-01", "SE", pop, 1),
            ("month", "2026-02-01", "SE", pop, 1),
            ("month", "2026-02-01", "US", pop, 1),
            ("month", "2026-02-01", "US", rock, 1),
        ]
    )
    podcast = data["podcast"].id
    assert sorted(
        (r.grain, str(r.period), r.country, r.device, r.podcast_id, r.streams)
        for r in PodcastCountryStreams.objects.all()
    ) == [("day", "2026-02-03", "US", "car", podcast, 1), ("month", "2026-02-01", "US", "car", podcast, 1)]
    se, us = data["se"].id, data["us"].id
    # Bit d-1 for day d: SE played on Jan 31 (bit 30) and Feb 1 (bit 0, the short play
    # counts as activity too); US on Feb 1 and Feb 3 (bits 0 and 2 = 0b101).
    assert sorted(
        (str(r.month), r.listener_id, r.country, r.days) for r in ListenerMonthActivity.objects.all()
    ) == sorted(
        [
            ("2026-01-01", se, "SE", 1 << 30),
            ("2026-02-01", se, "SE", 0b1),
            ("2026-02-01", us, "US", 0b101),
        ]
    )
    # Day rows + month rows per table; activity counts one write per listener-day.
    assert written == {
        "track_streams": 3 + 3,
        "track_country_streams": 4 + 4,
        "genre_country_streams": 4 + 4,
        "podcast_country_streams": 1 + 1,
        "listener_month_activity": 4,
    }
    watermark = ContentRollupWatermark.objects.get()
    assert (watermark.through, watermark.max_event_id) == (TODAY, ListeningEvent.objects.latest("id").id)


def test_refresh_rerun_changes_nothing(data):
    refresh(since=None, full=False, today=TODAY)
    before = (_track_rows(), sorted(ListenerMonthActivity.objects.values_list("month", "listener", "days")))

    refresh(since=None, full=False, today=TODAY)
    refresh(since=date(2026, 1, 1), full=False, today=TODAY)
    refresh(since=None, full=True, today=TODAY)

    after = (_track_rows(), sorted(ListenerMonthActivity.objects.values_list("month", "listener", "days")))
    assert after == before


def test_refresh_incremental_picks_up_new_and_backfilled_events(data):
    refresh(since=None, full=False, today=TODAY)
    t1 = data["t1"]
    # A later event for today and a backfilled one two months back.
    make_event(data["se"], track=t1, played_at=at(2026, 2, 3, 20))
    make_event(data["se"], track=t1, played_at=at(2025, 12, 24, 8))

    refresh(since=None, full=False, today=TODAY)

    rows = _track_rows()
    assert ("day", "2025-12-24", t1.id, 1) in rows
    assert ("month", "2025-12-01", t1.id, 1) in rows
    assert ("day", "2026-02-03", t1.id, 1) in rows
    assert ("month", "2026-02-01", t1.id, 3) in rows  # Feb 1 (2) + Feb 3 (1)


def test_refresh_forgets_deleted_events_on_since_and_full(data):
    refresh(since=None, full=False, today=TODAY)
    ListeningEvent.objects.filter(played_at__gte=at(2026, 2, 1), listener=data["us"]).delete()

    refresh(since=date(2026, 2, 1), full=False, today=TODAY)

    t1 = data["t1"].id
    assert _track_rows() == sorted(
        [
            ("day", "2026-01-31", t1, 1),
            ("day", "2026-02-01", t1, 1),
            ("month", "2026-01-01", t1, 1),
            ("month", "2026-02-01", t1, 1),
        ]
    )
    # US lost all its February days: its row is gone, not left with an empty bitmap.
    assert sorted(ListenerMonthActivity.objects.values_list("listener", "days")) == sorted(
        [(data["se"].id, 1 << 30), (data["se"].id, 1)]
    )

    ListeningEvent.objects.filter(played_at__lt=at(2026, 2, 1)).delete()
    refresh(since=None, full=True, today=TODAY)

    assert _track_rows() == [("day", "2026-02-01", t1, 1), ("month", "2026-02-01", t1, 1)]
    assert list(ListenerMonthActivity.objects.values_list("month", "days")) == [(date(2026, 2, 1), 1)]


@override_settings(TIME_ZONE="Europe/Stockholm")
def test_refresh_cuts_days_in_the_reporting_time_zone():
    track, listener = make_track(), make_listener()
    # 23:30 UTC on Jan 31 is 00:30 on Feb 1 in Stockholm (UTC+1).
    make_event(listener, track=track, played_at=at(2026, 1, 31, 23, 30))

    refresh(since=None, full=False, today=TODAY)

    assert _track_rows() == [("day", "2026-02-01", track.id, 1), ("month", "2026-02-01", track.id, 1)]
    assert list(ListenerMonthActivity.objects.values_list("month", "days")) == [(date(2026, 2, 1), 1)]


def test_refresh_reports_progress_per_day(data):
    calls = []

    refresh(since=None, full=False, today=TODAY, progress=lambda *args: calls.append(args))

    # Jan 31 .. Feb 3 inclusive: 4 days.
    assert calls == [("content rollups", n, 4) for n in range(1, 5)]


def test_refresh_without_events_only_sets_the_watermark():
    assert refresh(since=None, full=False, today=TODAY) == dict.fromkeys(
        [
            "track_streams",
            "track_country_streams",
            "genre_country_streams",
            "podcast_country_streams",
            "listener_month_activity",
        ],
        0,
    )
    assert ContentRollupWatermark.objects.get().through == TODAY


def test_period_q_sums_whole_months_and_edge_days(data):
    refresh(since=None, full=False, today=TODAY)
    t1 = data["t1"].id

    def streams(start: date, end: date) -> list[tuple]:
        rows = TrackStreams.objects.filter(period_q(start, end))
        return sorted((r.grain, str(r.period), r.track_id) for r in rows)

    # [Jan 31, Feb 2): two edge days, no whole month.
    assert streams(date(2026, 1, 31), date(2026, 2, 2)) == [
        ("day", "2026-01-31", t1),
        ("day", "2026-02-01", t1),
    ]
    # [Jan 1, Feb 2): January whole (its month row), Feb 1 as a day row.
    assert streams(date(2026, 1, 1), date(2026, 2, 2)) == [
        ("day", "2026-02-01", t1),
        ("month", "2026-01-01", t1),
    ]


def test_active_in_matches_edge_day_bits(data):
    refresh(since=None, full=False, today=TODAY)

    def active(start: date, end: date) -> list[int]:
        return sorted(set(active_in(start, end).values_list("listener_id", flat=True)))

    se, us = data["se"].id, data["us"].id
    assert active(date(2026, 2, 2), date(2026, 2, 3)) == []  # nobody played on Feb 2
    assert active(date(2026, 2, 2), date(2026, 2, 4)) == [us]  # US on Feb 3
    assert active(date(2026, 1, 31), date(2026, 2, 1)) == [se]  # SE on Jan 31 (bit 30)
    assert active(date(2026, 1, 1), date(2026, 3, 1)) == [se, us]  # whole months
