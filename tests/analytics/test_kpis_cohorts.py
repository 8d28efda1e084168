"""Cohort retention on a hand-built dataset, through the rollups and the raw reference.

Reporting zone UTC, today 2026-03-15. Listeners, sign-up month and months with a play:

    A  SE  signed up 2026-01-10 12:00     Jan (Jan 31 23:59:59), Feb (Feb 1 00:00:00), Mar
    B  US  signed up 2025-12-05           Jan, Mar
    C  SE  signed up 2026-02-01 00:00:00  Feb
    E  SE  signed up 2026-01-15           Jan
    D  BR  signed up 2026-01-20           never plays (still in the cohort's size)
"""

from __future__ import annotations

from datetime import date

import pytest

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


def cells(*values: float | None) -> dict[str, float | None]:
    """m0..m11: the given values, then None (months that have not started yet)."""
    padded = [*values, *([None] * (12 - len(values)))]
    return {f"m{k}": value for k, value in enumerate(padded)}


@pytest.fixture
def cohorts(db):
    track = make_track()
    a = make_listener(country="SE", signed_up_at=at(2026, 1, 10, 12))
    b = make_listener(country="US", signed_up_at=at(2025, 12, 5))
    c = make_listener(country="SE", signed_up_at=at(2026, 2, 1, 0, 0, 0))
    e = make_listener(country="SE", signed_up_at=at(2026, 1, 15))
    make_listener(country="BR", signed_up_at=at(2026, 1, 20))
    for listener, played_at in [
        (a, at(2026, 1, 31, 23, 59, 59)),
        (a, at(2026, 2, 1, 0, 0, 0)),
        (a, at(2026, 3, 2, 12)),
        (b, at(2026, 1, 5, 9)),
        (b, at(2026, 3, 1, 8)),
        (c, at(2026, 2, 1, 0, 0, 0)),
        (e, at(2026, 1, 20, 7)),
    ]:
        make_event(listener, played_at=played_at, track=track)
    rollups.refresh(since=None, full=True, today=TODAY)


def test_cohort_retention_by_signup_month(cohorts, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        run_kpi("cohort-retention", start=date(2025, 12, 1), end=date(2026, 5, 1), today=TODAY)
    assert rows_of("cohort-retention", start=date(2025, 12, 1), end=date(2026, 5, 1)) == [
        # Dec: B alone; active Jan (k=1) and Mar (k=3); Apr (k=4) has not started.
        {"cohort": "2025-12", "size": 1, **cells(0.0, 1.0, 0.0, 1.0)},
        # Jan: A, E and D; Jan A and E, Feb A, Mar A.
        {"cohort": "2026-01", "size": 3, **cells(2 / 3, 1 / 3, 1 / 3)},
        # Feb: C; active in Feb only.
        {"cohort": "2026-02", "size": 1, **cells(1.0, 0.0)},
        # Mar: nobody signed up: every ratio undefined. Apr is in the future.
        {"cohort": "2026-03", "size": 0, **cells()},
        {"cohort": "2026-04", "size": 0, **cells()},
    ]


def test_cohort_retention_filters_by_country(cohorts):
    # Sweden: Jan is A and E (both active in Jan, A in Feb and Mar); Dec has nobody.
    assert rows_of("cohort-retention", start=date(2025, 12, 1), end=date(2026, 3, 1), country="SE") == [
        {"cohort": "2025-12", "size": 0, **cells()},
        {"cohort": "2026-01", "size": 2, **cells(1.0, 0.5, 0.5)},
        {"cohort": "2026-02", "size": 1, **cells(1.0, 0.0)},
    ]
    # Latin America is Brazil: D never played, a cohort of 1 with 0 retention.
    assert rows_of(
        "cohort-retention", start=date(2026, 1, 1), end=date(2026, 2, 1), region="latin_america"
    ) == [
        {"cohort": "2026-01", "size": 1, **cells(0.0, 0.0, 0.0)},
    ]
