"""Tiny builders for hand-made test data. Every argument has a plain default so a test
states only what it is about."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

from analytics.models import ListeningEvent
from billing.models import Listener, Payment, PaymentStatus, Plan, Subscription, Tier
from billing.periods import add_months
from catalog.models import Album, Artist, Episode, Genre, Podcast, Track

_seq = itertools.count(1)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """An aware UTC datetime: tests read better with `at(2026, 1, 31, 23, 59)`."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def make_listener(**fields) -> Listener:
    n = next(_seq)
    fields.setdefault("email", f"listener{n}@example.com")
    fields.setdefault("display_name", f"Listener {n}")
    fields.setdefault("country", "SE")
    fields.setdefault("signed_up_at", at(2026, 1, 1))
    return Listener.objects.create(**fields)


def make_plan(
    code: str = "premium", *, tier: str = Tier.INDIVIDUAL, price: str | Decimal = "10.99", **fields
) -> Plan:
    fields.setdefault("name", code.replace("-", " ").title())
    plan, _ = Plan.objects.get_or_create(
        code=code, defaults={"tier": tier, "price": Decimal(price), **fields}
    )
    return plan


def make_subscription(listener: Listener, plan: Plan, *, started_at: datetime, **fields) -> Subscription:
    fields.setdefault("price", plan.price)
    fields.setdefault("billing_period", plan.billing_period)
    return Subscription.objects.create(listener=listener, plan=plan, started_at=started_at, **fields)


def make_payment(subscription: Subscription, *, paid_at: datetime, **fields) -> Payment:
    n = next(_seq)
    fields.setdefault("amount", subscription.price)
    fields.setdefault("method", "card")
    fields.setdefault("status", PaymentStatus.SUCCEEDED)
    fields.setdefault("period_start", paid_at)
    fields.setdefault("period_end", add_months(paid_at, 1))
    fields.setdefault("idempotency_key", f"test-payment-{n}")
    return Payment.objects.create(
        listener=subscription.listener, subscription=subscription, paid_at=paid_at, **fields
    )


def make_genre(name: str = "Pop") -> Genre:
    return Genre.objects.get_or_create(name=name)[0]


def make_artist(name: str | None = None, **fields) -> Artist:
    return Artist.objects.create(name=name or f"Artist {next(_seq)}", **fields)


def make_track(
    title: str | None = None, *, artist: Artist | None = None, genre: Genre | None = None, **fields
) -> Track:
    artist = artist or make_artist()
    genre = genre or make_genre()
    album = fields.pop("album", None) or Album.objects.create(
        title=f"Album {next(_seq)}", artist=artist, release_date=date(2025, 1, 1)
    )
    fields.setdefault("duration_ms", 200_000)
    return Track.objects.create(
        title=title or f"Track {next(_seq)}", album=album, primary_artist=artist, genre=genre, **fields
    )


def make_episode(podcast: Podcast | None = None, *, number: int = 1, **fields) -> Episode:
    podcast = podcast or Podcast.objects.create(title=f"Podcast {next(_seq)}", host="Host", category="News")
    fields.setdefault("title", f"Episode {number}")
    fields.setdefault("release_date", date(2026, 1, 1))
    fields.setdefault("duration_ms", 1_800_000)
    return Episode.objects.create(podcast=podcast, number=number, **fields)


def make_event(
    listener: Listener, *, played_at: datetime, track: Track | None = None, **fields
) -> ListeningEvent:
    fields.setdefault("ms_played", 180_000)
    fields.setdefault("device", "mobile")
    fields.setdefault("context", "album")
    if track is None and "episode" not in fields:
        track = make_track()
    return ListeningEvent.objects.create(listener=listener, track=track, played_at=played_at, **fields)
