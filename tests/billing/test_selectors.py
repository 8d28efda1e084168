"""A listener's listening and billing summary: a tiny dataset, the whole literal result."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.models import PaymentStatus
from billing.selectors import ListenerSummary, MoneyTotals, MonthPlays, RankedItem, listener_listening_summary
from tests.factories import (
    at,
    make_artist,
    make_episode,
    make_event,
    make_listener,
    make_payment,
    make_plan,
    make_subscription,
    make_track,
)

pytestmark = pytest.mark.django_db


def test_listener_summary_of_a_listener_without_history():
    listener = make_listener()

    summary = listener_listening_summary(listener_id=listener.pk, now=at(2026, 3, 15))

    assert summary == ListenerSummary(
        listener_id=listener.pk,
        events=0,
        streams=0,
        listening_minutes=Decimal("0.00"),
        skip_rate=None,
        first_played_at=None,
        last_played_at=None,
        top_artists=[],
        top_tracks=[],
        plays_per_month=[MonthPlays(month=date(y, m, 1), events=0) for y, m in _months(2025, 4, 12)],
        current_plan=None,
        subscriptions=0,
        payments=[],
    )


def test_listener_summary_counts_streams_skips_tops_months_and_money(django_assert_max_num_queries):
    listener, other = make_listener(), make_listener()
    abba, bowie = make_artist("ABBA"), make_artist("Bowie")
    waterloo, sos = make_track("Waterloo", artist=abba), make_track("SOS", artist=abba)
    heroes = make_track("Heroes", artist=bowie)
    episode = make_episode()
    # Streams: Heroes x2, Waterloo x2, SOS x1; a skip and an episode are events, not streams.
    make_event(listener, played_at=at(2025, 3, 31, 23), track=heroes)  # before the 12 months
    make_event(listener, played_at=at(2025, 12, 1, 9), track=heroes, ms_played=30_000)
    make_event(listener, played_at=at(2026, 1, 5, 9), track=waterloo, ms_played=120_000)
    make_event(listener, played_at=at(2026, 1, 5, 10), track=waterloo, ms_played=60_000)
    make_event(listener, played_at=at(2026, 3, 1, 8), track=sos, ms_played=29_999, skipped=True)
    make_event(listener, played_at=at(2026, 3, 2, 8), track=sos, ms_played=45_000)
    make_event(listener, played_at=at(2026, 3, 3, 8), track=None, episode=episode, ms_played=1_200_000)
    make_event(other, played_at=at(2026, 3, 3, 8), track=heroes)  # someone else's
    premium = make_plan("premium", price="10.99")
    old = make_subscription(listener, premium, started_at=at(2025, 1, 1), ended_at=at(2025, 6, 1))
    make_payment(old, paid_at=at(2025, 1, 1))
    make_payment(old, paid_at=at(2025, 2, 1), status=PaymentStatus.REFUNDED, refunded_at=at(2025, 2, 3))
    make_payment(old, paid_at=at(2025, 3, 1), status=PaymentStatus.FAILED)
    current = make_subscription(listener, premium, started_at=at(2026, 1, 1), price=Decimal("8.00"))
    make_payment(current, paid_at=at(2026, 1, 1), currency="EUR")

    with django_assert_max_num_queries(7):
        summary = listener_listening_summary(listener_id=listener.pk, now=at(2026, 3, 15))

    assert summary == ListenerSummary(
        listener_id=listener.pk,
        events=7,
        streams=6,
        # 180,000 + 30,000 + 120,000 + 60,000 + 29,999 + 45,000 + 1,200,000 ms
        listening_minutes=Decimal("27.75"),
        skip_rate=1 / 7,
        first_played_at=at(2025, 3, 31, 23),
        last_played_at=at(2026, 3, 3, 8),
        top_artists=[RankedItem(abba.pk, "ABBA", 3), RankedItem(bowie.pk, "Bowie", 2)],
        # Waterloo and Heroes tie on streams: the lower id (created first) ranks first.
        top_tracks=[
            RankedItem(waterloo.pk, "Waterloo", 2),
            RankedItem(heroes.pk, "Heroes", 2),
            RankedItem(sos.pk, "SOS", 1),
        ],
        plays_per_month=[
            MonthPlays(month=date(y, m, 1), events={(2025, 12): 1, (2026, 1): 2, (2026, 3): 3}.get((y, m), 0))
            for y, m in _months(2025, 4, 12)
        ],
        current_plan="Premium",
        subscriptions=2,
        payments=[
            MoneyTotals(
                currency="EUR",
                attempts=1,
                failed=0,
                gross=Decimal("8.00"),
                refunded=Decimal("0.00"),
                net=Decimal("8.00"),
            ),
            MoneyTotals(
                currency="USD",
                attempts=3,
                failed=1,
                gross=Decimal("21.98"),
                refunded=Decimal("10.99"),
                net=Decimal("10.99"),
            ),
        ],
    )


def _months(year: int, month: int, count: int) -> list[tuple[int, int]]:
    index = year * 12 + month - 1
    return [((index + i) // 12, (index + i) % 12 + 1) for i in range(count)]
