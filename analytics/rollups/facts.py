"""Day-level listening facts: `ActivityDay`, `CohortDay`, per-device DAU and `ListeningDay`.

Each builder rewrites whole local days `[lo, hi)` from the days' plays, read once as
numpy arrays (`plays.read_plays`): delete the days' rows, group the plays, insert the
groups; a re-run gives the same rows. The coarser groupings of `ListeningDay` are summed
from the two finest ones in the database.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
from django.db import connection
from django.db.models import BigIntegerField, Case, F, Min, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, TruncDate

from analytics.kpis._time import (
    add_months,
    day_bounds,
    day_start,
    days,
    local_date,
    month_start,
    reporting_zone,
)
from analytics.models import (
    STREAM_MIN_MS,
    ActiveListenersDay,
    ActivityDay,
    CohortDay,
    ListeningDay,
    ListeningEvent,
    PreviousActivity,
    SignupMonth,
)
from analytics.rollups import _sql
from analytics.rollups.dims import DEVICE_BITS, DIM_COLUMNS, HOUR_COUNTRY, NO_HOUR, STORED_GROUPINGS, Dim
from analytics.rollups.plays import (
    DEVICE_NAMES,
    Lookups,
    Plays,
    day_edges,
    group_sums,
    local_hours,
    month_date,
    month_number,
    plans_at,
)
from billing.models import Subscription, Tier

WINDOW_CAP = 28  # gaps of 28 days or more all leave every window the KPIs use


def events_between(lo: date, hi: date):
    start, end = day_bounds(lo, hi)
    return ListeningEvent.objects.filter(played_at__gte=start, played_at__lt=end).order_by()


def local_day(field: str = "played_at") -> TruncDate:
    return TruncDate(field, tzinfo=reporting_zone())


# --- Who was active, and when before --------------------------------------------------------


class LastActive:
    """Each listener's last active day before a window of days, as a day ordinal (-1:
    none). A rebuild walks the days in order from the first, so it carries the last days
    over from window to window. Otherwise they are found among the plays read before
    the window (a daily refresh reads the day before, for its sessions), and looked up
    for the listeners with none there (an index probe each)."""

    def __init__(self, *, carried: bool) -> None:
        self.carried = carried
        self._ids = np.zeros(0, dtype=np.int64)
        self._days = np.zeros(0, dtype=np.int64)

    def before(self, lo: date, hi: date, listener_ids: np.ndarray, earlier: Plays) -> np.ndarray:
        """`earlier`: plays read from some instant up to the start of `lo`, all of them."""
        if not self.carried:
            last = _last_plays(earlier, listener_ids)
            unknown = last < 0
            days = np.full(len(listener_ids), -1, dtype=np.int64)
            if len(earlier):
                first = local_date(datetime.fromtimestamp(int(earlier.played_us.min()) // 1_000_000, tz=UTC))
                edges = day_edges(first, lo - timedelta(days=1))
                days[~unknown] = first.toordinal() + np.searchsorted(edges, last[~unknown], side="right") - 1
            days[unknown] = _last_active_before(lo, hi, listener_ids[unknown])
            return days
        if not len(self._ids):
            return np.full(len(listener_ids), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._ids, listener_ids), len(self._ids) - 1)
        return np.where(self._ids[at] == listener_ids, self._days[at], -1)

    def update(self, listener_ids: np.ndarray, last_days: np.ndarray) -> None:
        if not self.carried:
            return
        ids = np.concatenate([self._ids, listener_ids])
        last = np.concatenate([self._days, last_days])
        order = np.lexsort((last, ids))  # a listener's latest day last
        ids, last = ids[order], last[order]
        kept = np.r_[ids[1:] != ids[:-1], True]
        self._ids, self._days = ids[kept], last[kept]


def _last_plays(plays: Plays, listener_ids: np.ndarray) -> np.ndarray:
    """The instant (epoch microseconds) of each listener's last play among `plays`, -1
    for none."""
    found = np.full(len(listener_ids), -1, dtype=np.int64)
    if not len(plays) or not len(listener_ids):
        return found
    order = np.lexsort((plays.played_us, plays.listener))
    listener, played_us = plays.listener[order], plays.played_us[order]
    lasts = np.r_[listener[1:] != listener[:-1], True]
    listener, played_us = listener[lasts], played_us[lasts]
    at = np.minimum(np.searchsorted(listener, listener_ids), len(listener) - 1)
    held = listener[at] == listener_ids
    found[held] = played_us[at[held]]
    return found


def _last_active_before(lo: date, hi: date, listener_ids: np.ndarray) -> np.ndarray:
    """The last active day before `lo` of each listener in `listener_ids` (those active in
    `[lo, hi)`), as day ordinals, -1 for none."""
    if not len(listener_ids):
        return np.zeros(0, dtype=np.int64)
    events = _sql.table(ListeningEvent)
    last_day, last_params = _sql.local_date("MAX(x.played_at)")
    start, end = day_bounds(lo, hi)
    asked, asked_params = _sql.one_of("e.listener_id", listener_ids)
    narrowed = f"AND {asked}" if asked else ""
    found = {
        listener: _sql.to_date(day).toordinal()
        for listener, day in _sql.fetchall(
            f"SELECT e.listener_id, (SELECT {last_day} FROM {events} x "
            f"WHERE x.listener_id = e.listener_id AND x.played_at < %s) "
            f"FROM {events} e WHERE e.played_at >= %s AND e.played_at < %s {narrowed} "
            f"GROUP BY e.listener_id",
            [*last_params, _sql.dt(start), _sql.dt(start), _sql.dt(end), *asked_params],
        )
        if day is not None
    }
    return np.array([found.get(listener, -1) for listener in listener_ids.tolist()], dtype=np.int64)


def build_activity(
    plays: Plays, lo: date, hi: date, *, lookups: Lookups, last_active: LastActive
) -> dict[str, int]:
    """Rewrite `ActivityDay`, `CohortDay` and the per-device DAU of `ActiveListenersDay` for
    the days `[lo, hi)` from their plays; returns rows written per table.

    Each listener-day is placed against the listener's previous active day: the one before
    in the window, else the last one before it (`last_active`, then told about this
    window's last days).
    """
    earlier = plays.between(plays.start, max(plays.start, day_start(lo)))
    plays = plays.between(*day_bounds(lo, hi))
    ActivityDay.objects.filter(day__gte=lo, day__lt=hi).delete()
    CohortDay.objects.filter(day__gte=lo, day__lt=hi).delete()
    ActiveListenersDay.objects.filter(day__gte=lo, day__lt=hi).exclude(device="").delete()
    day_index = np.searchsorted(day_edges(lo, hi), plays.played_us, side="right") - 1
    # One row per listener-day, ordered by listener then day, with every device used.
    (listener_ids, day_index), _, (devices,) = group_sums(
        [plays.listener, day_index], [np.left_shift(1, plays.device)], combine=np.bitwise_or
    )
    day = lo.toordinal() + day_index
    firsts = np.ones(len(day), dtype=bool)
    firsts[1:] = listener_ids[1:] != listener_ids[:-1]
    previous_day = np.empty(len(day), dtype=np.int64)
    previous_day[1:] = day[:-1]
    previous_day[firsts] = last_active.before(lo, hi, listener_ids[firsts], earlier)
    lasts = np.ones(len(day), dtype=bool)
    lasts[:-1] = firsts[1:]
    last_active.update(listener_ids[lasts], day[lasts])

    day_list = days(lo, hi)
    month = np.array([month_number(d) for d in day_list], dtype=np.int64)[day_index]
    month_first = np.array([month_start(d).toordinal() for d in day_list], dtype=np.int64)[day_index]
    previous_month_first = np.array(
        [add_months(month_start(d), -1).toordinal() for d in day_list], dtype=np.int64
    )[day_index]
    seen = previous_day >= 0
    gap = np.where(seen, np.minimum(day - previous_day, WINDOW_CAP), 0)
    previous = np.select(
        [~seen, previous_day >= month_first, previous_day >= previous_month_first],
        [PreviousActivity.NEVER, PreviousActivity.SAME_MONTH, PreviousActivity.PREVIOUS_MONTH],
        PreviousActivity.EARLIER,
    )
    cohort = lookups.signup_months(listener_ids)
    signup = np.select(
        [cohort == month, cohort < month], [SignupMonth.THIS_MONTH, SignupMonth.BEFORE], SignupMonth.AFTER
    )
    country = lookups.listeners.values(listener_ids, 0)

    first = lo.toordinal()
    written = {}
    (d, c, g, p, s), counts, _ = group_sums([day_index, country, gap, previous, signup])
    written["ActivityDay"] = _sql.insert_arrays(
        ActivityDay,
        {
            "day": first + d,
            "country": _sql.country_codes(c),
            "gap": g,
            "previous": p,
            "signup": s,
            "listeners": counts,
        },
    )
    returning = previous != PreviousActivity.SAME_MONTH  # counted once a month
    (d, c, k), counts, _ = group_sums([day_index[returning], country[returning], cohort[returning]])
    cohort_days = np.array([month_date(number).toordinal() for number in k.tolist()], dtype=np.int64)
    written["CohortDay"] = _sql.insert_arrays(
        CohortDay,
        {"day": first + d, "country": _sql.country_codes(c), "cohort": cohort_days, "listeners": counts},
    )
    parts = []
    for device, bit in DEVICE_BITS.items():
        used = (devices & bit) > 0
        (d, c), counts, _ = group_sums([day_index[used], country[used]])
        # A listener has one country: the countries add up to the all-countries row.
        (total_days,), _, (totals,) = group_sums([d], [counts])
        for part_days, part_countries, part_counts in (
            (d, _sql.country_codes(c), counts),
            (total_days, np.full(len(total_days), b""), totals),
        ):
            parts.append(
                (first + part_days, part_countries, np.full(len(part_days), device.encode()), part_counts)
            )
    written["ActiveListenersDay"] = _sql.insert_arrays(
        ActiveListenersDay,
        {
            name: np.concatenate([part[n] for part in parts])
            for n, name in enumerate(("day", "country", "device", "dau"))
        },
    )
    return written


def next_active_days(lo: date, hi: date) -> set[date]:
    """The first active day after `[lo, hi)` of every listener active in it: an event that
    arrives late changes how those days see their previous activity."""
    listeners = events_between(lo, hi).values("listener_id")
    firsts = (
        ListeningEvent.objects.filter(listener_id__in=listeners, played_at__gte=day_start(hi))
        .order_by()
        .values("listener_id")
        .annotate(first=Min("played_at"))
        .values_list("first", flat=True)
    )
    return {local_date(first) for first in firsts}


# --- Plays by country, device, plan, genre and hour --------------------------------------------


def plan_at_play():
    """The plan of the listener's subscription active at `played_at`, 0 for the free tier
    or none. Should subscriptions overlap, the one started last wins."""
    active = (
        Subscription.objects.filter(
            listener_id=OuterRef("listener_id"), started_at__lte=OuterRef("played_at")
        )
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=OuterRef("played_at")))
        .order_by("-started_at", "-id")
        .annotate(
            key=Case(
                When(plan__tier=Tier.FREE, then=Value(0)),
                default=F("plan_id"),
                output_field=BigIntegerField(),
            )
        )
        .values("key")[:1]
    )
    return Coalesce(
        Subquery(active, output_field=BigIntegerField()), Value(0), output_field=BigIntegerField()
    )


def build_listening_days(plays: Plays, lo: date, hi: date, *, lookups: Lookups) -> int:
    """Rewrite `ListeningDay` for `[lo, hi)`: every stored grouping of the days' plays."""
    # By grouping first: the table's index leads with it.
    ListeningDay.objects.filter(grouping__in=STORED_GROUPINGS, day__gte=lo, day__lt=hi).delete()
    return insert_listening_days(plays, lo, hi, lookups=lookups) + derive_listening_days(lo, hi)


def insert_listening_days(plays: Plays, lo: date, hi: date, *, lookups: Lookups) -> int:
    """Insert the two finest groupings of the plays of `[lo, hi)`, which have no rows yet
    (the others are derived from them by `derive_listening_days`)."""
    plays = plays.between(*day_bounds(lo, hi))
    day_index, hour = local_hours(plays.played_us, lo, hi)
    country = plays.country
    plan = plans_at(plays)
    genre = lookups.genres_of(plays.track)
    measures = [(plays.ms_played >= STREAM_MIN_MS).astype(np.int64), plays.skipped, plays.ms_played]
    parts: list[dict[str, np.ndarray]] = []
    for grouping, keys in (
        (NO_HOUR, {"country": country, "device": plays.device, "plan_id": plan, "genre_id": genre}),
        (HOUR_COUNTRY, {"country": country, "hour": hour}),
    ):
        (d, *kept), events, (streams, skips, ms) = group_sums([day_index, *keys.values()], measures)
        values = dict(zip(keys, kept, strict=True))
        size = len(d)
        nothing = np.zeros(size, dtype=np.int64)
        parts.append(
            {
                "day": lo.toordinal() + d,
                "grouping": np.full(size, grouping),
                "country": _sql.country_codes(values["country"]),
                "device": DEVICE_NAMES[values["device"]] if "device" in values else np.full(size, b""),
                "plan_id": values.get("plan_id", nothing),
                "genre_id": values.get("genre_id", nothing),
                "hour": values.get("hour", nothing),
                "events": events,
                "streams": streams,
                "skips": skips,
                "ms_played": ms,
            }
        )
    return _sql.insert_arrays(
        ListeningDay, {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    )


def derive_listening_days(lo: date, hi: date) -> int:
    """Insert every coarser grouping of `[lo, hi)` summed from the two finest ones."""
    without_hour = [g for g in STORED_GROUPINGS if not g & Dim.HOUR and g != NO_HOUR]
    return _derive(NO_HOUR, without_hour, lo, hi) + _derive(HOUR_COUNTRY, [int(Dim.HOUR)], lo, hi)


def _derive(source: int, groupings: list[int], lo: date, hi: date) -> int:
    """Coarser groupings summed from the stored rows of `source`."""
    if connection.vendor != "postgresql":
        return sum(_derive_one(source, grouping, lo, hi) for grouping in groupings)
    columns = [column for column, _ in DIM_COLUMNS.values()]
    sets = []
    for grouping in groupings:
        kept = [column for dim, (column, _) in DIM_COLUMNS.items() if grouping & dim]
        sets.append(f"({', '.join(['day', *kept])})")
    # A dimension's bit is set when the row kept it (GROUPING(column) = 0); GROUPING only
    # takes columns that some set groups by.
    used = [(int(dim), column) for dim, (column, _) in DIM_COLUMNS.items() if any(g & dim for g in groupings)]
    grouping_sql = " + ".join(f"{bit} * (1 - GROUPING({column}))" for bit, column in used) or "0"
    blanks = [
        f"COALESCE({column}, {blank})" if any(g & dim for g in groupings) else blank
        for dim, (column, blank) in DIM_COLUMNS.items()
    ]
    t = _sql.table(ListeningDay)
    return _sql.execute(
        f"INSERT INTO {t} (day, grouping, {', '.join(columns)}, events, streams, skips, ms_played) "
        f"SELECT day, {grouping_sql}, {', '.join(blanks)}, "
        f"SUM(events), SUM(streams), SUM(skips), SUM(ms_played) "
        f"FROM {t} WHERE grouping = %s AND day >= %s AND day < %s "
        f"GROUP BY GROUPING SETS ({', '.join(sets)})",
        [source, _sql.d(lo), _sql.d(hi)],
    )


def _derive_one(source: int, grouping: int, lo: date, hi: date) -> int:
    """One coarser grouping summed from the stored rows of `source` (SQLite)."""
    columns = [column for column, _ in DIM_COLUMNS.values()]
    kept = [column for dim, (column, _) in DIM_COLUMNS.items() if grouping & dim]
    dims = [column if grouping & dim else blank for dim, (column, blank) in DIM_COLUMNS.items()]
    t = _sql.table(ListeningDay)
    return _sql.execute(
        f"INSERT INTO {t} (day, grouping, {', '.join(columns)}, events, streams, skips, ms_played) "
        f"SELECT day, {grouping}, {', '.join(dims)}, SUM(events), SUM(streams), SUM(skips), SUM(ms_played) "
        f"FROM {t} WHERE grouping = %s AND day >= %s AND day < %s GROUP BY {', '.join(['day', *kept])}",
        [source, _sql.d(lo), _sql.d(hi)],
    )
