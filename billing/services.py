"""Subscription and payment writes: every change that touches more than one row.

Each function is keyword-only, runs in one transaction, locks the rows it changes
(`select_for_update`, a no-op on SQLite whose write transactions are serialised anyway)
and raises `django.core.exceptions.ValidationError` with a plain message when the
operation makes no sense; nothing is written then. `at` defaults to now and must be
timezone-aware.

Semantics
- A subscription is active over `[started_at, ended_at)` (open end = ongoing).
  `current_period_end` is the end of the trial or of the last paid period. `price` is
  the plan's price agreed at start and `billing_period` is copied from the plan, so a
  later change of the plan's list price does not touch existing subscribers.
- Free plans: price 0, no trial, no periods (`current_period_end` stays empty), no
  payments; they never expire and cancel immediately.
- Start: refused when the plan is not offered (`is_active` off) or when the listener
  already has a subscription that is active at or after `at` (at most one at a time).
  A trial is given only if asked, the plan has trial days and the listener never had a
  trial: `trial_ends_at = current_period_end = at + trial_days`, nothing is paid yet.
  Without a trial the first period `[at, at + 1 period)` is paid at once.
- Periods are calendar months (annual = 12) counted from the anchor, the first paid
  instant (trial end, else start), the day clamped: anchored on Jan 31 the periods end
  on Feb 28 (29), Mar 31, Apr 30... (see `billing.periods`).
- Change plan: ends the current subscription at `at` (reason plan_change, no refund or
  proration of the unused part) and starts one on the new plan at `at` without trial,
  paying its first period when the plan is paid. Both rows change in one transaction,
  so the listener is never without a subscription nor holds two at once.
- Cancel: now (`ended_at = at`) or at period end (`ended_at = current_period_end`,
  which keeps the paid time); `auto_renew` is switched off either way. A free
  subscription always cancels now. Nothing is refunded.
- Renew: pays the period `[current_period_end, next period end)` with the idempotency
  key `renew:<subscription id>:<period start, UTC ISO>`. The period is the one named by
  the caller's copy of the subscription, so a retry (a double submit, a second worker)
  with the same copy returns the payment already recorded instead of paying again; a
  copy that is out of date in any other way is refused. A succeeded payment advances
  `current_period_end` (and the caller's copy); a failed attempt is recorded with the
  key `...:failed:<n>` and advances nothing, so it can be retried.
- Refund: only a succeeded payment; it becomes refunded with `refunded_at = at`. The
  subscription is not touched: ending it is a separate decision.
- Expire: every open subscription (`ended_at` empty) whose `current_period_end <= at`
  ends at `current_period_end` with `auto_renew` off. The reason is payment_failed
  when the subscription's last payment attempt failed, otherwise other (a trial or a
  period ran out and no renewal was attempted). Rows already ended are not selected,
  so a second run changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from billing.models import (
    CancelReason,
    Listener,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Plan,
    Subscription,
)
from billing.periods import next_period_end


def subscription_start(
    *,
    listener: Listener,
    plan: Plan,
    at: datetime | None = None,
    method: str = PaymentMethod.CARD,
    trial: bool = True,
) -> Subscription:
    """Put `listener` on `plan` from `at`; see the module docstring for trials and payments."""
    at = _moment(at)
    _check_choice(method, PaymentMethod, "payment method")
    with transaction.atomic():
        # The listener row is the lock that serialises every start for one listener.
        listener = Listener.objects.select_for_update().get(pk=listener.pk)
        return _start(listener=listener, plan=Plan.objects.get(pk=plan.pk), at=at, method=method, trial=trial)


def subscription_change_plan(
    *,
    subscription: Subscription,
    plan: Plan,
    at: datetime | None = None,
    method: str = PaymentMethod.CARD,
) -> Subscription:
    """End `subscription` at `at` and start one on `plan` at the same instant; returns the new one."""
    at = _moment(at)
    _check_choice(method, PaymentMethod, "payment method")
    with transaction.atomic():
        listener = Listener.objects.select_for_update().get(pk=subscription.listener_id)
        current = _lock(subscription)
        plan = Plan.objects.get(pk=plan.pk)
        if plan.pk == current.plan_id:
            raise ValidationError(f"The subscription is already on {plan.name}.")
        if not _is_active_at(current, at):
            raise ValidationError(
                f"Only a subscription active at {_show(at)} can change plan; "
                f"this one runs from {_show(current.started_at)} to {_show(current.ended_at)}."
            )
        if at <= current.started_at:
            raise ValidationError("A subscription cannot change plan at the instant it starts.")
        current.ended_at = at
        current.auto_renew = False
        current.cancel_reason = CancelReason.PLAN_CHANGE
        current.save(update_fields=["ended_at", "auto_renew", "cancel_reason"])
        return _start(listener=listener, plan=plan, at=at, method=method, trial=False)


def subscription_cancel(
    *,
    subscription: Subscription,
    at: datetime | None = None,
    at_period_end: bool = False,
    reason: str = CancelReason.OTHER,
) -> Subscription:
    """End `subscription` now or when its trial or paid period runs out."""
    at = _moment(at)
    _check_choice(reason, CancelReason, "cancel reason")
    with transaction.atomic():
        current = _lock(subscription)
        if current.ended_at is not None and current.ended_at <= at:
            raise ValidationError(f"This subscription already ended on {_show(current.ended_at)}.")
        if at < current.started_at:
            raise ValidationError(f"This subscription only starts on {_show(current.started_at)}.")
        if at_period_end and current.current_period_end is not None:
            if current.ended_at is not None:
                raise ValidationError(
                    f"This subscription is already set to end on {_show(current.ended_at)}."
                )
            ended_at = current.current_period_end
        else:
            ended_at = at
        if ended_at <= current.started_at:
            raise ValidationError("A subscription cannot end at the instant it starts.")
        current.ended_at = ended_at
        current.auto_renew = False
        current.cancel_reason = reason
        current.save(update_fields=["ended_at", "auto_renew", "cancel_reason"])
        return current


def subscription_renew(
    *,
    subscription: Subscription,
    at: datetime | None = None,
    method: str | None = None,
    succeeded: bool = True,
) -> Payment:
    """Record the payment attempt for the period after `current_period_end`.

    `method` defaults to the method of the subscription's last payment, else card. On
    success the caller's `subscription` gets the new `current_period_end`.
    """
    at = _moment(at)
    if method is not None:
        _check_choice(method, PaymentMethod, "payment method")
    # The caller's copy names the period; a retry with the same copy is a replay.
    period_start = subscription.current_period_end
    with transaction.atomic():
        current = _lock(subscription)
        replayed = _renewal(current, period_start)
        if replayed is not None:
            subscription.current_period_end = current.current_period_end
            return replayed
        _check_renewable(current, at)
        if period_start != current.current_period_end:
            raise ValidationError(
                "This subscription changed since it was loaded (its period now ends on "
                f"{_show(current.current_period_end)}); reload it and try again."
            )
        payment = _renew(current, at=at, method=method, succeeded=succeeded)
    subscription.current_period_end = current.current_period_end
    return payment


def payment_refund(*, payment: Payment, at: datetime | None = None) -> Payment:
    """Refund a succeeded payment in full at `at`."""
    at = _moment(at)
    with transaction.atomic():
        current = Payment.objects.select_for_update().get(pk=payment.pk)
        if current.status != PaymentStatus.SUCCEEDED:
            raise ValidationError(
                "Only a succeeded payment can be refunded; "
                f"this one is {current.get_status_display().lower()}."
            )
        if at < current.paid_at:
            raise ValidationError(f"A refund cannot precede the payment ({_show(current.paid_at)}).")
        current.status = PaymentStatus.REFUNDED
        current.refunded_at = at
        current.save(update_fields=["status", "refunded_at"])
        return current


def subscriptions_expire(*, at: datetime | None = None) -> list[Subscription]:
    """End every open subscription whose trial or paid period is over by `at`."""
    at = _moment(at)
    last_status = Payment.objects.filter(subscription=OuterRef("pk")).order_by("-paid_at", "-id")
    with transaction.atomic():
        due = list(
            Subscription.objects.select_for_update(of=("self",))
            .select_related("listener", "plan")
            .filter(ended_at__isnull=True, current_period_end__lte=at)
            .annotate(last_status=Subquery(last_status.values("status")[:1]))
            .order_by("current_period_end", "id")
        )
        for subscription in due:
            subscription.ended_at = subscription.current_period_end
            subscription.auto_renew = False
            subscription.cancel_reason = (
                CancelReason.PAYMENT_FAILED
                if subscription.last_status == PaymentStatus.FAILED
                else CancelReason.OTHER
            )
        Subscription.objects.bulk_update(due, ["ended_at", "auto_renew", "cancel_reason"], batch_size=500)
    return due


def _start(*, listener: Listener, plan: Plan, at: datetime, method: str, trial: bool) -> Subscription:
    """Create the subscription; the caller holds the listener's lock."""
    if not plan.is_active:
        raise ValidationError(f"{plan.name} is no longer offered to new subscribers.")
    clash = (
        listener.subscriptions.exclude(ended_at__lte=at).select_related("plan").order_by("started_at").first()
    )
    if clash is not None:
        raise ValidationError(
            f"{listener.display_name} already has a subscription on {clash.plan.name} "
            f"from {_show(clash.started_at)} to {_show(clash.ended_at)}."
        )
    subscription = Subscription(
        listener=listener, plan=plan, started_at=at, price=plan.price, billing_period=plan.billing_period
    )
    # A free subscription has no trial, no periods and no payments: nothing to set.
    if not plan.is_free:
        had_trial = listener.subscriptions.filter(trial_ends_at__isnull=False).exists()
        if trial and plan.trial_days and not had_trial:
            subscription.trial_ends_at = at + timedelta(days=plan.trial_days)
            subscription.current_period_end = subscription.trial_ends_at
        else:
            # The first period is paid below, from the start.
            subscription.current_period_end = at
    try:
        with transaction.atomic():
            subscription.save()
    except IntegrityError:
        # The partial unique index on open subscriptions is the last defence.
        raise ValidationError(f"{listener.display_name} already has an open subscription.") from None
    if subscription.current_period_end == at:
        _renew(subscription, at=at, method=method, succeeded=True)
    return subscription


def _renew(subscription: Subscription, *, at: datetime, method: str | None, succeeded: bool) -> Payment:
    """Record one attempt for the next period of a locked, renewable subscription."""
    period_start = subscription.current_period_end
    period_end = next_period_end(
        anchor=subscription.trial_ends_at or subscription.started_at,
        period_start=period_start,
        billing_period=subscription.billing_period,
    )
    key = _renew_key(subscription.pk, period_start)
    if not succeeded:
        failed = subscription.payments.filter(period_start=period_start, status=PaymentStatus.FAILED)
        attempts = failed.count()
        key = f"{key}:failed:{attempts + 1}"
    if method is None:
        last = subscription.payments.order_by("-paid_at", "-id").values_list("method", flat=True).first()
        method = last or PaymentMethod.CARD
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                listener_id=subscription.listener_id,
                subscription=subscription,
                amount=subscription.price,
                currency=subscription.plan.currency,
                method=method,
                status=PaymentStatus.SUCCEEDED if succeeded else PaymentStatus.FAILED,
                paid_at=at,
                period_start=period_start,
                period_end=period_end,
                idempotency_key=key,
            )
    except IntegrityError:
        # Someone recorded this very attempt between our look-up and our insert.
        payment = Payment.objects.filter(idempotency_key=key).first()
        if payment is None:
            raise
        subscription.refresh_from_db(fields=["current_period_end"])
        return payment
    if succeeded:
        subscription.current_period_end = period_end
        subscription.save(update_fields=["current_period_end"])
    return payment


def _renewal(subscription: Subscription, period_start: datetime | None) -> Payment | None:
    """The payment already recorded for the period starting at `period_start`, if any."""
    if period_start is None:
        return None
    return Payment.objects.filter(idempotency_key=_renew_key(subscription.pk, period_start)).first()


def _check_renewable(subscription: Subscription, at: datetime) -> None:
    if subscription.ended_at is not None:
        if subscription.ended_at <= at:
            raise ValidationError(
                f"This subscription ended on {_show(subscription.ended_at)}; it cannot be renewed."
            )
        raise ValidationError(
            f"This subscription is set to end on {_show(subscription.ended_at)}; it will not be renewed."
        )
    if subscription.plan.is_free or subscription.price <= 0 or subscription.current_period_end is None:
        raise ValidationError("A free subscription has no periods to pay.")
    if at < subscription.started_at:
        raise ValidationError(f"This subscription only starts on {_show(subscription.started_at)}.")


def _renew_key(subscription_id: int, period_start: datetime) -> str:
    # UTC, so the same instant gives the same key whatever zone the caller's copy holds.
    return f"renew:{subscription_id}:{period_start.astimezone(UTC).isoformat()}"


def _lock(subscription: Subscription) -> Subscription:
    return Subscription.objects.select_for_update(of=("self",)).select_related("plan").get(pk=subscription.pk)


def _is_active_at(subscription: Subscription, at: datetime) -> bool:
    return subscription.started_at <= at and (subscription.ended_at is None or at < subscription.ended_at)


def _moment(at: datetime | None) -> datetime:
    if at is None:
        return timezone.now()
    if not isinstance(at, datetime) or timezone.is_naive(at):
        raise ValidationError(f"The instant must be a timezone-aware datetime; got {at!r}.")
    return at


def _check_choice(value: str, choices: type, label: str) -> None:
    if value not in choices.values:
        raise ValidationError(f"Unknown {label} {value!r}; use one of {', '.join(choices.values)}.")


def _show(moment: datetime | None) -> str:
    return "an open end" if moment is None else f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"
