"""Audience KPIs on a hand-built dataset, through the rollups and through the raw reference.

Listeners (reporting zone UTC) and the local days they are active on:

    A  SE  signed up 2026-01-10  2026-01-31 23:59:59 (mobile), 2026-02-01 00:00:00 (mobile),
                                 2026-02-03 (desktop), 2026-03-02 (mobile)
    B  US  signed up 2025-12-05  2026-01-05 (mobile), 2026-03-01 (web)
    C  SE  signed up 2026-02-01  2026-02-01 00:00:00 (desktop), 2026-02-02 (mobile)
    E  SE  signed up 2026-01-15  2026-01-20 (mobile)
    D  BR  signed up 2026-01-20  never plays

Today is 2026-03-15 for every test.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.test import override_settings
from django.utils import timezone

from analytics import rollups
from analytics.kpis.registry import get_reference, run_kpi
from tests.factories import at, make_event, make_listener, make_track

TODAY = date(2026, 3, 15)


def rows_of(slug: str, *, start: date, end: date, today: date = TODAY, **filters) -> list[dict]:
    """The KPI's rows through the rollups; the raw reference must give the very same."""
    rolled = run_kpi(slug, start=start, end=end, today=today, **filters).result.rows
    raw = get_reference(slug)(start=start, end=end, today=today, **filters).rows
    assert raw == rolled, f"{slug}: the raw reference disagrees with the rollups"
    return rolled


@pytest.fixture
def audience(db):
    track = make_track()
    a = make_listener(country="SE", signed_up_at=at(2026, 1, 10, 12))
    b = make_listener(country="US", signed_up_at=at(2025, 12, 5))
    c = make_listener(country="SE", signed_up_at=at(2026, 2, 1))
    e = make_listener(country="SE", signed_up_at=at(2026, 1, 15))
    make_listener(country="BR", signed_up_at=at(2026, 1, 20))
    for listener, played_at, device in [
        (a, at(2026, 1, 31, 23, 59, 59), "mobile"),
        (a, at(2026, 2, 1, 0, 0, 0), "mobile"),
        (a, at(2026, 2, 3, 10), "desktop"),
        (a, at(2026, 3, 2, 12), "mobile"),
        (b, at(2026, 1, 5, 9), "mobile"),
        (b, at(2026, 3, 1, 8), "web"),
        (c, at(2026, 2, 1, 0, 0, 0), "desktop"),
        (c, at(2026, 2, 2, 18), "mobile"),
        (e, at(2026, 1, 20, 7), "mobile"),
    ]:
        make_event(listener, played_at=played_at, track=track, device=device)
    rollups.refresh(since=None, full=True, today=TODAY)


def test_dau_counts_distinct_listeners_per_local_day(audience, django_assert_max_num_queries):
    # 23:59:59 on Jan 31 is A's Jan 31; 00:00:00 on Feb 1 is Feb 1 (A and C).
    with django_assert_max_num_queries(2):
        run_kpi("dau", start=date(2026, 1, 30), end=date(2026, 2, 5), today=TODAY)
    assert rows_of("dau", start=date(2026, 1, 30), end=date(2026, 2, 5)) == [
        {"period": "2026-01-30", "dau": 0},
        {"period": "2026-01-31", "dau": 1},  # A
        {"period": "2026-02-01", "dau": 2},  # A, C
        {"period": "2026-02-02", "dau": 1},  # C
        {"period": "2026-02-03", "dau": 1},  # A
        {"period": "2026-02-04", "dau": 0},
    ]


def test_dau_filters_by_device_and_country(audience):
    # Desktop plays: C on Feb 1, A on Feb 3.
    assert rows_of("dau", start=date(2026, 2, 1), end=date(2026, 2, 4), device="desktop") == [
        {"period": "2026-02-01", "dau": 1},
        {"period": "2026-02-02", "dau": 0},
        {"period": "2026-02-03", "dau": 1},
    ]
    # North America is B alone: active on Mar 1.
    assert rows_of("dau", start=date(2026, 2, 28), end=date(2026, 3, 2), region="north_america") == [
        {"period": "2026-02-28", "dau": 0},
        {"period": "2026-03-01", "dau": 1},
    ]
    # A country outside the region selects nobody.
    assert rows_of(
        "dau", start=date(2026, 3, 1), end=date(2026, 3, 2), country="SE", region="north_america"
    ) == [{"period": "2026-03-01", "dau": 0}]


def test_dau_at_week_grain_is_the_mean_over_the_days_up_to_today(audience):
    # ISO weeks: Jan 26 - Feb 1 holds A (Jan 31), A and C (Feb 1) inside the range
    # [Jan 31, Mar 17): 2 days, DAU 1 + 2 -> mean 3/2. Week of Feb 2: C, A, 0 x 5 -> 2/7.
    # Week of Mar 9 counts Mar 9..15 (today), 7 days of 0; Mar 16 is after today: None.
    # Weeks of Feb 9 and Feb 16 are empty: 0.0.
    assert rows_of("dau", start=date(2026, 1, 31), end=date(2026, 3, 17), grain="week") == [
        {"period": "2026-01-26", "dau": 3 / 2},
        {"period": "2026-02-02", "dau": 2 / 7},
        {"period": "2026-02-09", "dau": 0.0},
        {"period": "2026-02-16", "dau": 0.0},
        {"period": "2026-02-23", "dau": 1 / 7},  # B on Mar 1
        {"period": "2026-03-02", "dau": 1 / 7},  # A on Mar 2
        {"period": "2026-03-09", "dau": 0.0},
        {"period": "2026-03-16", "dau": None},
    ]


def test_wau_is_distinct_over_the_last_seven_days(audience):
    # Jan 30: [Jan 24, Jan 30] nobody. Feb 6: [Jan 31, Feb 6] A, C. Feb 7: [Feb 1, Feb 7]
    # A, C. Feb 8: [Feb 2, Feb 8] C (Feb 2), A (Feb 3). Feb 9: [Feb 3, Feb 9] A.
    rows = rows_of("wau", start=date(2026, 1, 30), end=date(2026, 2, 11))
    assert [row["wau"] for row in rows] == [0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 1, 0]
    assert rows[0] == {"period": "2026-01-30", "wau": 0}


def test_active_28d_counts_distinct_listeners_over_28_days(audience, django_assert_max_num_queries):
    # [d-27, d] includes d-27: on Feb 1 B's Jan 5 play counts; on Feb 2 it does not.
    # Jan 30: B (Jan 5) and E (Jan 20) -> 2. E's Jan 20 leaves after Feb 16.
    with django_assert_max_num_queries(2):
        run_kpi("active-28d", start=date(2026, 1, 30), end=date(2026, 2, 3), today=TODAY)
    rows = rows_of("active-28d", start=date(2026, 1, 30), end=date(2026, 2, 3))
    assert rows == [
        {"period": "2026-01-30", "listeners": 2},  # B, E
        {"period": "2026-01-31", "listeners": 3},  # B, E, A
        {"period": "2026-02-01", "listeners": 4},  # B, E, A, C
        {"period": "2026-02-02", "listeners": 3},  # E, A, C
    ]
    rows = rows_of("active-28d", start=date(2026, 2, 16), end=date(2026, 2, 18))
    assert rows == [
        {"period": "2026-02-16", "listeners": 3},  # [Jan 20, Feb 16]: E, A, C
        {"period": "2026-02-17", "listeners": 2},  # [Jan 21, Feb 17]: A, C
    ]


def test_active_28d_at_month_grain_is_as_of_the_last_day(audience):
    # Jan 31: B, E, A = 3. Feb 28: [Feb 1, Feb 28] A, C = 2. Mar 15 (today): [Feb 16,
    # Mar 15] B (Mar 1), A (Mar 2) = 2; C's Feb 2 is out. April lies after today.
    assert rows_of("active-28d", start=date(2026, 1, 1), end=date(2026, 5, 1), grain="month") == [
        {"period": "2026-01-01", "listeners": 3},
        {"period": "2026-02-01", "listeners": 2},
        {"period": "2026-03-01", "listeners": 2},
        {"period": "2026-04-01", "listeners": None},
    ]


def test_mau_counts_calendar_months(audience, django_assert_max_num_queries):
    # Jan: A, B, E. Feb: A, C. Mar: A, B. Apr: after today.
    with django_assert_max_num_queries(2):
        run_kpi("mau", start=date(2026, 1, 15), end=date(2026, 4, 2), today=TODAY)
    assert rows_of("mau", start=date(2026, 1, 15), end=date(2026, 4, 2)) == [
        {"period": "2026-01-01", "mau": 3},
        {"period": "2026-02-01", "mau": 2},
        {"period": "2026-03-01", "mau": 2},
        {"period": "2026-04-01", "mau": None},
    ]
    # Sweden: Jan A, E; Feb A, C; Mar A.
    assert [
        row["mau"] for row in rows_of("mau", start=date(2026, 1, 1), end=date(2026, 4, 1), country="SE")
    ] == [
        2,
        2,
        1,
    ]


def test_stickiness_is_mean_dau_over_mau(audience, django_assert_max_num_queries):
    # Jan: DAU 1 on Jan 5, 20, 31 -> mean 3/31; MAU 3 -> (3/31)/3.
    # Feb: DAU 2 + 1 + 1 = 4 over 28 days; MAU 2 -> (4/28)/2.
    # Mar: up to today, 15 days; DAU 1 + 1 -> 2/15; MAU 2 -> (2/15)/2.
    with django_assert_max_num_queries(3):
        run_kpi("stickiness", start=date(2026, 1, 1), end=date(2026, 5, 1), today=TODAY)
    assert rows_of("stickiness", start=date(2026, 1, 1), end=date(2026, 5, 1)) == [
        {"period": "2026-01-01", "mean_dau": 3 / 31, "mau": 3, "stickiness": (3 / 31) / 3},
        {"period": "2026-02-01", "mean_dau": 4 / 28, "mau": 2, "stickiness": (4 / 28) / 2},
        {"period": "2026-03-01", "mean_dau": 2 / 15, "mau": 2, "stickiness": (2 / 15) / 2},
        {"period": "2026-04-01", "mean_dau": None, "mau": None, "stickiness": None},
    ]
    # Brazil has nobody active: MAU 0, an undefined ratio.
    assert rows_of("stickiness", start=date(2026, 1, 1), end=date(2026, 2, 1), country="BR") == [
        {"period": "2026-01-01", "mean_dau": 0.0, "mau": 0, "stickiness": None}
    ]


def test_new_listeners_counts_first_listening_days(audience, django_assert_max_num_queries):
    # First plays: B Jan 5, E Jan 20, A Jan 31, C Feb 1. D never plays.
    with django_assert_max_num_queries(3):
        run_kpi("new-listeners", start=date(2026, 1, 1), end=date(2026, 4, 1), today=TODAY, grain="month")
    assert rows_of("new-listeners", start=date(2026, 1, 1), end=date(2026, 4, 1), grain="month") == [
        {"period": "2026-01-01", "new_listeners": 3, "cumulative": 3},
        {"period": "2026-02-01", "new_listeners": 1, "cumulative": 4},
        {"period": "2026-03-01", "new_listeners": 0, "cumulative": 4},
    ]
    # From Feb 1 the three January listeners are already reached.
    assert rows_of("new-listeners", start=date(2026, 2, 1), end=date(2026, 2, 3), country="SE") == [
        {"period": "2026-02-01", "new_listeners": 1, "cumulative": 3},  # E, A before; C
        {"period": "2026-02-02", "new_listeners": 0, "cumulative": 3},
    ]


def test_lifecycle_classifies_each_month(audience, django_assert_max_num_queries):
    # Jan (Dec had nobody): A, E signed up in Jan -> new 2; B signed up in Dec -> resurrecting.
    # Feb: A returning; C new; B and E dormant (-2).
    # Mar: A returning; B resurrecting (active Jan, not Feb); C dormant (-1).
    with django_assert_max_num_queries(2):
        run_kpi("lifecycle", start=date(2026, 1, 1), end=date(2026, 5, 1), today=TODAY)
    assert rows_of("lifecycle", start=date(2026, 1, 1), end=date(2026, 5, 1)) == [
        {"period": "2026-01-01", "new": 2, "returning": 0, "resurrecting": 1, "dormant": 0},
        {"period": "2026-02-01", "new": 1, "returning": 1, "resurrecting": 0, "dormant": -2},
        {"period": "2026-03-01", "new": 0, "returning": 1, "resurrecting": 1, "dormant": -1},
        {"period": "2026-04-01", "new": None, "returning": None, "resurrecting": None, "dormant": None},
    ]
    # Sweden (A, C, E): Feb has E dormant only.
    assert rows_of("lifecycle", start=date(2026, 2, 1), end=date(2026, 3, 1), country="SE") == [
        {"period": "2026-02-01", "new": 1, "returning": 1, "resurrecting": 0, "dormant": -1},
    ]


@pytest.mark.django_db
def test_days_are_cut_in_the_reporting_time_zone(settings):
    # 04:59:59 UTC on Jan 11 is 23:59:59 on Jan 10 in New York; 05:00:00 UTC is midnight.
    settings.TIME_ZONE = "America/New_York"
    track = make_track()
    listener = make_listener(signed_up_at=at(2026, 1, 1))
    other = make_listener(signed_up_at=at(2026, 1, 1))
    make_event(listener, played_at=at(2026, 1, 11, 4, 59, 59), track=track)
    make_event(other, played_at=at(2026, 1, 11, 5, 0, 0), track=track)
    with timezone.override("America/New_York"):
        rollups.refresh(since=None, full=True, today=date(2026, 1, 20))
        assert rows_of("dau", start=date(2026, 1, 10), end=date(2026, 1, 12), today=date(2026, 1, 20)) == [
            {"period": "2026-01-10", "dau": 1},
            {"period": "2026-01-11", "dau": 1},
        ]
    # The same events seen from UTC both fall on Jan 11; a changed zone triggers a rebuild.
    with override_settings(TIME_ZONE="UTC"), timezone.override("UTC"):
        rollups.refresh(since=None, full=False, today=date(2026, 1, 20))
        assert rows_of("dau", start=date(2026, 1, 10), end=date(2026, 1, 12), today=date(2026, 1, 20)) == [
            {"period": "2026-01-10", "dau": 0},
            {"period": "2026-01-11", "dau": 2},
        ]
