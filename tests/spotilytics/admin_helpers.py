"""Helpers of the admin tests: one object of every registered model, and plain-HTTP settings."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db.models import (
    BinaryField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    IntegerField,
    Model,
)
from django.urls import reverse
from pyroaring import BitMap
from rest_framework.authtoken.models import Token, TokenProxy

from analytics.models import Assignment, Experiment, ExperimentStatus, Variant
from catalog.models import Follow, Playlist, PlaylistItem, Rating
from spotilytics.models import ImportLog, ImportSource, ImportStatus
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
    """One row of every model the admin shows, linked as in real data. Callable repeatedly:
    each call makes distinct rows (unique fields vary with the call)."""
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
    world = {
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
        ImportLog: ImportLog.objects.create(
            user=user,
            username=user.username,
            source=ImportSource.choices[0][0],
            model="catalog.track",
            file_name=f"tracks-{n}.csv",
            file_format="csv",
            status=ImportStatus.SUCCEEDED,
            rows=1,
            created=1,
        ),
    }
    for model in registered_models():
        if model not in world:
            world[model] = _rollup_row(model, world, n, day)
    return world


def _rollup_row(model: type[Model], world: dict[type[Model], Model], n: int, day: date) -> Model:
    """A row of a rollup table, from its field types (rollup admins are derived the same way)."""
    values = {}
    for field in model._meta.concrete_fields:
        if field.auto_created:
            continue
        if field.is_relation:
            values[field.name] = world[field.related_model]
        elif field.choices:
            values[field.name] = field.choices[0][0]
        elif isinstance(field, DateTimeField):
            values[field.name] = at(2026, 1, 5)
        elif isinstance(field, DateField):
            values[field.name] = day
        elif isinstance(field, CharField):
            values[field.name] = "SE" if field.max_length <= 2 else f"{field.name}-{n}"[: field.max_length]
        elif isinstance(field, IntegerField):
            # Small counts satisfy the tables' check constraints; keys vary with the call.
            values[field.name] = n if field.primary_key else 1
        elif isinstance(field, BooleanField):
            values[field.name] = True
        elif isinstance(field, DecimalField):
            values[field.name] = 0  # amounts that must add up (MRR movements) do so at 0
        elif isinstance(field, BinaryField):
            values[field.name] = BitMap([n]).serialize()  # listener bitmaps
        elif not field.has_default() and not field.null:
            raise TypeError(f"No test value for {model._meta.label}.{field.name}: add one to _rollup_row.")
    return model.objects.create(**values)


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
