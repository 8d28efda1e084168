"""Subscription and payment services: literal dates, amounts and payment rows."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from billing import services
from billing.models import (
    BillingPeriod,
    CancelReason,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Subscription,
    Tier,
)
from billing.periods import add_months, next_period_end
from billing.services import (
    payment_refund,
    subscription_cancel,
    subscription_change_plan,
    subscription_renew,
    subscription_start,
    subscriptions_expire,
)
from tests.factories import at, make_listener, make_plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def premium():
    return make_plan("premium", price="10.99", trial_days=30)


@pytest.fixture
def duo():
    return make_plan("duo", tier=Tier.DUO, price="14.99")


@pytest.fixture
def annual():
    return make_plan("premium-annual", price="109.00", billing_period=BillingPeriod.ANNUAL)


@pytest.fixture
def free():
    return make_plan("free", tier=Tier.FREE, price="0")


@pytest.fixture
def listener():
    return make_listener(display_name="Ada")


def _payments(subscription: Subscription) -> list[tuple]:
    return list(
        subscription.payments.order_by("paid_at", "id").values_list(
            "amount", "status", "paid_at", "period_start", "period_end", "idempotency_key"
        )
    )


# Month arithmetic


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (at(2026, 1, 31, 9, 30), 1, at(2026, 2, 28, 9, 30)),
        (at(2028, 1, 31), 1, at(2028, 2, 29)),
        (at(2026, 3, 31), 1, at(2026, 4, 30)),
        (at(2026, 12, 15), 1, at(2027, 1, 15)),
        (at(2026, 1, 31), 12, at(2027, 1, 31)),
        (at(2028, 2, 29), 12, at(2029, 2, 28)),
        (at(2026, 5, 31), -3, at(2026, 2, 28)),
    ],
)
def test_add_months_clamps_the_day_to_the_month_end(moment, months, expected):
    assert add_months(moment, months) == expected


def test_add_months_counts_calendar_months_in_the_reporting_time_zone(settings):
    settings.TIME_ZONE = "Europe/Stockholm"
    # 23:30 UTC on Jan 31 is already Feb 1 in Stockholm: one month later is Mar 1 there.
    result = add_months(at(2026, 1, 31, 23, 30), 1)
    assert result == datetime(2026, 3, 1, 0, 30, tzinfo=ZoneInfo("Europe/Stockholm"))


def test_next_period_end_keeps_the_anchor_day_after_a_short_month():
    anchor = at(2026, 1, 31)
    assert next_period_end(anchor=anchor, period_start=at(2026, 2, 28), billing_period="monthly") == at(
        2026, 3, 31
    )
    assert next_period_end(anchor=anchor, period_start=at(2026, 3, 31), billing_period="annual") == at(
        2027, 3, 31
    )
    # Off the anchor's grid (edited by hand): one period from the given start.
    assert next_period_end(anchor=anchor, period_start=at(2026, 3, 5), billing_period="monthly") == at(
        2026, 4, 5
    )


# Start


def test_subscription_start_with_trial_pays_nothing_until_the_trial_ends(listener, premium):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10, 12))

    subscription.refresh_from_db()
    assert subscription.started_at == at(2026, 1, 10, 12)
    assert subscription.trial_ends_at == at(2026, 2, 9, 12)
    assert subscription.current_period_end == at(2026, 2, 9, 12)
    assert subscription.ended_at is None
    assert subscription.price == Decimal("10.99")
    assert subscription.billing_period == BillingPeriod.MONTHLY
    assert subscription.auto_renew is True
    assert _payments(subscription) == []


def test_subscription_start_without_trial_pays_the_first_period_at_once(listener, premium):
    subscription = subscription_start(
        listener=listener, plan=premium, at=at(2026, 1, 10), method=PaymentMethod.PAYPAL, trial=False
    )

    subscription.refresh_from_db()
    assert subscription.trial_ends_at is None
    assert subscription.current_period_end == at(2026, 2, 10)
    payment = subscription.payments.get()
    assert (payment.listener_id, payment.amount, payment.currency, payment.method, payment.status) == (
        listener.pk,
        Decimal("10.99"),
        "USD",
        "paypal",
        "succeeded",
    )
    assert (payment.paid_at, payment.period_start, payment.period_end) == (
        at(2026, 1, 10),
        at(2026, 1, 10),
        at(2026, 2, 10),
    )
    assert payment.idempotency_key == f"renew:{subscription.pk}:2026-01-10T00:00:00+00:00"


def test_subscription_start_on_a_plan_without_trial_days_pays_at_once(listener, duo):
    subscription = subscription_start(listener=listener, plan=duo, at=at(2026, 1, 10))

    assert subscription.trial_ends_at is None
    assert _payments(subscription) == [
        (
            Decimal("14.99"),
            "succeeded",
            at(2026, 1, 10),
            at(2026, 1, 10),
            at(2026, 2, 10),
            f"renew:{subscription.pk}:2026-01-10T00:00:00+00:00",
        )
    ]


def test_subscription_start_gives_a_trial_only_once(listener, premium):
    first = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    subscription_cancel(subscription=first, at=at(2026, 1, 20))

    second = subscription_start(listener=listener, plan=premium, at=at(2026, 3, 1))

    assert second.trial_ends_at is None
    assert second.current_period_end == at(2026, 4, 1)
    assert [p[0] for p in _payments(second)] == [Decimal("10.99")]
    # Another listener still gets the trial.
    other = subscription_start(listener=make_listener(), plan=premium, at=at(2026, 3, 1))
    assert other.trial_ends_at == at(2026, 3, 31)


def test_subscription_start_on_the_free_plan_has_no_period_and_no_payment(listener, free):
    subscription = subscription_start(listener=listener, plan=free, at=at(2026, 1, 10))

    subscription.refresh_from_db()
    assert subscription.price == Decimal("0.00")
    assert (subscription.trial_ends_at, subscription.current_period_end, subscription.ended_at) == (
        None,
        None,
        None,
    )
    assert Payment.objects.count() == 0


def test_subscription_start_annual_plan_pays_twelve_months(listener, annual):
    subscription = subscription_start(listener=listener, plan=annual, at=at(2028, 2, 29))

    assert subscription.current_period_end == at(2029, 2, 28)
    assert _payments(subscription) == [
        (
            Decimal("109.00"),
            "succeeded",
            at(2028, 2, 29),
            at(2028, 2, 29),
            at(2029, 2, 28),
            f"renew:{subscription.pk}:2028-02-29T00:00:00+00:00",
        )
    ]


def test_subscription_start_refuses_a_listener_with_an_active_subscription(listener, premium, duo):
    subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))

    with pytest.raises(ValidationError, match="Ada already has a subscription on Premium"):
        subscription_start(listener=listener, plan=duo, at=at(2026, 1, 15))

    assert Subscription.objects.count() == 1
    assert Payment.objects.count() == 0


def test_subscription_start_waits_for_a_cancellation_at_period_end(listener, premium, duo):
    current = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10), trial=False)
    subscription_cancel(subscription=current, at=at(2026, 1, 20), at_period_end=True)

    with pytest.raises(ValidationError, match="already has a subscription"):
        subscription_start(listener=listener, plan=duo, at=at(2026, 2, 1))
    later = subscription_start(listener=listener, plan=duo, at=at(2026, 2, 10))

    assert later.started_at == at(2026, 2, 10)
    assert Subscription.objects.filter(listener=listener).count() == 2


def test_subscription_start_refuses_a_plan_no_longer_offered(listener, premium):
    premium.is_active = False
    premium.save()

    with pytest.raises(ValidationError, match="Premium is no longer offered"):
        subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    assert Subscription.objects.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"at": datetime(2026, 1, 10)}, "timezone-aware"),
        ({"method": "cash"}, "Unknown payment method 'cash'"),
    ],
)
def test_subscription_start_refuses_bad_arguments(listener, premium, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        subscription_start(listener=listener, plan=premium, **{"at": at(2026, 1, 10), **kwargs})
    assert Subscription.objects.count() == 0


# Change plan


def test_subscription_change_plan_ends_the_old_one_and_starts_the_new_one_at_the_same_instant(
    listener, premium, duo
):
    old = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10), trial=False)

    new = subscription_change_plan(
        subscription=old, plan=duo, at=at(2026, 1, 20, 8), method=PaymentMethod.DEBIT_CARD
    )

    old.refresh_from_db()
    assert (old.ended_at, old.cancel_reason, old.auto_renew) == (at(2026, 1, 20, 8), "plan_change", False)
    assert (new.plan, new.started_at, new.price, new.trial_ends_at) == (
        duo,
        at(2026, 1, 20, 8),
        Decimal("14.99"),
        None,
    )
    assert new.current_period_end == at(2026, 2, 20, 8)
    assert _payments(new) == [
        (
            Decimal("14.99"),
            "succeeded",
            at(2026, 1, 20, 8),
            at(2026, 1, 20, 8),
            at(2026, 2, 20, 8),
            f"renew:{new.pk}:2026-01-20T08:00:00+00:00",
        )
    ]
    assert new.payments.get().method == "debit_card"
    # Never without a subscription, never two at once.
    for moment in (at(2026, 1, 20, 7, 59), at(2026, 1, 20, 8), at(2026, 3, 1)):
        active = [s for s in Subscription.objects.filter(listener=listener) if s.is_active_at(moment)]
        assert len(active) == 1
    assert Payment.objects.count() == 2


def test_subscription_change_plan_during_a_trial_pays_the_new_plan_without_trial(listener, premium):
    trial = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    annual = make_plan("premium-annual", price="109.00", billing_period=BillingPeriod.ANNUAL, trial_days=30)

    new = subscription_change_plan(subscription=trial, plan=annual, at=at(2026, 1, 15))

    assert new.trial_ends_at is None
    assert new.current_period_end == at(2027, 1, 15)
    assert [(p[0], p[1]) for p in _payments(new)] == [(Decimal("109.00"), "succeeded")]


def test_subscription_change_plan_to_the_free_plan_pays_nothing(listener, premium, free):
    old = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10), trial=False)

    new = subscription_change_plan(subscription=old, plan=free, at=at(2026, 1, 20))

    assert (new.price, new.current_period_end, new.ended_at) == (Decimal("0.00"), None, None)
    assert Payment.objects.count() == 1


def test_subscription_change_plan_refuses_the_same_plan(listener, premium):
    current = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))

    with pytest.raises(ValidationError, match="already on Premium"):
        subscription_change_plan(subscription=current, plan=premium, at=at(2026, 1, 20))
    current.refresh_from_db()
    assert current.ended_at is None
    assert Subscription.objects.count() == 1


def test_subscription_change_plan_refuses_a_plan_no_longer_offered(listener, premium, duo):
    current = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    duo.is_active = False
    duo.save()

    with pytest.raises(ValidationError, match="Duo is no longer offered"):
        subscription_change_plan(subscription=current, plan=duo, at=at(2026, 1, 20))
    current.refresh_from_db()
    assert (current.ended_at, current.cancel_reason) == (None, "")
    assert Subscription.objects.count() == 1


def test_subscription_change_plan_refuses_an_ended_subscription(listener, premium, duo):
    current = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    subscription_cancel(subscription=current, at=at(2026, 1, 12))

    with pytest.raises(ValidationError, match="Only a subscription active at 2026-01-20 00:00 UTC"):
        subscription_change_plan(subscription=current, plan=duo, at=at(2026, 1, 20))
    assert Subscription.objects.count() == 1


# Cancel


def test_subscription_cancel_now_ends_it_at_the_instant(listener, premium):
    current = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10), trial=False)

    cancelled = subscription_cancel(
        subscription=current, at=at(2026, 1, 25, 18), reason=CancelReason.SWITCHED
    )

    cancelled.refresh_from_db()
    assert (cancelled.ended_at, cancelled.auto_renew, cancelled.cancel_reason) == (
        at(2026, 1, 25, 18),
        False,
        "switched",
    )
    assert cancelled.current_period_end == at(2026, 2, 10)
    assert Payment.objects.get().status == "succeeded"


def test_subscription_cancel_at_period_end_keeps_the_paid_time(listener, premium):
    current = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10), trial=False)

    cancelled = subscription_cancel(
        subscription=current, at=at(2026, 1, 25), at_period_end=True, reason=CancelReason.TOO_EXPENSIVE
    )

    assert (cancelled.ended_at, cancelled.auto_renew, cancelled.cancel_reason) == (
        at(2026, 2, 10),
        False,
        "too_expensive",
    )
    assert cancelled.is_active_at(at(2026, 2, 9, 23, 59)) is True
    assert cancelled.is_active_at(at(2026, 2, 10)) is False


def test_subscription_cancel_a_free_subscription_ends_it_now_even_at_period_end(listener, free):
    current = subscription_start(listener=listener, plan=free, at=at(2026, 1, 10))

    cancelled = subscription_cancel(subscription=current, at=at(2026, 1, 12), at_period_end=True)

    assert cancelled.ended_at == at(2026, 1, 12)


def test_subscription_cancel_refuses_an_ended_subscription(listener, premium):
    current = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    subscription_cancel(subscription=current, at=at(2026, 1, 12))

    with pytest.raises(ValidationError, match="already ended on 2026-01-12 00:00 UTC"):
        subscription_cancel(subscription=current, at=at(2026, 1, 20))
    current.refresh_from_db()
    assert current.ended_at == at(2026, 1, 12)


def test_subscription_cancel_twice_at_period_end_is_refused_but_now_is_allowed(listener, premium):
    current = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    subscription_cancel(subscription=current, at=at(2026, 1, 12), at_period_end=True)

    with pytest.raises(ValidationError, match="already set to end on 2026-02-09 00:00 UTC"):
        subscription_cancel(subscription=current, at=at(2026, 1, 13), at_period_end=True)
    now = subscription_cancel(subscription=current, at=at(2026, 1, 14))

    assert now.ended_at == at(2026, 1, 14)


def test_subscription_cancel_refuses_an_instant_before_or_at_the_start(listener, premium):
    current = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))

    with pytest.raises(ValidationError, match="only starts on 2026-01-10"):
        subscription_cancel(subscription=current, at=at(2026, 1, 9))
    with pytest.raises(ValidationError, match="cannot end at the instant it starts"):
        subscription_cancel(subscription=current, at=at(2026, 1, 10))
    current.refresh_from_db()
    assert current.ended_at is None


# Renew


def test_subscription_renew_after_the_trial_pays_the_next_month(listener, premium):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))

    payment = subscription_renew(subscription=subscription, at=at(2026, 2, 9, 1))

    assert (payment.amount, payment.status, payment.method, payment.paid_at) == (
        Decimal("10.99"),
        "succeeded",
        "card",
        at(2026, 2, 9, 1),
    )
    assert (payment.period_start, payment.period_end) == (at(2026, 2, 9), at(2026, 3, 9))
    assert payment.idempotency_key == f"renew:{subscription.pk}:2026-02-09T00:00:00+00:00"
    assert subscription.current_period_end == at(2026, 3, 9)
    subscription.refresh_from_db()
    assert subscription.current_period_end == at(2026, 3, 9)


def test_subscription_renew_from_jan_31_clamps_to_the_end_of_each_month(listener, premium):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 31), trial=False)

    subscription_renew(subscription=subscription, at=at(2026, 2, 28))
    subscription_renew(subscription=subscription, at=at(2026, 3, 31))

    assert [(p[3], p[4]) for p in _payments(subscription)] == [
        (at(2026, 1, 31), at(2026, 2, 28)),
        (at(2026, 2, 28), at(2026, 3, 31)),
        (at(2026, 3, 31), at(2026, 4, 30)),
    ]
    assert subscription.current_period_end == at(2026, 4, 30)


def test_subscription_renew_twice_with_the_same_copy_records_one_payment(listener, premium):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    first_copy = Subscription.objects.get(pk=subscription.pk)
    second_copy = Subscription.objects.get(pk=subscription.pk)

    first = subscription_renew(subscription=first_copy, at=at(2026, 2, 9))
    second = subscription_renew(subscription=second_copy, at=at(2026, 2, 9, 0, 5))

    assert second.pk == first.pk
    assert second.paid_at == at(2026, 2, 9)
    assert subscription.payments.filter(status=PaymentStatus.SUCCEEDED).count() == 1
    assert second_copy.current_period_end == at(2026, 3, 9)
    subscription.refresh_from_db()
    assert subscription.current_period_end == at(2026, 3, 9)


def test_subscription_renew_failed_attempts_are_recorded_and_do_not_advance(listener, premium):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    key = f"renew:{subscription.pk}:2026-02-09T00:00:00+00:00"

    first = subscription_renew(subscription=subscription, at=at(2026, 2, 9), succeeded=False)
    second = subscription_renew(subscription=subscription, at=at(2026, 2, 10), succeeded=False)
    assert subscription.current_period_end == at(2026, 2, 9)
    paid = subscription_renew(subscription=subscription, at=at(2026, 2, 11))

    assert [(p.status, p.idempotency_key) for p in (first, second, paid)] == [
        ("failed", f"{key}:failed:1"),
        ("failed", f"{key}:failed:2"),
        ("succeeded", key),
    ]
    assert _payments(subscription)[0][3:5] == (at(2026, 2, 9), at(2026, 3, 9))
    subscription.refresh_from_db()
    assert subscription.current_period_end == at(2026, 3, 9)


def test_subscription_renew_uses_the_last_payment_method_by_default(listener, premium):
    subscription = subscription_start(
        listener=listener, plan=premium, at=at(2026, 1, 10), method=PaymentMethod.APPLE_PAY, trial=False
    )

    renewal = subscription_renew(subscription=subscription, at=at(2026, 2, 10))
    chosen = subscription_renew(subscription=subscription, at=at(2026, 3, 10), method=PaymentMethod.PAYPAL)

    assert (renewal.method, chosen.method) == ("apple_pay", "paypal")


def test_subscription_renew_refuses_a_copy_out_of_date_without_a_payment(listener, premium):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    Subscription.objects.filter(pk=subscription.pk).update(current_period_end=at(2026, 2, 20))

    with pytest.raises(ValidationError, match="changed since it was loaded"):
        subscription_renew(subscription=subscription, at=at(2026, 2, 9))
    assert Payment.objects.count() == 0


def test_subscription_renew_refuses_an_ended_subscription(listener, premium):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    subscription_cancel(subscription=subscription, at=at(2026, 1, 20))

    with pytest.raises(ValidationError, match="ended on 2026-01-20 00:00 UTC; it cannot be renewed"):
        subscription_renew(subscription=subscription, at=at(2026, 2, 9))
    assert Payment.objects.count() == 0


def test_subscription_renew_refuses_one_set_to_end_at_period_end(listener, premium):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    subscription_cancel(subscription=subscription, at=at(2026, 1, 20), at_period_end=True)

    with pytest.raises(ValidationError, match="set to end on 2026-02-09 00:00 UTC; it will not be renewed"):
        subscription_renew(subscription=subscription, at=at(2026, 2, 1))
    assert Payment.objects.count() == 0


def test_subscription_renew_refuses_a_free_subscription(listener, free):
    subscription = subscription_start(listener=listener, plan=free, at=at(2026, 1, 10))

    with pytest.raises(ValidationError, match="free subscription has no periods"):
        subscription_renew(subscription=subscription, at=at(2026, 2, 10))
    assert Payment.objects.count() == 0


def test_subscription_renew_unique_key_is_the_last_defence(listener, premium):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    stale = Subscription.objects.select_related("plan").get(pk=subscription.pk)
    recorded = subscription_renew(subscription=subscription, at=at(2026, 2, 9))

    # As if a writer skipped the lock and the look-up: the unique key still holds.
    again = services._renew(stale, at=at(2026, 2, 9, 0, 1), method=None, succeeded=True)

    assert again.pk == recorded.pk
    assert stale.current_period_end == at(2026, 3, 9)
    assert Payment.objects.count() == 1


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL row locks; SQLite serialises write transactions so there is no race",
)
@pytest.mark.django_db(transaction=True)
def test_subscription_renew_from_two_threads_at_once_records_one_payment(listener, premium):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    copies = [Subscription.objects.get(pk=subscription.pk) for _ in range(2)]
    barrier = threading.Barrier(len(copies))
    results: list[int] = []
    errors: list[BaseException] = []

    def renew(copy: Subscription) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(subscription_renew(subscription=copy, at=at(2026, 2, 9)).pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=renew, args=(copy,)) for copy in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(results) == 2
    assert results[0] == results[1]
    assert list(Payment.objects.values_list("pk", "status", "period_start")) == [
        (results[0], "succeeded", at(2026, 2, 9))
    ]
    subscription.refresh_from_db()
    assert subscription.current_period_end == at(2026, 3, 9)


# Refund


def test_payment_refund_marks_a_succeeded_payment_refunded(listener, premium):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10), trial=False)
    payment = subscription.payments.get()

    refunded = payment_refund(payment=payment, at=at(2026, 1, 12, 15))

    refunded.refresh_from_db()
    assert (refunded.status, refunded.refunded_at, refunded.amount) == (
        "refunded",
        at(2026, 1, 12, 15),
        Decimal("10.99"),
    )
    subscription.refresh_from_db()
    assert subscription.ended_at is None


@pytest.mark.parametrize("status", [PaymentStatus.FAILED, PaymentStatus.REFUNDED])
def test_payment_refund_refuses_a_payment_that_did_not_succeed(listener, premium, status):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10))
    payment = subscription_renew(subscription=subscription, at=at(2026, 2, 9), succeeded=False)
    if status == PaymentStatus.REFUNDED:
        payment = payment_refund(
            payment=subscription_renew(subscription=subscription, at=at(2026, 2, 10)), at=at(2026, 2, 11)
        )

    with pytest.raises(ValidationError, match=f"this one is {status.label.lower()}"):
        payment_refund(payment=payment, at=at(2026, 2, 12))
    payment.refresh_from_db()
    assert payment.status == status


def test_payment_refund_refuses_an_instant_before_the_payment(listener, premium):
    subscription = subscription_start(listener=listener, plan=premium, at=at(2026, 1, 10), trial=False)
    payment = subscription.payments.get()

    with pytest.raises(ValidationError, match="cannot precede the payment"):
        payment_refund(payment=payment, at=at(2026, 1, 9))
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_at) == ("succeeded", None)


# Expire


def test_subscriptions_expire_ends_lapsed_subscriptions_at_their_period_end(premium, duo, free):
    trial_ran_out = subscription_start(listener=make_listener(), plan=premium, at=at(2026, 1, 1))
    payment_failed = subscription_start(listener=make_listener(), plan=duo, at=at(2026, 1, 5))
    subscription_renew(subscription=payment_failed, at=at(2026, 2, 5), succeeded=False)
    paid_up = subscription_start(listener=make_listener(), plan=duo, at=at(2026, 1, 20))
    on_free = subscription_start(listener=make_listener(), plan=free, at=at(2026, 1, 1))
    leaving = subscription_start(listener=make_listener(), plan=duo, at=at(2026, 1, 2))
    subscription_cancel(subscription=leaving, at=at(2026, 1, 10), at_period_end=True)

    expired = subscriptions_expire(at=at(2026, 2, 10))

    assert [(s.pk, s.ended_at, s.cancel_reason, s.auto_renew) for s in expired] == [
        (trial_ran_out.pk, at(2026, 1, 31), "other", False),
        (payment_failed.pk, at(2026, 2, 5), "payment_failed", False),
    ]
    stored = {s.pk: (s.ended_at, s.cancel_reason) for s in Subscription.objects.all()}
    assert stored == {
        trial_ran_out.pk: (at(2026, 1, 31), "other"),
        payment_failed.pk: (at(2026, 2, 5), "payment_failed"),
        paid_up.pk: (None, ""),
        on_free.pk: (None, ""),
        leaving.pk: (at(2026, 2, 2), "other"),
    }


def test_subscriptions_expire_counts_a_period_ending_exactly_at_the_instant(listener, duo):
    subscription = subscription_start(listener=listener, plan=duo, at=at(2026, 1, 5))

    assert subscriptions_expire(at=at(2026, 2, 4, 23, 59)) == []
    assert [s.pk for s in subscriptions_expire(at=at(2026, 2, 5))] == [subscription.pk]


def test_subscriptions_expire_a_second_run_changes_nothing(listener, premium):
    subscription_start(listener=listener, plan=premium, at=at(2026, 1, 1))
    subscriptions_expire(at=at(2026, 2, 10))
    before = list(Subscription.objects.values())

    assert subscriptions_expire(at=at(2026, 3, 10)) == []
    assert list(Subscription.objects.values()) == before


def test_subscriptions_expire_reason_follows_the_last_attempt_only(listener, duo):
    subscription = subscription_start(listener=listener, plan=duo, at=at(2026, 1, 5))
    subscription_renew(subscription=subscription, at=at(2026, 2, 5), succeeded=False)
    subscription_renew(subscription=subscription, at=at(2026, 2, 6))

    # The retry succeeded, so when the paid month runs out it is not a payment failure.
    (expired,) = subscriptions_expire(at=at(2026, 3, 5))

    assert (expired.ended_at, expired.cancel_reason) == (at(2026, 3, 5), "other")
