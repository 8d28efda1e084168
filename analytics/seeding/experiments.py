"""A/B experiments with planned variant weights, listeners' assignments and real effects.

Two experiments run inside the period (one still running, one stopped) and one is a
draft. Their treatments change the data they are measured on: the home-shelf redesign
lifts listening by 12%, the upsell prompts raise the free-to-premium conversion hazard
by 30% (banner) and 50% (modal) while the experiment runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.models import Assignment, Experiment, Variant
from analytics.seeding.listeners import ListenerData
from analytics.seeding.loading import NULL_INT, Rows
from analytics.seeding.timeline import DAY, Timeline


@dataclass(frozen=True)
class _VariantSpec:
    key: str
    name: str
    weight: int
    effect: float = 1.0


@dataclass(frozen=True)
class _ExperimentSpec:
    key: str
    name: str
    hypothesis: str
    status: str
    window: tuple[float, float | None] | None  # share of the period: start, end (None = open)
    share_assigned: float
    variants: tuple[_VariantSpec, ...]


EXPERIMENTS = (
    _ExperimentSpec(
        "home-shelf-redesign",
        "Home shelf redesign",
        "A home screen led by personal mixes makes listeners play more minutes.",
        "running",
        (0.7, None),
        0.7,
        (_VariantSpec("control", "Current home", 50), _VariantSpec("mixes-first", "Mixes first", 50, 1.12)),
    ),
    _ExperimentSpec(
        "premium-upsell-prompt",
        "Premium upsell prompt",
        "Prompting free listeners after a skip limit converts more of them to Premium.",
        "stopped",
        (0.3, 0.65),
        0.6,
        (
            _VariantSpec("control", "No prompt", 50),
            _VariantSpec("banner", "Banner", 25, 1.3),
            _VariantSpec("modal", "Modal", 25, 1.5),
        ),
    ),
    _ExperimentSpec(
        "podcast-recommendations",
        "Podcast recommendations",
        "Recommending episodes on the home screen grows podcast listening.",
        "draft",
        None,
        0.0,
        (_VariantSpec("control", "No shelf", 50), _VariantSpec("episode-shelf", "Episode shelf", 50)),
    ),
)


@dataclass
class ConversionBoost:
    """Multiplier of a listener's conversion hazard over `[start, end)` (1 elsewhere)."""

    factor: np.ndarray
    start: np.ndarray
    end: np.ndarray


def build_experiments(
    listeners: ListenerData, timeline: Timeline, rng: np.random.Generator
) -> tuple[ConversionBoost, list[Rows]]:
    """Experiments and assignments; applies the listening effect to `listeners.activity`."""
    n = listeners.count
    length = timeline.end - timeline.start
    boost = ConversionBoost(np.ones(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))
    experiment_cols: dict[str, list] = {k: [] for k in ("id", "key", "name", "hypothesis", "status")}
    experiment_start, experiment_end = [], []
    variant_cols: dict[str, list] = {
        k: [] for k in ("id", "experiment_id", "key", "name", "is_control", "weight")
    }
    assigned: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
    variant_id = 0
    for number, spec in enumerate(EXPERIMENTS, start=1):
        experiment_cols["id"].append(number)
        for field in ("key", "name", "hypothesis", "status"):
            experiment_cols[field].append(getattr(spec, field))
        first_variant = variant_id + 1
        for i, variant in enumerate(spec.variants):
            variant_id += 1
            for field, value in (
                ("id", variant_id),
                ("experiment_id", number),
                ("key", variant.key),
                ("name", variant.name),
                ("is_control", i == 0),
                ("weight", variant.weight),
            ):
                variant_cols[field].append(value)
        if spec.window is None:
            experiment_start.append(NULL_INT)
            experiment_end.append(NULL_INT)
            continue
        day = timeline.day_start
        start = int(day[np.searchsorted(day, timeline.start + spec.window[0] * length)])
        end = (
            None
            if spec.window[1] is None
            else int(day[np.searchsorted(day, timeline.start + spec.window[1] * length)])
        )
        experiment_start.append(start)
        experiment_end.append(NULL_INT if end is None else end)
        stop = timeline.end if end is None else end
        eligible = np.flatnonzero((listeners.signup < stop) & (rng.random(n) < spec.share_assigned))
        at = np.maximum(listeners.signup[eligible], start) + rng.exponential(4 * DAY, len(eligible)).astype(
            np.int64
        )
        keep = at < stop
        eligible, at = eligible[keep], at[keep]
        weights = np.array([v.weight for v in spec.variants], dtype=float)
        variant = rng.choice(len(spec.variants), len(eligible), p=weights / weights.sum())
        effect = np.array([v.effect for v in spec.variants])[variant]
        if spec.key == "home-shelf-redesign":
            from_bucket = timeline.bucket_index(at)
            later = np.arange(timeline.buckets)[None, :] >= from_bucket[:, None]
            factor = np.where(later, effect[:, None], 1.0)
            listeners.activity[eligible] *= factor
            listeners.intensity[eligible] *= factor
        else:
            boost.factor[eligible] = effect
            boost.start[eligible] = at
            boost.end[eligible] = stop
        assigned.append((eligible, at, first_variant + variant, number))

    listener = np.concatenate([a[0] for a in assigned]) + 1
    at = np.concatenate([a[1] for a in assigned])
    variant = np.concatenate([a[2] for a in assigned])
    experiment = np.concatenate([np.full(len(a[0]), a[3]) for a in assigned])
    order = np.lexsort((listener, experiment, at))
    rows = [
        Rows(
            Experiment,
            {
                **experiment_cols,
                "started_at": np.array(experiment_start, dtype=np.int64),
                "ended_at": np.array(experiment_end, dtype=np.int64),
            },
        ),
        Rows(Variant, {**variant_cols, "is_control": np.array(variant_cols["is_control"])}),
        Rows(
            Assignment,
            {
                "id": np.arange(1, len(order) + 1),
                "experiment_id": experiment[order],
                "variant_id": variant[order],
                "listener_id": listener[order],
                "assigned_at": at[order],
            },
        ),
    ]
    return boost, rows
