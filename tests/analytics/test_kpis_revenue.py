"""Revenue KPIs on a hand-built dataset, every figure worked out by hand below.

The dataset (all instants UTC, the reporting zone; listeners signed up on 2025-12-01):

| listener      | country | subscriptions                                              |
|---------------|---------|------------------------------------------------------------|
| trial_ok      | SE      | premium from Jan 5, trial to Jan 19, open                  |
| trial_ko      | SE      | premium from Jan 10, trial to Jan 24, ended Jan 24         |
| upgrader      | SE      | student Dec 1 - Feb 15, then duo from Feb 15               |
| downgrader    | US      | duo Dec 1 - Feb 10, then premium from Feb 10               |
| annual        | US      | annual from Dec 15                                         |
| churner       | SE      | premium Dec 1 - Feb 20                                     |
| reactivator   | DE      | premium Nov 1 - Dec 20, premium again from Mar 5           |
| free_only     | SE      | free plan from Dec 1                                       |
| no_sub        | SE      | none                                                       |
| joiner_leaver | DE      | premium Mar 3 - Mar 20                                     |
| late_signup   | SE      | none, signed up Mar 15                                     |
| pending_trial | DE      | premium from Mar 28, trial to Apr 11 12:00 (not over)      |

Plans: free 0, student 5.00, premium 10.00, duo 15.00 a month; annual 100.00 a year.
12 x MRR (ARR) per paid subscription: student 60, premium 120, duo 180, annual 100.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count

from analytics.kpis import revenue
from analytics.kpis.registry import get_kpi, get_reference
from billing import rollups
from billing.models import Listener, Payment, Subscription
from tests.factories import at, make_listener, make_payment, make_plan, make_subscription

pytestmark = pytest.mark.django_db

TODAY = date(2026, 4, 10)
Q1 = {"start": date(2026, 1, 1), "end": date(2026, 4, 1), "today": TODAY}


def build_revenue_dataset() -> dict:
    """The dataset of the module docstring; returns the listeners by name."""
    free = make_plan("free", tier="free", price="0")
    student = make_plan("student", tier="student", price="5.00")
    premium = make_plan("premium", price="10.00", trial_days=14)
    duo = make_plan("duo", tier="duo", price="15.00")
    annual = make_plan("annual", price="100.00", billing_period="annual")

    def listener(name: str, country: str = "SE", signed_up_at=None):
        return make_listener(display_name=name, country=country, signed_up_at=signed_up_at or at(2025, 12, 1))

    people = {
        name: listener(name, country)
        for name, country in [
            ("trial_ok", "SE"),
            ("trial_ko", "SE"),
            ("upgrader", "SE"),
            ("downgrader", "US"),
            ("annual", "US"),
            ("churner", "SE"),
            ("reactivator", "DE"),
            ("free_only", "SE"),
            ("no_sub", "SE"),
            ("joiner_leaver", "DE"),
        ]
    }
    people["late_signup"] = listener("late_signup", signed_up_at=at(2026, 3, 15))
    people["pending_trial"] = listener("pending_trial", "DE")

    trial_ok = make_subscription(
        people["trial_ok"], premium, started_at=at(2026, 1, 5), trial_ends_at=at(2026, 1, 19)
    )
    make_payment(trial_ok, paid_at=at(2026, 1, 19))
    make_payment(trial_ok, paid_at=at(2026, 2, 19), status="failed")
    make_payment(trial_ok, paid_at=at(2026, 2, 20))  # the retry
    make_payment(trial_ok, paid_at=at(2026, 3, 19), method="paypal")

    make_subscription(
        people["trial_ko"],
        premium,
        started_at=at(2026, 1, 10),
        trial_ends_at=at(2026, 1, 24),
        ended_at=at(2026, 1, 24),
    )

    student_sub = make_subscription(
        people["upgrader"], student, started_at=at(2025, 12, 1), ended_at=at(2026, 2, 15)
    )
    make_payment(student_sub, paid_at=at(2026, 1, 1))
    make_payment(student_sub, paid_at=at(2026, 2, 1))
    duo_sub = make_subscription(people["upgrader"], duo, started_at=at(2026, 2, 15))
    make_payment(duo_sub, paid_at=at(2026, 2, 15))
    make_payment(duo_sub, paid_at=at(2026, 3, 15))

    duo_then = make_subscription(
        people["downgrader"], duo, started_at=at(2025, 12, 1), ended_at=at(2026, 2, 10)
    )
    make_payment(duo_then, paid_at=at(2026, 1, 1), method="paypal")
    # Refunded in the month after the payment.
    make_payment(
        duo_then, paid_at=at(2026, 2, 1), method="paypal", status="refunded", refunded_at=at(2026, 3, 3)
    )
    premium_now = make_subscription(people["downgrader"], premium, started_at=at(2026, 2, 10))
    make_payment(premium_now, paid_at=at(2026, 2, 10), method="paypal")
    make_payment(premium_now, paid_at=at(2026, 3, 10), method="paypal")

    annual_sub = make_subscription(people["annual"], annual, started_at=at(2025, 12, 15))
    make_payment(annual_sub, paid_at=at(2025, 12, 15))

    churned = make_subscription(
        people["churner"], premium, started_at=at(2025, 12, 1), ended_at=at(2026, 2, 20)
    )
    make_payment(churned, paid_at=at(2026, 1, 1))
    make_payment(churned, paid_at=at(2026, 2, 1))

    make_subscription(people["reactivator"], premium, started_at=at(2025, 11, 1), ended_at=at(2025, 12, 20))
    back = make_subscription(people["reactivator"], premium, started_at=at(2026, 3, 5))
    make_payment(back, paid_at=at(2026, 3, 5), method="apple_pay")

    make_subscription(people["free_only"], free, started_at=at(2025, 12, 1))

    brief = make_subscription(
        people["joiner_leaver"], premium, started_at=at(2026, 3, 3), ended_at=at(2026, 3, 20)
    )
    # Refunded within the month it was paid.
    make_payment(brief, paid_at=at(2026, 3, 3), status="refunded", refunded_at=at(2026, 3, 20))

    make_subscription(
        people["pending_trial"], premium, started_at=at(2026, 3, 28), trial_ends_at=at(2026, 4, 11, 12)
    )
    return people


@pytest.fixture
def dataset():
    people = build_revenue_dataset()
    rollups.refresh(full=True, today=TODAY)
    return people


def run(slug: str, **kwargs):
    """The KPI through the registry (rollups), checked against its raw reference."""
    params = {**Q1, **kwargs}
    result = get_kpi(slug).run(**params)
    reference = get_reference(slug)(**params)
    assert result == reference
    return result


def mrr(arr: str) -> Decimal:
    # MRR is 12 x MRR (exact, two decimals) divided by 12 once.
    return Decimal(arr) / 12


def test_subscribers_by_plan_as_of_range_end(dataset, django_assert_max_num_queries):
    # As of Apr 1: Free = trial_ko, churner, free_only, no_sub, joiner_leaver, late_signup
    # (signed up Mar 15) = 6; premium = trial_ok, downgrader, reactivator, pending_trial
    # (in trial) = 4; duo = upgrader; annual = annual. Student has nobody: left out.
    # Ordered by list price: free 0, premium 10, duo 15, annual 100.
    with django_assert_max_num_queries(2):
        result = revenue.subscribers_by_plan(**Q1)
    assert result.rows == [
        {"plan": "Free", "plan_code": "free", "listeners": 6},
        {"plan": "Premium", "plan_code": "premium", "listeners": 4},
        {"plan": "Duo", "plan_code": "duo", "listeners": 1},
        {"plan": "Annual", "plan_code": "annual", "listeners": 1},
    ]
    assert result == get_reference("subscribers-by-plan")(**Q1)


def test_subscribers_by_plan_earlier_and_by_country(dataset):
    # As of Mar 1: late_signup not signed up yet; churner (ended Feb 20), reactivator,
    # pending_trial and joiner_leaver have no subscription yet or any more: Free = 7.
    result = run("subscribers-by-plan", end=date(2026, 3, 1))
    assert result.rows == [
        {"plan": "Free", "plan_code": "free", "listeners": 7},
        {"plan": "Premium", "plan_code": "premium", "listeners": 2},
        {"plan": "Duo", "plan_code": "duo", "listeners": 1},
        {"plan": "Annual", "plan_code": "annual", "listeners": 1},
    ]
    # US only: downgrader on premium, annual; Free is shown even when empty.
    assert run("subscribers-by-plan", country="US").rows == [
        {"plan": "Free", "plan_code": "free", "listeners": 0},
        {"plan": "Premium", "plan_code": "premium", "listeners": 1},
        {"plan": "Annual", "plan_code": "annual", "listeners": 1},
    ]


def test_mrr_arr_and_paying_listeners_per_month(dataset, django_assert_max_num_queries):
    # Measured at each month's end (the next month's first instant):
    # Feb 1: trial_ok 120 + upgrader 60 + downgrader 180 + annual 100 + churner 120 = 580, 5 paying
    # Mar 1: trial_ok 120 + upgrader 180 + downgrader 120 + annual 100 = 520, 4 paying
    # Apr 1: those + reactivator 120 = 640 (joiner_leaver left Mar 20), 5 paying
    with django_assert_max_num_queries(1):
        result = revenue.mrr(**Q1)
    assert result.rows == [
        {"period": "2026-01-01", "mrr": mrr("580.00")},
        {"period": "2026-02-01", "mrr": mrr("520.00")},
        {"period": "2026-03-01", "mrr": mrr("640.00")},
    ]
    assert result.rows[0]["mrr"] == Decimal("48.33333333333333333333333333")
    assert run("mrr") == result
    assert run("arr").rows == [
        {"period": "2026-01-01", "arr": Decimal("580.00")},
        {"period": "2026-02-01", "arr": Decimal("520.00")},
        {"period": "2026-03-01", "arr": Decimal("640.00")},
    ]
    assert run("paying-listeners").rows == [
        {"period": "2026-01-01", "paying_listeners": 5},
        {"period": "2026-02-01", "paying_listeners": 4},
        {"period": "2026-03-01", "paying_listeners": 5},
    ]


def test_mrr_filters(dataset):
    # Premium as primary plan: Feb 1 trial_ok + churner = 240; Mar 1 trial_ok + downgrader
    # = 240; Apr 1 + reactivator = 360 (pending_trial is in trial: not paying).
    assert run("mrr", plan="premium").rows == [
        {"period": "2026-01-01", "mrr": mrr("240.00")},
        {"period": "2026-02-01", "mrr": mrr("240.00")},
        {"period": "2026-03-01", "mrr": mrr("360.00")},
    ]
    # North America = US: downgrader duo 180 + annual 100 = 280, then premium 120 + 100.
    assert run("paying-listeners", region="north_america").rows == [
        {"period": "2026-01-01", "paying_listeners": 2},
        {"period": "2026-02-01", "paying_listeners": 2},
        {"period": "2026-03-01", "paying_listeners": 2},
    ]
    assert run("arr", region="north_america").rows == [
        {"period": "2026-01-01", "arr": Decimal("280.00")},
        {"period": "2026-02-01", "arr": Decimal("220.00")},
        {"period": "2026-03-01", "arr": Decimal("220.00")},
    ]
    # A country outside the region: nothing.
    assert run("arr", region="north_america", country="SE", end=date(2026, 2, 1)).rows == [
        {"period": "2026-01-01", "arr": Decimal("0.00")}
    ]


def test_mrr_weekly_and_daily_stop_at_today(dataset):
    # ISO weeks of [Feb 9, Feb 23): measured on Mon Feb 16 (upgrader on duo since Feb 15,
    # downgrader on premium since Feb 10, churner still in: 120+180+120+100+120 = 640)
    # and Mon Feb 23 (churner gone Feb 20: 520).
    assert run("mrr", start=date(2026, 2, 9), end=date(2026, 2, 23), grain="week").rows == [
        {"period": "2026-02-09", "mrr": mrr("640.00")},
        {"period": "2026-02-16", "mrr": mrr("520.00")},
    ]
    # Days of March with today = Mar 3: Mar 2 00:00 520; Mar 3 00:00 joiner_leaver starts
    # (+120) = 640; Mar 4 00:00 (t, tomorrow) 640. Later days are not shown.
    assert run(
        "mrr", start=date(2026, 3, 1), end=date(2026, 4, 1), today=date(2026, 3, 3), grain="day"
    ).rows == [
        {"period": "2026-03-01", "mrr": mrr("520.00")},
        {"period": "2026-03-02", "mrr": mrr("640.00")},
        {"period": "2026-03-03", "mrr": mrr("640.00")},
    ]
    # A range wholly after today has no point yet.
    assert run("mrr", start=date(2026, 5, 1), end=date(2026, 6, 1)).rows == []


def test_customer_churn(dataset, django_assert_max_num_queries):
    # Jan: 4 paying at Jan 1 (upgrader, downgrader, annual, churner), all still paying Feb 1.
    # Feb: 5 at Feb 1, churner gone by Mar 1: 1/5. Mar: 4 at Mar 1, none gone;
    # joiner_leaver joined and left within March: not counted.
    with django_assert_max_num_queries(1):
        revenue.customer_churn(**Q1)
    assert run("customer-churn").rows == [
        {"month": "2026-01", "customers_start": 4, "churned": 0, "churn_rate": 0.0},
        {"month": "2026-02", "customers_start": 5, "churned": 1, "churn_rate": 0.2},
        {"month": "2026-03", "customers_start": 4, "churned": 0, "churn_rate": 0.0},
    ]


def test_customer_churn_undefined_without_paying_listeners(dataset):
    assert run("customer-churn", start=date(2025, 10, 1), end=date(2025, 11, 1)).rows == [
        {"month": "2025-10", "customers_start": 0, "churned": 0, "churn_rate": None}
    ]


def test_mrr_churn_gross_and_net(dataset):
    # 12 x MRR: Jan start 460 (60 + 180 + 100 + 120), new 120 only: 0 lost.
    # Feb start 580: churn 120 + contraction 60 = 180 -> gross 180/580;
    #   net (180 - expansion 120) = 60/580.
    # Mar start 520: nothing lost, reactivation 120 -> gross 0, net -120/520.
    assert run("mrr-churn").rows == [
        {"month": "2026-01", "mrr_start": mrr("460.00"), "gross_mrr_churn": 0.0, "net_mrr_churn": 0.0},
        {
            "month": "2026-02",
            "mrr_start": mrr("580.00"),
            "gross_mrr_churn": 180 / 580,
            "net_mrr_churn": 60 / 580,
        },
        {"month": "2026-03", "mrr_start": mrr("520.00"), "gross_mrr_churn": 0.0, "net_mrr_churn": -120 / 520},
    ]


def test_arpa(dataset, django_assert_max_num_queries):
    # MRR at the month's end / paying at its end: 580/12 / 5, 520/12 / 4, 640/12 / 5.
    with django_assert_max_num_queries(1):
        revenue.arpa(**Q1)
    assert run("arpa").rows == [
        {"month": "2026-01", "mrr_end": mrr("580.00"), "paying_end": 5, "arpa": mrr("580.00") / 5},
        {"month": "2026-02", "mrr_end": mrr("520.00"), "paying_end": 4, "arpa": mrr("520.00") / 4},
        {"month": "2026-03", "mrr_end": mrr("640.00"), "paying_end": 5, "arpa": mrr("640.00") / 5},
    ]
    assert run("arpa", country="DE", end=date(2026, 2, 1)).rows == [
        {"month": "2026-01", "mrr_end": Decimal(0), "paying_end": 0, "arpa": None}
    ]


def test_clv_uses_the_mean_churn_of_the_months_before(dataset, settings, django_assert_max_num_queries):
    # Churn before January: Nov 2025 0/1 (reactivator paying from Nov 1 00:00);
    # Dec 2025 1/4 (reactivator left Dec 20 of reactivator, upgrader, downgrader, churner).
    # Earlier months had nobody paying: left out. Then Jan 0/4, Feb 1/5.
    # Jan: mean(0, 1/4) = 1/8;  Feb: mean(0, 1/4, 0) = 1/12;  Mar: mean(0, 1/4, 0, 1/5) = 9/80.
    settings.ROYALTY_SHARE = Decimal("0.70")
    jan, feb, mar = Decimal(1) / 8, Decimal("0.25") / 3, Decimal(9) / 80
    arpa_jan, arpa_feb, arpa_mar = mrr("580.00") / 5, mrr("520.00") / 4, mrr("640.00") / 5
    with django_assert_max_num_queries(1):
        revenue.clv(**Q1)
    assert run("clv").rows == [
        {
            "month": "2026-01",
            "arpa": arpa_jan,
            "mean_churn": 0.125,
            "clv": arpa_jan / jan,
            "clv_margin": arpa_jan / jan * Decimal("0.30"),
        },
        {
            "month": "2026-02",
            "arpa": arpa_feb,
            "mean_churn": float(feb),
            "clv": arpa_feb / feb,
            "clv_margin": arpa_feb / feb * Decimal("0.30"),
        },
        {
            "month": "2026-03",
            "arpa": arpa_mar,
            "mean_churn": 0.1125,
            "clv": arpa_mar / mar,
            "clv_margin": arpa_mar / mar * Decimal("0.30"),
        },
    ]
    # Jan: 9.666... / 0.125 = 77.33...; to the cent as a display would show it.
    assert run("clv").rows[0]["clv"].quantize(Decimal("0.01")) == Decimal("77.33")


def test_clv_undefined_without_history_or_churn(dataset):
    # Nov 2025: no earlier month with paying listeners. Dec 2025: only Nov, churn 0.
    assert run("clv", start=date(2025, 11, 1), end=date(2026, 1, 1)).rows == [
        {"month": "2025-11", "arpa": mrr("480.00") / 4, "mean_churn": None, "clv": None, "clv_margin": None},
        {"month": "2025-12", "arpa": mrr("460.00") / 4, "mean_churn": 0.0, "clv": None, "clv_margin": None},
    ]


def test_gross_and_net_revenue_per_month(dataset, django_assert_max_num_queries):
    # Jan: trial_ok 10 + upgrader 5 + downgrader 15 + churner 10 = 40.
    # Feb: trial_ok 10 (the retry; the failed attempt is no revenue) + upgrader 5 + 15
    #   + downgrader 15 (refunded later: still gross) + 10 + churner 10 = 65.
    # Mar: trial_ok 10 + upgrader 15 + downgrader 10 + reactivator 10 + joiner_leaver 10 = 55;
    #   refunds in March: downgrader's Feb 15 + joiner_leaver's 10 = 25; net 30.
    # The annual payment of Dec 15 is outside the range.
    with django_assert_max_num_queries(2):
        revenue.net_revenue(**Q1)
    assert run("gross-revenue").rows == [
        {"period": "2026-01-01", "gross": Decimal("40.00")},
        {"period": "2026-02-01", "gross": Decimal("65.00")},
        {"period": "2026-03-01", "gross": Decimal("55.00")},
    ]
    assert run("net-revenue").rows == [
        {
            "period": "2026-01-01",
            "gross": Decimal("40.00"),
            "refunds": Decimal("0.00"),
            "net": Decimal("40.00"),
        },
        {
            "period": "2026-02-01",
            "gross": Decimal("65.00"),
            "refunds": Decimal("0.00"),
            "net": Decimal("65.00"),
        },
        {
            "period": "2026-03-01",
            "gross": Decimal("55.00"),
            "refunds": Decimal("25.00"),
            "net": Decimal("30.00"),
        },
    ]


def test_gross_revenue_partial_months_weeks_and_filters(dataset):
    # [Jan 15, Mar 16): Jan 15-31 trial_ok 10; all of Feb 65; Mar 1-15: joiner_leaver 10
    # (Mar 3), reactivator 10 (Mar 5), downgrader 10 (Mar 10), upgrader 15 (Mar 15) = 45.
    assert run("gross-revenue", start=date(2026, 1, 15), end=date(2026, 3, 16)).rows == [
        {"period": "2026-01-01", "gross": Decimal("10.00")},
        {"period": "2026-02-01", "gross": Decimal("65.00")},
        {"period": "2026-03-01", "gross": Decimal("45.00")},
    ]
    # Weeks of [Feb 16, Mar 2): Feb 16-22 the retry of Feb 20 (10); Feb 23 - Mar 1 nothing.
    assert run("gross-revenue", start=date(2026, 2, 16), end=date(2026, 3, 2), grain="week").rows == [
        {"period": "2026-02-16", "gross": Decimal("10.00")},
        {"period": "2026-02-23", "gross": Decimal("0.00")},
    ]
    # Premium subscriptions only: Jan trial_ok 10 + churner 10; Feb trial_ok 10 + churner
    # 10 + downgrader 10; Mar trial_ok 10 + downgrader 10 + reactivator 10 + joiner 10.
    assert run("gross-revenue", plan="premium").rows == [
        {"period": "2026-01-01", "gross": Decimal("20.00")},
        {"period": "2026-02-01", "gross": Decimal("30.00")},
        {"period": "2026-03-01", "gross": Decimal("40.00")},
    ]
    # Sweden: trial_ok, upgrader, churner; no refunds there.
    assert run("net-revenue", country="SE").rows == [
        {
            "period": "2026-01-01",
            "gross": Decimal("25.00"),
            "refunds": Decimal("0.00"),
            "net": Decimal("25.00"),
        },
        {
            "period": "2026-02-01",
            "gross": Decimal("40.00"),
            "refunds": Decimal("0.00"),
            "net": Decimal("40.00"),
        },
        {
            "period": "2026-03-01",
            "gross": Decimal("25.00"),
            "refunds": Decimal("0.00"),
            "net": Decimal("25.00"),
        },
    ]
    # By day, a refund lands on its own day: Mar 3 holds joiner_leaver's payment (10)
    # and the refund of downgrader's February payment (15).
    assert run("net-revenue", start=date(2026, 3, 3), end=date(2026, 3, 4), grain="day").rows == [
        {
            "period": "2026-03-03",
            "gross": Decimal("10.00"),
            "refunds": Decimal("15.00"),
            "net": Decimal("-5.00"),
        }
    ]


def test_payment_failure_rate(dataset):
    # Attempts: Jan 4, Feb 7 (one failed, retried the next day), Mar 5; April none yet.
    assert run("payment-failure-rate", end=date(2026, 5, 1)).rows == [
        {"period": "2026-01-01", "attempts": 4, "failed": 0, "failure_rate": 0.0},
        {"period": "2026-02-01", "attempts": 7, "failed": 1, "failure_rate": 1 / 7},
        {"period": "2026-03-01", "attempts": 5, "failed": 0, "failure_rate": 0.0},
        {"period": "2026-04-01", "attempts": 0, "failed": 0, "failure_rate": None},
    ]


def test_payment_methods(dataset, django_assert_max_num_queries):
    # Card: Jan 3 (trial_ok, upgrader, churner), Feb 5 (trial_ok failed + retry, upgrader
    # x2, churner), Mar 2 (upgrader, joiner_leaver refunded) = 10 attempts, 9 succeeded,
    # gross 25 + 40 + 25 = 90. PayPal (downgrader x4, trial_ok in Mar) 5, gross 60.
    # Apple Pay: reactivator 10.
    with django_assert_max_num_queries(2):
        revenue.payment_methods(**Q1)
    assert run("payment-methods").rows == [
        {
            "method": "Credit card",
            "method_code": "card",
            "payments": 10,
            "succeeded": 9,
            "gross": Decimal("90.00"),
        },
        {
            "method": "PayPal",
            "method_code": "paypal",
            "payments": 5,
            "succeeded": 5,
            "gross": Decimal("60.00"),
        },
        {
            "method": "Apple Pay",
            "method_code": "apple_pay",
            "payments": 1,
            "succeeded": 1,
            "gross": Decimal("10.00"),
        },
    ]


def test_trial_conversion(dataset, django_assert_max_num_queries):
    # January: trial_ok (active at its trial end) and trial_ko (ended at its trial end):
    # 1/2. March: pending_trial's trial ends Apr 11 12:00, after tomorrow: left out.
    with django_assert_max_num_queries(1):
        revenue.trial_conversion(**Q1)
    assert run("trial-conversion").rows == [
        {"month": "2026-01", "trials": 2, "converted": 1, "conversion_rate": 0.5},
        {"month": "2026-02", "trials": 0, "converted": 0, "conversion_rate": None},
        {"month": "2026-03", "trials": 0, "converted": 0, "conversion_rate": None},
    ]


def test_revenue_by_country(dataset, django_assert_max_num_queries):
    # Paying as of Apr 1: SE trial_ok, upgrader; US downgrader, annual; DE reactivator.
    # Gross: SE 30 + 40 + 20 = 90; US downgrader 50, refunds 15; DE 10 + 10, refunds 10.
    with django_assert_max_num_queries(3):
        revenue.revenue_by_country(**Q1)
    assert run("revenue-by-country").rows == [
        {
            "country": "SE",
            "country_name": "Sweden",
            "paying_listeners": 2,
            "gross": Decimal("90.00"),
            "net": Decimal("90.00"),
        },
        {
            "country": "US",
            "country_name": "United States of America",
            "paying_listeners": 2,
            "gross": Decimal("50.00"),
            "net": Decimal("35.00"),
        },
        {
            "country": "DE",
            "country_name": "Germany",
            "paying_listeners": 1,
            "gross": Decimal("20.00"),
            "net": Decimal("10.00"),
        },
    ]
    assert [row["country"] for row in run("revenue-by-country", region="europe").rows] == ["SE", "DE"]


def test_headline_columns_of_the_dashboard_cards():
    for slug, column in {
        "paying-listeners": "paying_listeners",
        "mrr": "mrr",
        "customer-churn": "churn_rate",
        "clv": "clv",
        "net-revenue": "net",
    }.items():
        spec = get_kpi(slug)
        assert spec.headline == column
        assert spec.definition


def test_every_revenue_kpi_has_a_reference():
    assert {spec.slug for spec in revenue_kpis()} == {
        "subscribers-by-plan",
        "paying-listeners",
        "mrr",
        "arr",
        "mrr-movements",
        "customer-churn",
        "mrr-churn",
        "arpa",
        "clv",
        "gross-revenue",
        "net-revenue",
        "payment-failure-rate",
        "payment-methods",
        "trial-conversion",
        "revenue-by-country",
    }
    for spec in revenue_kpis():
        assert get_reference(spec.slug) is not spec.fn


def revenue_kpis():
    from analytics.kpis.registry import all_kpis

    return all_kpis("revenue")


def test_bad_grain_and_range_are_refused(dataset):
    with pytest.raises(ValueError, match="grain"):
        revenue.mrr(**Q1, grain="year")
    with pytest.raises(ValueError, match="end after"):
        revenue.gross_revenue(start=date(2026, 2, 1), end=date(2026, 2, 1), today=TODAY)


SEEDED_TODAY = date(2026, 4, 30)


def seed_and_refresh() -> None:
    """150 seeded listeners over 4 months ending Apr 30, 2026, and fresh rollups."""
    call_command(
        "seed",
        listeners=150,
        events=15_000,
        months=4,
        seed=7,
        end_date="2026-05-01",
        quiet=True,
        skip_rollups=True,
    )
    rollups.refresh(full=True, today=SEEDED_TODAY)


def test_rollups_match_the_raw_references_on_seeded_data():
    seed_and_refresh()
    assert Subscription.objects.exists() and Payment.objects.exists()
    country = (
        Listener.objects.values_list("country", flat=True)
        .annotate(n=Count("id"))
        .order_by("-n", "country")
        .first()
    )
    ranges = [
        {"start": date(2026, 1, 1), "end": date(2026, 5, 1), "grain": "month"},
        {"start": date(2026, 1, 15), "end": date(2026, 4, 20), "grain": "month"},
        {"start": date(2026, 2, 2), "end": date(2026, 4, 27), "grain": "week"},
        {"start": date(2026, 4, 1), "end": date(2026, 5, 20), "grain": "day"},
    ]
    filters = [{}, {"country": str(country)}, {"region": "europe"}, {"plan": "individual"}]
    compared = 0
    for spec in revenue_kpis():
        for period in ranges:
            for narrowing in filters:
                params = {key: value for key, value in {**period, **narrowing}.items() if key in spec.filters}
                if narrowing and not set(narrowing) <= set(spec.filters):
                    continue
                dates = {"start": period["start"], "end": period["end"], "today": SEEDED_TODAY}
                result = get_kpi(spec.slug).run(**dates, **params)
                assert result == get_reference(spec.slug)(**dates, **params), (spec.slug, period, narrowing)
                compared += 1
    # 4 ranges x (no filter + each filter a KPI accepts): 8 KPIs take 3 of them, 7 take 2.
    assert compared == 4 * (8 * 4 + 7 * 3)
    # Not a comparison of empty tables: money and listeners show up.
    assert any(
        row["gross"] for row in run("gross-revenue", start=date(2026, 1, 1), end=date(2026, 5, 1)).rows
    )
    assert (
        run("paying-listeners", start=date(2026, 1, 1), end=date(2026, 5, 1)).rows[-1]["paying_listeners"] > 0
    )
