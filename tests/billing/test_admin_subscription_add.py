"""Adding a subscription in the admin starts it through the billing service."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Payment, PaymentStatus, Subscription
from tests.factories import make_listener, make_plan, make_subscription
from tests.spotilytics.admin_helpers import admin_test_settings, admin_url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _admin_over_http(settings):
    admin_test_settings(settings)


def _add(client, **data):
    fields = {"method": "card", "starts_at_0": "", "starts_at_1": "", **data}
    return client.post(admin_url(Subscription, "add"), fields)


def test_add_form_asks_only_what_the_service_needs(admin_client):
    response = admin_client.get(admin_url(Subscription, "add"))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.fields) == ["listener", "plan", "starts_at", "method", "trial"]
    assert response.context["inline_admin_formsets"] == []


def test_adding_without_trial_takes_the_first_payment(admin_client):
    listener = make_listener(display_name="Ada")
    plan = make_plan("premium", price="10.99", trial_days=30)
    starts = timezone.now().replace(microsecond=0) - timedelta(hours=1)

    response = _add(
        admin_client,
        listener=listener.pk,
        plan=plan.pk,
        starts_at_0=timezone.localtime(starts).date().isoformat(),
        starts_at_1=timezone.localtime(starts).time().isoformat(),
        method="paypal",
    )

    assert response.status_code == 302
    subscription = Subscription.objects.get(listener=listener)
    assert (subscription.started_at, subscription.price, subscription.trial_ends_at) == (
        starts,
        Decimal("10.99"),
        None,
    )
    payment = Payment.objects.get(subscription=subscription)
    assert (payment.amount, payment.method, payment.status) == (
        Decimal("10.99"),
        "paypal",
        PaymentStatus.SUCCEEDED,
    )
    assert subscription.current_period_end > starts


def test_adding_with_trial_starts_the_trial_and_takes_no_payment_yet(admin_client):
    listener = make_listener()
    plan = make_plan("premium", price="10.99", trial_days=30)

    response = _add(admin_client, listener=listener.pk, plan=plan.pk, trial="on")

    assert response.status_code == 302
    subscription = Subscription.objects.get(listener=listener)
    assert subscription.trial_ends_at - subscription.started_at == timedelta(days=30)
    assert not Payment.objects.filter(subscription=subscription).exists()


def test_adding_over_an_open_subscription_is_refused_on_the_form(admin_client):
    listener = make_listener(display_name="Bo Marrowind")
    plan = make_plan("premium", price="10.99")
    make_subscription(listener, plan, started_at=timezone.now() - timedelta(days=3))

    response = _add(admin_client, listener=listener.pk, plan=plan.pk)

    assert response.status_code == 200
    assert "Bo Marrowind already has a subscription on Premium" in " ".join(
        response.context["adminform"].form.non_field_errors()
    )
    assert Subscription.objects.filter(listener=listener).count() == 1
    assert not Payment.objects.exists()


def test_adding_without_a_plan_or_with_a_bad_start_writes_nothing(admin_client):
    listener = make_listener()
    plan = make_plan("premium", price="10.99")

    missing_plan = _add(admin_client, listener=listener.pk)
    bad_start = _add(
        admin_client, listener=listener.pk, plan=plan.pk, starts_at_0="2026-13-40", starts_at_1="25:00"
    )

    for response in (missing_plan, bad_start):
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
    assert "plan" in missing_plan.context["adminform"].form.errors
    assert "starts_at" in bad_start.context["adminform"].form.errors
    assert not Subscription.objects.exists()
    assert not Payment.objects.exists()
