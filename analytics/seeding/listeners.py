"""Listeners, their hidden traits, and how much each one listens month by month.

The monthly activity matrix is the spine of the seed: billing reads it (cancellations
rise when a listener's activity falls, conversions rise with engagement) and the event
generator spreads each listener-month's plays according to it.

Activity model (per listener l and calendar month b of the period):
- a heavy-tailed base level, lognormal with sigma 1.0;
- a random walk in log space (drift per listener, noise per month), plus a novelty
  boost in the signup month; 30% of the listeners fade (-0.5 a month) from a
  random month on;
- a presence state: each month an active listener leaves the platform with 4% chance
  (12% in the first two months), and an absent one comes back with 12% chance;
- exposure: the time after signup within the month, in average months, so the partial
  first and last months of the period get plays for their days only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.seeding.config import SeedConfig
from analytics.seeding.loading import Coded, Rows
from analytics.seeding.names import person_names
from analytics.seeding.timeline import Timeline
from billing.models import AcquisitionChannel, Listener
from billing.regions import COUNTRY_REGION

# Shares of a global streaming service's listeners by market (rounded, sum normalised).
COUNTRY_WEIGHTS = {
    "US": 16.0, "BR": 6.5, "IN": 5.5, "MX": 5.0, "GB": 4.5, "DE": 4.5, "ID": 4.0, "FR": 3.5,
    "PH": 3.0, "ES": 3.0, "CA": 3.0, "IT": 2.5, "AR": 2.5, "TR": 2.0, "PL": 2.0, "JP": 2.0,
    "CO": 2.0, "AU": 2.0, "NL": 1.5, "CL": 1.5, "TH": 1.2, "VN": 1.2, "SE": 1.0, "PE": 1.0,
    "ZA": 1.0, "EG": 0.8, "NG": 0.8, "SA": 0.8, "MY": 0.8, "BE": 0.8, "PT": 0.7, "KR": 0.6,
    "AE": 0.6, "RO": 0.6, "AT": 0.6, "CH": 0.6, "NO": 0.6, "DK": 0.5, "FI": 0.5, "IE": 0.4,
    "NZ": 0.4, "KE": 0.4, "IL": 0.4, "MA": 0.4, "GH": 0.3, "CR": 0.3, "EC": 0.3, "UA": 0.3,
}  # fmt: skip
_CHANNELS = [c.value for c in AcquisitionChannel]
_CHANNEL_WEIGHTS = [0.34, 0.15, 0.2, 0.12, 0.13, 0.06]
# Genre preference multipliers by region, then by country (genre names from catalog.GENRES).
_REGION_TASTE = {
    "latin_america": {"Latin": 4.0, "Reggaeton": 4.5, "Country": 0.3, "K-Pop": 0.6},
    "north_america": {"Country": 2.8, "Hip-Hop": 1.5, "R&B": 1.3, "Reggaeton": 0.6},
    "europe": {"Electronic": 1.6, "Rock": 1.3, "Indie": 1.3, "Country": 0.4, "Classical": 1.3},
    "asia_pacific": {"K-Pop": 5.0, "Country": 0.3, "Reggaeton": 0.4, "Lo-fi": 1.5},
    "mea": {"Afrobeats": 6.0, "Hip-Hop": 1.3, "Country": 0.3},
}
_COUNTRY_TASTE = {
    "ES": {"Latin": 2.5, "Reggaeton": 3.0},
    "SE": {"Metal": 2.5, "Electronic": 1.5},
    "FI": {"Metal": 4.0},
    "NO": {"Metal": 2.0},
    "DE": {"Metal": 1.6, "Electronic": 1.5},
    "KR": {"K-Pop": 3.0},
    "JP": {"Rock": 1.5, "Jazz": 1.8},
    "IN": {"K-Pop": 0.4, "Pop": 1.4},
    "GB": {"Indie": 1.5, "Rock": 1.3},
}
DEVICE_WEIGHTS = [0.58, 0.16, 0.05, 0.04, 0.07, 0.05, 0.05]  # order of loading.DEVICES
CONTEXT_WEIGHTS = np.array([0.14, 0.36, 0.08, 0.10, 0.17, 0.15])  # order of loading.CONTEXTS
PAYMENT_METHODS = ["card", "debit_card", "paypal", "gift_card", "apple_pay", "google_pay"]
_METHOD_WEIGHTS = [0.44, 0.16, 0.24, 0.03, 0.08, 0.05]


@dataclass
class ListenerData:
    """Per-listener traits as arrays indexed by id - 1 (listeners are numbered by signup)."""

    signup: np.ndarray  # epoch seconds
    country: np.ndarray
    birth_year: np.ndarray  # 0 when unknown
    taste_cum: np.ndarray  # (L, genres) cumulative genre preference
    activity: np.ndarray  # (L, buckets) expected share of plays, before normalising
    intensity: np.ndarray  # (L, buckets) activity without exposure: how engaged, 0 when absent
    skip_propensity: np.ndarray
    hour_shift: np.ndarray  # seconds added to the daily rhythm (night owls, early birds)
    device: np.ndarray
    context_cum: np.ndarray  # (L, 6) cumulative context preference
    podcast_share: np.ndarray  # share of sessions spent on podcasts (0 for most listeners)
    payment_method: np.ndarray

    @property
    def count(self) -> int:
        return len(self.signup)


def _taste_prior(countries: np.ndarray, genre_names: list[str], base: np.ndarray) -> np.ndarray:
    prior = np.tile(base, (len(countries), 1))
    regions = np.array([COUNTRY_REGION.get(c, "europe") for c in countries.tolist()])
    index = {name: i for i, name in enumerate(genre_names)}
    for region, boosts in _REGION_TASTE.items():
        rows = regions == region
        for genre, factor in boosts.items():
            prior[rows, index[genre]] *= factor
    for country, boosts in _COUNTRY_TASTE.items():
        rows = countries == country
        for genre, factor in boosts.items():
            prior[rows, index[genre]] *= factor
    return prior / prior.sum(axis=1, keepdims=True)


def _signups(config: SeedConfig, timeline: Timeline, rng: np.random.Generator) -> np.ndarray:
    n = config.listeners
    before = rng.random(n) < 0.45
    u = rng.random(n)
    # Before the period: denser toward the period; during it: the rate doubles over the period.
    history = timeline.history_start + (u**0.6 * (timeline.start - timeline.history_start))
    growth = np.log(2.0)
    during = timeline.start + np.log1p(u * np.expm1(growth)) / growth * (timeline.end - 1 - timeline.start)
    return np.sort(np.where(before, history, during).astype(np.int64))


_AVERAGE_MONTH_SECONDS = 365.2425 / 12 * 86_400


def _activity(
    timeline: Timeline, signup: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n, buckets = len(signup), timeline.buckets
    starts, ends = timeline.bucket_start[:-1], timeline.bucket_start[1:]
    exposed = np.clip(ends[None, :] - np.maximum(starts[None, :], signup[:, None]), 0, None)
    exposure = exposed / _AVERAGE_MONTH_SECONDS
    # Listeners who joined before the period are long past their first months.
    signup_bucket = np.where(signup < timeline.start, -100, timeline.bucket_index(signup))
    level = rng.normal(0, 1.0, n)
    drift = rng.normal(-0.02, 0.08, n)
    # Some listeners lose interest from some month on: the churn risk billing sees.
    fade_from = np.where(rng.random(n) < 0.3, rng.integers(0, buckets + 1, n), buckets + 1)
    present = np.ones(n, dtype=bool)
    intensity = np.zeros((n, buckets))
    for b in range(buckets):
        level = level + drift + rng.normal(0, 0.25, n) - np.where(b >= fade_from, 0.5, 0.0)
        tenure = b - signup_bucket
        leave = np.where(tenure <= 1, 0.12, 0.04)
        moved = rng.random(n)
        present = np.where(present, moved >= leave, moved < 0.12)
        present[tenure == 0] = True
        novelty = np.where(tenure == 0, 0.3, 0.0)
        intensity[:, b] = np.where(present & (tenure >= 0), np.exp(level + novelty), 0.0)
    return intensity * exposure, intensity


def build_listeners(
    config: SeedConfig,
    timeline: Timeline,
    genre_names: list[str],
    genre_share: np.ndarray,
    rng: np.random.Generator,
) -> tuple[ListenerData, list[Rows]]:
    n = config.listeners
    signup = _signups(config, timeline, rng)
    codes = list(COUNTRY_WEIGHTS)
    weights = np.array(list(COUNTRY_WEIGHTS.values()))
    country = np.array(codes)[rng.choice(len(codes), n, p=weights / weights.sum())]
    end_year = int(timeline.end // (365.2425 * 86_400)) + 1970
    age = np.where(
        rng.random(n) < 0.55, rng.integers(16, 30, n), np.clip(rng.gamma(4.0, 6.5, n) + 18, 18, 85)
    ).astype(np.int64)
    birth_year = np.where(rng.random(n) < 0.05, 0, end_year - age)
    display, local = person_names(rng, country)
    ids = np.arange(1, n + 1)
    domains = np.array(["example.com", "example.net", "example.org"])[rng.integers(0, 3, n)]
    email = [f"{p}.{i}@{d}" for p, i, d in zip(local, ids.tolist(), domains.tolist(), strict=True)]
    channel = np.array(_CHANNELS)[rng.choice(len(_CHANNELS), n, p=_CHANNEL_WEIGHTS)]

    prior = _taste_prior(country, genre_names, genre_share)
    taste = rng.gamma(prior * 6.0 + 0.02)
    taste /= taste.sum(axis=1, keepdims=True)
    activity, intensity = _activity(timeline, signup, rng)
    context = rng.gamma(CONTEXT_WEIGHTS * 8.0, size=(n, len(CONTEXT_WEIGHTS)))
    context /= context.sum(axis=1, keepdims=True)
    podcast_share = np.where(rng.random(n) < 0.28, rng.uniform(0.04, 0.3, n), 0.0)

    data = ListenerData(
        signup=signup,
        country=country,
        birth_year=birth_year,
        taste_cum=np.cumsum(taste, axis=1).astype(np.float32),
        activity=activity,
        intensity=intensity,
        skip_propensity=rng.normal(0, 0.6, n),
        hour_shift=np.round(rng.normal(0, 1.3, n) * 3600).astype(np.int64),
        device=rng.choice(len(DEVICE_WEIGHTS), n, p=DEVICE_WEIGHTS),
        context_cum=np.cumsum(context, axis=1),
        podcast_share=podcast_share,
        payment_method=rng.choice(len(PAYMENT_METHODS), n, p=_METHOD_WEIGHTS),
    )
    rows = Rows(
        Listener,
        {
            "id": ids,
            "email": email,
            "display_name": display,
            "country": Coded.of(country),
            "birth_year": np.where(birth_year == 0, np.iinfo(np.int64).min, birth_year),
            "signed_up_at": signup,
            "acquisition_channel": Coded.of(channel),
        },
    )
    return data, [rows]
