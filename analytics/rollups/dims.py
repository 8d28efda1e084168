"""Dimensions of the listening rollups: device bit sets and the stored groupings."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from itertools import combinations

from analytics.models import Device
from billing.regions import countries_in

# One bit per device: a listener-day or listener-month row records every device used
# in one small integer, so "active on mobile" is `devices & 1 > 0` on both databases.
DEVICE_BITS: dict[str, int] = {device: 1 << n for n, device in enumerate(Device.values)}


class Dim(enum.IntFlag):
    """Dimensions of `ListeningDay`; a grouping is the OR of the dimensions it keeps."""

    COUNTRY = 1
    DEVICE = 2
    PLAN = 4
    GENRE = 8
    HOUR = 16


# Column of each dimension in `ListeningDay`, and its "not kept" value.
DIM_COLUMNS: dict[Dim, tuple[str, str]] = {
    Dim.COUNTRY: ("country", "''"),
    Dim.DEVICE: ("device", "''"),
    Dim.PLAN: ("plan_id", "0"),
    Dim.GENRE: ("genre_id", "0"),
    Dim.HOUR: ("hour", "0"),
}
FINEST = int(Dim.COUNTRY | Dim.DEVICE | Dim.PLAN | Dim.GENRE | Dim.HOUR)
NO_HOUR = FINEST & ~int(Dim.HOUR)

# Stored: every set of at most two dimensions without the hour, the hour alone and with
# the country (each at most about a thousand rows a day), and all four dimensions but the
# hour together for rarer combinations of filters. The hour with the other four is about
# as many rows as plays, so the hour combines with the country only.
HOUR_COUNTRY = int(Dim.HOUR | Dim.COUNTRY)
STORED_GROUPINGS: tuple[int, ...] = tuple(
    sorted(
        {0}
        | {int(dim) for dim in Dim}
        | {int(a | b) for a, b in combinations([d for d in Dim if d != Dim.HOUR], 2)}
        | {HOUR_COUNTRY, NO_HOUR}
    )
)


def grouping_for(dims: Iterable[Dim]) -> int:
    """The smallest stored grouping holding every dimension in `dims`."""
    wanted = 0
    for dim in dims:
        wanted |= int(dim)
    candidates = [g for g in STORED_GROUPINGS if g & wanted == wanted]
    if not candidates:
        raise ValueError("The hour of day is kept with the country only.")
    # Fewer kept dimensions means fewer rows.
    return min(candidates, key=lambda g: (g.bit_count(), g))


def country_scope(country: str | None, region: str | None) -> list[str] | None:
    """The country codes a country and/or region filter selects; None when unfiltered.

    Both given: the country if it lies in the region, else nothing.
    """
    if not country and not region:
        return None
    selected = set(countries_in(region)) if region else None
    if country:
        code = country.upper()
        return [code] if selected is None or code in selected else []
    return sorted(selected or ())
