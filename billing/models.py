from __future__ import annotations

from decimal import Decimal

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django_countries.fields import CountryField

from billing.changes import RevenueQuerySet, RevenueTracked
from billing.regions import Region, region_of

CURRENCY_CODE = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO currency code such as USD.")


class AcquisitionChannel(models.TextChoices):
    ORGANIC = "organic", "Organic"
    SEARCH = "search", "Search"
    SOCIAL = "social", "Social media"
    REFERRAL = "referral", "Referral"
    PAID_ADS = "paid_ads", "Paid ads"
    PARTNER = "partner", "Partner bundle"


class Listener(RevenueTracked):
    """An end user of the streaming platform: the paying customer of the KPIs."""

    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=120)
    country = CountryField(db_index=True)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    signed_up_at = models.DateTimeField(db_index=True)
    acquisition_channel = models.CharField(
        max_length=16, choices=AcquisitionChannel.choices, default=AcquisitionChannel.ORGANIC
    )

    objects = RevenueQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(birth_year__isnull=True) | Q(birth_year__gte=1900, birth_year__lte=2100),
                name="listener_birth_year_plausible",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} <{self.email}>"

    @property
    def region(self) -> str | None:
        return region_of(str(self.country))

    @property
    def region_label(self) -> str:
        slug = self.region
        return Region(slug).label if slug else "—"


class Tier(models.TextChoices):
    FREE = "free", "Free"
    INDIVIDUAL = "individual", "Individual"
    DUO = "duo", "Duo"
    FAMILY = "family", "Family"
    STUDENT = "student", "Student"


class BillingPeriod(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    ANNUAL = "annual", "Annual"


class Plan(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    tier = models.CharField(max_length=16, choices=Tier.choices)
    price = models.DecimalField(max_digits=10, decimal_places=2, help_text="List price per billing period.")
    currency = models.CharField(max_length=3, default="USD", validators=[CURRENCY_CODE])
    billing_period = models.CharField(
        max_length=10, choices=BillingPeriod.choices, default=BillingPeriod.MONTHLY
    )
    trial_days = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True, help_text="Offered to new subscribers.")

    class Meta:
        ordering = ["price", "code"]
        constraints = [
            # The free tier costs nothing; every other tier costs something.
            models.CheckConstraint(
                condition=Q(tier=Tier.FREE, price=0) | (~Q(tier=Tier.FREE) & Q(price__gt=0)),
                name="plan_price_matches_tier",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_free(self) -> bool:
        return self.tier == Tier.FREE

    @property
    def monthly_price(self) -> Decimal:
        return monthly_amount(self.price, self.billing_period)


def monthly_amount(price: Decimal, billing_period: str) -> Decimal:
    """The MRR contribution of a price: annual prices count one twelfth a month."""
    return price / 12 if billing_period == BillingPeriod.ANNUAL else price


class CancelReason(models.TextChoices):
    TOO_EXPENSIVE = "too_expensive", "Too expensive"
    NOT_USING = "not_using", "Not using it enough"
    SWITCHED = "switched", "Switched to another service"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    PLAN_CHANGE = "plan_change", "Changed plan"
    OTHER = "other", "Other"


class Subscription(RevenueTracked):
    """A listener on a plan over `[started_at, ended_at)`; an open end means ongoing.

    `ended_at` may lie in the future: a cancellation at period end keeps the
    subscription active until the paid period runs out.
    """

    listener = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    started_at = models.DateTimeField()
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(
        null=True, blank=True, help_text="End of the trial or of the last paid period."
    )
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, help_text="Price agreed per billing period.")
    billing_period = models.CharField(
        max_length=10, choices=BillingPeriod.choices, default=BillingPeriod.MONTHLY
    )
    auto_renew = models.BooleanField(default=True)
    cancel_reason = models.CharField(max_length=20, choices=CancelReason.choices, blank=True)

    objects = RevenueQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["listener", "started_at"]),
            # The changelist's order, and the first instant the revenue rollups start from.
            models.Index(fields=["started_at"], name="subscription_started_at"),
            # The trials whose outcome a revenue refresh recounts (those ending in its window).
            models.Index(fields=["trial_ends_at"], name="subscription_trial_ends_at"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="subscription_price_not_negative"),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gt=F("started_at")),
                name="subscription_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(trial_ends_at__isnull=True) | Q(trial_ends_at__gt=F("started_at")),
                name="subscription_trial_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["listener"],
                condition=Q(ended_at__isnull=True),
                name="subscription_one_open_per_listener",
                violation_error_message="This listener already has an open subscription.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.listener.display_name} on {self.plan.name}"

    @property
    def monthly_amount(self) -> Decimal:
        return monthly_amount(self.price, self.billing_period)

    def is_active_at(self, at) -> bool:
        return self.started_at <= at and (self.ended_at is None or at < self.ended_at)

    def is_paid_at(self, at) -> bool:
        in_trial = self.trial_ends_at is not None and at < self.trial_ends_at
        return self.is_active_at(at) and self.price > 0 and not in_trial


class PaymentMethod(models.TextChoices):
    CARD = "card", "Credit card"
    DEBIT_CARD = "debit_card", "Debit card"
    PAYPAL = "paypal", "PayPal"
    GIFT_CARD = "gift_card", "Gift card"
    APPLE_PAY = "apple_pay", "Apple Pay"
    GOOGLE_PAY = "google_pay", "Google Pay"


class PaymentStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    PENDING = "pending", "Pending"
    REFUNDED = "refunded", "Refunded"


class Payment(RevenueTracked):
    """One payment attempt. Failed attempts are rows too: the failure rate needs them."""

    listener = models.ForeignKey(Listener, on_delete=models.PROTECT, related_name="payments")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD", validators=[CURRENCY_CODE])
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    status = models.CharField(max_length=12, choices=PaymentStatus.choices, db_index=True)
    paid_at = models.DateTimeField(db_index=True, help_text="The instant of the attempt.")
    refunded_at = models.DateTimeField(null=True, blank=True, db_index=True)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    idempotency_key = models.CharField(max_length=80, unique=True)

    objects = RevenueQuerySet.as_manager()

    class Meta:
        ordering = ["-paid_at", "-id"]
        permissions = [("refund_payment", "Can refund payments")]
        indexes = [models.Index(fields=["listener", "paid_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")), name="payment_period_ends_after_start"
            ),
            # A refund date exactly when the payment is refunded, never before the payment.
            models.CheckConstraint(
                condition=(
                    Q(status=PaymentStatus.REFUNDED, refunded_at__isnull=False, refunded_at__gte=F("paid_at"))
                    | (~Q(status=PaymentStatus.REFUNDED) & Q(refunded_at__isnull=True))
                ),
                name="payment_refund_date_iff_refunded",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} {self.get_status_display().lower()} on {self.paid_at:%Y-%m-%d}"

    @property
    def counts_as_revenue(self) -> bool:
        return self.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)


# Revenue rollups, filled by `billing.rollups.refresh` from subscriptions and payments.
# KPI pages read these; the raw references in `analytics.kpis.revenue` read the source
# tables and tests prove both agree. Recurring revenue is stored annualized (`arr_*` =
# 12 x MRR): a monthly price times 12, an annual price as is, so every stored amount is
# an exact two-decimal number and MRR is divided by 12 once, after the final sum.


class SubscriberDay(models.Model):
    """Listeners per (country, plan) as of the first instant of `day` (reporting zone).

    Each listener counts once, under the plan of its primary active subscription (paid
    before unpaid, then the larger amount, the later start, the higher id); `plan` is
    empty for listeners without an active subscription.
    """

    day = models.DateField()
    country = models.CharField(max_length=2)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    listeners = models.PositiveIntegerField(help_text="Signed up by the instant.")
    paying = models.PositiveIntegerField(help_text="With a paid subscription at the instant.")
    arr = models.DecimalField(max_digits=16, decimal_places=2, help_text="12 x MRR of the group.")

    class Meta:
        ordering = ["day", "country", "plan"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "country", "plan"],
                condition=Q(plan__isnull=False),
                name="subscriber_day_unique_group",
            ),
            models.UniqueConstraint(
                fields=["day", "country"],
                condition=Q(plan__isnull=True),
                name="subscriber_day_unique_group_no_plan",
            ),
            models.CheckConstraint(condition=Q(arr__gte=0), name="subscriber_day_arr_not_negative"),
        ]
        indexes = [
            models.Index(fields=["day", "country"], name="subscriber_day_day_country"),
            models.Index(fields=["country", "day"], name="subscriber_day_country_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.country} plan {self.plan_id}: {self.listeners} listeners"


class PaymentDay(models.Model):
    """Payment facts per local day, listener country, plan and method.

    Attempts, outcomes and gross count by the day of `paid_at`; refunds by the day of
    `refunded_at`, so a refund lands in the day (and month) it was made.
    """

    day = models.DateField()
    country = models.CharField(max_length=2)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    attempts = models.PositiveIntegerField()
    succeeded = models.PositiveIntegerField(help_text="Succeeded, including those refunded later.")
    failed = models.PositiveIntegerField()
    gross = models.DecimalField(max_digits=14, decimal_places=2)
    refunds = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["day", "country", "plan", "method"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "country", "plan", "method"], name="payment_day_unique_group"
            ),
        ]
        indexes = [models.Index(fields=["country", "day"], name="payment_day_country_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.country} plan {self.plan_id} {self.method}: {self.gross}"


class PaymentMonth(models.Model):
    """`PaymentDay` summed per calendar month: whole months of a range read this."""

    month = models.DateField(help_text="First day of the month.")
    country = models.CharField(max_length=2)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    attempts = models.PositiveIntegerField()
    succeeded = models.PositiveIntegerField()
    failed = models.PositiveIntegerField()
    gross = models.DecimalField(max_digits=16, decimal_places=2)
    refunds = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        ordering = ["month", "country", "plan", "method"]
        constraints = [
            models.UniqueConstraint(
                fields=["month", "country", "plan", "method"], name="payment_month_unique_group"
            ),
        ]
        indexes = [models.Index(fields=["country", "month"], name="payment_month_country_month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.country} plan {self.plan_id} {self.method}: {self.gross}"


_MOVEMENTS_SUM = (
    F("arr_start")
    + F("arr_new")
    + F("arr_reactivation")
    + F("arr_expansion")
    - F("arr_contraction")
    - F("arr_churn")
)
_HALF_CENT = models.Value(Decimal("0.005"))


class MrrMonth(models.Model):
    """MRR movements of a calendar month per listener country, annualized (12 x MRR).

    Each listener's MRR at the first instant of the month (start) is compared with its
    MRR at the first instant of the next month, or of the day after the refresh day for
    the month in progress (`as_of`). Movements are stored as positive amounts.
    """

    month = models.DateField(help_text="First day of the month.")
    as_of = models.DateField(help_text="The local day whose first instant ends the month.")
    country = models.CharField(max_length=2)
    arr_start = models.DecimalField(max_digits=16, decimal_places=2)
    arr_new = models.DecimalField(max_digits=16, decimal_places=2)
    arr_reactivation = models.DecimalField(max_digits=16, decimal_places=2)
    arr_expansion = models.DecimalField(max_digits=16, decimal_places=2)
    arr_contraction = models.DecimalField(max_digits=16, decimal_places=2)
    arr_churn = models.DecimalField(max_digits=16, decimal_places=2)
    arr_end = models.DecimalField(max_digits=16, decimal_places=2)
    customers_start = models.PositiveIntegerField()
    customers_churned = models.PositiveIntegerField()
    customers_end = models.PositiveIntegerField()

    class Meta:
        ordering = ["month", "country"]
        constraints = [
            models.UniqueConstraint(fields=["month", "country"], name="mrr_month_unique_country"),
            # The movements explain the change to the cent; a refresh bug cannot store
            # anything else. Half a cent of slack because SQLite keeps decimals as floats.
            models.CheckConstraint(
                condition=Q(
                    arr_end__gte=_MOVEMENTS_SUM - _HALF_CENT, arr_end__lte=_MOVEMENTS_SUM + _HALF_CENT
                ),
                name="mrr_month_movements_add_up",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.country}: {self.arr_start} -> {self.arr_end}"


class TrialMonth(models.Model):
    """Trials by the month they started in, listener country and plan.

    Only trials that had ended by the end of the refresh day count; `converted` are
    those whose subscription was still active at the trial's end.
    """

    month = models.DateField(help_text="First day of the month the trials started in.")
    country = models.CharField(max_length=2)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+")
    trials = models.PositiveIntegerField()
    converted = models.PositiveIntegerField()

    class Meta:
        ordering = ["month", "country", "plan"]
        constraints = [
            models.UniqueConstraint(fields=["month", "country", "plan"], name="trial_month_unique_group"),
            models.CheckConstraint(
                condition=Q(converted__lte=F("trials")), name="trial_month_converted_le_trials"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.country} plan {self.plan_id}: {self.converted}/{self.trials}"


# Per-region sums of the tables above: series without a country filter read these, a
# few dozen rows a day instead of hundreds. Refreshed in the same transactions.


class SubscriberRegionDay(models.Model):
    """`SubscriberDay` summed over the countries of each region."""

    day = models.DateField()
    region = models.CharField(max_length=16, choices=Region.choices)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    listeners = models.PositiveIntegerField()
    paying = models.PositiveIntegerField()
    arr = models.DecimalField(max_digits=16, decimal_places=2, help_text="12 x MRR of the group.")

    class Meta:
        ordering = ["day", "region", "plan"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "region", "plan"],
                condition=Q(plan__isnull=False),
                name="subscriber_region_day_unique_group",
            ),
            models.UniqueConstraint(
                fields=["day", "region"],
                condition=Q(plan__isnull=True),
                name="subscriber_region_day_unique_no_plan",
            ),
        ]
        indexes = [models.Index(fields=["day", "region"], name="subscriber_region_day_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.region} plan {self.plan_id}: {self.listeners} listeners"


class PaymentRegionDay(models.Model):
    """`PaymentDay` summed over the countries of each region and over payment methods:
    the daily series need neither, and a year of days stays a few thousand rows."""

    day = models.DateField()
    region = models.CharField(max_length=16, choices=Region.choices)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+")
    attempts = models.PositiveIntegerField()
    succeeded = models.PositiveIntegerField()
    failed = models.PositiveIntegerField()
    gross = models.DecimalField(max_digits=14, decimal_places=2)
    refunds = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["day", "region", "plan"]
        constraints = [
            models.UniqueConstraint(fields=["day", "region", "plan"], name="payment_region_day_unique_plan"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.region} plan {self.plan_id}: {self.gross}"


class PaymentRegionMonth(models.Model):
    """`PaymentMonth` summed over the countries of each region."""

    month = models.DateField(help_text="First day of the month.")
    region = models.CharField(max_length=16, choices=Region.choices)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    attempts = models.PositiveIntegerField()
    succeeded = models.PositiveIntegerField()
    failed = models.PositiveIntegerField()
    gross = models.DecimalField(max_digits=16, decimal_places=2)
    refunds = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        ordering = ["month", "region", "plan", "method"]
        constraints = [
            models.UniqueConstraint(
                fields=["month", "region", "plan", "method"], name="payment_region_month_unique_group"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.region} plan {self.plan_id} {self.method}: {self.gross}"


class RevenueChange(models.Model):
    """A write to listeners, subscriptions or payments not yet read by a revenue refresh
    (`billing.changes`): the listener whose state it may change and the first instant
    it reaches. Neither is set when its reach is unknown."""

    listener_id = models.BigIntegerField(null=True, blank=True)
    since = models.DateTimeField(null=True, blank=True)
    state = models.BooleanField(help_text="Whether it may change subscriber state (not only payments).")

    def __str__(self) -> str:
        return f"listener {self.listener_id} from {self.since}"


class ListenerRevenueState(models.Model):
    """Each counted listener's part of `SubscriberDay` on the last day it stores: what a
    nightly run takes out of that day's groups for a listener whose rows changed since.
    The day it stands for is its `RollupState` row's `last_day`."""

    listener_id = models.BigIntegerField(primary_key=True)
    country = models.CharField(max_length=2)
    plan_id = models.BigIntegerField(null=True, blank=True)
    signed_up = models.BooleanField()
    arr_cents = models.BigIntegerField(help_text="12 x MRR in cents.")

    def __str__(self) -> str:
        return f"listener {self.listener_id}: {self.country} plan {self.plan_id}"
