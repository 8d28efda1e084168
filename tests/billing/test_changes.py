"""Writes to listeners, subscriptions and payments record whom they concern and from when."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import F

from billing import changes
from billing.models import Listener, Payment, PaymentStatus, RevenueChange, Subscription
from tests.factories import at, make_listener, make_payment, make_plan, make_subscription

pytestmark = pytest.mark.django_db


def recorded() -> list[tuple]:
    rows = list(RevenueChange.objects.order_by("id").values_list("listener_id", "since", "state"))
    RevenueChange.objects.all().delete()
    return rows


@pytest.fixture
def sub():
    listener = make_listener(country="SE", signed_up_at=at(2026, 1, 1))
    subscription = make_subscription(
        listener,
        make_plan("premium", price="10.00"),
        started_at=at(2026, 1, 10),
        trial_ends_at=at(2026, 1, 20),
    )
    recorded()
    return Subscription.objects.get(pk=subscription.pk)  # as loaded, as the admin has it


def test_creating_and_deleting_record_the_rows_start(sub):
    listener = make_listener(country="DE", signed_up_at=at(2026, 2, 1, 8))
    assert recorded() == [(listener.id, at(2026, 2, 1, 8), True)]
    payment = make_payment(sub, paid_at=at(2026, 2, 10))
    assert recorded() == [(None, at(2026, 2, 10), False)]
    payment.delete()
    assert recorded() == [(None, at(2026, 2, 10), False)]
    sub.delete()
    assert recorded() == [(sub.listener_id, at(2026, 1, 10), True)]


def test_an_edit_reaches_back_as_far_as_what_it_changed(sub):
    sub.auto_renew = False  # not read by the rollups
    sub.save()
    assert recorded() == []
    sub.ended_at = at(2026, 3, 31)  # a cancellation at the period's end
    sub.save()
    assert recorded() == [(sub.listener_id, at(2026, 3, 31), True)]
    sub.ended_at = at(2026, 3, 15)  # brought forward: from the earlier end
    sub.save()
    assert recorded() == [(sub.listener_id, at(2026, 3, 15), True)]
    sub.trial_ends_at = None  # paid from the start now
    sub.save()
    assert recorded() == [(sub.listener_id, at(2026, 1, 10), True)]
    sub.price = Decimal("12.00")
    sub.save()
    assert recorded() == [(sub.listener_id, at(2026, 1, 10), True)]


def test_moving_a_subscription_to_another_listener_names_both(sub):
    other = make_listener(country="US", signed_up_at=at(2026, 1, 2))
    recorded()
    first = sub.listener_id
    sub.listener = other
    sub.save()
    assert sorted(recorded()) == [(first, at(2026, 1, 10), True), (other.id, at(2026, 1, 10), True)]


def test_a_listener_edit_counts_only_for_country_and_sign_up(sub):
    listener = Listener.objects.get(pk=sub.listener_id)
    listener.display_name = "Renamed"
    listener.save()
    assert recorded() == []
    listener.country = "NO"
    listener.save()
    assert recorded() == [(listener.id, at(2026, 1, 1), True)]


def test_a_refund_reaches_from_the_refund_a_failure_from_the_attempt(sub):
    payment = make_payment(sub, paid_at=at(2026, 2, 10))
    recorded()
    payment = Payment.objects.get(pk=payment.pk)
    payment.status = PaymentStatus.REFUNDED
    payment.refunded_at = at(2026, 4, 2)
    payment.save()
    assert recorded() == [(None, at(2026, 4, 2), False)]
    payment.status = PaymentStatus.FAILED
    payment.refunded_at = None
    payment.save()
    assert recorded() == [(None, at(2026, 2, 10), False)]


def test_saving_an_instance_not_loaded_reads_the_row_first(sub):
    detached = Subscription(
        **{f.attname: getattr(sub, f.attname) for f in Subscription._meta.concrete_fields}
    )
    detached.ended_at = at(2026, 5, 1)
    detached.save()
    assert recorded() == [(sub.listener_id, at(2026, 5, 1), True)]


def test_bulk_writes_record_each_row(sub):
    Subscription.objects.filter(pk=sub.pk).update(ended_at=at(2026, 6, 1))
    assert recorded() == [(sub.listener_id, at(2026, 6, 1), True)]
    Subscription.objects.filter(pk=sub.pk).update(auto_renew=False)
    assert recorded() == []
    sub.ended_at = at(2026, 5, 1)
    Subscription.objects.bulk_update([sub], ["ended_at"])
    assert recorded() == [(sub.listener_id, at(2026, 5, 1), True)]
    made = Listener.objects.bulk_create(
        [
            Listener(
                email=f"bulk{n}@example.com", display_name="Bulk", country="SE", signed_up_at=at(2026, 2, n)
            )
            for n in (1, 2)
        ]
    )
    assert recorded() == [(made[0].id, at(2026, 2, 1), True), (made[1].id, at(2026, 2, 2), True)]


def test_bulk_writes_of_unknown_reach_say_so(sub, monkeypatch):
    Subscription.objects.filter(pk=sub.pk).update(
        started_at=F("started_at") - at(2026, 1, 2) + at(2026, 1, 1)
    )
    assert recorded() == [(None, None, True)]
    monkeypatch.setattr(changes, "_LISTED_AT_MOST", 1)
    Listener.objects.bulk_create(
        [
            Listener(
                email=f"many{n}@example.com", display_name="Many", country="SE", signed_up_at=at(2026, 2, n)
            )
            for n in (1, 2)
        ]
    )
    assert recorded() == [(None, None, True)]
    Listener.objects.update(country="DK")
    assert recorded() == [(None, None, True)]


def test_a_rolled_back_write_leaves_no_record(sub):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        sub.ended_at = at(2026, 5, 1)
        sub.save()
        raise RuntimeError
    assert recorded() == []
