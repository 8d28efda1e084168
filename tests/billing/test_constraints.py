"""Every database constraint of the billing domain models rejects a bad row.

Each case builds a valid row and names the fields that break one constraint; the row
goes in through `objects.create` and through `bulk_create` (no model validation on
either path), and the database's own message must name the constraint (SQLite names a
unique index by its columns).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import IntegrityError, models, transaction

from billing.models import Listener, Payment, PaymentStatus, Plan, Subscription, Tier
from tests.factories import at, make_listener, make_payment, make_plan, make_subscription

pytestmark = pytest.mark.django_db

DOMAIN_MODELS = [Listener, Plan, Subscription, Payment]


@dataclass(frozen=True)
class Case:
    id: str
    constraint: str  # the Meta constraint's name, or "unique:<field>" for a unique field
    model: type[models.Model]
    valid: Callable[[SimpleNamespace], dict[str, Any]]
    breaks: Callable[[SimpleNamespace], dict[str, Any]]
    error: str  # a regex the database's error message matches


@pytest.fixture
def world() -> SimpleNamespace:
    """An existing listener with an open subscription and one payment, to clash with."""
    plan = make_plan("premium", price="10.99")
    listener = make_listener(email="taken@example.com")
    subscription = make_subscription(listener, plan, started_at=at(2026, 1, 1))
    make_payment(subscription, paid_at=at(2026, 1, 1), idempotency_key="renew:taken")
    return SimpleNamespace(plan=plan, listener=listener, subscription=subscription, newcomer=make_listener())


def _listener(w):
    return {
        "email": "new@example.com",
        "display_name": "New",
        "country": "SE",
        "signed_up_at": at(2026, 1, 1),
        "birth_year": 1990,
    }


def _plan(w):
    return {"code": "student", "name": "Student", "tier": Tier.STUDENT, "price": Decimal("5.99")}


def _subscription(w):
    return {
        "listener": w.newcomer,
        "plan": w.plan,
        "started_at": at(2026, 1, 1),
        "price": Decimal("10.99"),
        "trial_ends_at": at(2026, 1, 31),
        "ended_at": at(2026, 3, 1),
    }


def _payment(w):
    return {
        "listener": w.listener,
        "subscription": w.subscription,
        "amount": Decimal("10.99"),
        "method": "card",
        "status": PaymentStatus.SUCCEEDED,
        "paid_at": at(2026, 2, 1),
        "period_start": at(2026, 2, 1),
        "period_end": at(2026, 3, 1),
        "idempotency_key": "renew:new",
    }


CASES = [
    Case(
        "birth-year-too-early",
        "listener_birth_year_plausible",
        Listener,
        _listener,
        lambda w: {"birth_year": 1899},
        "listener_birth_year_plausible",
    ),
    Case(
        "birth-year-too-late",
        "listener_birth_year_plausible",
        Listener,
        _listener,
        lambda w: {"birth_year": 2101},
        "listener_birth_year_plausible",
    ),
    Case(
        "email-taken",
        "unique:email",
        Listener,
        _listener,
        lambda w: {"email": "taken@example.com"},
        r"billing_listener[._]email",
    ),
    Case(
        "free-tier-with-price",
        "plan_price_matches_tier",
        Plan,
        _plan,
        lambda w: {"tier": Tier.FREE, "price": Decimal("1.00")},
        "plan_price_matches_tier",
    ),
    Case(
        "paid-tier-for-nothing",
        "plan_price_matches_tier",
        Plan,
        _plan,
        lambda w: {"price": Decimal("0")},
        "plan_price_matches_tier",
    ),
    Case(
        "plan-code-taken", "unique:code", Plan, _plan, lambda w: {"code": "premium"}, r"billing_plan[._]code"
    ),
    Case(
        "negative-price",
        "subscription_price_not_negative",
        Subscription,
        _subscription,
        lambda w: {"price": Decimal("-0.01")},
        "subscription_price_not_negative",
    ),
    Case(
        "ends-at-start",
        "subscription_ends_after_start",
        Subscription,
        _subscription,
        lambda w: {"ended_at": at(2026, 1, 1)},
        "subscription_ends_after_start",
    ),
    Case(
        "ends-before-start",
        "subscription_ends_after_start",
        Subscription,
        _subscription,
        lambda w: {"ended_at": at(2025, 12, 31), "trial_ends_at": None},
        "subscription_ends_after_start",
    ),
    Case(
        "trial-ends-at-start",
        "subscription_trial_ends_after_start",
        Subscription,
        _subscription,
        lambda w: {"trial_ends_at": at(2026, 1, 1)},
        "subscription_trial_ends_after_start",
    ),
    Case(
        "second-open-subscription",
        "subscription_one_open_per_listener",
        Subscription,
        _subscription,
        lambda w: {"listener": w.listener, "ended_at": None},
        r"subscription_one_open_per_listener|billing_subscription\.listener_id",
    ),
    Case(
        "amount-zero",
        "payment_amount_positive",
        Payment,
        _payment,
        lambda w: {"amount": Decimal("0.00")},
        "payment_amount_positive",
    ),
    Case(
        "amount-negative",
        "payment_amount_positive",
        Payment,
        _payment,
        lambda w: {"amount": Decimal("-10.99")},
        "payment_amount_positive",
    ),
    Case(
        "period-empty",
        "payment_period_ends_after_start",
        Payment,
        _payment,
        lambda w: {"period_end": at(2026, 2, 1)},
        "payment_period_ends_after_start",
    ),
    Case(
        "refunded-without-date",
        "payment_refund_date_iff_refunded",
        Payment,
        _payment,
        lambda w: {"status": PaymentStatus.REFUNDED},
        "payment_refund_date_iff_refunded",
    ),
    Case(
        "date-without-refund",
        "payment_refund_date_iff_refunded",
        Payment,
        _payment,
        lambda w: {"refunded_at": at(2026, 2, 2)},
        "payment_refund_date_iff_refunded",
    ),
    Case(
        "refunded-before-paid",
        "payment_refund_date_iff_refunded",
        Payment,
        _payment,
        lambda w: {"status": PaymentStatus.REFUNDED, "refunded_at": at(2026, 1, 31)},
        "payment_refund_date_iff_refunded",
    ),
    Case(
        "idempotency-key-taken",
        "unique:idempotency_key",
        Payment,
        _payment,
        lambda w: {"idempotency_key": "renew:taken"},
        r"billing_payment[._]idempotency_key",
    ),
]


def _insert(model: type[models.Model], how: str, fields: dict[str, Any]) -> None:
    with transaction.atomic():
        if how == "create":
            model.objects.create(**fields)
        else:
            model.objects.bulk_create([model(**fields)])


@pytest.mark.parametrize("how", ["create", "bulk_create"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_constraint_rejects_the_invalid_row(world, case, how):
    before = case.model.objects.count()

    with pytest.raises(IntegrityError, match=case.error):
        _insert(case.model, how, {**case.valid(world), **case.breaks(world)})

    assert case.model.objects.count() == before


@pytest.mark.parametrize("how", ["create", "bulk_create"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_constraint_accepts_the_valid_row(world, case, how):
    before = case.model.objects.count()

    _insert(case.model, how, case.valid(world))

    assert case.model.objects.count() == before + 1


def test_constraint_cases_cover_every_constraint_of_the_domain_models():
    declared = {
        (model, constraint.name) for model in DOMAIN_MODELS for constraint in model._meta.constraints
    } | {
        (model, f"unique:{field.name}")
        for model in DOMAIN_MODELS
        for field in model._meta.concrete_fields
        if field.unique and not field.primary_key
    }

    assert {(case.model, case.constraint) for case in CASES} == declared
