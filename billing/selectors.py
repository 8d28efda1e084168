"""Reads about one listener that span apps: what the listener's admin page shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Count, DecimalField, Max, Min, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from analytics.models import STREAM_MIN_MS, ListeningEvent
from billing.models import Payment, PaymentStatus, Subscription

TOP_N = 5
MONTHS = 12
CENT = Decimal("0.01")


@dataclass(frozen=True)
class RankedItem:
    id: int
    name: str
    streams: int


@dataclass(frozen=True)
class MonthPlays:
    month: date  # first day of the month in the reporting time zone
    events: int


@dataclass(frozen=True)
class MoneyTotals:
    currency: str
    attempts: int
    failed: int
    gross: Decimal  # succeeded payments, including those refunded later
    refunded: Decimal
    net: Decimal


@dataclass(frozen=True)
class ListenerSummary:
    listener_id: int
    events: int
    streams: int
    listening_minutes: Decimal
    skip_rate: float | None  # None when there is no event: undefined, not 0
    first_played_at: datetime | None
    last_played_at: datetime | None
    top_artists: list[RankedItem]
    top_tracks: list[RankedItem]
    plays_per_month: list[MonthPlays]  # the last 12 months, oldest first, zero-filled
    current_plan: str | None  # plan of the subscription active now; None = free tier
    subscriptions: int
    payments: list[MoneyTotals]  # one entry per currency paid in


def listener_listening_summary(*, listener_id: int, now: datetime | None = None) -> ListenerSummary:
    """A listener's listening history and billing in seven small queries.

    Every listening query filters on the listener first, so it reads the
    `(listener, played_at)` index instead of the events table. Streams follow the
    30-second rule; skip rate = skipped events / events; listening minutes = the sum of
    `ms_played` / 60,000; top artists count streams of tracks by their primary artist,
    ties broken by id. Months are calendar months of the reporting time zone.
    """
    now = now or timezone.now()
    events = ListeningEvent.objects.filter(listener_id=listener_id)
    streams = events.filter(ms_played__gte=STREAM_MIN_MS, track__isnull=False)

    totals = events.aggregate(
        events=Count("id"),
        streams=Count("id", filter=Q(ms_played__gte=STREAM_MIN_MS)),
        skipped=Count("id", filter=Q(skipped=True)),
        ms=Coalesce(Sum("ms_played"), 0),
        first=Min("played_at"),
        last=Max("played_at"),
    )
    top_tracks = [
        RankedItem(id=row["track_id"], name=row["track__title"], streams=row["n"])
        for row in streams.values("track_id", "track__title")
        .annotate(n=Count("id"))
        .order_by("-n", "track_id")[:TOP_N]
    ]
    top_artists = [
        RankedItem(
            id=row["track__primary_artist_id"], name=row["track__primary_artist__name"], streams=row["n"]
        )
        for row in streams.values("track__primary_artist_id", "track__primary_artist__name")
        .annotate(n=Count("id"))
        .order_by("-n", "track__primary_artist_id")[:TOP_N]
    ]

    return ListenerSummary(
        listener_id=listener_id,
        events=totals["events"],
        streams=totals["streams"],
        listening_minutes=(Decimal(totals["ms"]) / 60_000).quantize(CENT),
        skip_rate=totals["skipped"] / totals["events"] if totals["events"] else None,
        first_played_at=totals["first"],
        last_played_at=totals["last"],
        top_artists=top_artists,
        top_tracks=top_tracks,
        plays_per_month=_plays_per_month(events, now),
        current_plan=_current_plan(listener_id, now),
        subscriptions=Subscription.objects.filter(listener_id=listener_id).count(),
        payments=_payment_totals(listener_id),
    )


def _plays_per_month(events, now: datetime) -> list[MonthPlays]:
    zone = timezone.get_default_timezone()
    local_now = timezone.localtime(now, zone)
    months = [_shift_month(local_now.date().replace(day=1), -back) for back in range(MONTHS - 1, -1, -1)]
    start = datetime.combine(months[0], datetime.min.time(), tzinfo=zone)
    counts = {
        timezone.localtime(row["month"], zone).date(): row["n"]
        for row in events.filter(played_at__gte=start, played_at__lte=now)
        .annotate(month=TruncMonth("played_at", tzinfo=zone))
        .values("month")
        .annotate(n=Count("id"))
        .order_by()
    }
    return [MonthPlays(month=month, events=counts.get(month, 0)) for month in months]


def _shift_month(first_day: date, months: int) -> date:
    index = first_day.year * 12 + first_day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _current_plan(listener_id: int, now: datetime) -> str | None:
    return (
        Subscription.objects.filter(listener_id=listener_id, started_at__lte=now)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=now))
        .order_by("-started_at")
        .values_list("plan__name", flat=True)
        .first()
    )


def _payment_totals(listener_id: int) -> list[MoneyTotals]:
    money = DecimalField(max_digits=14, decimal_places=2)
    zero = Decimal("0.00")
    rows = (
        Payment.objects.filter(listener_id=listener_id)
        .values("currency")
        .annotate(
            attempts=Count("id"),
            failed=Count("id", filter=Q(status=PaymentStatus.FAILED)),
            gross=Coalesce(
                Sum("amount", filter=Q(status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED])),
                zero,
                output_field=money,
            ),
            refunded=Coalesce(
                Sum("amount", filter=Q(status=PaymentStatus.REFUNDED)), zero, output_field=money
            ),
        )
        .order_by("currency")
    )
    totals = []
    for row in rows:
        # SQLite sums decimals as floats; amounts are whole cents, so rounding is exact.
        gross, refunded = row["gross"].quantize(CENT), row["refunded"].quantize(CENT)
        totals.append(
            MoneyTotals(
                currency=row["currency"],
                attempts=row["attempts"],
                failed=row["failed"],
                gross=gross,
                refunded=refunded,
                net=gross - refunded,
            )
        )
    return totals
