"""Revenue rollups: rows on a tiny dataset, idempotence, the refresh window, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from analytics.kpis import _time
from analytics.rollups._sql import EpochMicroseconds
from analytics.rollups.sources import mark_changed
from billing import rollups
from billing.models import (
    Listener,
    MrrMonth,
    Payment,
    PaymentDay,
    PaymentMonth,
    PaymentRegionDay,
    PaymentRegionMonth,
    PaymentStatus,
    SubscriberDay,
    SubscriberRegionDay,
    Subscription,
    Tier,
    TrialMonth,
)
from tests.factories import at, make_listener, make_payment, make_plan, make_subscription

pytestmark = pytest.mark.django_db

MICROSECOND = timedelta(microseconds=1)

TABLES = (
    SubscriberDay,
    SubscriberRegionDay,
    PaymentDay,
    PaymentRegionDay,
    PaymentMonth,
    PaymentRegionMonth,
    MrrMonth,
    TrialMonth,
)


def dump() -> dict[str, list[tuple]]:
    """Every rollup row without its id, in a stable order."""
    out = {}
    for model in TABLES:
        names = [f.attname for f in model._meta.concrete_fields if f.name != "id"]
        out[model.__name__] = sorted(
            model.objects.values_list(*names), key=lambda row: tuple(str(v) for v in row)
        )
    return out


def test_refresh_writes_the_rollup_rows(small):
    written = rollups.refresh(full=True, today=date(2026, 2, 14))
    # Days Jan 1 .. Feb 15 (the state at tomorrow's first instant):
    # Jan 1-4 one group (SE, no plan), Jan 5-9 two (+ US no plan), Jan 10-19 two (SE moves
    # to premium), Jan 20 - Feb 15 three (US annual in trial, then paid) = 4 + 10 + 20 + 81.
    # One country per region here: the per-region tables have as many rows.
    assert written == {
        "subscriber_days": 115,
        "subscriber_region_days": 115,
        "payment_days": 5,
        "payment_region_days": 5,
        "payment_months": 3,
        "payment_region_months": 3,
        "mrr_months": 3,
        "trial_months": 1,
    }
    premium, annual = small["premium"].pk, small["annual"].pk

    def day(on):
        rows = SubscriberDay.objects.filter(day=on).values_list(
            "country", "plan_id", "listeners", "paying", "arr"
        )
        # No plan first, on every database (PostgreSQL sorts NULL last).
        return sorted(rows, key=lambda row: (row[0], row[1] or 0))

    assert day(date(2026, 1, 15)) == [
        ("SE", premium, 1, 1, Decimal("120.00")),
        ("US", None, 2, 0, Decimal("0.00")),
    ]
    assert day(date(2026, 2, 1)) == [
        ("SE", premium, 1, 1, Decimal("120.00")),
        ("US", None, 1, 0, Decimal("0.00")),
        ("US", annual, 1, 0, Decimal("0.00")),  # in trial: not paying
    ]
    assert day(date(2026, 2, 15)) == [
        ("SE", premium, 1, 1, Decimal("120.00")),
        ("US", None, 1, 0, Decimal("0.00")),
        ("US", annual, 1, 1, Decimal("120.00")),  # an annual price is its own 12 x MRR
    ]
    assert not SubscriberDay.objects.filter(day__gt=date(2026, 2, 15)).exists()
    assert sorted(
        SubscriberRegionDay.objects.filter(day=date(2026, 2, 15)).values_list(
            "region", "plan_id", "listeners", "paying", "arr"
        ),
        key=lambda row: (row[0], row[1] or 0),
    ) == [
        ("europe", premium, 1, 1, Decimal("120.00")),
        ("north_america", None, 1, 0, Decimal("0.00")),
        ("north_america", annual, 1, 1, Decimal("120.00")),
    ]

    # Attempts by the day of the attempt, the refund on Feb 12 by its own day.
    assert list(
        PaymentDay.objects.order_by("day").values_list(
            "day", "country", "plan_id", "method", "attempts", "succeeded", "failed", "gross", "refunds"
        )
    ) == [
        (date(2026, 1, 10), "SE", premium, "card", 1, 1, 0, Decimal("10.00"), Decimal("0.00")),
        (date(2026, 2, 3), "US", annual, "paypal", 1, 1, 0, Decimal("120.00"), Decimal("0.00")),
        (date(2026, 2, 10), "SE", premium, "card", 1, 0, 1, Decimal("0.00"), Decimal("0.00")),
        (date(2026, 2, 11), "SE", premium, "card", 1, 1, 0, Decimal("10.00"), Decimal("0.00")),
        (date(2026, 2, 12), "SE", premium, "card", 0, 0, 0, Decimal("0.00"), Decimal("10.00")),
    ]
    assert list(
        PaymentMonth.objects.order_by("month", "country").values_list(
            "month", "country", "method", "attempts", "succeeded", "failed", "gross", "refunds"
        )
    ) == [
        (date(2026, 1, 1), "SE", "card", 1, 1, 0, Decimal("10.00"), Decimal("0.00")),
        (date(2026, 2, 1), "SE", "card", 2, 1, 1, Decimal("10.00"), Decimal("10.00")),
        (date(2026, 2, 1), "US", "paypal", 1, 1, 0, Decimal("120.00"), Decimal("0.00")),
    ]
    # January: L1 new (120) in SE; L3 still in trial on Feb 1: no US row.
    # February, in progress to Feb 15: L1 stays; L3 new 120 in US.
    assert list(
        MrrMonth.objects.order_by("month", "country").values_list(
            "month",
            "as_of",
            "country",
            "arr_start",
            "arr_new",
            "arr_churn",
            "arr_end",
            "customers_start",
            "customers_churned",
            "customers_end",
        )
    ) == [
        (date(2026, 1, 1), date(2026, 2, 1), "SE", 0, Decimal("120.00"), 0, Decimal("120.00"), 0, 0, 1),
        (date(2026, 2, 1), date(2026, 2, 15), "SE", Decimal("120.00"), 0, 0, Decimal("120.00"), 1, 0, 1),
        (date(2026, 2, 1), date(2026, 2, 15), "US", 0, Decimal("120.00"), 0, Decimal("120.00"), 0, 0, 1),
    ]
    assert list(TrialMonth.objects.values_list("month", "country", "plan_id", "trials", "converted")) == [
        (date(2026, 1, 1), "US", annual, 1, 1)
    ]


def test_refresh_is_idempotent(small):
    rollups.refresh(full=True, today=date(2026, 2, 14))
    first = dump()
    # The same rows again: no day is rewritten (the few month rows always are).
    written = rollups.refresh(full=True, today=date(2026, 2, 14))
    assert {table: written[table] for table in rollups._DAY_TABLES} == dict.fromkeys(rollups._DAY_TABLES, 0)
    assert dump() == first
    rollups.refresh(since=date(2026, 1, 20), today=date(2026, 2, 14))
    assert dump() == first


def test_a_refresh_rewrites_only_the_days_that_changed(small):
    rollups.refresh(full=True, today=date(2026, 2, 14))
    # L1 cancels premium from Feb 12: the states at the first instants of Feb 12, 13, 14
    # and 15 change (SE moves to no plan, nothing paid); each of those days has 3 rows,
    # (SE, no plan), (US, no plan), (US, annual), and so 3 region rows. Payments are as
    # they were. The daily window (from Jan 1) recomputes every day and writes 4 of them.
    Subscription.objects.filter(plan=small["premium"]).update(ended_at=at(2026, 2, 12))
    written = rollups.refresh(today=date(2026, 2, 14))
    assert (written["subscriber_days"], written["subscriber_region_days"]) == (12, 12)
    assert (written["payment_days"], written["payment_region_days"]) == (0, 0)
    assert sorted(
        SubscriberDay.objects.filter(day=date(2026, 2, 13)).values_list("country", "plan_id", "paying"),
        key=lambda row: (row[0], row[1] or 0),
    ) == [("SE", None, 0), ("US", None, 0), ("US", small["annual"].pk, 1)]
    refreshed = dump()
    for model in TABLES:
        model.objects.all().delete()
    rollups.refresh(full=True, today=date(2026, 2, 14))
    assert dump() == refreshed


def test_refresh_of_an_empty_database_writes_nothing():
    assert set(rollups.refresh(full=True, today=date(2026, 2, 14)).values()) == {0}
    assert all(not model.objects.exists() for model in TABLES)


def test_default_refresh_picks_up_late_changes_in_its_window(small):
    rollups.refresh(full=True, today=date(2026, 3, 5))
    # A refund today of a January payment, and L1 cancelled back on Feb 20.
    Payment.objects.filter(paid_at=at(2026, 1, 10)).update(
        status=PaymentStatus.REFUNDED, refunded_at=at(2026, 3, 5, 9)
    )
    Subscription.objects.filter(listener__country="SE").update(ended_at=at(2026, 2, 20))
    # The default window starts on the first day of the month before today's: Feb 1.
    rollups.refresh(today=date(2026, 3, 5))
    incremental = dump()
    rollups.refresh(full=True, today=date(2026, 3, 5))
    assert incremental == dump()
    assert SubscriberDay.objects.get(day=date(2026, 2, 21), country="SE").plan_id is None
    assert PaymentDay.objects.get(day=date(2026, 3, 5)).refunds == Decimal("10.00")


def test_a_refund_in_the_window_of_a_subscription_over_before_it(small):
    rollups.refresh(full=True, today=date(2026, 3, 5))
    # L4's premium subscription ended in January; its first payment is refunded on
    # March 4, inside the default window (from Feb 1), whose sweep starts after the
    # subscription ended: the refund still counts under its plan and country.
    four = make_listener(country="DE", signed_up_at=at(2026, 1, 2))
    over = make_subscription(four, small["premium"], started_at=at(2026, 1, 2), ended_at=at(2026, 1, 15))
    make_payment(over, paid_at=at(2026, 1, 2), status=PaymentStatus.REFUNDED, refunded_at=at(2026, 3, 4))
    rollups.refresh(today=date(2026, 3, 5))
    row = PaymentDay.objects.get(day=date(2026, 3, 4))
    assert (row.country, row.plan_id, row.method) == ("DE", small["premium"].id, "card")
    assert (row.attempts, row.gross, row.refunds) == (0, Decimal("0.00"), Decimal("10.00"))

    def window() -> list[tuple]:  # the January payment row is before the window
        return [row for row in dump()["PaymentDay"] if row[0] >= date(2026, 2, 1)]

    incremental = window()
    rollups.refresh(full=True, today=date(2026, 3, 5))
    assert incremental == window()


def test_default_refresh_starts_at_the_last_refresh_when_it_is_older(small):
    rollups.refresh(full=True, today=date(2026, 1, 12))
    Subscription.objects.filter(listener__country="SE").update(started_at=at(2026, 1, 11))
    # Three months later: the window reaches back to the month of the last refresh (Jan).
    rollups.refresh(today=date(2026, 4, 10))
    incremental = dump()
    rollups.refresh(full=True, today=date(2026, 4, 10))
    assert incremental == dump()


def test_a_change_before_the_window_made_through_django_widens_it(small):
    rollups.refresh(full=True, today=date(2026, 3, 5))
    # Recorded with its reach (from Jan 10, the old start): the window starts in January.
    Subscription.objects.filter(listener__country="SE").update(started_at=at(2026, 1, 12))
    rollups.refresh(today=date(2026, 3, 5))
    assert SubscriberDay.objects.get(day=date(2026, 1, 11), country="SE").plan_id is None
    incremental = dump()
    rollups.refresh(full=True, today=date(2026, 3, 5))
    assert incremental == dump()


def test_changes_before_the_window_made_in_raw_sql_need_since(small):
    rollups.refresh(full=True, today=date(2026, 3, 5))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Subscription._meta.db_table} SET started_at = %s WHERE listener_id = %s",
            [at(2026, 1, 12), Listener.objects.get(country="SE").id],
        )
    mark_changed(Subscription)  # what a raw edit leaves: the table changed, no more
    rollups.refresh(today=date(2026, 3, 5))  # window from Feb 1: January is kept as it was
    assert SubscriberDay.objects.get(day=date(2026, 1, 11), country="SE").plan_id is not None
    rollups.refresh(since=date(2026, 1, 11), today=date(2026, 3, 5))  # from Jan 1
    assert SubscriberDay.objects.get(day=date(2026, 1, 11), country="SE").plan_id is None
    since = dump()
    rollups.refresh(full=True, today=date(2026, 3, 5))
    assert since == dump()


def test_refresh_with_an_earlier_today_drops_later_rows(small):
    rollups.refresh(full=True, today=date(2026, 3, 5))
    rollups.refresh(full=True, today=date(2026, 1, 31))
    assert SubscriberDay.objects.latest("day").day == date(2026, 2, 1)
    # Payment days reach the last payment activity (Feb 12) even past today.
    assert PaymentDay.objects.latest("day").day == date(2026, 2, 12)
    assert MrrMonth.objects.latest("month").month == date(2026, 1, 1)
    assert MrrMonth.objects.get(month=date(2026, 1, 1), country="SE").as_of == date(2026, 2, 1)


def test_refresh_cuts_days_in_the_reporting_time_zone(settings):
    settings.TIME_ZONE = "Europe/Stockholm"  # UTC+1 in winter
    premium = make_plan("premium", price="10.00")
    listener = make_listener(country="SE", signed_up_at=at(2026, 1, 1))
    # 23:30 UTC on Jan 31 is 00:30 on Feb 1 in Stockholm.
    sub = make_subscription(listener, premium, started_at=at(2026, 1, 31, 23, 30))
    make_payment(sub, paid_at=at(2026, 1, 31, 23, 30))
    rollups.refresh(full=True, today=date(2026, 2, 2))
    assert list(PaymentDay.objects.values_list("day", flat=True)) == [date(2026, 2, 1)]
    assert SubscriberDay.objects.get(day=date(2026, 2, 1)).paying == 0  # 00:00 local: not yet
    assert SubscriberDay.objects.get(day=date(2026, 2, 2)).paying == 1
    # New in February, not January.
    assert list(MrrMonth.objects.values_list("month", "arr_new")) == [(date(2026, 2, 1), Decimal("120.00"))]


def test_refresh_reports_progress(small):
    seen = []
    rollups.refresh(full=True, today=date(2026, 2, 14), progress=lambda *args: seen.append(args))
    assert ("billing: trials", 2, 2) in seen
    assert seen[-1] == ("billing: days", 46, 46)


def test_mrr_month_refuses_movements_that_do_not_add_up():
    with pytest.raises(IntegrityError), transaction.atomic():
        MrrMonth.objects.create(
            month=date(2026, 1, 1),
            as_of=date(2026, 2, 1),
            country="SE",
            arr_start=Decimal("100.00"),
            arr_new=Decimal("20.00"),
            arr_reactivation=0,
            arr_expansion=0,
            arr_contraction=0,
            arr_churn=Decimal("10.00"),
            arr_end=Decimal("120.00"),  # should be 110.00
            customers_start=1,
            customers_churned=0,
            customers_end=1,
        )


def test_subscriber_state_counts_changes_to_the_microsecond_at_day_starts():
    # The state of a day is the one at its first instant: a start at that very instant
    # counts that day, one a microsecond later the next day (signed up a microsecond late
    # likewise), and an end at the first instant ends the subscription before that day.
    premium = make_plan("premium", price="10.00")
    jan_2, jan_3 = _time.day_start(date(2026, 1, 2)), _time.day_start(date(2026, 1, 3))
    on_time = make_listener(country="SE", signed_up_at=jan_2 - MICROSECOND)
    late = make_listener(country="SE", signed_up_at=jan_2 + MICROSECOND)
    make_subscription(on_time, premium, started_at=jan_2, ended_at=jan_3)
    make_subscription(late, premium, started_at=jan_2 + MICROSECOND)
    rollups.refresh(full=True, today=date(2026, 1, 3))
    rows = {
        (str(day), plan): (listeners, paying, arr)
        for day, plan, listeners, paying, arr in SubscriberDay.objects.values_list(
            "day", "plan__code", "listeners", "paying", "arr"
        )
    }
    assert rows == {
        ("2026-01-02", "premium"): (1, 1, Decimal("120.00")),
        ("2026-01-03", None): (1, 0, Decimal("0.00")),
        ("2026-01-03", "premium"): (1, 1, Decimal("120.00")),
        ("2026-01-04", None): (1, 0, Decimal("0.00")),
        ("2026-01-04", "premium"): (1, 1, Decimal("120.00")),
    }


def test_epoch_microseconds_are_exact_on_both_databases():
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    listener = make_listener(signed_up_at=moment)
    whole = make_listener(signed_up_at=moment.replace(microsecond=0))
    almost = make_listener(signed_up_at=moment.replace(microsecond=999_999))
    sub = make_subscription(listener, make_plan(), started_at=moment)
    expected = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // MICROSECOND
    epochs = dict(Listener.objects.values_list("id", EpochMicroseconds("signed_up_at")))
    assert epochs == {
        listener.pk: expected,
        whole.pk: expected - 678_901,
        almost.pk: expected - 678_901 + 999_999,
    }
    assert Subscription.objects.filter(pk=sub.pk).values_list(
        EpochMicroseconds("started_at"), EpochMicroseconds("trial_ends_at")
    ).get() == (expected, None)


def test_a_window_starts_from_the_state_the_day_by_day_sweep_reaches():
    # The state at a window's first day is computed for every listener at once; the full
    # rebuild reaches the same day through each listener's own changes. Overlapping
    # subscriptions (one open at most) rank paid first, then by amount, start and id.
    LATER = at(2026, 6, 1)
    premium = make_plan("premium", price="10.00")
    family = make_plan("family", price="15.00")
    annual = make_plan("annual", price="120.00", billing_period="annual")
    free = make_plan("free", tier=Tier.FREE, price="0.00")
    paid_over_trial = make_listener(country="SE", signed_up_at=at(2026, 1, 1))
    make_subscription(paid_over_trial, family, started_at=at(2026, 2, 1), trial_ends_at=at(2026, 3, 20))
    make_subscription(paid_over_trial, premium, started_at=at(2026, 1, 5), ended_at=LATER)
    larger = make_listener(country="US", signed_up_at=at(2026, 1, 1))
    make_subscription(larger, premium, started_at=at(2026, 1, 5), ended_at=LATER)
    make_subscription(larger, family, started_at=at(2026, 1, 6))
    same_amount = make_listener(country="US", signed_up_at=at(2026, 1, 1))
    make_subscription(same_amount, annual, started_at=at(2026, 1, 7), ended_at=LATER)  # 12 x MRR 120
    make_subscription(same_amount, premium, started_at=at(2026, 1, 8))  # 12 x MRR 120, later
    ended = make_listener(country="NO", signed_up_at=at(2026, 1, 1))
    make_subscription(ended, premium, started_at=at(2026, 1, 5), ended_at=at(2026, 3, 1))
    make_subscription(ended, free, started_at=at(2026, 3, 1))
    make_listener(country="NO", signed_up_at=at(2026, 3, 2))  # signs up inside the window

    rollups.refresh(full=True, today=date(2026, 3, 25))
    day_by_day = dump()
    states = {(row[1], row[2]): row[3:] for row in day_by_day["SubscriberDay"] if str(row[0]) == "2026-03-01"}
    assert states == {
        ("NO", free.id): (1, 0, Decimal("0.00")),
        ("SE", premium.id): (1, 1, Decimal("120.00")),
        ("US", family.id): (1, 1, Decimal("300.00")),  # 120 + 180, under the larger plan
        ("US", premium.id): (1, 1, Decimal("240.00")),  # the later of two equal amounts
    }
    rollups.refresh(since=date(2026, 3, 1), today=date(2026, 3, 25))
    assert dump() == day_by_day


@pytest.mark.parametrize(
    ("last_today", "today"),
    [
        (date(2026, 2, 13), date(2026, 2, 14)),  # the next day
        (date(2026, 2, 9), date(2026, 2, 14)),  # days later: the trial ended, payments came
        (date(2026, 1, 30), date(2026, 2, 2)),  # across a month's start
        (date(2026, 1, 31), date(2026, 2, 1)),  # from a month's last day, which closed it
        (date(2026, 2, 28), date(2026, 3, 1)),  # to a month's first day
        (date(2026, 1, 12), date(2026, 4, 10)),  # months later
    ],
)
def test_a_later_today_with_nothing_changed_writes_what_a_full_refresh_does(
    small, monkeypatch, last_today, today
):
    rollups.refresh(full=True, today=last_today)

    # Nothing changed but `today`: only the new days' state, the open months' MRR
    # movements and the trials are written, moved from the stored rows by the listeners
    # whose state changed since, without sweeping every subscription.
    def no_sweep(**options):
        raise AssertionError("every subscription was swept")

    monkeypatch.setattr(rollups, "_refresh_days", no_sweep)
    monkeypatch.setattr(rollups, "_advance_by_sweep", no_sweep)
    rollups.refresh(today=today)
    advanced = dump()
    monkeypatch.undo()
    rollups.refresh(full=True, today=today)

    assert advanced == dump()
    assert SubscriberDay.objects.filter(day=today + timedelta(days=1)).exists()


def test_a_later_today_after_a_change_recomputes_the_window(small, monkeypatch):
    rollups.refresh(full=True, today=date(2026, 2, 13))
    Subscription.objects.filter(listener__country="SE").update(ended_at=at(2026, 2, 12))
    windows = []
    refresh_days = rollups._refresh_days
    monkeypatch.setattr(
        rollups, "_refresh_days", lambda **options: windows.append(options) or refresh_days(**options)
    )
    rollups.refresh(today=date(2026, 2, 14))
    assert [options["begin"] for options in windows] == [date(2026, 1, 1)]
    changed = dump()
    rollups.refresh(full=True, today=date(2026, 2, 14))
    assert changed == dump()


def test_a_later_today_sweeps_when_the_stored_rows_do_not_line_up(small, monkeypatch):
    rollups.refresh(full=True, today=date(2026, 2, 9))
    # The last state day's rows gone: the last day with rows (Feb 9) is older than the
    # open month's row (as of Feb 10), so the subscriptions are swept instead.
    SubscriberDay.objects.filter(day=date(2026, 2, 10)).delete()
    swept = []
    sweep = rollups._advance_by_sweep
    monkeypatch.setattr(rollups, "_advance_by_sweep", lambda **options: swept.append(1) or sweep(**options))
    rollups.refresh(today=date(2026, 2, 14))
    assert swept == [1]
    advanced = [row for row in dump()["SubscriberDay"] if row[0] > date(2026, 2, 10)]
    mrr = dump()["MrrMonth"]
    rollups.refresh(full=True, today=date(2026, 2, 14))
    assert advanced == [row for row in dump()["SubscriberDay"] if row[0] > date(2026, 2, 10)]
    assert mrr == dump()["MrrMonth"]


def test_a_later_today_stopped_halfway_leaves_the_rows_as_they_were(small, monkeypatch):
    rollups.refresh(full=True, today=date(2026, 1, 30))
    before = dump()

    def stopped(*args, **kwargs):
        raise RuntimeError("stopped")

    # The new days' state is written before the MRR months: it goes back with them.
    monkeypatch.setattr(rollups, "_replace_mrr_month", stopped)
    with pytest.raises(RuntimeError):
        rollups.refresh(today=date(2026, 2, 2))
    assert dump() == before
    monkeypatch.undo()
    rollups.refresh(today=date(2026, 2, 2))
    advanced = dump()
    rollups.refresh(full=True, today=date(2026, 2, 2))
    assert advanced == dump()
