"""Day-level listening facts: `ActivityDay`, `CohortDay`, per-device DAU and `ListeningDay`.

Each builder rewrites whole local days `[lo, hi)`: delete the days' rows, then rebuild
them from the events with set-based SQL, so a re-run gives the same rows.
"""

from __future__ import annotations

from datetime import date

from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    F,
    FilteredRelation,
    IntegerField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractHour, TruncDate

from analytics.kpis._time import day_bounds, day_start, local_date, reporting_zone
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
from analytics.rollups.dims import (
    DEVICE_BITS,
    DIM_COLUMNS,
    FINEST,
    HOUR_COUNTRY,
    NO_HOUR,
    STORED_GROUPINGS,
    Dim,
)
from billing.models import Listener, Subscription, Tier

WINDOW_CAP = 28  # gaps of 28 days or more all leave every window the KPIs use


def events_between(lo: date, hi: date):
    start, end = day_bounds(lo, hi)
    return ListeningEvent.objects.filter(played_at__gte=start, played_at__lt=end).order_by()


def local_day(field: str = "played_at") -> TruncDate:
    return TruncDate(field, tzinfo=reporting_zone())


# --- Who was active, and when before --------------------------------------------------------

_ACTIVITY_SQL = """
WITH ld AS (
    SELECT e.listener_id AS lid, {played_day} AS day, {devices} AS devices
    FROM {events} e
    WHERE e.played_at >= %s AND e.played_at < %s
    GROUP BY 1, 2
),
lg AS (
    SELECT lid, day, devices, LAG(day) OVER (PARTITION BY lid ORDER BY day) AS prev FROM ld
),
lp AS MATERIALIZED (
    SELECT lg.day AS day, l.country AS country, lg.devices AS devices, {signup_month} AS cohort,
           COALESCE(lg.prev, (
               SELECT {last_day} FROM {events} x WHERE x.listener_id = lg.lid AND x.played_at < %s
           )) AS prev
    FROM lg JOIN {listeners} l ON l.id = lg.lid
),
lc AS (
    SELECT day, country, devices, cohort,
           CASE WHEN prev IS NULL THEN 0
                WHEN {gap} >= {cap} THEN {cap}
                ELSE {gap} END AS gap,
           CASE WHEN prev IS NULL THEN {never}
                WHEN prev >= {month} THEN {same}
                WHEN prev >= {previous_month} THEN {previous}
                ELSE {earlier} END AS previous,
           CASE WHEN cohort = {month} THEN {this_month}
                WHEN cohort < {month} THEN {before}
                ELSE {after} END AS signup
    FROM lp
),
device_bits (device, bit) AS (VALUES {device_bits})
SELECT 'a' AS kind, day, country, gap, previous, signup, NULL AS cohort, NULL AS device, COUNT(*) AS n
FROM lc GROUP BY day, country, gap, previous, signup
UNION ALL
SELECT 'c', day, country, 0, 0, 0, cohort, NULL, COUNT(*) FROM lc WHERE previous <> {same}
GROUP BY day, country, cohort
UNION ALL
SELECT 'd', day, country, 0, 0, 0, NULL, b.device, COUNT(*)
FROM lc JOIN device_bits b ON (lc.devices & b.bit) > 0
GROUP BY day, country, b.device
"""


def build_activity(lo: date, hi: date) -> dict[str, int]:
    """Rewrite `ActivityDay`, `CohortDay` and the per-device DAU of `ActiveListenersDay` for
    `[lo, hi)`, reading the events once; returns rows written per table.

    Each listener-day is placed against the listener's previous active day: the one before
    in the range (LAG), else the last play before the range (an index lookup per listener;
    `lp` is MATERIALIZED so that the lookup runs once, not once per CASE that reads it).
    """
    played_day, played_params = _sql.local_date("e.played_at")
    last_day, last_params = _sql.local_date("MAX(x.played_at)")
    signup_day, signup_params = _sql.local_date("l.signed_up_at")
    sql = _ACTIVITY_SQL.format(
        played_day=played_day,
        devices=" + ".join(
            f"MAX(CASE WHEN e.device = '{device}' THEN {bit} ELSE 0 END)"
            for device, bit in DEVICE_BITS.items()
        ),
        device_bits=", ".join(f"('{device}', {bit})" for device, bit in DEVICE_BITS.items()),
        events=_sql.table(ListeningEvent),
        listeners=_sql.table(Listener),
        signup_month=_sql.month_start(signup_day),
        last_day=last_day,
        gap=_sql.days_between("day", "prev"),
        cap=WINDOW_CAP,
        month=_sql.month_start("day"),
        previous_month=_sql.previous_month_start("day"),
        never=PreviousActivity.NEVER,
        same=PreviousActivity.SAME_MONTH,
        previous=PreviousActivity.PREVIOUS_MONTH,
        earlier=PreviousActivity.EARLIER,
        this_month=SignupMonth.THIS_MONTH,
        before=SignupMonth.BEFORE,
        after=SignupMonth.AFTER,
    )
    start, end = day_bounds(lo, hi)
    params = [*played_params, _sql.dt(start), _sql.dt(end), *signup_params, *last_params, _sql.dt(start)]
    ActivityDay.objects.filter(day__gte=lo, day__lt=hi).delete()
    CohortDay.objects.filter(day__gte=lo, day__lt=hi).delete()
    ActiveListenersDay.objects.filter(day__gte=lo, day__lt=hi).exclude(device="").delete()
    with _sql.temporary_table("activity_rows", sql, params) as rows:
        return {
            "ActivityDay": _sql.execute(
                f"INSERT INTO {_sql.table(ActivityDay)} (day, country, gap, previous, signup, listeners) "
                f"SELECT day, country, gap, previous, signup, n FROM {rows} WHERE kind = 'a'"
            ),
            "CohortDay": _sql.execute(
                f"INSERT INTO {_sql.table(CohortDay)} (day, country, cohort, listeners) "
                f"SELECT day, country, cohort, n FROM {rows} WHERE kind = 'c'"
            ),
            # A listener has one country: the countries add up to the all-countries row.
            "ActiveListenersDay": _sql.execute(
                f"INSERT INTO {_sql.table(ActiveListenersDay)} (day, country, device, dau) "
                f"SELECT day, country, device, n FROM {rows} WHERE kind = 'd' "
                f"UNION ALL SELECT day, '', device, SUM(n) FROM {rows} WHERE kind = 'd' GROUP BY day, device"
            ),
        }


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


def plan_at_play_joined() -> Case:
    """The same as `plan_at_play()` through one outer join instead of a lookup per event
    (several times faster on millions of events). Only valid while no listener has two
    subscriptions active at once: then at most one row joins per event."""
    return Case(
        When(active_sub__isnull=True, then=Value(0)),
        When(active_sub__plan__tier=Tier.FREE, then=Value(0)),
        default=F("active_sub__plan_id"),
        output_field=BigIntegerField(),
    )


def active_subscription() -> FilteredRelation:
    """The listener's subscription active at `played_at`, as a join for `plan_at_play_joined`."""
    sub = "listener__subscriptions"
    return FilteredRelation(
        sub,
        condition=Q(**{f"{sub}__started_at__lte": F("played_at")})
        & (Q(**{f"{sub}__ended_at__isnull": True}) | Q(**{f"{sub}__ended_at__gt": F("played_at")})),
    )


def subscriptions_overlap() -> bool:
    """Whether some listener has two subscriptions active at the same instant."""
    t = _sql.table(Subscription)
    return bool(
        _sql.fetchall(
            f"SELECT 1 FROM {t} a JOIN {t} b ON a.listener_id = b.listener_id AND a.id < b.id "
            f"WHERE (b.ended_at IS NULL OR a.started_at < b.ended_at) "
            f"AND (a.ended_at IS NULL OR b.started_at < a.ended_at) LIMIT 1"
        )
    )


def build_listening_days(lo: date, hi: date, *, join_plans: bool = False) -> int:
    """Rewrite `ListeningDay` for `[lo, hi)`: every stored grouping of the days' plays.

    PostgreSQL uses GROUPING SETS; SQLite, one statement per grouping. `join_plans`: find
    the plan at `played_at` with a join.
    """
    # By grouping first: the table's index leads with it.
    ListeningDay.objects.filter(grouping__in=STORED_GROUPINGS, day__gte=lo, day__lt=hi).delete()
    return insert_listening_days(lo, hi, join_plans=join_plans) + derive_listening_days(lo, hi)


def insert_listening_days(lo: date, hi: date, *, join_plans: bool = False) -> int:
    """Insert the two finest groupings of the plays of `[lo, hi)`, which have no rows yet
    (the others are derived from them by `derive_listening_days`)."""
    events = events_between(lo, hi)
    if join_plans:
        events = events.annotate(active_sub=active_subscription())
    plays = events.annotate(
        d=local_day(),
        c=F("listener__country"),
        dev=F("device"),
        p=plan_at_play_joined() if join_plans else plan_at_play(),
        g=Coalesce(F("track__genre_id"), Value(0), output_field=BigIntegerField()),
        h=ExtractHour("played_at", tzinfo=reporting_zone()),
        stream=Case(When(ms_played__gte=STREAM_MIN_MS, then=1), default=0, output_field=IntegerField()),
        skip=Case(When(skipped=True, then=1), default=0, output_field=IntegerField()),
        ms=F("ms_played"),
    ).values("d", "c", "dev", "p", "g", "h", "stream", "skip", "ms")
    # Two stages: the plays once into the two largest groupings, then every other grouping
    # from those rows (a few hundred thousand a month instead of every play).
    if connection.vendor == "postgresql":
        return _insert_groupings(plays, [NO_HOUR, HOUR_COUNTRY])
    # No GROUPING SETS: one statement per grouping.
    return _insert_groupings(plays, [NO_HOUR]) + _insert_groupings(plays, [HOUR_COUNTRY])


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


_ALIASES = {"country": "c", "device": "dev", "plan_id": "p", "genre_id": "g", "hour": "h"}


def _insert_groupings(plays, groupings) -> int:
    columns = [column for column, _ in DIM_COLUMNS.values()]
    if len(groupings) == 1:
        (grouping,) = groupings
        kept = [_ALIASES[column] for dim, (column, _) in DIM_COLUMNS.items() if grouping & dim]
        dims = [
            f"q.{_ALIASES[column]}" if grouping & dim else blank
            for dim, (column, blank) in DIM_COLUMNS.items()
        ]
        select = ["q.d", str(grouping), *dims]
        group_by = ", ".join(["q.d", *(f"q.{alias}" for alias in kept)])
    else:
        # GROUPING(h, g, p, dev, c) sets a bit for every column summed over, in the order of
        # `Dim`'s bits: the kept dimensions are its complement.
        aliases = [_ALIASES[column] for column in columns]
        select = [
            "q.d",
            f"{FINEST} - GROUPING({', '.join(f'q.{a}' for a in reversed(aliases))})",
            *(f"COALESCE(q.{_ALIASES[column]}, {blank})" for column, blank in DIM_COLUMNS.values()),
        ]
        sets = []
        for grouping in groupings:
            kept = [f"q.{_ALIASES[column]}" for dim, (column, _) in DIM_COLUMNS.items() if grouping & dim]
            sets.append(f"({', '.join(['q.d', *kept])})")
        group_by = f"GROUPING SETS ({', '.join(sets)})"
    sql, params = plays.query.sql_with_params()
    t = _sql.table(ListeningDay)
    return _sql.insert_select(
        f"INSERT INTO {t} (day, grouping, {', '.join(columns)}, events, streams, skips, ms_played)",
        f"SELECT {', '.join(f'{item} AS c{n}' for n, item in enumerate(select))}, "
        f"COUNT(*) AS events, SUM(q.stream) AS streams, SUM(q.skip) AS skips, SUM(q.ms) AS ms "
        f"FROM ({sql}) q GROUP BY {group_by}",
        params,
    )
