"""Fixtures shared by the billing tests."""

from __future__ import annotations

import pytest

from billing.models import PaymentStatus
from tests.factories import at, make_listener, make_payment, make_plan, make_subscription


@pytest.fixture
def small():
    """L1 (SE) on premium from Jan 10 with a failed payment retried and refunded;
    L2 (US) without subscription; L3 (US) on an annual plan with a trial to Feb 3."""
    premium = make_plan("premium", price="10.00")
    annual = make_plan("annual", price="120.00", billing_period="annual")
    one = make_listener(country="SE", signed_up_at=at(2026, 1, 1))
    make_listener(country="US", signed_up_at=at(2026, 1, 5))
    three = make_listener(country="US", signed_up_at=at(2026, 1, 5))
    sub = make_subscription(one, premium, started_at=at(2026, 1, 10))
    make_payment(sub, paid_at=at(2026, 1, 10))
    make_payment(sub, paid_at=at(2026, 2, 10), status=PaymentStatus.FAILED)
    make_payment(sub, paid_at=at(2026, 2, 11), status=PaymentStatus.REFUNDED, refunded_at=at(2026, 2, 12))
    yearly = make_subscription(three, annual, started_at=at(2026, 1, 20), trial_ends_at=at(2026, 2, 3))
    make_payment(yearly, paid_at=at(2026, 2, 3), method="paypal")
    return {"premium": premium, "annual": annual}
