"""Source marks: what tells a refresh that the tables a rollup part reads changed, and the
parts that skip their work when nothing did (revenue, rating and follower totals, cohort
sizes)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, transaction

from analytics.models import CohortSize, SourceVersion
from analytics.rollups import refresh as refresh_listening
from analytics.rollups import sources
from billing import rollups as revenue
from billing.models import Listener, Payment, PaymentDay, Plan, Subscription
from catalog.models import Rating, Track, TrackRatings
from catalog.rollups import refresh_totals
from tests.factories import (
    at,
    make_genre,
    make_listener,
    make_payment,
    make_plan,
    make_subscription,
    make_track,
)

pytestmark = pytest.mark.django_db


def version(model) -> int:
    return (
        SourceVersion.objects.filter(source=model._meta.label_lower).values_list("version", flat=True).first()
        or 0
    )


def raw_update(model, column: str, value, pk: int) -> None:
    """An edit Django never hears of, as a fix made in SQL would be."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {model._meta.db_table} SET {column} = %s WHERE id = %s", [value, pk])


def test_every_write_through_django_raises_the_tables_version():
    listener = make_listener(country="SE")
    assert version(Listener) == 1  # created
    listener.country = "NO"
    listener.save()
    assert version(Listener) == 2
    assert Listener.objects.filter(pk=listener.pk).update(country="DK") == 1
    assert version(Listener) == 3
    Listener.objects.filter(pk=-1).update(country="DK")  # no row: nothing changed
    assert version(Listener) == 3
    listener.country = "FI"
    Listener.objects.bulk_update([listener], ["country"])
    assert version(Listener) == 4
    Listener.objects.bulk_create(
        [Listener(email="bulk@example.com", country="SE", signed_up_at=at(2026, 1, 1))]
    )
    assert version(Listener) == 5
    Listener.objects.filter(email="bulk@example.com").delete()
    assert version(Listener) == 6
    # Raised in the writer's transaction: rolled back with it.
    with pytest.raises(RuntimeError), transaction.atomic():
        Listener.objects.filter(pk=listener.pk).update(country="IS")
        raise RuntimeError
    assert version(Listener) == 6
    # Tables no rollup part skips on are not tracked.
    make_plan("premium", price="10.00")
    assert not SourceVersion.objects.filter(source=Plan._meta.label_lower).exists()


def test_cascaded_deletes_raise_the_versions_of_the_rows_they_take():
    listener = make_listener()
    subscription = make_subscription(listener, make_plan("premium", price="10.00"), started_at=at(2026, 1, 1))
    before = version(Subscription)
    listener.payments.all().delete()
    listener.delete()
    assert not Subscription.objects.filter(pk=subscription.pk).exists()
    assert version(Subscription) == before + 1


def test_marks_see_rows_loaded_without_django_and_a_new_time_zone(settings):
    make_listener()
    first = sources.marks(Listener)
    assert sources.marks(Listener) == first
    with connection.cursor() as cursor:  # a bulk load (the seed's COPY) sends no signal
        cursor.execute(
            f"INSERT INTO {Listener._meta.db_table} (email, display_name, country, signed_up_at, "
            "acquisition_channel) VALUES ('loaded@example.com', 'Loaded', 'SE', %s, 'organic')",
            [at(2026, 1, 2)],
        )
    assert sources.marks(Listener) != first
    loaded = sources.marks(Listener)
    settings.TIME_ZONE = "Europe/Stockholm"
    assert sources.marks(Listener) != loaded


@pytest.fixture
def billed():
    """One listener on premium from Jan 10, paid that day."""
    listener = make_listener(country="SE", signed_up_at=at(2026, 1, 1))
    subscription = make_subscription(
        listener, make_plan("premium", price="10.00"), started_at=at(2026, 1, 10)
    )
    return make_payment(subscription, paid_at=at(2026, 1, 10))


def gross_on(day: date) -> Decimal:
    return sum(PaymentDay.objects.filter(day=day).values_list("gross", flat=True), Decimal(0))


def test_a_revenue_refresh_that_finds_its_tables_as_it_left_them_skips_its_work(billed):
    today = date(2026, 2, 14)
    revenue.refresh(full=True, today=today)
    assert gross_on(date(2026, 1, 10)) == Decimal("10.00")

    # Skipped: an edit made in SQL is not seen (nor is anything read to find it) ...
    raw_update(Payment, "amount", Decimal("12.00"), billed.pk)
    assert set(revenue.refresh(today=today).values()) == {0}
    assert gross_on(date(2026, 1, 10)) == Decimal("10.00")
    # ... until a refresh is asked to look again from a date,
    assert revenue.refresh(since=date(2026, 1, 1), today=today)["payment_days"] == 1
    assert gross_on(date(2026, 1, 10)) == Decimal("12.00")

    # while an edit through Django is seen by the next plain refresh,
    billed.refresh_from_db()
    billed.amount = Decimal("11.00")
    billed.save()
    assert revenue.refresh(today=today)["payment_days"] == 1
    assert gross_on(date(2026, 1, 10)) == Decimal("11.00")
    # as is a later reporting day, whose state the rows do not hold yet.
    assert set(revenue.refresh(today=today).values()) == {0}
    assert revenue.refresh(today=today + date.resolution)["subscriber_days"] == 1


def test_rating_totals_are_summed_again_only_when_their_tables_changed():
    track = make_track("T", genre=make_genre("Rock"))
    rating = Rating.objects.create(listener=make_listener(), track=track, score=4, rated_at=at(2026, 1, 2))
    assert refresh_totals() == {"track_ratings": 1, "artist_followers": 0}

    raw_update(Rating, "score", 1, rating.pk)
    assert refresh_totals() == {"track_ratings": 0, "artist_followers": 0}  # not seen: skipped
    assert TrackRatings.objects.get().total == 4
    assert refresh_totals(force=True) == {"track_ratings": 1, "artist_followers": 0}
    assert TrackRatings.objects.get().total == 1

    # A track moved to another genre through Django: its total follows.
    pop = make_genre("Pop")
    Track.objects.filter(pk=track.pk).update(genre=pop)
    assert refresh_totals() == {"track_ratings": 1, "artist_followers": 0}
    assert TrackRatings.objects.get().genre_id == pop.pk


def test_cohort_sizes_are_counted_again_only_when_listeners_changed():
    listener = make_listener(country="SE", signed_up_at=at(2026, 1, 5))
    today = date(2026, 2, 14)
    refresh_listening(since=None, full=True, today=today)
    assert list(CohortSize.objects.values_list("cohort", "country", "listeners")) == [
        (date(2026, 1, 1), "SE", 1)
    ]

    raw_update(Listener, "country", "NO", listener.pk)
    refresh_listening(since=None, full=False, today=today)
    assert list(CohortSize.objects.values_list("country", flat=True)) == ["SE"]  # not seen: skipped
    refresh_listening(since=date(2026, 2, 1), full=False, today=today)
    assert list(CohortSize.objects.values_list("country", flat=True)) == ["NO"]

    listener.refresh_from_db()
    listener.signed_up_at = at(2026, 2, 1)
    listener.save()
    refresh_listening(since=None, full=False, today=today)
    assert list(CohortSize.objects.values_list("cohort", "country", "listeners")) == [
        (date(2026, 2, 1), "NO", 1)
    ]
