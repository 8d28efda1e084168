"""Import and export of listeners, plans, subscriptions and payments.

Rows are matched by stable identifiers, so importing the same file twice creates
nothing the second time: listeners by email (any case), plans by code, subscriptions by
(listener, start), payments by idempotency key. References use the same identifiers
(a listener's email, a plan's code); payments name their subscription by id, as the
subscription export shows it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ValidationError

from billing.models import (
    AcquisitionChannel,
    BillingPeriod,
    CancelReason,
    Listener,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Plan,
    Subscription,
    Tier,
)
from spotilytics.importing.headers import Alias
from spotilytics.importing.resources import (
    BooleanWidget,
    ChoiceWidget,
    DateTimeWidget,
    DecimalWidget,
    IntegerWidget,
    LookupWidget,
    SpotilyticsResource,
    TextWidget,
    UpperTextWidget,
    column,
)


def _listener_column() -> Any:
    return column("listener", LookupWidget(Listener, "email", noun="listener"))


class ListenerResource(SpotilyticsResource):
    email = column("email", TextWidget())
    display_name = column("display_name", TextWidget())
    country = column("country", UpperTextWidget())
    birth_year = column("birth_year", IntegerWidget())
    signed_up_at = column("signed_up_at", DateTimeWidget())
    acquisition_channel = column("acquisition_channel", ChoiceWidget(AcquisitionChannel.choices))

    file_key = ("email",)
    required_columns = ("email",)
    aliases: ClassVar = {
        "emailaddress": Alias("email"),
        "mail": Alias("email"),
        "name": Alias("display_name"),
        "displayname": Alias("display_name"),
        "countrycode": Alias("country"),
        "signupdate": Alias("signed_up_at"),
        "signedup": Alias("signed_up_at"),
        "channel": Alias("acquisition_channel"),
    }

    class Meta:
        model = Listener
        name = "Listeners"
        fields = ("email", "display_name", "country", "birth_year", "signed_up_at", "acquisition_channel")
        import_id_fields = ("email",)

    def get_instance(self, instance_loader: Any, row: dict) -> Listener | None:
        email = self.fields["email"].clean(row)
        # Emails differ in case between systems; one person is one listener.
        return Listener.objects.filter(email__iexact=email).first() if email else None


class PlanResource(SpotilyticsResource):
    code = column("code", TextWidget())
    name = column("name", TextWidget())
    tier = column("tier", ChoiceWidget(Tier.choices))
    price = column("price", DecimalWidget())
    currency = column("currency", UpperTextWidget())
    billing_period = column("billing_period", ChoiceWidget(BillingPeriod.choices))
    trial_days = column("trial_days", IntegerWidget())
    is_active = column("is_active", BooleanWidget())

    file_key = ("code",)
    required_columns = ("code",)
    aliases: ClassVar = {"plan": Alias("code"), "plancode": Alias("code"), "period": Alias("billing_period")}

    class Meta:
        model = Plan
        name = "Plans"
        fields = ("code", "name", "tier", "price", "currency", "billing_period", "trial_days", "is_active")
        import_id_fields = ("code",)


class SubscriptionResource(SpotilyticsResource):
    id = column("id", IntegerWidget(), readonly=True)
    listener = _listener_column()
    plan = column("plan", LookupWidget(Plan, "code", noun="plan"))
    started_at = column("started_at", DateTimeWidget())
    trial_ends_at = column("trial_ends_at", DateTimeWidget())
    current_period_end = column("current_period_end", DateTimeWidget())
    ended_at = column("ended_at", DateTimeWidget())
    price = column("price", DecimalWidget())
    billing_period = column("billing_period", ChoiceWidget(BillingPeriod.choices))
    auto_renew = column("auto_renew", BooleanWidget())
    cancel_reason = column("cancel_reason", ChoiceWidget(CancelReason.choices))

    file_key = ("listener", "started_at")
    required_columns = ("listener", "plan", "started_at")
    export_only_columns = ("id",)
    aliases: ClassVar = {
        "email": Alias("listener"),
        "listeneremail": Alias("listener"),
        "plancode": Alias("plan"),
    }
    export_select_related = ("listener", "plan")

    class Meta:
        model = Subscription
        name = "Subscriptions"
        fields = (
            "id",
            "listener",
            "plan",
            "started_at",
            "trial_ends_at",
            "current_period_end",
            "ended_at",
            "price",
            "billing_period",
            "auto_renew",
            "cancel_reason",
        )
        import_id_fields = ("listener", "started_at")

    def get_instance(self, instance_loader: Any, row: dict) -> Subscription | None:
        try:
            listener = self.fields["listener"].clean(row)
            started_at = self.fields["started_at"].clean(row)
        except ValueError:
            return None  # reported against the column by import_instance
        if listener is None or started_at is None:
            return None
        return Subscription.objects.filter(listener=listener, started_at=started_at).first()

    def import_instance(self, instance: Subscription, row: dict, **kwargs: Any) -> None:
        try:
            super().import_instance(instance, row, **kwargs)
        finally:
            self._plan_defaults(instance, row)

    def _plan_defaults(self, instance: Subscription, row: dict) -> None:
        # A subscription without a price or period in the file takes its plan's.
        if instance.plan_id:
            if "price" not in row or row.get("price") in (None, ""):
                instance.price = instance.plan.price if instance.price is None else instance.price
            if "billing_period" not in row or not row.get("billing_period"):
                instance.billing_period = instance.plan.billing_period


class PaymentResource(SpotilyticsResource):
    idempotency_key = column("idempotency_key", TextWidget())
    listener = _listener_column()
    subscription = column("subscription", LookupWidget(Subscription, "pk", noun="subscription"))
    amount = column("amount", DecimalWidget())
    currency = column("currency", UpperTextWidget())
    method = column("method", ChoiceWidget(PaymentMethod.choices))
    status = column("status", ChoiceWidget(PaymentStatus.choices))
    paid_at = column("paid_at", DateTimeWidget())
    refunded_at = column("refunded_at", DateTimeWidget())
    period_start = column("period_start", DateTimeWidget())
    period_end = column("period_end", DateTimeWidget())

    file_key = ("idempotency_key",)
    required_columns = ("idempotency_key", "listener", "subscription")
    aliases: ClassVar = {
        "key": Alias("idempotency_key"),
        "paymentid": Alias("idempotency_key"),
        "email": Alias("listener"),
        "listeneremail": Alias("listener"),
        "subscriptionid": Alias("subscription"),
    }
    export_select_related = ("listener", "subscription")
    export_paths: ClassVar = {
        "idempotency_key": "idempotency_key",
        "listener": "listener__email",
        "subscription": "subscription_id",
        "amount": "amount",
        "currency": "currency",
        "method": "method",
        "status": "status",
        "paid_at": "paid_at",
        "refunded_at": "refunded_at",
        "period_start": "period_start",
        "period_end": "period_end",
    }

    class Meta:
        model = Payment
        name = "Payments"
        fields = (
            "idempotency_key",
            "listener",
            "subscription",
            "amount",
            "currency",
            "method",
            "status",
            "paid_at",
            "refunded_at",
            "period_start",
            "period_end",
        )
        import_id_fields = ("idempotency_key",)

    def import_instance(self, instance: Payment, row: dict, **kwargs: Any) -> None:
        super().import_instance(instance, row, **kwargs)
        both = instance.listener_id and instance.subscription_id
        if both and instance.subscription.listener_id != instance.listener_id:
            raise ValidationError(
                {"subscription": f"subscription {instance.subscription_id} belongs to another listener"}
            )
