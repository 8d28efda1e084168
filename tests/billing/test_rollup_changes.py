"""Revenue rollups after recorded changes: the nightly run moves the stored rows by the
changed listeners when the changes reach no further back than the last stored day's
day before, and equals a full refresh either way."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection

from analytics.models import RollupState
from billing import rollups, services
from billing.models import (
    Listener,
    ListenerRevenueState,
    Payment,
    PaymentDay,
    PaymentStatus,
    RevenueChange,
    SubscriberDay,
    Subscription,
)
from tests.billing.test_rollups import dump
from tests.factories import at, make_listener, make_payment, make_plan, make_subscription

pytestmark = pytest.mark.django_db


def forbid_window(monkeypatch) -> None:
    def window(**options):
        raise AssertionError("the window was recomputed")

    monkeypatch.setattr(rollups, "_refresh_days", window)
    monkeypatch.setattr(rollups, "_advance_by_sweep", window)


def record_windows(monkeypatch) -> list[date]:
    """The first day of each window the revenue refresh recomputes, as it goes."""
    windows = []
    refresh_days = rollups._refresh_days
    monkeypatch.setattr(
        rollups,
        "_refresh_days",
        lambda **options: windows.append(options["begin"]) or refresh_days(**options),
    )
    return windows


def a_day_of_business(plans, day: date) -> None:
    """What a day brings, all within `day`: a sign-up with a trial, a new paid
    subscription and its payment, a cancellation at the period's end, a refund of an
    old payment, and a failed retry."""
    hour = lambda h: at(day.year, day.month, day.day, h)  # noqa: E731
    newcomer = make_listener(country="DE", signed_up_at=hour(8))
    make_subscription(newcomer, plans["annual"], started_at=hour(8), trial_ends_at=at(2026, 4, 30))
    two = Listener.objects.get(country="US", subscriptions__isnull=True)
    sub = make_subscription(two, plans["premium"], started_at=hour(9))
    make_payment(sub, paid_at=hour(9))
    make_payment(sub, paid_at=hour(10), status=PaymentStatus.FAILED, idempotency_key="retry")
    cancelled = Subscription.objects.get(listener__country="SE")
    cancelled.ended_at = at(2026, 6, 10)
    cancelled.auto_renew = False
    cancelled.save()
    first = Payment.objects.get(paid_at=at(2026, 1, 10))
    first.status = PaymentStatus.REFUNDED
    first.refunded_at = hour(11)
    first.save()


@pytest.mark.parametrize(
    ("last_today", "day", "today"),
    [
        (date(2026, 2, 13), date(2026, 2, 13), date(2026, 2, 14)),  # a nightly run
        (date(2026, 2, 13), date(2026, 2, 13), date(2026, 2, 13)),  # later the same day
        (date(2026, 2, 13), date(2026, 2, 14), date(2026, 2, 14)),  # changes on the stored day
        (date(2026, 1, 31), date(2026, 1, 31), date(2026, 2, 1)),  # the stored day opens a month
        (date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 3)),  # across a month, days later
    ],
)
def test_a_nightly_run_after_a_day_of_business_writes_what_a_full_refresh_does(
    small, monkeypatch, last_today, day, today
):
    rollups.refresh(full=True, today=last_today)
    a_day_of_business(small, day)
    assert RevenueChange.objects.exists()
    forbid_window(monkeypatch)
    rollups.refresh(today=today)
    advanced = dump()
    parts = sorted(ListenerRevenueState.objects.values_list())
    assert not RevenueChange.objects.exists()
    monkeypatch.undo()
    rollups.refresh(full=True, today=today)
    assert advanced == dump()
    assert parts == sorted(ListenerRevenueState.objects.values_list())
    assert PaymentDay.objects.get(day=day, country="SE").refunds == small["premium"].price


def test_changes_reaching_further_back_recompute_the_window(small, monkeypatch):
    rollups.refresh(full=True, today=date(2026, 2, 13))
    # A plan change reaches back to the subscription's start, in January.
    Subscription.objects.filter(listener__country="SE").update(plan=small["annual"])
    windows = record_windows(monkeypatch)
    rollups.refresh(today=date(2026, 2, 14))
    assert windows == [date(2026, 1, 1)]
    changed = dump()
    rollups.refresh(full=True, today=date(2026, 2, 14))
    assert changed == dump()


def test_a_change_of_unknown_reach_recomputes_the_window(small, monkeypatch):
    rollups.refresh(full=True, today=date(2026, 2, 13))
    Listener.objects.filter(country="SE").update(signed_up_at=at(2026, 2, 13, 9))
    RevenueChange.objects.create(listener_id=None, since=None, state=True)  # e.g. an update with F()
    windows = record_windows(monkeypatch)
    rollups.refresh(today=date(2026, 2, 14))
    assert windows == [date(2026, 1, 1)]
    assert not RevenueChange.objects.exists()


def test_expiring_subscriptions_in_bulk_is_a_nightly_change(small, monkeypatch):
    one = Listener.objects.get(country="SE")
    Subscription.objects.filter(listener=one).update(current_period_end=at(2026, 2, 13, 6))
    rollups.refresh(full=True, today=date(2026, 2, 13))
    assert [s.listener_id for s in services.subscriptions_expire(at=at(2026, 2, 13, 7))] == [one.id]
    forbid_window(monkeypatch)
    rollups.refresh(today=date(2026, 2, 14))
    advanced = dump()
    monkeypatch.undo()
    rollups.refresh(full=True, today=date(2026, 2, 14))
    assert advanced == dump()
    assert SubscriberDay.objects.get(day=date(2026, 2, 14), country="SE").plan_id is None


def test_a_listener_who_signed_up_today_and_moved_country_and_one_deleted(small, monkeypatch):
    premium = small["premium"]
    rollups.refresh(full=True, today=date(2026, 2, 13))
    mover = make_listener(country="DE", signed_up_at=at(2026, 2, 13, 8))
    make_subscription(mover, premium, started_at=at(2026, 2, 13, 8))
    mover.country = "FR"
    mover.save()
    gone = make_listener(country="NO", signed_up_at=at(2026, 2, 13, 9))
    make_subscription(gone, premium, started_at=at(2026, 2, 13, 9))
    gone.delete()
    forbid_window(monkeypatch)
    rollups.refresh(today=date(2026, 2, 13))  # the stored day, Feb 14, moves
    advanced = dump()
    monkeypatch.undo()
    rollups.refresh(full=True, today=date(2026, 2, 13))
    assert advanced == dump()
    assert SubscriberDay.objects.filter(day=date(2026, 2, 14), country="FR").exists()
    assert not SubscriberDay.objects.filter(country__in=["DE", "NO"]).exists()


def test_changes_without_the_kept_parts_recompute_the_window(small, monkeypatch):
    rollups.refresh(full=True, today=date(2026, 2, 13))
    # As a database refreshed before the parts were kept.
    ListenerRevenueState.objects.all().delete()
    RollupState.objects.filter(module="revenue-listeners").delete()
    newcomer = make_listener(country="DE", signed_up_at=at(2026, 2, 13, 8))
    make_subscription(newcomer, make_plan("duo", price="15.00"), started_at=at(2026, 2, 13, 8))
    rollups.refresh(today=date(2026, 2, 14))
    advanced = dump()
    assert ListenerRevenueState.objects.count() == Listener.objects.count()
    rollups.refresh(full=True, today=date(2026, 2, 14))
    assert advanced == dump()


def test_rows_added_in_sql_make_the_window_recompute(small, monkeypatch):
    rollups.refresh(full=True, today=date(2026, 2, 13))
    # A subscription added in SQL records nothing and raises no version, only the highest
    # id; a payment saved through Django the same day records its own change.
    two = Listener.objects.get(country="US", subscriptions__isnull=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Subscription._meta.db_table} (listener_id, plan_id, started_at, price, "
            "billing_period, auto_renew, cancel_reason) VALUES (%s, %s, %s, %s, %s, %s, '')",
            [two.id, small["premium"].id, at(2026, 1, 25), "10.00", "monthly", True],
        )
    make_payment(Subscription.objects.get(listener=two), paid_at=at(2026, 2, 13, 9))
    windows = record_windows(monkeypatch)
    rollups.refresh(today=date(2026, 2, 14))
    assert windows == [date(2026, 1, 1)]
    assert SubscriberDay.objects.get(day=date(2026, 2, 1), country="US", plan=small["premium"]).listeners == 1


def test_a_window_stopped_halfway_leaves_no_parts_to_build_on(small, monkeypatch):
    rollups.refresh(full=True, today=date(2026, 2, 13))

    def stopped(*args, **kwargs):
        raise RuntimeError("stopped")

    monkeypatch.setattr(rollups, "_keep_every_part", stopped)
    with pytest.raises(RuntimeError):
        rollups.refresh(since=date(2026, 2, 1), today=date(2026, 2, 13))
    assert rollups._kept_parts_day() is None
    monkeypatch.undo()
    # A change the next run could otherwise build on: it recomputes the window instead.
    newcomer = make_listener(country="DE", signed_up_at=at(2026, 2, 13, 8))
    make_subscription(newcomer, small["premium"], started_at=at(2026, 2, 13, 8))
    rollups.refresh(today=date(2026, 2, 14))
    advanced = dump()
    rollups.refresh(full=True, today=date(2026, 2, 14))
    assert advanced == dump()
    assert rollups._kept_parts_day() == date(2026, 2, 15)
