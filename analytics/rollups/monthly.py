"""Month-level listening rollups: MAU and lifecycle, cohort activity and cohort sizes.

MAU, lifecycle and cohort activity add up from the day-level facts (`ActivityDay`,
`CohortDay`): a listener's first active day of a month is the one whose previous active
day lies before the month, so counting those days counts each listener once.
"""

from __future__ import annotations

from datetime import date

from django.db.models import Count, DateField, Q, Sum
from django.db.models.functions import TruncMonth

from analytics.kpis._time import add_months, reporting_zone
from analytics.models import (
    ActivityDay,
    ActivityMonth,
    CohortActivity,
    CohortDay,
    CohortSize,
    PreviousActivity,
    SignupMonth,
)
from analytics.rollups import _sql, sources
from billing.models import Listener

COHORT_SIZES_PART = "cohort sizes"  # its `RollupState` row: the listener marks last counted
FIRST_IN_MONTH = ~Q(previous=PreviousActivity.SAME_MONTH)


def build_activity_month(month: date) -> int:
    """MAU, new, returning, resurrecting and `both` of `month`, per country."""
    ActivityMonth.objects.filter(month=month).delete()
    per_country = (
        ActivityDay.objects.filter(FIRST_IN_MONTH, day__gte=month, day__lt=add_months(month, 1))
        .values("country")
        .annotate(
            mau=Sum("listeners"),
            new=Sum("listeners", filter=Q(signup=SignupMonth.THIS_MONTH), default=0),
            returning=Sum(
                "listeners",
                filter=Q(previous=PreviousActivity.PREVIOUS_MONTH) & ~Q(signup=SignupMonth.THIS_MONTH),
                default=0,
            ),
            resurrecting=Sum(
                "listeners",
                filter=Q(
                    previous__in=[PreviousActivity.EARLIER, PreviousActivity.NEVER], signup=SignupMonth.BEFORE
                ),
                default=0,
            ),
            both=Sum("listeners", filter=Q(previous=PreviousActivity.PREVIOUS_MONTH), default=0),
        )
        .order_by()
    )
    return _sql.insert_from(
        ActivityMonth,
        ["month", "country", "mau", "new", "returning", "resurrecting", "both"],
        per_country,
        ["%s", "q.country", "q.mau", "q.new", "q.returning", "q.resurrecting", "q.both"],
        [_sql.d(month)],
    )


def build_cohort_activity(month: date) -> int:
    """Listeners of each sign-up month active in `month`, per country."""
    CohortActivity.objects.filter(month=month).delete()
    per_cohort = (
        CohortDay.objects.filter(day__gte=month, day__lt=add_months(month, 1))
        .values("cohort", "country")
        .annotate(n=Sum("listeners"))
        .order_by()
    )
    return _sql.insert_from(
        CohortActivity,
        ["cohort", "month", "country", "listeners"],
        per_cohort,
        ["q.cohort", "%s", "q.country", "q.n"],
        [_sql.d(month)],
    )


def build_cohort_sizes(*, force: bool) -> int:
    """Listeners per local sign-up month and country; rewrites only rows that changed.
    Sign-ups are not events: the listeners are counted again by every refresh that finds
    them changed (`analytics.rollups.sources`), and by a full or `--since` one (`force`:
    the table may have been emptied, or edited in raw SQL)."""
    read_from = sources.marks(Listener)
    if not force and sources.unchanged(COHORT_SIZES_PART, read_from):
        return 0
    counted = {
        (row["cohort"], row["country"]): row["n"]
        for row in Listener.objects.annotate(
            cohort=TruncMonth("signed_up_at", tzinfo=reporting_zone(), output_field=DateField())
        )
        .values("cohort", "country")
        .annotate(n=Count("id"))
        .order_by()
    }
    stored = {(row.cohort, row.country): row for row in CohortSize.objects.all()}
    written = 0
    gone = [row.pk for key, row in stored.items() if key not in counted]
    if gone:
        written += CohortSize.objects.filter(pk__in=gone).delete()[0]
    new = [
        CohortSize(cohort=cohort, country=country, listeners=n)
        for (cohort, country), n in sorted(counted.items())
        if (cohort, country) not in stored
    ]
    CohortSize.objects.bulk_create(new)
    changed = []
    for key, row in stored.items():
        if key in counted and row.listeners != counted[key]:
            row.listeners = counted[key]
            changed.append(row)
    CohortSize.objects.bulk_update(changed, ["listeners"])
    sources.record(COHORT_SIZES_PART, read_from)
    return written + len(new) + len(changed)
