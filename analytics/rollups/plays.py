"""A window's listening events as numpy arrays, read once for every listening rollup of
its days: who was active (`ActivityDay`, `CohortDay`), plays by dimension
(`ListeningDay`), sessions and playlist runs.

One read of packed integer columns (`_sql.int_columns`) replaces a statement per rollup
that read and joined the window's events again. A listener's country and sign-up month
and a track's genre come from small tables read once per refresh; the plan of each play
is found among the subscriptions that overlap the window. Local days and hours are cut
at the instants where the reporting zone's calendar turns, so they match what the
database's time-zone functions give, across daylight-saving changes too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from django.db.models import BigIntegerField, Case, Expression, F, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce

from analytics.kpis._time import add_months, day_start, days, months, reporting_zone
from analytics.models import Device, ListeningEvent, PlayContext
from analytics.rollups import _sql
from analytics.rollups._sql import epoch_us
from billing.models import Listener, Plan, Subscription, Tier
from catalog.models import Track

NO_PLAYLIST = -1
DEVICES: tuple[str, ...] = tuple(Device.values)  # a play's device is its index here
DEVICE_NAMES = np.array([device.encode() for device in DEVICES])  # as `insert_arrays` takes them
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


def month_number(day: date) -> int:
    """Months since year 0, so that months compare and subtract as integers."""
    return day.year * 12 + day.month - 1


def month_date(number: int) -> date:
    return date(number // 12, number % 12 + 1, 1)


class IdTable:
    """Integer columns of a table by id, read for the ids asked about and kept for the
    rest of the refresh. A daily refresh asks about a day's listeners and tracks, a tenth
    of the tables or less, which then cost a tenth of reading them whole."""

    def __init__(self, queryset: QuerySet, *columns: Expression) -> None:
        self._queryset, self._columns = queryset.order_by(), columns
        self.ids = np.zeros(0, dtype=np.int64)
        self._values = [np.zeros(0, dtype=np.int64) for _ in columns]

    def _read(self, wanted: np.ndarray) -> None:
        missing = wanted[~self._held(wanted)]
        ids, *columns = _sql.int_columns(_sql.among(self._queryset, "id", missing), F("id"), *self._columns)
        ids = np.concatenate([self.ids, ids])
        columns = [np.concatenate(pair) for pair in zip(self._values, columns, strict=True)]
        ids, first = np.unique(ids, return_index=True)  # sorted; a row read twice (SQLite) once
        self.ids, self._values = ids, [column[first] for column in columns]

    def values(self, ids: np.ndarray, column: int = 0) -> np.ndarray:
        """Column `column` (in the order given) of the rows with these ids."""
        if not self._held(ids).all():
            self._read(ids)
            if not self._held(ids).all():  # the rows referring to them outlived them
                raise LookupError(f"{self._queryset.model.__name__} ids missing from their table.")
        return self._values[column][np.searchsorted(self.ids, ids)]

    def _held(self, ids: np.ndarray) -> np.ndarray:
        """Whether each of `ids` has been read."""
        if not len(self.ids):
            return np.zeros(len(ids), dtype=bool)
        at = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return self.ids[at] == ids


class Lookups:
    """Listeners (country, sign-up instant) and tracks (genre), for the listening rollups
    of one refresh."""

    def __init__(self) -> None:
        self.listeners = IdTable(
            Listener.objects, _sql.country_number("country"), _sql.EpochMicroseconds("signed_up_at")
        )
        self.tracks = IdTable(Track.objects, F("genre_id"))

    def signup_months(self, listener_ids: np.ndarray) -> np.ndarray:
        """Each listener's local sign-up month, as a `month_number`."""
        return local_months(self.listeners.values(listener_ids, 1))

    def genres_of(self, track_ids: np.ndarray) -> np.ndarray:
        """Each play's genre, 0 for episodes (track id 0)."""
        is_track = track_ids != 0
        genres = np.zeros(len(track_ids), dtype=np.int64)
        genres[is_track] = self.tracks.values(track_ids[is_track])
        return genres


@dataclass
class Plays:
    """The events of `[start, end)`, one array per column, in no particular order."""

    start: datetime
    end: datetime
    listener: np.ndarray
    country: np.ndarray  # the listener's, as `_sql.country_number`
    played_us: np.ndarray  # microseconds since the epoch
    event_id: np.ndarray
    ms_played: np.ndarray
    playlist: np.ndarray  # NO_PLAYLIST outside a playlist; 0 for a deleted playlist
    track: np.ndarray  # 0 for an episode
    device: np.ndarray  # index in DEVICES
    skipped: np.ndarray  # 0 or 1

    def __len__(self) -> int:
        return len(self.listener)

    def between(self, start: datetime, end: datetime) -> Plays:
        """The plays of `[start, end)`, a part of this window."""
        if (start, end) == (self.start, self.end):
            return self
        kept = (self.played_us >= epoch_us(start)) & (self.played_us < epoch_us(end))
        return Plays(
            start,
            end,
            *(getattr(self, name)[kept] for name in _COLUMNS),
        )


_COLUMNS = (
    "listener",
    "country",
    "played_us",
    "event_id",
    "ms_played",
    "playlist",
    "track",
    "device",
    "skipped",
)


def device_number() -> Case:
    """A play's device as its index in `DEVICES` (-1 for another, which the event
    table's check constraint keeps out)."""
    return Case(
        *(When(device=device, then=Value(n)) for n, device in enumerate(DEVICES)),
        default=Value(-1),
        output_field=BigIntegerField(),
    )


def read_plays(start: datetime, end: datetime, lookups: Lookups) -> Plays:
    """The events played in `[start, end)`."""
    listener, played_us, event_id, ms_played, playlist, track, device, skipped = _sql.int_columns(
        ListeningEvent.objects.filter(played_at__gte=start, played_at__lt=end),
        F("listener_id"),
        _sql.EpochMicroseconds("played_at"),
        F("id"),
        F("ms_played"),
        Case(
            When(context=PlayContext.PLAYLIST, then=Coalesce("playlist_id", Value(0))),
            default=Value(NO_PLAYLIST),
            output_field=BigIntegerField(),
        ),
        Coalesce(F("track_id"), Value(0), output_field=BigIntegerField()),
        device_number(),
        Case(When(skipped=True, then=Value(1)), default=Value(0), output_field=BigIntegerField()),
    )
    if np.any(device < 0):  # the database's check constraint keeps them out
        raise ValueError(f"A listening event has a device outside {', '.join(DEVICES)}.")
    return Plays(
        start,
        end,
        listener,
        lookups.listeners.values(listener),
        played_us,
        event_id,
        ms_played,
        playlist,
        track,
        device,
        skipped,
    )


def local_hours(played_us: np.ndarray, lo: date, hi: date) -> tuple[np.ndarray, np.ndarray]:
    """Each instant's local day (index from `lo`) and local hour, for instants within the
    local days `[lo, hi)`.

    Cut at each local hour's first instant: where a clock change skips an hour, the hours
    either side start at the same instant and the later one wins (no play has the skipped
    hour); where it repeats one, both passes count as that hour.
    """
    zone = reporting_zone()
    edges = [
        epoch_us(datetime.combine(day, time(hour), tzinfo=zone)) for day in days(lo, hi) for hour in range(24)
    ]
    hour_number = np.searchsorted(np.array(edges, dtype=np.int64), played_us, side="right") - 1
    return hour_number // 24, hour_number % 24


def local_months(instants_us: np.ndarray) -> np.ndarray:
    """Each instant's local month (`month_number`), cut at the first instants of the
    reporting zone's months. Found in numpy: the database took 100 ms to extract 200,000
    listeners' local years and months."""
    if not len(instants_us):
        return np.zeros(0, dtype=np.int64)
    zone = reporting_zone()
    first, last = (
        datetime.fromtimestamp(int(value) // 1_000_000, tz=zone).date().replace(day=1)
        for value in (instants_us.min(), instants_us.max())
    )
    starts = months(first, add_months(last, 1))
    edges = np.array([epoch_us(day_start(month)) for month in starts], dtype=np.int64)
    return month_number(first) + np.searchsorted(edges, instants_us, side="right") - 1


def day_edges(lo: date, hi: date) -> np.ndarray:
    """The first instants of the local days `[lo, hi]` (one more than days)."""
    return np.array([epoch_us(day_start(day)) for day in days(lo, hi + timedelta(days=1))], dtype=np.int64)


def plans_at(plays: Plays) -> np.ndarray:
    """The plan of each play's subscription active at `played_at` (0 for the free tier or
    none), as `facts.plan_at_play` finds it: should subscriptions overlap, the one started
    last (then the higher id) wins."""
    subs = _sql.among(
        Subscription.objects.filter(started_at__lt=plays.end).filter(
            Q(ended_at__isnull=True) | Q(ended_at__gt=plays.start)
        ),
        "listener",
        plays.listener,
    )
    # Both instants as plain timestamps (an open subscription ends at the end of time),
    # which `int_columns` reads as the database sends them, and plans by id: a CASE over
    # them and a join to the plans cost a fifth of the read (200,000 rows at 10M events).
    listener, started, ended, sub_id, plan = _sql.int_columns(
        subs,
        F("listener_id"),
        _sql.EpochMicroseconds("started_at"),
        _sql.EpochMicroseconds(Coalesce("ended_at", Value(_END_OF_TIME))),
        F("id"),
        F("plan_id"),
    )
    plan[np.isin(plan, list(Plan.objects.filter(tier=Tier.FREE).values_list("id", flat=True)))] = 0
    plans = np.zeros(len(plays), dtype=np.int64)
    if not len(listener) or not len(plays):
        return plans
    order = np.lexsort((sub_id, started, listener))
    listener, started, ended, plan = listener[order], started[order], ended[order], plan[order]
    # Each play's listener's subscriptions are [first, stop); find how many of them started
    # at or before the play (a binary search per play, all plays at once).
    first = np.searchsorted(listener, plays.listener, side="left")
    stop = np.searchsorted(listener, plays.listener, side="right")
    low, high = first.copy(), stop.copy()
    while np.any(open_ := low < high):
        middle = (low + high) // 2
        started_before = np.zeros(len(plays), dtype=bool)
        started_before[open_] = started[middle[open_]] <= plays.played_us[open_]
        low = np.where(open_ & started_before, middle + 1, low)
        high = np.where(open_ & ~started_before, middle, high)
    # The last one started is the candidate; while it has ended, the one before it.
    candidate = low - 1
    pending = candidate >= first
    while np.any(pending):
        at = candidate[pending]
        active = ended[at] > plays.played_us[pending]
        found = np.flatnonzero(pending)[active]
        plans[found] = plan[candidate[found]]
        pending[found] = False
        candidate[pending] -= 1
        pending &= candidate >= first
    return plans


def group_sums(
    keys: list[np.ndarray], values: list[np.ndarray] | None = None, *, combine: np.ufunc = np.add
) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """Per distinct combination of the `keys` columns, in order: the key values, the
    number of rows and the exact (int64) sum of each of the `values` columns (or what
    `combine` makes of them, such as a bitwise OR)."""
    values = values or []
    if not len(keys[0]):
        return [key[:0] for key in keys], np.zeros(0, dtype=np.int64), [value[:0] for value in values]
    packed = _packed(keys)
    # Stable, like lexsort: the same order either way, so the same sums bit for bit.
    order = np.lexsort(keys[::-1]) if packed is None else np.argsort(packed, kind="stable")
    ordered = [key[order] for key in keys]
    changes = np.zeros(len(order), dtype=bool)
    changes[0] = True
    for key in ordered if packed is None else [packed[order]]:
        changes[1:] |= key[1:] != key[:-1]
    firsts = np.flatnonzero(changes)
    counts = np.diff(np.append(firsts, len(order)))
    return (
        [key[firsts] for key in ordered],
        counts,
        [combine.reduceat(value[order], firsts) for value in values],
    )


def _packed(keys: list[np.ndarray]) -> np.ndarray | None:
    """The key columns as one int64 per row that orders as the rows do (first column
    first), or None when their ranges do not fit in 63 bits. Sorting one column is about
    three times faster than `lexsort` over three or four."""
    if any(key.dtype.kind != "i" for key in keys):  # text, such as region names
        return None
    lows = [int(key.min()) for key in keys]
    spans = [int(key.max()) - low + 1 for key, low in zip(keys, lows, strict=True)]
    if math.prod(spans) >= 2**63:
        return None
    packed = np.zeros(len(keys[0]), dtype=np.int64)
    for key, low, span in zip(keys, lows, spans, strict=True):
        packed *= span
        packed += key - low
    return packed
