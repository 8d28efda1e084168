"""Billing-period arithmetic on calendar months.

Months are calendar months in the reporting time zone (`settings.TIME_ZONE`), the
wall-clock time is kept, and a day that the target month lacks is clamped to its last
day: Jan 31 + 1 month = Feb 28 (Feb 29 in a leap year). An annual period is 12 months.
"""

from __future__ import annotations

import calendar
from datetime import datetime

from django.utils import timezone

from billing.models import BillingPeriod

MONTHS_PER_PERIOD = {BillingPeriod.MONTHLY: 1, BillingPeriod.ANNUAL: 12}


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus `months` calendar months, the day clamped to the target month's end."""
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def months_in(billing_period: str) -> int:
    try:
        return MONTHS_PER_PERIOD[BillingPeriod(billing_period)]
    except ValueError:
        raise ValueError(f"Unknown billing period {billing_period!r}.") from None


def next_period_end(*, anchor: datetime, period_start: datetime, billing_period: str) -> datetime:
    """The end of the billing period that starts at `period_start`.

    Periods are counted from the `anchor` (the first paid instant), as Stripe's billing
    cycle anchor does, so a subscription anchored on Jan 31 renews on Feb 28, then on
    Mar 31, instead of drifting to the 28th for good. A `period_start` that is not on
    the anchor's grid (edited by hand) simply gets one period added to it.
    """
    step = months_in(billing_period)
    local_anchor, local_start = timezone.localtime(anchor), timezone.localtime(period_start)
    elapsed = (local_start.year - local_anchor.year) * 12 + local_start.month - local_anchor.month
    periods, remainder = divmod(elapsed, step)
    if remainder == 0 and periods >= 0 and add_months(anchor, periods * step) == period_start:
        return add_months(anchor, (periods + 1) * step)
    return add_months(period_start, step)
