from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Case, DecimalField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    DropdownFilter,
    RadioFilter,
    RelatedDropdownFilter,
)
from unfold.decorators import display
from unfold.widgets import (
    UnfoldAdminRadioSelectWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminSplitDateTimeWidget,
    UnfoldBooleanSwitchWidget,
)

from billing.models import (
    BillingPeriod,
    CancelReason,
    Listener,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Plan,
    Subscription,
)
from billing.regions import Region, countries_in
from billing.selectors import listener_listening_summary
from billing.services import payment_refund, subscription_cancel, subscription_start
from spotilytics.admin_tools import (
    DateTimeRangeFilter,
    LargeTableAdminMixin,
    apply_each,
    register_rollups,
    render_confirmation,
    subquery_count,
)

CENT = Decimal("0.01")

# --- Subscription state, as the changelists show and filter it ---------------------

_STATUS_COLOURS = {
    "Upcoming": "info",
    "Trial": "info",
    "Active": "success",
    "Ending": "warning",
    "Ended": "danger",
}


def subscription_status(subscription: Subscription, now) -> str:
    """Upcoming, Trial, Active, Ending (cancelled, paid time left) or Ended at `now`."""
    if subscription.started_at > now:
        return "Upcoming"
    if subscription.ended_at is not None:
        return "Ended" if subscription.ended_at <= now else "Ending"
    if subscription.trial_ends_at is not None and now < subscription.trial_ends_at:
        return "Trial"
    return "Active"


def _active_at(now) -> Q:
    return Q(started_at__lte=now) & (Q(ended_at__isnull=True) | Q(ended_at__gt=now))


class SubscriptionStatusFilter(RadioFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(name.lower(), name) for name in _STATUS_COLOURS]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        in_trial = Q(trial_ends_at__gt=now)
        conditions = {
            "upcoming": Q(started_at__gt=now),
            "trial": _active_at(now) & Q(ended_at__isnull=True) & in_trial,
            "active": _active_at(now) & Q(ended_at__isnull=True) & ~in_trial,
            "ending": _active_at(now) & Q(ended_at__isnull=False),
            "ended": Q(ended_at__lte=now),
        }
        condition = conditions.get(self.value() or "")
        return queryset if condition is None else queryset.filter(condition)


class RegionFilter(DropdownFilter):
    title = "region"
    parameter_name = "region"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(Region.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in Region.values:
            return queryset.filter(country__in=countries_in(self.value()))
        return queryset


class CurrentPlanFilter(DropdownFilter):
    title = "current plan"
    parameter_name = "current_plan"
    FREE = "free"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        # Plans are a short list; one small query.
        plans = [(str(pk), name) for pk, name in Plan.objects.values_list("pk", "name")]
        return [(self.FREE, "Free tier (no subscription now)"), *plans]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        active = Subscription.objects.filter(_active_at(timezone.now()), listener=OuterRef("pk"))
        if value == self.FREE:
            return queryset.exclude(Exists(active))
        if value.isdigit():
            return queryset.filter(Exists(active.filter(plan_id=int(value))))
        return queryset.none()


# --- Inlines: a listener's and a subscription's history, read-only ----------------


class _HistoryInline(TabularInline):
    """Rows written by the billing services; the inline shows them, the actions change them."""

    extra = 0
    can_delete = False
    show_change_link = True
    per_page = 10

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SubscriptionInline(_HistoryInline):
    model = Subscription
    fields = ["plan", "status", "started_at", "trial_ends_at", "ended_at", "price", "billing_period"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("plan")

    @display(description="status", label=_STATUS_COLOURS)
    def status(self, obj: Subscription) -> str:
        return subscription_status(obj, timezone.now())


class PaymentInline(_HistoryInline):
    model = Payment
    fields = ["paid_at", "amount", "currency", "method", "status", "refunded_at", "plan"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("subscription__plan")

    @admin.display(description="plan")
    def plan(self, obj: Payment) -> str:
        return obj.subscription.plan.name


# --- Listener -----------------------------------------------------------------------


@admin.register(Listener)
class ListenerAdmin(LargeTableAdminMixin, ModelAdmin):
    list_display = [
        "display_name",
        "email",
        "country",
        "region",
        "current_plan",
        "acquisition_channel",
        "signed_up_at",
    ]
    search_fields = ["email", "display_name", "id__exact"]
    search_help_text = "Name, e-mail (any part) or listener id."
    list_filter = [
        RegionFilter,
        CurrentPlanFilter,
        ("acquisition_channel", ChoicesDropdownFilter),
        ("signed_up_at", DateTimeRangeFilter),
    ]
    list_filter_submit = True
    fieldsets = [
        (None, {"fields": ["display_name", "email"]}),
        ("Profile", {"fields": ["country", "birth_year", "signed_up_at", "acquisition_channel"]}),
    ]
    inlines = [SubscriptionInline, PaymentInline]
    change_form_after_template = "admin/billing/listener/listening_summary.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        now = timezone.now()
        current = (
            Subscription.objects.filter(_active_at(now), listener=OuterRef("pk"))
            .order_by("-started_at")
            .values("plan__name")[:1]
        )
        return super().get_queryset(request).annotate(current_plan_name=Subquery(current))

    @admin.display(description="region")
    def region(self, obj: Listener) -> str:
        return obj.region_label

    @admin.display(description="current plan")
    def current_plan(self, obj: Listener) -> str:
        return getattr(obj, "current_plan_name", None) or "Free"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, object_id)
        if obj is not None and self.has_view_or_change_permission(request, obj):
            summary = listener_listening_summary(listener_id=obj.pk)
            extra_context["listening_summary"] = summary
            # The busiest month is the full-width bar of the plays-per-month chart.
            extra_context["listening_peak"] = max(row.events for row in summary.plays_per_month) or 1
        return super().change_view(request, object_id, form_url, extra_context)


# --- Plan ---------------------------------------------------------------------------


@admin.register(Plan)
class PlanAdmin(ModelAdmin):
    list_display = [
        "name",
        "code",
        "tier",
        "list_price",
        "billing_period",
        "monthly_price",
        "trial_days",
        "is_active",
        "active_subscriptions",
    ]
    list_filter = [("tier", ChoicesDropdownFilter), "billing_period", "is_active"]
    search_fields = ["code", "name"]
    prepopulated_fields = {"code": ["name"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(active_count=subquery_count(Subscription, "plan", _active_at(timezone.now())))
        )

    @admin.display(description="price", ordering="price")
    def list_price(self, obj: Plan) -> str:
        return f"{obj.price} {obj.currency}"

    @admin.display(description="per month")
    def monthly_price(self, obj: Plan) -> str:
        return f"{obj.monthly_price.quantize(CENT)} {obj.currency}"

    @admin.display(description="active subscriptions", ordering="active_count")
    def active_subscriptions(self, obj: Plan) -> int:
        return obj.active_count


# --- Subscription -------------------------------------------------------------------


class CancelSubscriptionsForm(forms.Form):
    when = forms.ChoiceField(
        label="End",
        choices=[
            ("now", "Now"),
            ("period_end", "At the end of the trial or paid period (keeps the paid time)"),
        ],
        initial="period_end",
        widget=UnfoldAdminRadioSelectWidget,
    )
    reason = forms.ChoiceField(
        choices=CancelReason.choices, initial=CancelReason.OTHER, widget=UnfoldAdminSelectWidget
    )


class StartSubscriptionForm(forms.ModelForm):
    """The add form: a subscription starts through the billing service, which sets the
    agreed price, the trial and the first period and takes the first payment.

    The service runs in `clean`, inside the admin's transaction for the request, so its
    refusals (a plan no longer offered, an overlapping subscription) come back as form
    errors, and the row it wrote is what the admin then shows and logs.
    """

    starts_at = forms.SplitDateTimeField(
        label="Starts at",
        required=False,
        help_text="Empty: now.",
        widget=UnfoldAdminSplitDateTimeWidget,
    )
    method = forms.ChoiceField(
        label="Payment method",
        choices=PaymentMethod.choices,
        initial=PaymentMethod.CARD,
        widget=UnfoldAdminSelectWidget,
    )
    trial = forms.BooleanField(
        label="Trial",
        required=False,
        initial=True,
        help_text="Start with the plan's trial when the listener never had one.",
        widget=UnfoldBooleanSwitchWidget,
    )

    class Meta:
        model = Subscription
        fields = ["listener", "plan"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.instance = subscription_start(
                listener=cleaned["listener"],
                plan=cleaned["plan"],
                at=cleaned.get("starts_at"),
                method=cleaned["method"],
                trial=cleaned["trial"],
            )
        except ValidationError as error:
            raise forms.ValidationError(error.messages) from None
        return cleaned

    def _post_clean(self) -> None:
        # The service checked the subscription and wrote it: validating the written row
        # again could only turn a saved subscription into a form error.
        pass


@admin.register(Subscription)
class SubscriptionAdmin(LargeTableAdminMixin, ModelAdmin):
    list_display = [
        "__str__",
        "listener",
        "plan",
        "status",
        "monthly_amount",
        "started_at",
        "trial_ends_at",
        "ended_at",
        "auto_renew",
        "cancel_reason",
    ]
    list_select_related = ["listener", "plan"]
    search_fields = ["listener__email__exact", "listener__id__exact", "id__exact"]
    search_help_text = "Exact listener e-mail, listener id or subscription id."
    list_filter = [
        SubscriptionStatusFilter,
        ("plan", RelatedDropdownFilter),
        "billing_period",
        ("cancel_reason", ChoicesDropdownFilter),
        "auto_renew",
        ("started_at", DateTimeRangeFilter),
        ("ended_at", DateTimeRangeFilter),
    ]
    list_filter_submit = True
    autocomplete_fields = ["listener", "plan"]
    inlines = [PaymentInline]
    actions = ["cancel_subscriptions"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Only for sorting: the column itself shows the exact Decimal of the model.
        monthly = Case(
            When(billing_period=BillingPeriod.ANNUAL, then=F("price") / Value(12)),
            default=F("price"),
            output_field=DecimalField(max_digits=14, decimal_places=4),
        )
        return super().get_queryset(request).annotate(monthly_sort=monthly)

    def get_readonly_fields(self, request: HttpRequest, obj: Subscription | None = None) -> list[str]:
        # Ending a subscription goes through the cancel action (the billing service).
        return ["listener", "ended_at", "cancel_reason"] if obj else []

    def get_form(self, request: HttpRequest, obj: Subscription | None = None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = StartSubscriptionForm
            kwargs["fields"] = None  # the form's own fields, extra ones included
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Subscription | None) -> list:
        # The first payment is the service's to take, not a row typed in beside the form.
        return self.inlines if obj is not None else []

    def save_model(
        self, request: HttpRequest, obj: Subscription, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
        # Added rows were written by `subscription_start` while the form was cleaned.

    @display(description="status", label=_STATUS_COLOURS)
    def status(self, obj: Subscription) -> str:
        return subscription_status(obj, timezone.now())

    @admin.display(description="monthly amount", ordering="monthly_sort")
    def monthly_amount(self, obj: Subscription) -> str:
        return f"{obj.monthly_amount.quantize(CENT)} {obj.plan.currency}"

    @admin.action(description="Cancel selected subscriptions", permissions=["change"])
    def cancel_subscriptions(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        confirmed = "confirm" in request.POST
        form = CancelSubscriptionsForm(request.POST if confirmed else None)
        if confirmed and form.is_valid():
            at_period_end = form.cleaned_data["when"] == "period_end"
            reason = form.cleaned_data["reason"]
            apply_each(
                request,
                queryset.select_related("listener", "plan"),
                lambda subscription: subscription_cancel(
                    subscription=subscription, at_period_end=at_period_end, reason=reason
                ),
                done="Cancelled {count} subscription{s}.",
            )
            return None
        return render_confirmation(
            self,
            request,
            queryset.select_related("listener", "plan"),
            action="cancel_subscriptions",
            title="Cancel subscriptions",
            form=form,
            template="admin/billing/subscription/cancel_confirmation.html",
        )


# --- Payment ------------------------------------------------------------------------


class RefundPaymentsForm(forms.Form):
    """Nothing to choose: a refund is always in full and now; the page only confirms."""


@admin.register(Payment)
class PaymentAdmin(LargeTableAdminMixin, ModelAdmin):
    list_display = [
        "__str__",
        "listener",
        "plan",
        "money",
        "method",
        "status_label",
        "paid_at",
        "refunded_at",
    ]
    list_select_related = ["listener", "subscription__plan"]
    search_fields = ["listener__email__exact", "listener__id__exact", "id__exact", "idempotency_key__exact"]
    search_help_text = "Exact listener e-mail, listener id, payment id or idempotency key."
    list_filter = [
        ("status", ChoicesDropdownFilter),
        ("method", ChoicesDropdownFilter),
        ("paid_at", DateTimeRangeFilter),
        ("refunded_at", DateTimeRangeFilter),
    ]
    list_filter_submit = True
    autocomplete_fields = ["listener"]
    raw_id_fields = ["subscription"]
    actions = ["refund_payments"]

    def get_readonly_fields(self, request: HttpRequest, obj: Payment | None = None) -> list[str]:
        # What happened with the money is a record: refunds go through the refund action.
        if obj is None:
            return []
        return [
            "listener",
            "subscription",
            "amount",
            "currency",
            "status",
            "paid_at",
            "refunded_at",
            "idempotency_key",
        ]

    def has_delete_permission(self, request: HttpRequest, obj: Payment | None = None) -> bool:
        # Payments are accounting records: never deleted, not even by a superuser.
        return False

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.refund_payment")

    @admin.display(description="plan", ordering="subscription__plan__name")
    def plan(self, obj: Payment) -> str:
        return obj.subscription.plan.name

    @admin.display(description="amount", ordering="amount")
    def money(self, obj: Payment) -> str:
        return f"{obj.amount} {obj.currency}"

    @display(
        description="status",
        ordering="status",
        label={
            PaymentStatus.SUCCEEDED.label: "success",
            PaymentStatus.PENDING.label: "info",
            PaymentStatus.FAILED.label: "danger",
            PaymentStatus.REFUNDED.label: "warning",
        },
    )
    def status_label(self, obj: Payment) -> str:
        return obj.get_status_display()

    @admin.action(description="Refund selected payments", permissions=["refund"])
    def refund_payments(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        queryset = queryset.select_related("listener", "subscription__plan")
        if "confirm" in request.POST:
            apply_each(
                request,
                queryset,
                lambda payment: payment_refund(payment=payment),
                done="Refunded {count} payment{s}.",
            )
            return None
        refundable = (
            queryset.filter(status=PaymentStatus.SUCCEEDED)
            .order_by("currency")
            .values_list("currency")
            .annotate(total=Sum("amount"))
        )
        return render_confirmation(
            self,
            request,
            queryset,
            action="refund_payments",
            title="Refund payments",
            form=RefundPaymentsForm(),
            template="admin/billing/payment/refund_confirmation.html",
            # SQLite sums decimals as floats: back to cents.
            refund_totals=[(currency, total.quantize(CENT)) for currency, total in refundable],
        )


# Revenue rollups (`billing.rollups`): read-only, derived from their fields.
register_rollups("billing")
