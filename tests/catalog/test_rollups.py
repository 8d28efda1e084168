"""Content rollups: the rows `catalog.rollups.refresh` writes, on hand-built data, and
how readers cover a day range with them."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings
from pyroaring import BitMap

from analytics.models import ListeningEvent
from billing.models import Listener
from catalog import rollups as rollup_module
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
    Track,
    TrackCountryStreams,
    TrackRatings,
    TrackStreams,
)
from catalog.rollups import (
    Span,
    active_listener_counts,
    refresh,
    refresh_totals,
    signups_before,
    span,
)
from tests.factories import at, make_artist, make_episode, make_event, make_genre, make_listener, make_track

pytestmark = pytest.mark.django_db

TODAY = date(2026, 2, 3)
JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)


def _rows(model, *fields: str) -> list[tuple]:
    return sorted(
        tuple(str(value) if isinstance(value, date) else value for value in row)
        for row in model.objects.values_list(*fields)
    )


def _listeners() -> list[tuple]:
    """(grain, period, country, listener count, listener ids) of every bitmap row."""
    return sorted(
        (grain, str(period), country, count, sorted(BitMap.deserialize(bitmap)))
        for grain, period, country, count, bitmap in CountryListeners.objects.values_list(
            "grain", "period", "country", "listeners", "bitmap"
        )
    )


def _tracks() -> list[tuple]:
    return _rows(TrackStreams, "grain", "period", "track", "streams")


@pytest.fixture
def data():
    """Two listeners (SE, US; signed up Jan 1), two tracks in two genres, one podcast
    episode; plays on both sides of the Jan/Feb boundary and of the 30-second rule."""
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


def test_refresh_writes_day_and_month_rows(data):
    written = refresh(since=None, full=False, today=TODAY)

    t1, t2 = data["t1"], data["t2"]
    # 00:00 on Feb 1 belongs to Feb 1; the 29 999 ms play is no stream.
    per_track = [
        ("day", "2026-01-31", t1, 1),
        ("day", "2026-02-01", t1, 2),
        ("day", "2026-02-03", t2, 1),
        ("month", "2026-01-01", t1, 1),
        ("month", "2026-02-01", t1, 2),
        ("month", "2026-02-01", t2, 1),
    ]
    assert _tracks() == [(g, p, t.id, n) for g, p, t, n in per_track]
    assert _rows(ArtistStreams, "grain", "period", "artist", "streams") == sorted(
        (g, p, t.primary_artist_id, n) for g, p, t, n in per_track
    )
    assert _rows(AlbumStreams, "grain", "period", "album", "streams") == sorted(
        (g, p, t.album_id, n) for g, p, t, n in per_track
    )
    assert _rows(TrackCountryStreams, "grain", "period", "country", "track", "streams") == [
        ("day", "2026-01-31", "SE", t1.id, 1),
        ("day", "2026-02-01", "SE", t1.id, 1),
        ("day", "2026-02-01", "US", t1.id, 1),
        ("day", "2026-02-03", "US", t2.id, 1),
        ("month", "2026-01-01", "SE", t1.id, 1),
        ("month", "2026-02-01", "SE", t1.id, 1),
        ("month", "2026-02-01", "US", t1.id, 1),
        ("month", "2026-02-01", "US", t2.id, 1),
    ]
    pop, rock = data["pop"].id, data["rock"].id
    assert _rows(GenreCountryStreams, "grain", "period", "country", "genre", "streams") == [
        ("day", "2026-01-31", "SE", pop, 1),
        ("day", "2026-02-01", "SE", pop, 1),
        ("day", "2026-02-01", "US", pop, 1),
        ("day", "2026-02-03", "US", rock, 1),
        ("month", "2026-01-01", "SE", pop, 1),
        ("month", "2026-02-01", "SE", pop, 1),
        ("month", "2026-02-01", "US", pop, 1),
        ("month", "2026-02-01", "US", rock, 1),
    ]
    podcast = data["podcast"].id
    assert _rows(PodcastRegionStreams, "grain", "period", "region", "podcast", "streams") == [
        ("day", "2026-02-03", "north_america", podcast, 1),
        ("month", "2026-02-01", "north_america", podcast, 1),
    ]
    assert _rows(PodcastDeviceStreams, "grain", "period", "device", "region", "podcast", "streams") == [
        ("day", "2026-02-03", "car", "north_america", podcast, 1),
        ("month", "2026-02-01", "car", "north_america", podcast, 1),
    ]
    # Tracks and episodes alike: US on Feb 3 = t2 + the episode.
    assert _rows(CountryStreams, "grain", "period", "country", "streams") == [
        ("day", "2026-01-31", "SE", 1),
        ("day", "2026-02-01", "SE", 1),
        ("day", "2026-02-01", "US", 1),
        ("day", "2026-02-03", "US", 2),
        ("month", "2026-01-01", "SE", 1),
        ("month", "2026-02-01", "SE", 1),
        ("month", "2026-02-01", "US", 3),
    ]
    assert _rows(CountrySignups, "grain", "period", "country", "signups") == [
        ("day", "2026-01-01", "SE", 1),
        ("day", "2026-01-01", "US", 1),
        ("month", "2026-01-01", "SE", 1),
        ("month", "2026-01-01", "US", 1),
    ]
    se, us = data["se"].id, data["us"].id
    # SE played on Jan 31 and Feb 1 (the 29 999 ms play too: any play is activity); US
    # on Feb 1 and Feb 3 (the episode). Month rows hold each listener once.
    assert _listeners() == [
        ("day", "2026-01-31", "SE", 1, [se]),
        ("day", "2026-02-01", "SE", 1, [se]),
        ("day", "2026-02-01", "US", 1, [us]),
        ("day", "2026-02-03", "US", 1, [us]),
        ("month", "2026-01-01", "SE", 1, [se]),
        ("month", "2026-02-01", "SE", 1, [se]),
        ("month", "2026-02-01", "US", 1, [us]),
    ]
    # Day rows + month rows per table (a first refresh rebuilds: rows inserted).
    assert written == {
        "track_country_streams": 4 + 4,
        "track_streams": 3 + 3,
        "artist_streams": 3 + 3,
        "album_streams": 3 + 3,
        "genre_country_streams": 4 + 4,
        "podcast_region_streams": 1 + 1,
        "podcast_device_streams": 1 + 1,
        "country_streams": 4 + 3,
        "country_signups": 2 + 2,
        "country_listeners": 4 + 3,
        "track_ratings": 0,
        "artist_followers": 0,
    }
    watermark = ContentRollupWatermark.objects.get()
    assert (watermark.through, watermark.max_event_id, watermark.max_listener_id) == (
        TODAY,
        ListeningEvent.objects.latest("id").id,
        us,
    )


def _everything() -> list[list[tuple]]:
    return [
        _tracks(),
        _rows(TrackCountryStreams, "grain", "period", "country", "track", "streams"),
        _rows(CountryStreams, "grain", "period", "country", "streams"),
        _rows(CountrySignups, "grain", "period", "country", "signups"),
        _listeners(),
    ]


def test_deleting_a_track_deletes_its_rollup_rows(data):
    # The rollups' foreign keys have no database constraint; Django's cascade removes them.
    refresh(since=None, full=True, today=TODAY)
    ListeningEvent.objects.filter(track=data["t1"]).delete()  # plays protect their track
    data["t1"].delete()
    assert not TrackStreams.objects.filter(track=data["t1"].pk).exists()
    assert not TrackCountryStreams.objects.filter(track=data["t1"].pk).exists()
    assert TrackStreams.objects.filter(track=data["t2"]).exists()


def test_deleted_listeners_leave_the_bitmaps_when_their_days_are_refreshed(data):
    refresh(since=None, full=False, today=TODAY)
    se = data["se"].id
    data["se"].delete()  # and their events with them

    refresh(since=date(2026, 1, 31), full=False, today=TODAY)

    assert se not in {listener for *_, ids in _listeners() for listener in ids}
    assert [(grain, period) for grain, period, *_ in _listeners()] == [
        ("day", "2026-02-01"),
        ("day", "2026-02-03"),
        ("month", "2026-02-01"),
    ]


def test_refresh_rerun_changes_nothing(data):
    refresh(since=None, full=False, today=TODAY)
    before = _everything()

    rerun = refresh(since=None, full=False, today=TODAY)
    again = refresh(since=date(2026, 1, 1), full=False, today=TODAY)
    # Days that did not change write no count row (the bitmaps are rewritten).
    counts = [name for name, *_ in rollup_module._COUNT_TABLES]
    assert [rerun[name] for name in counts] == [0] * len(counts)
    assert [again[name] for name in counts] == [0] * len(counts)
    refresh(since=None, full=True, today=TODAY)

    assert _everything() == before


def test_refresh_incremental_picks_up_new_and_backfilled_rows(data):
    refresh(since=None, full=False, today=TODAY)
    t1 = data["t1"]
    # A later event for today, a backfilled one two months back, an imported listener.
    make_event(data["se"], track=t1, played_at=at(2026, 2, 3, 20))
    make_event(data["se"], track=t1, played_at=at(2025, 12, 24, 8))
    make_listener(country="NO", signed_up_at=at(2025, 11, 5))

    refresh(since=None, full=False, today=TODAY)

    rows = _tracks()
    assert ("day", "2025-12-24", t1.id, 1) in rows
    assert ("month", "2025-12-01", t1.id, 1) in rows
    assert ("day", "2026-02-03", t1.id, 1) in rows
    assert ("month", "2026-02-01", t1.id, 3) in rows  # Feb 1 (2) + Feb 3 (1)
    assert ("month", "2025-11-01", "NO", 1) in _rows(CountrySignups, "grain", "period", "country", "signups")
    assert ("month", "2025-12-01", "SE", 1, [data["se"].id]) in _listeners()


def test_refresh_forgets_deleted_events_on_since_and_full(data):
    refresh(since=None, full=False, today=TODAY)
    ListeningEvent.objects.filter(played_at__gte=at(2026, 2, 1), listener=data["us"]).delete()

    refresh(since=date(2026, 2, 1), full=False, today=TODAY)

    t1, se = data["t1"].id, data["se"].id
    assert _tracks() == [
        ("day", "2026-01-31", t1, 1),
        ("day", "2026-02-01", t1, 1),
        ("month", "2026-01-01", t1, 1),
        ("month", "2026-02-01", t1, 1),
    ]
    # US lost all its February days: its rows are gone, not left with empty bitmaps.
    assert _rows(CountryListeners, "grain", "period", "country") == [
        ("day", "2026-01-31", "SE"),
        ("day", "2026-02-01", "SE"),
        ("month", "2026-01-01", "SE"),
        ("month", "2026-02-01", "SE"),
    ]

    ListeningEvent.objects.filter(played_at__lt=at(2026, 2, 1)).delete()
    refresh(since=None, full=True, today=TODAY)

    assert _tracks() == [("day", "2026-02-01", t1, 1), ("month", "2026-02-01", t1, 1)]
    assert _listeners() == [
        ("day", "2026-02-01", "SE", 1, [se]),
        ("month", "2026-02-01", "SE", 1, [se]),
    ]


def test_refresh_with_an_earlier_today_rebuilds(data):
    refresh(since=None, full=False, today=TODAY)

    refresh(since=None, full=False, today=date(2026, 2, 1))

    # Nothing after Feb 1 is left, so a range reaching past it may read month rows.
    t1 = data["t1"].id
    assert _tracks() == [
        ("day", "2026-01-31", t1, 1),
        ("day", "2026-02-01", t1, 2),
        ("month", "2026-01-01", t1, 1),
        ("month", "2026-02-01", t1, 2),
    ]
    assert ContentRollupWatermark.objects.get().through == date(2026, 2, 1)


@override_settings(TIME_ZONE="Europe/Stockholm")
def test_refresh_cuts_days_in_the_reporting_time_zone():
    track = make_track()
    # 23:30 UTC on Jan 31 is 00:30 on Feb 1 in Stockholm (UTC+1).
    listener = make_listener(signed_up_at=at(2026, 1, 31, 23, 30))
    make_event(listener, track=track, played_at=at(2026, 1, 31, 23, 30))

    refresh(since=None, full=False, today=TODAY)

    assert _tracks() == [("day", "2026-02-01", track.id, 1), ("month", "2026-02-01", track.id, 1)]
    assert _rows(CountrySignups, "grain", "period") == [("day", "2026-02-01"), ("month", "2026-02-01")]
    assert _rows(CountryListeners, "grain", "period") == [("day", "2026-02-01"), ("month", "2026-02-01")]


def test_refresh_reports_progress_per_month_when_rebuilding_then_per_day(data):
    calls = []

    refresh(since=None, full=False, today=TODAY, progress=lambda *args: calls.append(args))
    # A first refresh rebuilds from the first sign-up (Jan 1) through Feb 3: two months.
    assert calls == [("content months", 1, 2), ("content months", 2, 2)]

    calls.clear()
    refresh(since=date(2026, 2, 1), full=False, today=TODAY, progress=lambda *args: calls.append(args))
    # Incremental runs go day by day: Feb 1 through Feb 3.
    assert calls == [("content rollups", n, 3) for n in range(1, 4)]


def test_refresh_without_data_only_sets_the_watermark():
    written = refresh(since=None, full=False, today=TODAY)

    assert set(written.values()) == {0}
    assert len(written) == 12
    assert ContentRollupWatermark.objects.get().through == TODAY


def test_span_reads_whole_months_and_edge_days():
    jan31, feb2 = date(2026, 1, 31), date(2026, 2, 2)
    assert span(jan31, feb2, through=TODAY) == Span(months=(), days=((jan31, FEB), (FEB, feb2)))
    assert span(JAN, feb2, through=TODAY) == Span(months=(JAN,), days=((FEB, feb2),))
    assert span(JAN, feb2, through=None) == Span(months=(JAN,), days=((FEB, feb2),))
    # No data after Feb 1: February's month row holds exactly [Feb 1, Feb 2).
    assert span(JAN, feb2, through=FEB) == Span(months=(JAN, FEB), days=())
    # ... but not when the range starts inside the month.
    assert span(date(2026, 2, 2), date(2026, 2, 5), through=FEB) == Span(
        months=(), days=((date(2026, 2, 2), date(2026, 2, 5)),)
    )
    assert span(JAN, feb2, through=TODAY).cells == 1 + 1
    # Jan 31, February, Mar 1-4; March is one cell when no data lies past Mar 4.
    assert span(jan31, date(2026, 3, 5), through=date(2026, 3, 10)).cells == 1 + 1 + 4
    assert span(jan31, date(2026, 3, 5), through=TODAY).cells == 1 + 1 + 1


def test_span_rows_add_up_to_the_range(data):
    refresh(since=None, full=False, today=TODAY)
    t1 = data["t1"].id

    def streams(start: date, end: date, through: date) -> int:
        return sum(
            TrackStreams.objects.filter(span(start, end, through=through).q()).values_list(
                "streams", flat=True
            )
        )

    assert streams(date(2026, 1, 31), date(2026, 2, 2), TODAY) == 1 + 2  # Jan 31, Feb 1
    assert streams(JAN, date(2026, 2, 2), TODAY) == 1 + 2  # January row, Feb 1
    assert streams(FEB, date(2026, 2, 3), TODAY) == 2  # Feb 1-2: Feb 3 is out
    assert streams(FEB, date(2026, 2, 4), TODAY) == 2 + 1  # through today: February's row
    assert sorted(
        TrackStreams.objects.filter(span(FEB, date(2026, 2, 4), through=TODAY).q()).values_list(
            "grain", "track"
        )
    ) == [("month", t1), ("month", data["t2"].id)]


def test_active_listener_counts_union_edge_days_and_whole_months(data):
    refresh(since=None, full=False, today=TODAY)

    def active(start: date, end: date, countries: frozenset[str] | None = None) -> list[tuple[str, int]]:
        return active_listener_counts(span(start, end, through=TODAY), countries)

    assert active(date(2026, 2, 2), date(2026, 2, 3)) == []  # nobody played on Feb 2
    assert active(date(2026, 2, 2), date(2026, 2, 4)) == [("US", 1)]  # US on Feb 3
    assert active(date(2026, 1, 31), date(2026, 2, 1)) == [("SE", 1)]  # SE on Jan 31
    assert active(JAN, FEB) == [("SE", 1)]  # January's month row
    # SE on Jan 31 (a day row) and in February (the month row): counted once.
    assert active(date(2026, 1, 31), date(2026, 3, 1)) == [("SE", 1), ("US", 1)]
    assert active(JAN, date(2026, 2, 4)) == [("SE", 1), ("US", 1)]  # past the refresh: whole months
    assert active(JAN, date(2026, 3, 1), frozenset({"US"})) == [("US", 1)]
    assert active(date(2026, 1, 31), date(2026, 2, 2), frozenset({"NO"})) == []


def test_active_listener_counts_are_distinct_listeners_across_days_and_months():
    track = make_track()
    early, late, both, other = (make_listener(country="NO") for _ in range(4))
    for listener, day in ((early, 5), (both, 5), (both, 6), (other, 6)):
        make_event(listener, track=track, played_at=at(2026, 1, day))
    for listener in (late, both):
        make_event(listener, track=track, played_at=at(2026, 2, 2))
    make_event(make_listener(country="SE"), track=track, played_at=at(2026, 1, 6))
    refresh(since=None, full=False, today=TODAY)

    def active(start: date, end: date) -> list[tuple[str, int]]:
        return active_listener_counts(span(start, end, through=TODAY), None)

    # Jan 5: early, both. Jan 5-6: early, both, other (both once). January + February:
    # early, both, other, late. Jan 6 to Feb 3 (a day range, then a month): both,
    # other, late.
    assert active(date(2026, 1, 5), date(2026, 1, 6)) == [("NO", 2)]
    assert active(date(2026, 1, 5), date(2026, 1, 7)) == [("NO", 3), ("SE", 1)]
    assert active(JAN, date(2026, 3, 1)) == [("NO", 4), ("SE", 1)]
    assert active(date(2026, 1, 6), date(2026, 3, 1)) == [("NO", 3), ("SE", 1)]
    assert active(FEB, date(2026, 3, 1)) == [("NO", 2)]


def test_active_listener_counts_a_listener_who_moved_in_each_country():
    track = make_track()
    listener = make_listener(country="NO")
    make_event(listener, track=track, played_at=at(2026, 1, 5))
    refresh(since=None, full=False, today=date(2026, 1, 31))
    listener.country = "DK"
    listener.save()
    make_event(listener, track=track, played_at=at(2026, 2, 2))
    refresh(since=None, full=False, today=TODAY)

    # The country recorded when each day was refreshed.
    assert active_listener_counts(span(JAN, date(2026, 3, 1), through=TODAY), None) == [("DK", 1), ("NO", 1)]


def test_refresh_stops_on_a_listener_id_the_bitmaps_cannot_hold():
    track = make_track()
    make_event(make_listener(id=rollup_module.MAX_BITMAP_ID), track=track, played_at=at(2026, 1, 5))
    refresh(since=None, full=False, today=TODAY)
    assert active_listener_counts(span(JAN, FEB, through=TODAY), None) == [("SE", 1)]

    make_event(make_listener(id=rollup_module.MAX_BITMAP_ID + 1), track=track, played_at=at(2026, 1, 6))
    for full in (False, True):  # a day's refresh and a rebuild
        with pytest.raises(OverflowError, match="above 4294967295"):
            refresh(since=None, full=full, today=TODAY)
    # The rebuild is one transaction: the rows before it are intact.
    assert active_listener_counts(span(JAN, FEB, through=TODAY), None) == [("SE", 1)]


def test_signups_before_counts_months_and_days_before_the_day(data):
    make_listener(country="SE", signed_up_at=at(2026, 2, 2, 12))
    refresh(since=None, full=False, today=TODAY)

    def signed_up(day: date) -> int:
        return sum(CountrySignups.objects.filter(signups_before(day)).values_list("signups", flat=True))

    assert signed_up(JAN) == 0
    assert signed_up(date(2026, 1, 2)) == 2  # both on Jan 1
    assert signed_up(date(2026, 2, 2)) == 2  # January's row
    assert signed_up(date(2026, 2, 3)) == 3  # + Feb 2
    assert Listener.objects.count() == 3


def test_refresh_totals_sum_ratings_per_track_and_open_follows_per_artist():
    rock = make_genre("Rock")
    track, other = make_track("T", genre=rock), make_track("U", genre=rock)
    artist = make_artist("A")
    people = [make_listener() for _ in range(3)]
    for person, score in zip(people, (5, 3, 4), strict=True):
        Rating.objects.create(listener=person, track=track, score=score, rated_at=at(2026, 1, 2))
    Rating.objects.create(listener=people[0], track=other, score=1, rated_at=at(2026, 1, 3))
    Follow.objects.create(listener=people[0], artist=artist, followed_at=at(2026, 1, 1))
    Follow.objects.create(listener=people[1], artist=artist, followed_at=at(2026, 1, 1))
    Follow.objects.create(
        listener=people[2], artist=artist, followed_at=at(2026, 1, 1), unfollowed_at=at(2026, 1, 9)
    )

    assert refresh_totals() == {"track_ratings": 2, "artist_followers": 1}
    assert refresh_totals() == {"track_ratings": 0, "artist_followers": 0}  # nothing changed
    assert set(TrackRatings.objects.values_list("track_id", "genre_id", "votes", "total")) == {
        (track.pk, rock.pk, 3, 12),
        (other.pk, rock.pk, 1, 1),
    }
    assert list(ArtistFollowers.objects.values_list("artist_id", "followers")) == [(artist.pk, 2)]

    # A score edited, a track's only rating deleted, a track moved to another genre, the
    # last follows ended: each changed total is rewritten, each emptied one dropped.
    pop = make_genre("Pop")
    Rating.objects.filter(listener=people[1], track=track).update(score=5)
    Rating.objects.filter(track=other).delete()
    Track.objects.filter(pk=track.pk).update(genre=pop)
    Follow.objects.filter(unfollowed_at__isnull=True).update(unfollowed_at=at(2026, 2, 1))
    assert refresh_totals() == {"track_ratings": 2, "artist_followers": 1}
    assert list(TrackRatings.objects.values_list("track_id", "genre_id", "votes", "total")) == [
        (track.pk, pop.pk, 3, 14)
    ]
    assert not ArtistFollowers.objects.exists()

    # The sums keep to what ratings and follows can add up to.
    for model, fields in (
        (TrackRatings, {"track": make_track("V", genre=rock), "genre": rock, "votes": 2, "total": 11}),
        (TrackRatings, {"track": make_track("W", genre=rock), "genre": rock, "votes": 0, "total": 0}),
        (ArtistFollowers, {"artist": make_artist("B"), "followers": 0}),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            model.objects.create(**fields)


def _count_tables() -> dict[str, list[tuple]]:
    """Every row of every day-and-month count table."""
    return {
        model.__name__: _rows(model, "grain", "period", *columns, value)
        for _, model, columns, value in rollup_module._COUNT_TABLES
    }


def test_refresh_day_by_day_moves_the_month_rows_to_what_a_full_rebuild_sums(data):
    se, us, t1, t2 = data["se"], data["us"], data["t1"], data["t2"]
    ep = Episode.objects.get()
    refresh(since=None, full=False, today=date(2026, 2, 1))

    # Each later run covers at most three days of February: the month rows move by the days.
    make_event(se, track=t2, played_at=at(2026, 2, 2, 9))
    make_event(us, episode=ep, track=None, played_at=at(2026, 2, 2, 10), device="car")
    refresh(since=None, full=False, today=date(2026, 2, 2))
    make_event(us, track=t1, played_at=at(2026, 2, 1, 22))  # a late play for a summed day
    make_listener(country="NO", signed_up_at=at(2026, 2, 2, 7))
    refresh(since=None, full=False, today=TODAY)
    ListeningEvent.objects.filter(played_at__date=date(2026, 2, 2), listener=se).delete()
    refresh(since=date(2026, 2, 2), full=False, today=TODAY)
    # Day rows an interrupted run wrote after the last refreshed day are in no month row.
    TrackStreams.objects.create(grain="day", period=date(2026, 2, 4), track=t2, streams=5)
    refresh(since=None, full=False, today=date(2026, 2, 4))
    moved = _count_tables()
    assert ("month", "2026-02-01", t1.id, 3) in moved["TrackStreams"]
    assert ("month", "2026-02-01", t2.id, 1) in moved["TrackStreams"]  # Feb 2's play was deleted

    refresh(since=None, full=True, today=date(2026, 2, 4))

    assert _count_tables() == moved


def test_refresh_interrupted_mid_month_is_completed_by_the_next_run(data, monkeypatch):
    se, t2 = data["se"], data["t2"]
    refresh(since=None, full=False, today=date(2026, 2, 1))
    make_event(se, track=t2, played_at=at(2026, 2, 2, 9))
    make_event(se, track=t2, played_at=at(2026, 2, 3, 9))
    refresh_day = rollup_module._refresh_day

    def interrupted(cursor, day, **options):
        if day == TODAY:
            raise RuntimeError("interrupted")
        return refresh_day(cursor, day, **options)

    monkeypatch.setattr(rollup_module, "_refresh_day", interrupted)
    with pytest.raises(RuntimeError):
        refresh(since=None, full=False, today=TODAY)
    monkeypatch.setattr(rollup_module, "_refresh_day", refresh_day)

    refresh(since=None, full=False, today=TODAY)
    moved = _count_tables()
    assert ("month", "2026-02-01", t2.id, 3) in moved["TrackStreams"]
    refresh(since=None, full=True, today=TODAY)
    assert _count_tables() == moved


def test_a_daily_run_refreshes_the_days_with_something_new_and_after(data, monkeypatch):
    se, t1 = data["se"], data["t1"]
    refresh(since=None, full=False, today=date(2026, 2, 2))
    visited = []
    refresh_day = rollup_module._refresh_day

    def recorded(cursor, day, **options):
        visited.append(day)
        return refresh_day(cursor, day, **options)

    monkeypatch.setattr(rollup_module, "_refresh_day", recorded)
    # Only the new day's plays: Feb 2, refreshed last time, is not moved again.
    make_event(se, track=t1, played_at=at(2026, 2, 3, 9))
    refresh(since=None, full=False, today=date(2026, 2, 3))
    assert visited == [date(2026, 2, 3)]
    # A play arriving late for Feb 1 takes the run back to Feb 1.
    visited.clear()
    make_event(se, track=t1, played_at=at(2026, 2, 1, 23))
    refresh(since=None, full=False, today=date(2026, 2, 3))
    assert visited == [date(2026, 2, 1), date(2026, 2, 2), date(2026, 2, 3)]
    # Nothing new: a new `today` is visited (it may have plays yet to come), and run
    # again for the same `today`, nothing is.
    visited.clear()
    refresh(since=None, full=False, today=date(2026, 2, 4))
    assert visited == [date(2026, 2, 4)]
    refresh(since=None, full=False, today=date(2026, 2, 4))
    assert visited == [date(2026, 2, 4)]
    assert ContentRollupWatermark.objects.get().through == date(2026, 2, 4)
