"""Seed sizes and options: presets, overrides and their validation.

Everything the generators produce is a function of a `SeedConfig`: the same config
gives the same rows, byte for byte, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date
from typing import Any


class SeedOptionError(ValueError):
    """A bad option value; the message is one line that names the option."""


@dataclass(frozen=True)
class Scale:
    listeners: int
    events: int


SCALES: dict[str, Scale] = {
    "demo": Scale(listeners=2_000, events=200_000),
    "small": Scale(listeners=20_000, events=1_000_000),
    "medium": Scale(listeners=100_000, events=5_000_000),
    "large": Scale(listeners=200_000, events=10_000_000),
}
DEFAULT_SCALE = "demo"
DEFAULT_MONTHS = 12
# A fixed default seed: the same command gives the same data.
DEFAULT_SEED = 20_260_101

MAX_LISTENERS = 5_000_000
MAX_EVENTS = 500_000_000
MAX_MONTHS = 36
MIN_LISTENERS = 20


@dataclass(frozen=True)
class SeedConfig:
    listeners: int
    events: int
    months: int
    seed: int
    end_date: date  # data stops at local midnight starting this day: nothing lies in the future
    time_zone: str

    @property
    def artists(self) -> int:
        return min(5_000, 300 + self.listeners // 10)

    @property
    def podcasts(self) -> int:
        return min(300, 15 + self.listeners // 200)


def _whole_number(name: str, raw: Any, *, minimum: int, maximum: int) -> int:
    if isinstance(raw, bool):
        raise SeedOptionError(f"--{name} must be a whole number; got {raw!r}.")
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip().replace("_", "")
        if not text.lstrip("-").isdigit():
            raise SeedOptionError(f"--{name} must be a whole number; got {raw!r}.")
        value = int(text)
    if not minimum <= value <= maximum:
        raise SeedOptionError(f"--{name} must be between {minimum:,} and {maximum:,}; got {value:,}.")
    return value


def _end_date(raw: Any, today: date) -> date:
    if raw is None:
        return today
    if isinstance(raw, date):
        value = raw
    else:
        try:
            value = date.fromisoformat(str(raw).strip())
        except ValueError:
            raise SeedOptionError(f"--end-date must be a date as YYYY-MM-DD; got {raw!r}.") from None
    if value > today:
        raise SeedOptionError(
            f"--end-date cannot be after today ({today.isoformat()}); got {value.isoformat()}."
        )
    if value.year < 1990:
        raise SeedOptionError(f"--end-date must be in 1990 or later; got {value.isoformat()}.")
    return value


def build_config(
    *,
    scale: Any = None,
    listeners: Any = None,
    events: Any = None,
    months: Any = None,
    seed: Any = None,
    end_date: Any = None,
    today: date,
    time_zone: str,
) -> SeedConfig:
    """Resolve a preset plus explicit overrides into a validated config."""
    scale_name = DEFAULT_SCALE if scale in (None, "") else str(scale).strip().lower()
    if scale_name not in SCALES:
        raise SeedOptionError(f"--scale must be one of {', '.join(SCALES)}; got {scale!r}.")
    preset = SCALES[scale_name]
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SeedOptionError(f"TIME_ZONE {time_zone!r} is not an IANA time zone.") from None
    return SeedConfig(
        listeners=_whole_number(
            "listeners",
            preset.listeners if listeners is None else listeners,
            minimum=MIN_LISTENERS,
            maximum=MAX_LISTENERS,
        ),
        events=_whole_number(
            "events", preset.events if events is None else events, minimum=0, maximum=MAX_EVENTS
        ),
        months=_whole_number(
            "months", DEFAULT_MONTHS if months is None else months, minimum=1, maximum=MAX_MONTHS
        ),
        seed=_whole_number("seed", DEFAULT_SEED if seed is None else seed, minimum=0, maximum=2**32 - 1),
        end_date=_end_date(end_date, today),
        time_zone=time_zone,
    )
