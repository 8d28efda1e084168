"""Reads the API makes outside the KPI registry: one listener's history, and where the
data begins (the default range of endpoints that take no period).

The history reads the listener's own rows through the `(listener, played_at)` and
`(listener, paid_at)` indexes, newest first, one page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Min
from django.utils import timezone

from analytics.models import ListeningEvent
from billing.models import Listener, Payment, PaymentMethod, PaymentStatus

# Payments that were collected (gross revenue counts refunded ones too); failed and
# pending attempts are not part of a listener's payment history.
COLLECTED = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)


@dataclass(frozen=True)
class Play:
    title: str
    progress: float  # ms_played / duration, capped at 1
    played_at: datetime


@dataclass(frozen=True)
class PaymentMade:
    amount: Decimal
    method: str  # display label, e.g. "Credit card"
    paid_at: datetime


def listener_exists(*, listener_id: int) -> bool:
    return Listener.objects.filter(pk=listener_id).exists()


def listener_plays(*, listener_id: int, limit: int, offset: int) -> list[Play]:
    """The listener's plays (tracks and podcast episodes), most recent first."""
    events = (
        ListeningEvent.objects.filter(listener_id=listener_id)
        .order_by("-played_at", "-id")
        .values_list(
            "played_at",
            "ms_played",
            "track__title",
            "track__duration_ms",
            "episode__title",
            "episode__duration_ms",
        )[offset : offset + limit]
    )
    plays = []
    for played_at, ms_played, track_title, track_ms, episode_title, episode_ms in events:
        duration = track_ms or episode_ms
        plays.append(
            Play(
                title=track_title if track_title is not None else episode_title,
                # A replayed or looped item can report more than its length.
                progress=min(ms_played / duration, 1.0),
                played_at=played_at,
            )
        )
    return plays


def listener_payments(*, listener_id: int, limit: int, offset: int) -> list[PaymentMade]:
    """The listener's collected payments, most recent first."""
    labels = dict(PaymentMethod.choices)
    rows = (
        Payment.objects.filter(listener_id=listener_id, status__in=COLLECTED)
        .order_by("-paid_at", "-id")
        .values_list("amount", "method", "paid_at")[offset : offset + limit]
    )
    return [
        PaymentMade(amount=amount, method=labels.get(method, method), paid_at=paid_at)
        for amount, method, paid_at in rows
    ]


def _first_day(first: datetime | None) -> date | None:
    # The reporting zone, as the KPIs cut days in it.
    return None if first is None else timezone.localtime(first, timezone.get_default_timezone()).date()


def first_event_day() -> date | None:
    """The local day of the first listening event (an index lookup), or None."""
    return _first_day(ListeningEvent.objects.aggregate(first=Min("played_at"))["first"])


def first_payment_day() -> date | None:
    """The local day of the first payment attempt (an index lookup), or None."""
    return _first_day(Payment.objects.aggregate(first=Min("paid_at"))["first"])
