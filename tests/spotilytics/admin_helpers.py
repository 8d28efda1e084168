"""Helpers of the admin tests: one object of every registered model, and plain-HTTP settings."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db.models import Model
from django.urls import reverse
from rest_framework.authtoken.models import Token, TokenProxy

from analytics.models import Assignment, Experiment, ExperimentStatus, Variant
from billing.models import (
    MrrMonth,
    PaymentDay,
    PaymentMonth,
    SubscriberDay,
    TrialMonth,
)
from catalog.models import (
    ContentRollupWatermark,
    Follow,
    GenreCountryStreams,
    ListenerMonthActivity,
    Playlist,
    PlaylistItem,
    PodcastCountryStreams,
    Rating,
    TrackCountryStreams,
    TrackStreams,
)
from tests.factories import (
    at,
    make_artist,
    make_episode,
    make_event,
    make_genre,
    make_listener,
    make_payment,
    make_plan,
    make_subscription,
    make_track,
)

_world = itertools.count(1)


def admin_test_settings(settings) -> None:
    """Tests run with DEBUG off: no HTTPS redirect and no collectstatic manifest here;
    and a fast password hasher, as the tests create many staff users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SECURE_SSL_REDIRECT = False
    settings.STATIC_ROOT = None  # WhiteNoise would warn that no collectstatic ran
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def build_world() -> dict[type[Model], Model]:
    """One row of every model the admin shows, linked as in real data. Callable repeatedly."""
    n = next(_world)
    day = date(2026, 1, 1) + timedelta(days=n)
    listener = make_listener(display_name=f"Ada {n}")
    plan = make_plan(f"premium-{n}", price="10.99")
    subscription = make_subscription(
        listener, plan, started_at=at(2026, 1, 1), current_period_end=at(2026, 2, 1)
    )
    payment = make_payment(subscription, paid_at=at(2026, 1, 1))
    genre = make_genre(f"Genre {n}")
    artist = make_artist(f"Artist {n}")
    artist.genres.add(genre)
    track = make_track(f"Track {n}", artist=artist, genre=genre)
    episode = make_episode()
    playlist = Playlist.objects.create(owner=listener, title=f"Mix {n}", created_at=at(2026, 1, 2))
    item = PlaylistItem.objects.create(playlist=playlist, position=1, track=track, added_at=at(2026, 1, 2))
    follow = Follow.objects.create(listener=listener, artist=artist, followed_at=at(2026, 1, 3))
    rating = Rating.objects.create(listener=listener, track=track, score=4, rated_at=at(2026, 1, 3))
    event = make_event(
        listener, played_at=at(2026, 1, 4, 8), track=track, playlist=playlist, context="playlist"
    )
    experiment = Experiment.objects.create(
        key=f"exp-{n}", name=f"Experiment {n}", status=ExperimentStatus.RUNNING, started_at=at(2026, 1, 1)
    )
    variant = Variant.objects.create(experiment=experiment, key="control", name="Control", is_control=True)
    assignment = Assignment.objects.create(
        experiment=experiment, variant=variant, listener=listener, assigned_at=at(2026, 1, 2)
    )
    user = User.objects.create_user(f"staff-{n}", password="pw-staff-123", is_staff=True)
    token = Token.objects.create(user=user)
    money = Decimal("10.99")
    return {
        type(listener): listener,
        type(plan): plan,
        type(subscription): subscription,
        type(payment): payment,
        type(genre): genre,
        type(artist): artist,
        type(track.album): track.album,
        type(track): track,
        type(episode.podcast): episode.podcast,
        type(episode): episode,
        Playlist: playlist,
        PlaylistItem: item,
        Follow: follow,
        Rating: rating,
        type(event): event,
        Experiment: experiment,
        Variant: variant,
        Assignment: assignment,
        User: user,
        Group: Group.objects.get(name="Analyst"),
        TokenProxy: TokenProxy.objects.get(pk=token.pk),
        SubscriberDay: SubscriberDay.objects.create(
            day=day, country="SE", plan=plan, listeners=1, paying=1, arr=money * 12
        ),
        PaymentDay: PaymentDay.objects.create(
            day=day,
            country="SE",
            plan=plan,
            method="card",
            attempts=1,
            succeeded=1,
            failed=0,
            gross=money,
            refunds=0,
        ),
        PaymentMonth: PaymentMonth.objects.create(
            month=day,
            country="SE",
            plan=plan,
            method="card",
            attempts=1,
            succeeded=1,
            failed=0,
            gross=money,
            refunds=0,
        ),
        MrrMonth: MrrMonth.objects.create(
            month=day,
            as_of=day,
            country="SE",
            arr_start=0,
            arr_new=money * 12,
            arr_reactivation=0,
            arr_expansion=0,
            arr_contraction=0,
            arr_churn=0,
            arr_end=money * 12,
            customers_start=0,
            customers_churned=0,
            customers_end=1,
        ),
        TrialMonth: TrialMonth.objects.create(month=day, country="SE", plan=plan, trials=2, converted=1),
        TrackStreams: TrackStreams.objects.create(grain="day", period=day, track=track, streams=3),
        TrackCountryStreams: TrackCountryStreams.objects.create(
            grain="day", period=day, country="SE", track=track, streams=3
        ),
        GenreCountryStreams: GenreCountryStreams.objects.create(
            grain="day", period=day, country="SE", genre=genre, streams=3
        ),
        PodcastCountryStreams: PodcastCountryStreams.objects.create(
            grain="day", period=day, country="SE", device="mobile", podcast=episode.podcast, streams=1
        ),
        ListenerMonthActivity: ListenerMonthActivity.objects.create(
            month=day, listener=listener, country="SE", days=0b1011
        ),
        ContentRollupWatermark: ContentRollupWatermark.objects.create(
            key=f"content-{n}", through=day, max_event_id=event.pk, refreshed_at=at(2026, 1, 5)
        ),
    }


def admin_url(model: type[Model], page: str, obj: Model | None = None) -> str:
    """The admin URL of a model's page: changelist, add, change or delete."""
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}"
    if obj is None:
        return reverse(name)
    # DRF's token admin addresses a token by its user's id.
    pk = obj.user_id if isinstance(obj, TokenProxy) else obj.pk
    return reverse(name, args=[pk])


def registered_models() -> list[type[Model]]:
    return sorted(admin.site._registry, key=lambda model: model._meta.label)
