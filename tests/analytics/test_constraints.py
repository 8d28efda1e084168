"""Every database constraint of the analytics domain models rejects a bad row.

Each case builds a valid row and names the fields that break one constraint; the row
goes in through `objects.create` and through `bulk_create` (no model validation on
either path), and the database's own message must name the constraint (SQLite names a
unique index by its columns).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import IntegrityError, models, transaction

from analytics.models import (
    STREAM_MIN_MS,
    Assignment,
    Experiment,
    ExperimentStatus,
    ListeningEvent,
    PlayContext,
    Variant,
)
from catalog.models import Playlist
from tests.factories import at, make_episode, make_listener, make_track

pytestmark = pytest.mark.django_db

DOMAIN_MODELS = [ListeningEvent, Experiment, Variant, Assignment]


@dataclass(frozen=True)
class Case:
    id: str
    constraint: str  # the Meta constraint's name, or "unique:<field>" for a unique field
    model: type[models.Model]
    valid: Callable[[SimpleNamespace], dict[str, Any]]
    breaks: Callable[[SimpleNamespace], dict[str, Any]]
    error: str  # a regex the database's error message matches


@pytest.fixture
def world() -> SimpleNamespace:
    """Content to play and a running experiment with a control, a variant and one assignment."""
    listener = make_listener()
    experiment = Experiment.objects.create(
        key="shuffle-v2", name="Shuffle v2", status=ExperimentStatus.RUNNING, started_at=at(2026, 1, 1)
    )
    control = Variant.objects.create(experiment=experiment, key="control", name="Control", is_control=True)
    Assignment.objects.create(
        experiment=experiment, variant=control, listener=listener, assigned_at=at(2026, 1, 2)
    )
    return SimpleNamespace(
        listener=listener,
        newcomer=make_listener(),
        track=make_track(),
        episode=make_episode(),
        playlist=Playlist.objects.create(title="Mix", created_at=at(2026, 1, 1)),
        experiment=experiment,
        control=control,
    )


def _event(w):
    return {
        "listener": w.listener,
        "track": w.track,
        "played_at": at(2026, 1, 5, 8),
        "ms_played": STREAM_MIN_MS - 1,
        "skipped": True,
        "device": "mobile",
        "context": PlayContext.PLAYLIST,
        "playlist": w.playlist,
    }


def _experiment(w):
    return {
        "key": "autoplay",
        "name": "Autoplay",
        "started_at": at(2026, 1, 1),
        "ended_at": at(2026, 2, 1),
    }


def _variant(w):
    return {"experiment": w.experiment, "key": "treatment", "name": "Treatment", "weight": 1}


def _assignment(w):
    return {
        "experiment": w.experiment,
        "variant": w.control,
        "listener": w.newcomer,
        "assigned_at": at(2026, 1, 3),
    }


CASES = [
    Case(
        "event-neither",
        "event_track_xor_episode",
        ListeningEvent,
        _event,
        lambda w: {"track": None},
        "event_track_xor_episode",
    ),
    Case(
        "event-both",
        "event_track_xor_episode",
        ListeningEvent,
        _event,
        lambda w: {"episode": w.episode},
        "event_track_xor_episode",
    ),
    Case(
        "event-unknown-device",
        "event_device_known",
        ListeningEvent,
        _event,
        lambda w: {"device": "fridge"},
        "event_device_known",
    ),
    # The column of a PositiveIntegerField carries its own `>= 0` check, which the
    # database may report first: either name proves the row was refused for its sign.
    Case(
        "ms-played-negative",
        "event_ms_played_not_negative",
        ListeningEvent,
        _event,
        lambda w: {"ms_played": -1, "skipped": False},
        "event_ms_played_not_negative|ms_played",
    ),
    Case(
        "skip-of-a-stream",
        "event_skip_under_30s",
        ListeningEvent,
        _event,
        lambda w: {"ms_played": STREAM_MIN_MS},
        "event_skip_under_30s",
    ),
    Case(
        "playlist-outside-playlist-context",
        "event_playlist_only_in_playlist_context",
        ListeningEvent,
        _event,
        lambda w: {"context": PlayContext.ALBUM},
        "event_playlist_only_in_playlist_context",
    ),
    Case(
        "experiment-ends-at-start",
        "experiment_ends_after_start",
        Experiment,
        _experiment,
        lambda w: {"ended_at": at(2026, 1, 1)},
        "experiment_ends_after_start",
    ),
    Case(
        "experiment-ends-unstarted",
        "experiment_ends_after_start",
        Experiment,
        _experiment,
        lambda w: {"started_at": None},
        "experiment_ends_after_start",
    ),
    Case(
        "experiment-key-taken",
        "unique:key",
        Experiment,
        _experiment,
        lambda w: {"key": "shuffle-v2"},
        r"analytics_experiment[._]key",
    ),
    Case(
        "variant-key-taken",
        "variant_key_unique_per_experiment",
        Variant,
        _variant,
        lambda w: {"key": "control"},
        r"variant_key_unique_per_experiment|analytics_variant\.experiment_id, analytics_variant\.key",
    ),
    Case(
        "second-control",
        "variant_one_control_per_experiment",
        Variant,
        _variant,
        lambda w: {"is_control": True},
        r"variant_one_control_per_experiment|analytics_variant\.experiment_id$",
    ),
    Case(
        "weight-zero",
        "variant_weight_positive",
        Variant,
        _variant,
        lambda w: {"weight": 0},
        "variant_weight_positive",
    ),
    Case(
        "second-assignment",
        "assignment_one_per_listener",
        Assignment,
        _assignment,
        lambda w: {"listener": w.listener},
        r"assignment_one_per_listener|analytics_assignment\.experiment_id, analytics_assignment\.listener_id",
    ),
]


def _insert(model: type[models.Model], how: str, fields: dict[str, Any]) -> None:
    with transaction.atomic():
        if how == "create":
            model.objects.create(**fields)
        else:
            model.objects.bulk_create([model(**fields)])


@pytest.mark.parametrize("how", ["create", "bulk_create"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_constraint_rejects_the_invalid_row(world, case, how):
    before = case.model.objects.count()

    with pytest.raises(IntegrityError, match=case.error):
        _insert(case.model, how, {**case.valid(world), **case.breaks(world)})

    assert case.model.objects.count() == before


@pytest.mark.parametrize("how", ["create", "bulk_create"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_constraint_accepts_the_valid_row(world, case, how):
    before = case.model.objects.count()

    _insert(case.model, how, case.valid(world))

    assert case.model.objects.count() == before + 1


def test_constraint_experiment_may_be_open_or_not_started(world):
    Experiment.objects.create(key="draft", name="Draft")
    Experiment.objects.create(key="open", name="Open", started_at=at(2026, 1, 1))

    assert set(Experiment.objects.values_list("key", flat=True)) == {"shuffle-v2", "draft", "open"}


def test_constraint_other_experiments_have_their_own_control(world):
    other = Experiment.objects.create(key="other", name="Other")

    Variant.objects.create(experiment=other, key="control", name="Control", is_control=True)

    assert Variant.objects.filter(is_control=True).count() == 2


def test_constraint_cases_cover_every_constraint_of_the_domain_models():
    declared = {
        (model, constraint.name) for model in DOMAIN_MODELS for constraint in model._meta.constraints
    } | {
        (model, f"unique:{field.name}")
        for model in DOMAIN_MODELS
        for field in model._meta.concrete_fields
        if field.unique and not field.primary_key
    }

    assert {(case.model, case.constraint) for case in CASES} == declared
