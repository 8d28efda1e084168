"""The listening rollups: idempotent, incremental (late events included), exact windows
and sessions, and the calendar helpers they cut days with."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from django.db.models import BigIntegerField, F, Value

from analytics import rollups
from analytics.kpis import _time
from analytics.models import (
    ActiveListenersDay,
    ActivityDay,
    ListeningDay,
    ListeningEvent,
    PlaylistRunDay,
    PreviousActivity,
    RollupState,
    SessionDay,
    SignupMonth,
)
from analytics.rollups import ROLLUP_MODELS, Dim, _sql, grouping_for
from billing.models import Listener, Subscription, Tier
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

TODAY = date(2026, 3, 31)


def snapshot() -> dict[str, list[tuple]]:
    """Every rollup row, without surrogate ids, in a stable order."""
    out = {}
    for model in ROLLUP_MODELS:
        fields = [
            f.attname for f in model._meta.concrete_fields if not f.primary_key or f.name == "listener_id"
        ]
        out[model.__name__] = sorted(model.objects.values_list(*fields))
    return out


def refresh(**options) -> dict[str, int]:
    options.setdefault("since", None)
    options.setdefault("full", False)
    return rollups.refresh(today=TODAY, **options)


class World:
    """A small random but reproducible catalog, listeners and subscriptions."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        genres = [make_genre(name) for name in ("Pop", "Rock", "Jazz")]
        self.tracks = [make_track(genre=genres[n % 3]) for n in range(6)]
        self.episode = make_episode()
        self.playlists = [Playlist.objects.create(title=f"P{n}", created_at=at(2025, 1, 1)) for n in range(3)]
        free = make_plan("free", tier=Tier.FREE, price="0")
        premium = make_plan("premium", price="10.99")
        self.listeners = []
        for n in range(12):
            listener = make_listener(
                country=self.rng.choice(["SE", "US", "BR", "DE"]),
                signed_up_at=at(2025, 12 if n % 2 else 11, self.rng.randint(1, 28)),
            )
            if n % 3 == 0:
                make_subscription(listener, premium, started_at=at(2026, 1, 15), ended_at=at(2026, 2, 20))
            elif n % 3 == 1:
                make_subscription(listener, free, started_at=at(2025, 12, 1))
            self.listeners.append(listener)

    def plays(self, count: int, *, first: date, last: date) -> None:
        rng = self.rng
        span = (last - first).days
        for _ in range(count):
            day = first + timedelta(days=rng.randint(0, span))
            played_at = datetime(
                day.year, day.month, day.day, rng.randint(0, 23), rng.randint(0, 59), tzinfo=UTC
            )
            ms = rng.choice([5_000, 29_999, 30_000, 180_000, 240_000, 2_000_000])
            context = rng.choice(["album", "playlist", "playlist", "radio", "library"])
            fields = {
                "ms_played": ms,
                "skipped": ms < 30_000 and rng.random() < 0.6,
                "device": rng.choice(["mobile", "mobile", "desktop", "web", "car"]),
                "context": context,
                "playlist": rng.choice(self.playlists) if context == "playlist" else None,
            }
            listener = rng.choice(self.listeners)
            if rng.random() < 0.1:
                make_event(listener, played_at=played_at, episode=self.episode, **fields)
            else:
                make_event(listener, played_at=played_at, track=rng.choice(self.tracks), **fields)


@pytest.mark.django_db
def test_refresh_is_idempotent():
    world = World()
    world.plays(150, first=date(2026, 1, 1), last=date(2026, 2, 28))
    written = refresh(full=True)
    assert written["ActivityDay"] > 0
    assert written["ListeningDay"] > 0
    before = snapshot()
    # Nothing new: nothing is written and nothing changes.
    assert set(refresh().values()) == {0}
    assert snapshot() == before
    # Rebuilding days from a date on rewrites the same rows.
    refresh(since=date(2026, 2, 1))
    assert snapshot() == before


@pytest.mark.django_db
def test_incremental_refreshes_equal_a_full_rebuild():
    world = World()
    world.plays(120, first=date(2026, 1, 1), last=date(2026, 1, 31))
    refresh()
    # New days, and events that arrive late for days already refreshed.
    world.plays(80, first=date(2026, 2, 1), last=date(2026, 2, 28))
    world.plays(30, first=date(2026, 1, 1), last=date(2026, 1, 31))
    refresh()
    world.plays(60, first=date(2026, 1, 10), last=date(2026, 3, 20))
    refresh()
    incremental = snapshot()
    refresh(full=True)
    assert snapshot() == incremental


@pytest.mark.django_db
def test_late_event_for_a_past_day_is_found_by_its_id():
    track = make_track()
    listener = make_listener(country="SE", signed_up_at=at(2026, 1, 1))
    make_event(listener, played_at=at(2026, 3, 1, 12), track=track)
    refresh()
    # Mar 1 is the listener's first listening day (gap 0, never active before).
    assert list(ActivityDay.objects.values_list("day", "gap", "previous", "signup", "listeners")) == [
        (date(2026, 3, 1), 0, PreviousActivity.NEVER, SignupMonth.BEFORE, 1),
    ]
    # Played on Jan 5 but recorded after the refresh: a time watermark would miss it.
    make_event(listener, played_at=at(2026, 1, 5, 12), track=track)
    written = refresh()
    assert written["ActivityDay"] == 2
    # Jan 5 is now the first day; Mar 1 comes 55 days after it (capped at 28), and its
    # previous activity lies before the previous month.
    assert list(
        ActivityDay.objects.values_list("day", "gap", "previous", "signup", "listeners").order_by("day")
    ) == [
        (date(2026, 1, 5), 0, PreviousActivity.NEVER, SignupMonth.THIS_MONTH, 1),
        (date(2026, 3, 1), 28, PreviousActivity.EARLIER, SignupMonth.BEFORE, 1),
    ]
    # Its rolling windows moved too: R28 on Feb 1 ([Jan 5, Feb 1]) now counts the listener.
    feb_1 = ActiveListenersDay.objects.get(day=date(2026, 2, 1), country="", device="")
    assert (feb_1.dau, feb_1.wau, feb_1.r28, feb_1.new) == (0, 0, 1, 0)
    assert not ActiveListenersDay.objects.filter(day=date(2026, 2, 2), country="", device="").exists()


@pytest.mark.django_db
def test_late_event_merges_sessions_across_midnight():
    track = make_track()
    listener = make_listener(country="SE")
    # 23:40 + 10 min ends 23:50; the next play at 00:25 is 35 minutes later: two sessions.
    make_event(listener, played_at=at(2026, 1, 10, 23, 40), track=track, ms_played=600_000)
    make_event(listener, played_at=at(2026, 1, 11, 0, 25), track=track, ms_played=60_000)
    refresh()
    assert list(SessionDay.objects.values_list("day", "sessions", "length_ms", "depth").order_by("day")) == [
        (date(2026, 1, 10), 1, 600_000, 1),
        (date(2026, 1, 11), 1, 60_000, 1),
    ]
    # A late play 23:55-23:58 bridges the gap (27 minutes to 00:25): one session of Jan 10,
    # 23:40 -> 00:26 = 46 minutes, 3 plays; Jan 11 loses its session.
    make_event(listener, played_at=at(2026, 1, 10, 23, 55), track=track, ms_played=180_000)
    refresh()
    assert list(SessionDay.objects.values_list("day", "sessions", "length_ms", "depth")) == [
        (date(2026, 1, 10), 1, 46 * 60_000, 3),
    ]


@pytest.mark.django_db
def test_session_continues_after_a_long_play():
    track = make_track()
    listener = make_listener(country="SE")
    # A 26-hour play (a stuck player) ends on Jan 12 02:00; a play at 02:20 continues it.
    make_event(listener, played_at=at(2026, 1, 11, 0, 0), track=track, ms_played=26 * 3_600_000)
    make_event(listener, played_at=at(2026, 1, 12, 2, 20), track=track, ms_played=60_000)
    refresh()
    assert list(SessionDay.objects.values_list("day", "sessions", "length_ms", "depth")) == [
        (date(2026, 1, 11), 1, (26 * 60 + 21) * 60_000, 2),
    ]


@pytest.mark.django_db
def test_session_gaps_compare_plays_in_milliseconds_rounded_half_up():
    track = make_track()
    first, second = make_listener(country="SE"), make_listener(country="SE")
    for listener, microseconds in ((first, 499), (second, 500)):
        # 10:00 + 1 min ends 10:01:00.000; the next play starts 30 min and 0.499 ms later
        # (rounds to 30 min: not a break) or 0.5 ms later (rounds up to 30 min + 1 ms).
        make_event(listener, played_at=at(2026, 1, 10, 10), track=track, ms_played=60_000)
        later = at(2026, 1, 10, 10, 31) + timedelta(microseconds=microseconds)
        make_event(listener, played_at=later, track=track, ms_played=1_000)
    refresh()
    # first: one session 10:00:00.000 -> 10:31:01.000, 2 plays; second: 60 000 ms and 1 000 ms.
    assert list(SessionDay.objects.values_list("day", "country", "sessions", "length_ms", "depth")) == [
        (date(2026, 1, 10), "SE", 3, 1_861_000 + 60_000 + 1_000, 4),
    ]


@pytest.mark.django_db
def test_plays_at_the_same_instant_follow_their_ids_into_playlist_runs():
    track = make_track()
    p1 = Playlist.objects.create(title="P1", created_at=at(2025, 1, 1))
    p2 = Playlist.objects.create(title="P2", created_at=at(2025, 1, 1))
    listener = make_listener(country="DE")
    # Three plays at 12:00, recorded P1, P2, P1: three runs of one play, not P1 twice.
    for playlist in (p1, p2, p1):
        make_event(
            listener, played_at=at(2026, 1, 10, 12), track=track, context="playlist", playlist=playlist
        )
    # A play outside a playlist ends a run; a deleted playlist (no id) is one playlist.
    make_event(listener, played_at=at(2026, 1, 10, 12, 1), track=track, context="album")
    for _ in range(2):
        make_event(listener, played_at=at(2026, 1, 10, 12, 2), track=track, context="playlist", playlist=None)
    refresh()
    assert sorted(PlaylistRunDay.objects.values_list("day", "country", "depth", "runs")) == [
        (date(2026, 1, 10), "DE", 1, 3),
        (date(2026, 1, 10), "DE", 2, 1),
    ]
    assert list(SessionDay.objects.values_list("sessions", "depth")) == [(1, 6)]


@pytest.mark.django_db
def test_int_columns_reads_integer_expressions_in_the_order_given():
    listener = make_listener()
    events = [
        make_event(listener, played_at=at(2026, 1, 10, hour), ms_played=1_000 * hour) for hour in (1, 2)
    ]
    columns = _sql.int_columns(
        ListeningEvent.objects.filter(listener=listener),
        F("ms_played"),
        F("id"),
        Value(-7, output_field=BigIntegerField()),
        _sql.EpochMicroseconds("played_at"),
    )
    rows = sorted(zip(*(column.tolist() for column in columns), strict=True))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert rows == [
        (1_000 * hour, event.id, -7, (event.played_at - epoch) // timedelta(microseconds=1))
        for hour, event in zip((1, 2), events, strict=True)
    ]
    assert all(column.dtype == np.int64 for column in columns)
    for nothing in (ListeningEvent.objects.filter(ms_played__lt=0), ListeningEvent.objects.none()):
        assert [len(column) for column in _sql.int_columns(nothing, F("id"), F("ms_played"))] == [0, 0]
    # The plays have no playlist: a NULL is refused, not dropped with its row.
    with pytest.raises(ValueError, match="holds NULL"):
        _sql.int_columns(ListeningEvent.objects.all(), F("id"), F("playlist_id"))


@pytest.mark.django_db
def test_int_columns_reads_instants_to_the_microsecond_either_side_of_both_epochs():
    # PostgreSQL sends timestamps counted from 2000-01-01, SQLite reads them from text.
    listener = make_listener()
    instants = [
        datetime(1969, 7, 20, 20, 17, 40, 1, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2000, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, 0, 123_456, tzinfo=UTC),
    ]
    for instant in instants:
        make_event(listener, played_at=instant)
    played_us, ms_played = _sql.int_columns(
        ListeningEvent.objects.all(), _sql.EpochMicroseconds("played_at"), F("ms_played")
    )
    assert sorted(played_us.tolist()) == [_sql.epoch_us(instant) for instant in instants]
    assert len(ms_played) == len(instants)
    # A missing instant (an open subscription's end) is refused like any NULL.
    make_subscription(listener, make_plan(), started_at=instants[-1])
    with pytest.raises(ValueError, match="holds NULL"):
        _sql.int_columns(Subscription.objects.all(), _sql.EpochMicroseconds("ended_at"))


@pytest.mark.django_db
def test_country_number_reads_back_as_the_code():
    for code in ("SE", "US", "ZA"):
        make_listener(country=code)
    (numbers,) = _sql.int_columns(Listener.objects.order_by("country"), _sql.country_number("country"))
    assert sorted(_sql.country_code(number) for number in numbers.tolist()) == ["SE", "US", "ZA"]


@pytest.mark.django_db
def test_streams_follow_the_30_second_rule():
    track = make_track()
    listener = make_listener()
    make_event(listener, played_at=at(2026, 1, 10, 8), track=track, ms_played=29_999)
    make_event(listener, played_at=at(2026, 1, 10, 9), track=track, ms_played=30_000)
    make_event(listener, played_at=at(2026, 1, 10, 10), track=track, ms_played=1_000, skipped=True)
    refresh()
    totals = ListeningDay.objects.get(grouping=0, day=date(2026, 1, 10))
    # 30 000 ms is a stream, 29 999 is not; ms: 29 999 + 30 000 + 1 000.
    assert (totals.events, totals.streams, totals.skips, totals.ms_played) == (3, 1, 1, 60_999)


@pytest.mark.django_db
def test_every_grouping_adds_up_to_the_day_total():
    World().plays(100, first=date(2026, 1, 1), last=date(2026, 1, 31))
    refresh()
    total = ListeningDay.objects.filter(grouping=0)
    expected = sorted(total.values_list("day", "events", "streams", "skips", "ms_played"))
    for grouping in rollups.STORED_GROUPINGS:
        rows = ListeningDay.objects.filter(grouping=grouping)
        per_day: dict[date, list[int]] = {}
        for day, *values in rows.values_list("day", "events", "streams", "skips", "ms_played"):
            sums = per_day.setdefault(day, [0, 0, 0, 0])
            for n, value in enumerate(values):
                sums[n] += value
        assert sorted((day, *values) for day, values in per_day.items()) == expected, grouping


def test_grouping_for_picks_the_smallest_stored_grouping():
    assert grouping_for([]) == 0
    assert grouping_for([Dim.HOUR]) == Dim.HOUR
    assert grouping_for([Dim.COUNTRY, Dim.GENRE]) == Dim.COUNTRY | Dim.GENRE
    # Three dimensions or more: the four-dimension cube without the hour.
    assert (
        grouping_for([Dim.COUNTRY, Dim.DEVICE, Dim.PLAN]) == Dim.COUNTRY | Dim.DEVICE | Dim.PLAN | Dim.GENRE
    )
    # The hour is kept alone and with the country only.
    assert grouping_for([Dim.HOUR, Dim.COUNTRY]) == Dim.HOUR | Dim.COUNTRY
    with pytest.raises(ValueError, match="with the country only"):
        grouping_for([Dim.HOUR, Dim.DEVICE])


@pytest.mark.django_db
def test_freshness_and_state_follow_the_events():
    assert rollups.freshness() is None
    track = make_track()
    listener = make_listener()
    make_event(listener, played_at=at(2026, 1, 10, 8), track=track)
    last = make_event(listener, played_at=at(2026, 2, 3, 17, 45), track=track, ms_played=4_000_000)
    refresh()
    assert rollups.freshness() == at(2026, 2, 3, 17, 45)
    state = RollupState.objects.get(module="analytics")
    assert (state.last_event_id, state.max_ms_played, state.time_zone) == (last.pk, 4_000_000, "UTC")
    # Windows are kept 27 days past the last play (then everything is zero).
    assert (state.last_day, state.active_through) == (date(2026, 2, 3), date(2026, 3, 2))


@pytest.mark.django_db
def test_refresh_with_no_events_writes_nothing():
    make_listener(signed_up_at=at(2026, 1, 3))
    written = refresh()
    assert written["CohortSize"] == 1  # sign-ups are counted even before anyone plays
    assert written["ActivityDay"] == 0
    assert rollups.freshness() is None


def test_time_helpers_cut_calendar_buckets():
    assert _time.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert _time.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert _time.add_months(date(2026, 1, 15), -2) == date(2025, 11, 15)
    assert _time.months_between(date(2025, 11, 30), date(2026, 2, 1)) == 3
    # ISO weeks start on Monday: Jan 1 2026 is a Thursday.
    assert _time.buckets(date(2026, 1, 1), date(2026, 1, 13), "week") == [
        date(2025, 12, 29),
        date(2026, 1, 5),
        date(2026, 1, 12),
    ]
    assert _time.months(date(2026, 1, 31), date(2026, 3, 1)) == [date(2026, 1, 1), date(2026, 2, 1)]
    assert _time.series_buckets(date(2026, 1, 30), date(2026, 2, 3), "month", date(2026, 1, 31)) == [
        (date(2026, 1, 1), [date(2026, 1, 30), date(2026, 1, 31)]),
        (date(2026, 2, 1), []),
    ]
    assert _time.month_chunks([date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 1), date(2026, 2, 3)]) == [
        (date(2026, 1, 30), date(2026, 2, 1)),
        (date(2026, 2, 1), date(2026, 2, 2)),
        (date(2026, 2, 3), date(2026, 2, 4)),
    ]
    assert _time.zero_fill([date(2026, 1, 1), date(2026, 1, 2)], {date(2026, 1, 2): 5}) == [
        (date(2026, 1, 1), 0),
        (date(2026, 1, 2), 5),
    ]
    with pytest.raises(ValueError, match="Unknown grain"):
        _time.buckets(date(2026, 1, 1), date(2026, 1, 2), "year")


def test_day_bounds_follow_the_reporting_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    start, end = _time.day_bounds(date(2026, 3, 8), date(2026, 3, 9))
    # Mar 8 2026 is the spring-forward day in New York: a 23-hour day.
    assert start == datetime(2026, 3, 8, 5, tzinfo=UTC)
    assert end == datetime(2026, 3, 9, 4, tzinfo=UTC)
    assert _time.local_date(datetime(2026, 3, 9, 3, 59, tzinfo=UTC)) == date(2026, 3, 8)
    assert _time.as_of(end=date(2026, 4, 1), today=date(2026, 3, 8)) == datetime(2026, 3, 9, 4, tzinfo=UTC)


@pytest.mark.django_db
def test_a_daily_refresh_places_each_listener_against_the_last_active_day_before():
    # The daily refresh reads the day before too (for sessions crossing midnight) and
    # finds a listener's last active day among those plays, else in the events table.
    track = make_track()
    yesterday, late_before, long_ago, first_time = (make_listener(country="SE") for _ in range(4))
    make_event(yesterday, played_at=at(2026, 3, 19, 10), track=track)
    # 23:50 two days before: inside the window read before the day, since the longest play
    # (40 minutes) plus the 30-minute gap reaches back past Mar 19's midnight.
    make_event(late_before, played_at=at(2026, 3, 18, 23, 50), track=track, ms_played=2_400_000)
    make_event(long_ago, played_at=at(2026, 3, 10, 8), track=track)
    refresh(full=True)
    for listener in (yesterday, late_before, long_ago, first_time):
        make_event(listener, played_at=at(2026, 3, 20, 9), track=track)

    refresh()

    assert sorted(
        ActivityDay.objects.filter(day=date(2026, 3, 20)).values_list("gap", "previous", "listeners")
    ) == [
        (0, PreviousActivity.NEVER, 1),  # first_time
        (1, PreviousActivity.SAME_MONTH, 1),  # yesterday: Mar 19
        (2, PreviousActivity.SAME_MONTH, 1),  # late_before: Mar 18
        (10, PreviousActivity.SAME_MONTH, 1),  # long_ago: Mar 10
    ]
    incremental = snapshot()
    refresh(full=True)
    assert snapshot() == incremental
