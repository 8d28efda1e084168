"""MRR movements: hand-built cases worked out by hand, and the invariant
MRR start + new + reactivation + expansion - contraction - churn = MRR end, to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from analytics.kpis import revenue
from analytics.kpis.registry import get_kpi, get_reference
from billing import rollups
from tests.analytics.test_kpis_revenue import Q1, SEEDED_TODAY, TODAY, build_revenue_dataset, seed_and_refresh
from tests.factories import at, make_listener, make_plan, make_subscription

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")


def mrr(arr: str) -> Decimal:
    return Decimal(arr) / 12


def zero() -> Decimal:
    return Decimal(0)


def movements(month: str, start: str, end: str, **moves: str) -> dict:
    """A literal row: amounts are 12 x MRR; contraction and churn come out negative."""
    row = {
        "month": month,
        "mrr_start": mrr(start),
        "new": zero(),
        "reactivation": zero(),
        "expansion": zero(),
        "contraction": zero(),
        "churn": zero(),
        "mrr_end": mrr(end),
    }
    for name, arr in moves.items():
        row[name] = -mrr(arr) if name in ("contraction", "churn") else mrr(arr)
    return row


def assert_adds_up(rows: list[dict]) -> None:
    for row in rows:
        moved = (
            row["mrr_start"]
            + row["new"]
            + row["reactivation"]
            + row["expansion"]
            + row["contraction"]
            + row["churn"]
        )
        assert moved.quantize(CENT) == row["mrr_end"].quantize(CENT), row["month"]
        assert abs(moved - row["mrr_end"]) < Decimal("1e-20"), row["month"]


def run(slug: str, **params):
    result = get_kpi(slug).run(**params)
    assert result == get_reference(slug)(**params)
    return result


def test_mrr_movements_on_the_revenue_dataset(django_assert_max_num_queries):
    # See test_kpis_revenue for the dataset. 12 x MRR:
    # Jan: start 460 (upgrader 60, downgrader 180, annual 100, churner 120);
    #      trial_ok pays from Jan 19, never paid before: new 120; end 580.
    # Feb: upgrader 60 -> 180 expansion 120; downgrader 180 -> 120 contraction 60;
    #      churner 120 -> 0 churn 120; end 580 + 120 - 60 - 120 = 520.
    # Mar: reactivator paid Nov-Dec, back Mar 5: reactivation 120; joiner_leaver came and
    #      went within March: no movement; end 640.
    build_revenue_dataset()
    rollups.refresh(full=True, today=TODAY)
    with django_assert_max_num_queries(1):
        revenue.mrr_movements(**Q1)
    rows = run("mrr-movements", **Q1).rows
    assert rows == [
        movements("2026-01", "460.00", "580.00", new="120.00"),
        movements("2026-02", "580.00", "520.00", expansion="120.00", contraction="60.00", churn="120.00"),
        movements("2026-03", "520.00", "640.00", reactivation="120.00"),
    ]
    assert_adds_up(rows)
    # Europe leaves out the US listeners (downgrader, annual): Feb has no contraction.
    europe = run("mrr-movements", **Q1, region="europe").rows
    assert europe[1] == movements("2026-02", "300.00", "300.00", expansion="120.00", churn="120.00")
    assert_adds_up(europe)


@pytest.fixture
def edge_cases():
    """Listeners signed up Dec 1, 2025; today is Mar 15, 2026 (March in progress)."""
    free = make_plan("free", tier="free", price="0")
    student = make_plan("student", tier="student", price="5.00")
    premium = make_plan("premium", price="10.00")
    duo = make_plan("duo", tier="duo", price="15.00")
    odd_annual = make_plan("annual", price="119.99", billing_period="annual")

    def person(country: str = "SE"):
        return make_listener(country=country, signed_up_at=at(2025, 12, 1))

    # Up and back down within February: only the month's ends are compared.
    zigzag = person()
    make_subscription(zigzag, premium, started_at=at(2025, 12, 1), ended_at=at(2026, 2, 5))
    make_subscription(zigzag, duo, started_at=at(2026, 2, 5), ended_at=at(2026, 2, 20))
    make_subscription(zigzag, premium, started_at=at(2026, 2, 20))
    # A trial that never paid, then a paid start: new, not reactivation.
    second_try = person()
    make_subscription(
        second_try,
        premium,
        started_at=at(2026, 1, 3),
        trial_ends_at=at(2026, 1, 17),
        ended_at=at(2026, 1, 17),
    )
    make_subscription(second_try, premium, started_at=at(2026, 2, 10))
    # Down to the free plan: churn.
    to_free = person()
    make_subscription(to_free, duo, started_at=at(2025, 12, 1), ended_at=at(2026, 2, 12))
    make_subscription(to_free, free, started_at=at(2026, 2, 12))
    # Cancelled at period end, Mar 25: still paying tomorrow (Mar 16).
    leaving = person()
    make_subscription(leaving, premium, started_at=at(2025, 12, 1), ended_at=at(2026, 3, 25))
    # An annual price that does not divide by 12: 119.99 / 12 = 9.99916...
    annual = person("US")
    make_subscription(annual, odd_annual, started_at=at(2026, 1, 20))
    # Upgrade in the month in progress.
    upgrader = person("US")
    make_subscription(upgrader, student, started_at=at(2025, 12, 1), ended_at=at(2026, 3, 10))
    make_subscription(upgrader, premium, started_at=at(2026, 3, 10))
    rollups.refresh(full=True, today=date(2026, 3, 15))


def test_mrr_movements_edge_cases(edge_cases):
    # Jan: start zigzag 120 + to_free 180 + leaving 120 + upgrader 60 = 480;
    #      annual new 119.99; end 599.99.
    # Feb: zigzag 120 -> 120 (duo for two weeks in between): nothing; second_try new 120
    #      (its trial never paid); to_free 180 -> 0 churn; end 599.99 + 120 - 180 = 539.99.
    # Mar (to tomorrow, Mar 16): upgrader 60 -> 120 expansion 60; leaving still pays;
    #      end 599.99.
    params = {"start": date(2026, 1, 1), "end": date(2026, 4, 1), "today": date(2026, 3, 15)}
    rows = run("mrr-movements", **params).rows
    assert rows == [
        movements("2026-01", "480.00", "599.99", new="119.99"),
        movements("2026-02", "599.99", "539.99", new="120.00", churn="180.00"),
        movements("2026-03", "539.99", "599.99", expansion="60.00"),
    ]
    assert rows[0]["new"] == Decimal("9.999166666666666666666666667")
    assert_adds_up(rows)
    # Customer churn agrees: Feb lost to_free of 5 paying at Feb 1.
    assert [row["churn_rate"] for row in run("customer-churn", **params).rows] == [0.0, 0.2, 0.0]


def test_mrr_movements_leave_out_months_not_started(edge_cases):
    rows = run("mrr-movements", start=date(2026, 3, 1), end=date(2026, 6, 1), today=date(2026, 3, 15)).rows
    assert [row["month"] for row in rows] == ["2026-03"]


def test_mrr_movements_month_end_matches_mrr_series(edge_cases):
    # The end of a month is the start of the next: the movements chain and agree with MRR.
    params = {"start": date(2026, 1, 1), "end": date(2026, 4, 1), "today": date(2026, 3, 15)}
    rows = run("mrr-movements", **params).rows
    assert [row["mrr_end"] for row in rows[:-1]] == [row["mrr_start"] for row in rows[1:]]
    assert [row["mrr_end"] for row in rows] == run("mrr", **params).column("mrr")


def test_mrr_movements_add_up_on_seeded_data():
    seed_and_refresh()
    params = {"start": date(2025, 1, 1), "end": date(2026, 5, 1), "today": SEEDED_TODAY}
    for narrowing in ({}, {"region": "europe"}, {"region": "north_america"}):
        rows = run("mrr-movements", **params, **narrowing).rows
        assert len(rows) == 16
        assert_adds_up(rows)
        # Each month starts where the one before ended, and ends at the MRR series' value.
        assert [row["mrr_end"] for row in rows[:-1]] == [row["mrr_start"] for row in rows[1:]]
        assert [row["mrr_end"] for row in rows] == run("mrr", **params, **narrowing).column("mrr")
    # Not a vacuous check: the seeded months have joiners and leavers.
    rows = run("mrr-movements", **params).rows
    kinds = ("new", "reactivation", "expansion", "contraction", "churn")
    assert {"new", "churn"} <= {kind for row in rows for kind in kinds if row[kind]}
