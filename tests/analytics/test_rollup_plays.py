"""The listening events read as arrays (`analytics.rollups.plays`) and written back
(`_sql.insert_arrays`): plans at play, local hours across clock changes, and rows of
every column kind."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from django.db import connection
from django.db.models.functions import ExtractHour, ExtractMonth, ExtractYear

from analytics import rollups
from analytics.kpis._time import day_bounds, day_start, reporting_zone
from analytics.models import ActiveListenersDay, ActivityDay, ListeningDay, ListeningEvent
from analytics.rollups import _sql
from analytics.rollups.facts import plan_at_play
from analytics.rollups.plays import Lookups, group_sums, local_hours, plans_at, read_plays
from billing.models import Listener, Tier
from tests.factories import at, make_event, make_listener, make_plan, make_subscription

pytestmark = pytest.mark.django_db


def _plans_by_event(lo: date, hi: date) -> dict[int, int]:
    plays = read_plays(*day_bounds(lo, hi), Lookups())
    return dict(zip(plays.event_id.tolist(), plans_at(plays).tolist(), strict=True))


def test_plans_at_play_follow_the_subscription_active_at_each_instant():
    free = make_plan("free", tier=Tier.FREE, price="0")
    premium, duo = make_plan("premium"), make_plan("duo", tier=Tier.DUO, price="14.99")
    overlapping, plain, never = make_listener(), make_listener(), make_listener()
    # Overlapping: duo runs Jan 5-20 on top of an open premium; the one started last wins
    # while it runs, the premium again once it has ended.
    make_subscription(overlapping, premium, started_at=at(2026, 1, 1))
    make_subscription(overlapping, duo, started_at=at(2026, 1, 5), ended_at=at(2026, 1, 20))
    # Plain: free until Jan 10 at noon, then premium from that very instant.
    make_subscription(plain, free, started_at=at(2025, 6, 1), ended_at=at(2026, 1, 10, 12))
    make_subscription(plain, premium, started_at=at(2026, 1, 10, 12))
    expected = {}
    for listener, played_at, plan in [
        (overlapping, at(2026, 1, 3), premium.pk),
        (overlapping, at(2026, 1, 5), duo.pk),  # started at that instant: active
        (overlapping, at(2026, 1, 19, 23), duo.pk),
        (overlapping, at(2026, 1, 20), premium.pk),  # ended at that instant: not active
        (plain, at(2026, 1, 10, 11, 59), 0),  # the free tier counts as no plan
        (plain, at(2026, 1, 10, 12), premium.pk),
        (never, at(2026, 1, 10), 0),
    ]:
        expected[make_event(listener, played_at=played_at).pk] = plan

    assert _plans_by_event(date(2026, 1, 1), date(2026, 1, 31)) == expected
    # The SQL lookup the raw references use gives the same plans.
    by_sql = dict(ListeningEvent.objects.annotate(plan=plan_at_play()).values_list("pk", "plan"))
    assert by_sql == expected


def test_local_hours_match_the_database_across_clock_changes(settings):
    settings.TIME_ZONE = "America/New_York"
    listener = make_listener()
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC); 2026-11-01: 02:00 EDT falls
    # back to 01:00 EST (06:00 UTC), so 01:xx happens twice.
    instants = [
        at(2026, 3, 8, 5),  # 00:00 EST
        at(2026, 3, 8, 6, 59, 59),  # 01:59:59 EST
        at(2026, 3, 8, 7),  # 03:00 EDT
        at(2026, 3, 8, 23, 30),  # 19:30 EDT
        at(2026, 11, 1, 5, 30),  # 01:30 EDT
        at(2026, 11, 1, 6, 30),  # 01:30 EST
        at(2026, 11, 1, 7),  # 02:00 EST
        at(2026, 11, 2, 4, 59),  # 23:59 EST
    ]
    for instant in instants:
        make_event(listener, played_at=instant)
    lo, hi = date(2026, 3, 8), date(2026, 11, 2)
    plays = read_plays(*day_bounds(lo, hi), Lookups())
    order = np.argsort(plays.played_us)
    day_index, hour = local_hours(plays.played_us[order], lo, hi)

    zone = reporting_zone()
    expected = [
        ((moment.astimezone(zone).date() - lo).days, db_hour)
        for moment, db_hour in ListeningEvent.objects.order_by("played_at").values_list(
            "played_at", ExtractHour("played_at", tzinfo=zone)
        )
    ]
    assert list(zip(day_index.tolist(), hour.tolist(), strict=True)) == expected
    assert [h for _, h in expected] == [0, 1, 3, 19, 1, 1, 2, 23]


@pytest.mark.parametrize("zone_name", ["UTC", "America/New_York", "Pacific/Auckland"])
def test_signup_months_match_the_database_at_month_edges(settings, zone_name):
    settings.TIME_ZONE = zone_name
    zone = reporting_zone()
    # Each month's first local instant, and the microsecond before it, from 1999 to 2027
    # (New York and Auckland change their clocks in some of those months).
    edges = [day_start(date(year, month, 1)) for year in range(1999, 2028) for month in (1, 3, 4, 10, 11)]
    for instant in edges:
        make_listener(signed_up_at=instant)
        make_listener(signed_up_at=instant - timedelta(microseconds=1))
    lookups = Lookups()
    ids, expected = zip(
        *Listener.objects.order_by("id").values_list(
            "id",
            ExtractYear("signed_up_at", tzinfo=zone) * 12 + ExtractMonth("signed_up_at", tzinfo=zone) - 1,
        ),
        strict=True,
    )
    assert lookups.signup_months(np.array(ids)).tolist() == list(expected)
    assert expected[:2] == (1999 * 12, 1998 * 12 + 11)


def test_insert_arrays_writes_every_column_kind():
    written = _sql.insert_arrays(
        ActiveListenersDay,
        {
            "day": np.array(
                [date(2026, 1, 1).toordinal(), date(2000, 1, 1).toordinal(), date(1999, 12, 31).toordinal()]
            ),
            "country": np.array([b"SE", b"", b"US"]),
            "device": np.array(["mobile", "", "tv"]),
            "dau": np.array([3, 0, 2**31 - 1]),
        },
    )
    assert written == 3
    assert sorted(ActiveListenersDay.objects.values_list("day", "country", "device", "dau")) == [
        (date(1999, 12, 31), "US", "tv", 2**31 - 1),
        (date(2000, 1, 1), "", "", 0),
        (date(2026, 1, 1), "SE", "mobile", 3),
    ]
    assert _sql.insert_arrays(ActiveListenersDay, {"day": np.zeros(0, dtype=np.int64)}) == 0


def test_insert_arrays_refuses_a_value_its_column_cannot_hold(db):
    columns = {
        "day": np.array([date(2026, 1, 1).toordinal()]),
        "grouping": np.array([2**15]),  # a smallint column
        "country": np.array([b"SE"]),
        "device": np.array([b""]),
        "plan_id": np.array([0]),
        "genre_id": np.array([0]),
        "hour": np.array([0]),
        "events": np.array([1]),
        "streams": np.array([1]),
        "skips": np.array([0]),
        "ms_played": np.array([1]),
    }
    with pytest.raises(OverflowError, match=r"ListeningDay\.grouping"):
        _sql.insert_arrays(ListeningDay, columns)
    assert not ListeningDay.objects.exists()


def test_listening_refresh_of_a_day_whose_plays_are_gone_leaves_it_empty():
    listener = make_listener()
    make_event(listener, played_at=at(2026, 1, 5, 9))
    gone = make_event(listener, played_at=at(2026, 1, 6, 9))
    rollups.refresh(since=None, full=True, today=date(2026, 1, 8))
    assert sorted(ListeningDay.objects.values_list("day", flat=True).distinct()) == [
        date(2026, 1, 5),
        date(2026, 1, 6),
    ]
    # Deleted events are picked up by --since over their days: the day has no plays left.
    gone.delete()
    rollups.refresh(since=date(2026, 1, 6), full=False, today=date(2026, 1, 8))
    assert sorted(ListeningDay.objects.values_list("day", flat=True).distinct()) == [date(2026, 1, 5)]
    assert not ActivityDay.objects.filter(day=date(2026, 1, 6)).exists()


def test_lookups_read_listeners_and_tracks_again_when_a_play_names_a_new_one():
    lookups = Lookups()
    newcomer = make_listener(country="BR")
    make_event(newcomer, played_at=at(2026, 1, 5, 9))
    plays = read_plays(*day_bounds(date(2026, 1, 5), date(2026, 1, 6)), lookups)
    assert _sql.country_codes(plays.country).tolist() == [b"BR"]
    assert lookups.genres_of(plays.track).tolist() == [ListeningEvent.objects.get().track.genre_id]


def test_id_tables_read_the_ids_asked_for_and_keep_them():
    se, br, us = (make_listener(country=country) for country in ("SE", "BR", "US"))
    listeners = Lookups().listeners

    def codes(ids: list[int]) -> list[bytes]:
        return _sql.country_codes(listeners.values(np.array(ids))).tolist()

    assert codes([br.id, se.id, br.id]) == [b"BR", b"SE", b"BR"]
    # PostgreSQL reads the rows asked for (a day's listeners, not all of them); SQLite
    # reads the table whole.
    held = set(listeners.ids.tolist())
    assert {se.id, br.id} <= held
    assert (us.id in held) is (connection.vendor != "postgresql")
    # A listener made since is read when asked for; the rows read before stay.
    late = make_listener(country="DE")
    assert codes([late.id, us.id, se.id]) == [b"DE", b"US", b"SE"]


def test_lookups_refuse_an_id_missing_from_its_table():
    make_listener()
    with pytest.raises(LookupError, match="Listener ids missing"):
        Lookups().listeners.values(np.array([10**9]))


def _grouped_by_hand(keys: list[np.ndarray], value: np.ndarray) -> dict[tuple, tuple[int, int]]:
    out: dict[tuple, tuple[int, int]] = {}
    for row, amount in zip(zip(*(key.tolist() for key in keys), strict=True), value.tolist(), strict=True):
        count, total = out.get(row, (0, 0))
        out[row] = (count + 1, total + amount)
    return out


@pytest.mark.parametrize(
    "keys",
    [
        # Small ranges, negative values among them: packed into one sort key.
        [np.array([3, -1, 3, 0, -1, 3]), np.array([7, 7, 7, 2, 7, 1])],
        # Ranges whose product passes 63 bits: sorted column by column.
        [np.array([2**62, -(2**62), 2**62, 0]), np.array([2**40, 5, 2**40, -(2**40)])],
        # Text keys (region names) with numbers.
        [np.array([b"europe", b"asia", b"europe", b"europe"]), np.array([1, 1, 1, 2])],
    ],
)
def test_group_sums_groups_in_key_order_with_counts_and_exact_sums(keys):
    value = np.arange(len(keys[0]), dtype=np.int64) * 10 + 1
    grouped, counts, (sums,) = group_sums(keys, [value])
    rows = list(zip(*(key.tolist() for key in grouped), strict=True))
    expected = _grouped_by_hand(keys, value)
    assert rows == sorted(expected)
    assert list(zip(counts.tolist(), sums.tolist(), strict=True)) == [expected[row] for row in rows]
