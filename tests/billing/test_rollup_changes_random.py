"""The revenue nightly run after random billing writes equals a full refresh.

Each case builds a few dozen listeners with random subscription histories and payments,
refreshes, then makes a random day of writes through Django (sign-ups, subscriptions,
cancellations, plan and trial changes, payments, refunds, deletions), most within the
day the nightly run may build on and some reaching further back, and checks that the
next refresh writes exactly what a full refresh does, whichever path it takes."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from billing import rollups
from billing.models import Listener, ListenerRevenueState, Payment, PaymentStatus, Subscription
from tests.billing.test_rollup_changes import record_windows
from tests.billing.test_rollups import dump
from tests.factories import at, make_listener, make_payment, make_plan, make_subscription

pytestmark = pytest.mark.django_db

COUNTRIES = ("SE", "US", "DE", "BR")
LAST_TODAY = date(2026, 3, 9)  # the refresh before the writes: state stored through Mar 10


def moment(rng: random.Random, first: datetime, last: datetime) -> datetime:
    seconds = int((last - first).total_seconds())
    return first + timedelta(seconds=rng.randrange(seconds))


def history(rng: random.Random, plans) -> None:
    """Listeners signed up in January and February, each with up to two subscriptions
    one after the other and a payment per month of each."""
    for _ in range(30):
        signed = moment(rng, at(2026, 1, 1), at(2026, 3, 1))
        listener = make_listener(country=rng.choice(COUNTRIES), signed_up_at=signed)
        start = signed
        for _ in range(rng.randrange(3)):
            start = moment(rng, start, start + timedelta(days=20))
            trial = start + timedelta(days=7) if rng.random() < 0.3 else None
            end = (
                moment(rng, start + timedelta(days=8), start + timedelta(days=60))
                if rng.random() < 0.5
                else None
            )
            sub = make_subscription(
                listener, rng.choice(plans), started_at=start, trial_ends_at=trial, ended_at=end
            )
            paid = trial or start
            while paid < (end or at(2026, 3, 9)):
                make_payment(
                    sub,
                    paid_at=paid,
                    status=rng.choice([PaymentStatus.SUCCEEDED] * 4 + [PaymentStatus.FAILED]),
                )
                paid += timedelta(days=30)
            if end is None:
                break
            start = end


def writes(rng: random.Random, plans, *, reach_back: bool) -> None:
    """A day of writes on March 10 (after the stored state's instant, Mar 10 00:00, and
    within the day before it); with `reach_back`, some edits of older rows too."""
    day = lambda: moment(rng, at(2026, 3, 9, 0, 0, 1), at(2026, 3, 11))  # noqa: E731
    for _ in range(12):
        kind = rng.randrange(7)
        listener = rng.choice(list(Listener.objects.all()))
        open_sub = Subscription.objects.filter(listener=listener, ended_at__isnull=True).first()
        if kind == 0:  # a sign-up with a subscription, maybe a trial
            signed = day()
            newcomer = make_listener(country=rng.choice(COUNTRIES), signed_up_at=signed)
            trial = signed + timedelta(days=7) if rng.random() < 0.5 else None
            make_subscription(newcomer, rng.choice(plans), started_at=signed, trial_ends_at=trial)
        elif kind == 1 and open_sub is not None:  # a cancellation, now or at the period's end
            open_sub.ended_at = max(day(), open_sub.started_at + timedelta(seconds=1))
            if rng.random() < 0.5:
                open_sub.ended_at += timedelta(days=20)
            open_sub.save()
        elif kind == 2 and open_sub is None:  # a new subscription
            last = Subscription.objects.filter(listener=listener).order_by("-ended_at").first()
            start = max(day(), listener.signed_up_at, last.ended_at if last else listener.signed_up_at)
            make_payment(make_subscription(listener, rng.choice(plans), started_at=start), paid_at=start)
        elif kind == 3:  # a payment, or a refund of an older one
            payment = Payment.objects.filter(listener=listener, status=PaymentStatus.SUCCEEDED).first()
            if payment is not None and rng.random() < 0.5:
                payment.status = PaymentStatus.REFUNDED
                payment.refunded_at = max(day(), payment.paid_at)
                payment.save()
            elif open_sub is not None:
                make_payment(open_sub, paid_at=max(day(), open_sub.started_at))
        elif kind == 4 and open_sub is not None and reach_back:  # a plan change: from the start
            open_sub.plan = rng.choice(plans)
            open_sub.price = open_sub.plan.price
            open_sub.save()
        elif kind == 5 and reach_back:  # a listener moves country: from the sign-up
            listener.country = rng.choice(COUNTRIES)
            listener.save()
        elif (
            kind == 6
            and open_sub is not None
            and not open_sub.payments.exists()
            and (reach_back or open_sub.started_at > at(2026, 3, 9))
        ):
            open_sub.delete()  # made by mistake


@pytest.mark.parametrize("reach_back", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_a_nightly_run_after_random_writes_equals_a_full_refresh(seed, reach_back, monkeypatch):
    rng = random.Random(seed)
    plans = [
        make_plan("premium", price="10.00"),
        make_plan("duo", price="15.00"),
        make_plan("annual", price="120.00", billing_period="annual"),
    ]
    history(rng, plans)
    rollups.refresh(full=True, today=LAST_TODAY)
    writes(rng, plans, reach_back=reach_back)
    windows = record_windows(monkeypatch)
    rollups.refresh(today=LAST_TODAY + timedelta(days=1))
    # Writes within the day before the stored state's day are moved in, not recomputed.
    assert reach_back or windows == []
    nightly = dump(), sorted(ListenerRevenueState.objects.values_list())
    monkeypatch.undo()
    rollups.refresh(full=True, today=LAST_TODAY + timedelta(days=1))
    assert nightly == (dump(), sorted(ListenerRevenueState.objects.values_list()))
