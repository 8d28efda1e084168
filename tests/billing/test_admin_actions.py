"""Admin actions that call the billing services: a confirmation page, then one
transaction per object; refusals are reported per object and the rest still applies."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.utils import timezone

from billing.models import CancelReason, Payment, PaymentStatus, RevenueChange, Subscription
from tests.factories import make_listener, make_payment, make_plan, make_subscription
from tests.spotilytics.admin_helpers import admin_test_settings, admin_url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _admin_over_http(settings):
    admin_test_settings(settings)


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def subscriptions(now):
    """Two running subscriptions (period ends in 10 days) and one that ended yesterday."""
    plan = make_plan("premium", price="10.99")
    running = [
        make_subscription(
            make_listener(display_name=name),
            plan,
            started_at=now - timedelta(days=20),
            current_period_end=now + timedelta(days=10),
        )
        for name in ("Ada Quillfeather", "Bo Marrowind")
    ]
    ended = make_subscription(
        make_listener(display_name="Cy Thornbury"),
        plan,
        started_at=now - timedelta(days=40),
        current_period_end=now - timedelta(days=1),
        ended_at=now - timedelta(days=1),
    )
    return [*running, ended]


@pytest.fixture
def payments(subscriptions, now):
    """Two succeeded payments and a failed one."""
    first, second, _ = subscriptions
    return [
        make_payment(first, paid_at=now - timedelta(days=20)),
        make_payment(second, paid_at=now - timedelta(days=20), amount="5.00", currency="EUR"),
        make_payment(second, paid_at=now - timedelta(days=19), status=PaymentStatus.FAILED),
    ]


def _post_action(client, model, action, objects, **data):
    return client.post(
        admin_url(model, "changelist"),
        {"action": action, "index": "0", ACTION_CHECKBOX_NAME: [obj.pk for obj in objects], **data},
        follow="confirm" in data,
    )


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_cancel_action_asks_for_confirmation_listing_the_subscriptions(admin_client, subscriptions):
    response = _post_action(admin_client, Subscription, "cancel_subscriptions", subscriptions[:2])

    assert response.status_code == 200
    assert response.templates[0].name == "admin/billing/subscription/cancel_confirmation.html"
    assert sorted(s.pk for s in response.context["objects"]) == [s.pk for s in subscriptions[:2]]
    assert set(response.context["form"].fields) == {"when", "reason"}
    body = response.content.decode()
    # Names no token, asset hash or label could contain by chance.
    assert "Ada Quillfeather" in body and "Bo Marrowind" in body and "Cy Thornbury" not in body
    # The page keeps the admin's navigation (each_context) and posts the selection back.
    assert response.context["site_header"] == "Spotilytics"
    assert body.count(f'name="{ACTION_CHECKBOX_NAME}"') == 2
    assert Subscription.objects.filter(ended_at__isnull=True).count() == 2


def test_cancel_action_now_ends_the_subscriptions_with_the_reason(admin_client, subscriptions, now):
    response = _post_action(
        admin_client,
        Subscription,
        "cancel_subscriptions",
        subscriptions[:2],
        confirm="yes",
        when="now",
        reason=CancelReason.TOO_EXPENSIVE,
    )

    assert response.redirect_chain == [(admin_url(Subscription, "changelist"), 302)]
    assert _messages(response) == ["Cancelled 2 subscriptions."]
    for subscription in subscriptions[:2]:
        subscription.refresh_from_db()
        assert now <= subscription.ended_at <= timezone.now()
        assert (subscription.cancel_reason, subscription.auto_renew) == (CancelReason.TOO_EXPENSIVE, False)


def test_cancel_action_at_period_end_keeps_the_paid_time(admin_client, subscriptions, now):
    _post_action(
        admin_client,
        Subscription,
        "cancel_subscriptions",
        subscriptions[:1],
        confirm="yes",
        when="period_end",
        reason=CancelReason.NOT_USING,
    )

    subscriptions[0].refresh_from_db()
    assert subscriptions[0].ended_at == now + timedelta(days=10)
    assert subscriptions[0].cancel_reason == CancelReason.NOT_USING


def test_cancel_action_reports_a_refusal_and_cancels_the_others(admin_client, subscriptions, now):
    response = _post_action(
        admin_client,
        Subscription,
        "cancel_subscriptions",
        subscriptions,
        confirm="yes",
        when="now",
        reason=CancelReason.OTHER,
    )

    ended_yesterday = subscriptions[2]
    assert _messages(response) == [
        f"{ended_yesterday}: This subscription already ended on "
        f"{timezone.localtime(now - timedelta(days=1)):%Y-%m-%d %H:%M %Z}.",
        "Cancelled 2 subscriptions.",
    ]
    assert Subscription.objects.filter(ended_at__isnull=True).count() == 0
    ended_yesterday.refresh_from_db()
    assert ended_yesterday.ended_at == now - timedelta(days=1)


def test_cancel_action_with_a_bad_reason_shows_the_form_again_and_changes_nothing(
    admin_client, subscriptions
):
    response = _post_action(
        admin_client,
        Subscription,
        "cancel_subscriptions",
        subscriptions[:2],
        confirm="yes",
        when="now",
        reason="bored",
    )

    assert response.templates[0].name == "admin/billing/subscription/cancel_confirmation.html"
    assert "reason" in response.context["form"].errors
    assert Subscription.objects.filter(ended_at__isnull=True).count() == 2


def test_cancel_action_applies_to_all_matching_rows_when_selected_across(admin_client, subscriptions):
    url = admin_url(Subscription, "changelist") + "?status=active"
    data = {"action": "cancel_subscriptions", "index": "0", "select_across": "1", ACTION_CHECKBOX_NAME: []}
    data[ACTION_CHECKBOX_NAME] = [subscriptions[0].pk]

    confirmation = admin_client.post(url, data)
    done = admin_client.post(url, {**data, "confirm": "yes", "when": "now", "reason": "other"}, follow=True)

    assert confirmation.context["total"] == 2
    assert 'name="select_across" value="1"' in confirmation.content.decode()
    assert _messages(done) == ["Cancelled 2 subscriptions."]
    assert Subscription.objects.filter(ended_at__isnull=True).count() == 0


def test_refund_action_asks_for_confirmation_with_the_totals(admin_client, payments):
    response = _post_action(admin_client, Payment, "refund_payments", payments)

    assert response.templates[0].name == "admin/billing/payment/refund_confirmation.html"
    assert response.context["refund_totals"] == [("EUR", Decimal("5.00")), ("USD", Decimal("10.99"))]
    assert "To refund: 5.00 EUR, 10.99 USD" in " ".join(response.content.decode().split())
    assert Payment.objects.filter(status=PaymentStatus.REFUNDED).count() == 0


def test_refund_action_refunds_and_reports_the_payments_it_cannot_refund(staff_in_role, client, payments):
    client.force_login(staff_in_role("Support"))

    response = _post_action(client, Payment, "refund_payments", payments, confirm="yes")

    failed = payments[2]
    assert _messages(response) == [
        f"{failed}: Only a succeeded payment can be refunded; this one is failed.",
        "Refunded 2 payments.",
    ]
    statuses = dict(Payment.objects.values_list("pk", "status"))
    assert statuses == {
        payments[0].pk: PaymentStatus.REFUNDED,
        payments[1].pk: PaymentStatus.REFUNDED,
        payments[2].pk: PaymentStatus.FAILED,
    }
    assert Payment.objects.get(pk=payments[0].pk).refunded_at is not None


def test_refund_action_needs_the_refund_permission(django_user_model, client, payments):
    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["view_payment", "change_payment"]))
    client.force_login(clerk)

    changelist = client.get(admin_url(Payment, "changelist"))
    response = _post_action(client, Payment, "refund_payments", payments[:1], confirm="yes")

    # Without the permission the changelist offers no action at all (payments are not
    # deletable either), and a forged refund post is refused.
    assert changelist.context["action_form"] is None
    assert "Refund selected payments" not in changelist.content.decode()
    assert response.status_code == 200
    assert Payment.objects.filter(status=PaymentStatus.REFUNDED).count() == 0


def test_payments_cannot_be_deleted_even_by_a_superuser(admin_client, payments):
    changelist = admin_client.get(admin_url(Payment, "changelist"))
    delete_page = admin_client.get(admin_url(Payment, "delete", payments[0]))
    delete_post = admin_client.post(admin_url(Payment, "delete", payments[0]), {"post": "yes"})
    bulk = _post_action(admin_client, Payment, "delete_selected", payments, post="yes")

    assert "delete_selected" not in dict(changelist.context["action_form"].fields["action"].choices)
    assert (delete_page.status_code, delete_post.status_code) == (403, 403)
    assert bulk.status_code == 302
    assert Payment.objects.count() == 3


def test_the_actions_record_what_they_change_for_the_revenue_rollups(admin_client, payments, now):
    first = payments[0].subscription
    RevenueChange.objects.all().delete()
    _post_action(
        admin_client,
        Subscription,
        "cancel_subscriptions",
        [first],
        confirm="yes",
        when="period_end",
        reason=CancelReason.NOT_USING,
    )
    # Its state changes from the new end on; nothing before it.
    assert list(RevenueChange.objects.values_list("listener_id", "since", "state")) == [
        (first.listener_id, now + timedelta(days=10), True)
    ]
    RevenueChange.objects.all().delete()
    _post_action(admin_client, Payment, "refund_payments", payments[:1], confirm="yes")
    refunded_at = Payment.objects.get(pk=payments[0].pk).refunded_at
    assert list(RevenueChange.objects.values_list("listener_id", "since", "state")) == [
        (None, refunded_at, False)
    ]
