"""Day-level listening facts: `ListenerDay`, `ListeningDay` and first listening days.

Each builder rewrites whole local days `[lo, hi)`: delete the days' rows, then one
`INSERT ... SELECT` with GROUP BY per table, so a re-run gives the same rows.
"""

from __future__ import annotations

from datetime import date

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    DateField,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractHour, TruncDate, TruncMonth

from analytics.kpis._time import day_bounds, days, reporting_zone
from analytics.models import (
    STREAM_MIN_MS,
    ListenerDay,
    ListenerFirstDay,
    ListeningDay,
    ListeningEvent,
    NewListenersDay,
)
from analytics.rollups import _sql
from analytics.rollups.dims import DEVICE_BITS, DIM_COLUMNS, FINEST, STORED_GROUPINGS
from billing.models import Subscription, Tier


def events_between(lo: date, hi: date):
    start, end = day_bounds(lo, hi)
    return ListeningEvent.objects.filter(played_at__gte=start, played_at__lt=end).order_by()


def local_day(field: str = "played_at") -> TruncDate:
    return TruncDate(field, tzinfo=reporting_zone())


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


def devices_bitset(field: str = "device"):
    """OR of the device bits of the grouped events (MAX per bit, then summed)."""
    total = None
    for device, bit in DEVICE_BITS.items():
        term = Max(
            Case(When(**{field: device}, then=Value(bit)), default=Value(0), output_field=IntegerField())
        )
        total = term if total is None else total + term
    return total


def build_listener_days(lo: date, hi: date) -> int:
    ListenerDay.objects.filter(day__gte=lo, day__lt=hi).delete()
    per_listener = (
        events_between(lo, hi)
        .annotate(
            d=local_day(),
            lid=F("listener_id"),
            c=F("listener__country"),
            s=TruncMonth("listener__signed_up_at", tzinfo=reporting_zone(), output_field=DateField()),
        )
        .values("d", "lid", "c", "s")
        .annotate(devs=devices_bitset(), n=Count("id"))
    )
    return _sql.insert_from(
        ListenerDay,
        ["day", "listener_id", "country", "signup_month", "devices", "events"],
        per_listener,
        ["q.d", "q.lid", "q.c", "q.s", "q.devs", "q.n"],
    )


def build_listening_days(lo: date, hi: date) -> int:
    """The finest cube straight from the events, then every coarser stored grouping from it."""
    ListeningDay.objects.filter(day__gte=lo, day__lt=hi).delete()
    cube = (
        events_between(lo, hi)
        .annotate(
            d=local_day(),
            c=F("listener__country"),
            dev=F("device"),
            p=plan_at_play(),
            g=Coalesce(F("track__genre_id"), Value(0), output_field=BigIntegerField()),
            h=ExtractHour("played_at", tzinfo=reporting_zone()),
        )
        .values("d", "c", "dev", "p", "g", "h")
        .annotate(
            n=Count("id"),
            streams=Count("id", filter=Q(ms_played__gte=STREAM_MIN_MS)),
            skips=Count("id", filter=Q(skipped=True)),
            ms=Sum("ms_played"),
        )
    )
    columns = ["day", "grouping", "country", "device", "plan_id", "genre_id", "hour"]
    measures = ["events", "streams", "skips", "ms_played"]
    written = _sql.insert_from(
        ListeningDay,
        [*columns, *measures],
        cube,
        ["q.d", "%s", "q.c", "q.dev", "q.p", "q.g", "q.h", "q.n", "q.streams", "q.skips", "q.ms"],
        [FINEST],
    )
    for grouping in STORED_GROUPINGS:
        if grouping != FINEST:
            written += _derive_grouping(grouping, lo, hi)
    return written


def _derive_grouping(grouping: int, lo: date, hi: date) -> int:
    kept = [column for dim, (column, _) in DIM_COLUMNS.items() if grouping & dim]
    select = ["day", "%s"]
    for dim, (column, blank) in DIM_COLUMNS.items():
        select.append(column if grouping & dim else blank)
    t = _sql.table(ListeningDay)
    sql = (
        f"INSERT INTO {t} (day, grouping, country, device, plan_id, genre_id, hour, "
        f"events, streams, skips, ms_played) "
        f"SELECT {', '.join(select)}, SUM(events), SUM(streams), SUM(skips), SUM(ms_played) "
        f"FROM {t} WHERE grouping = %s AND day >= %s AND day < %s "
        f"GROUP BY {', '.join(['day', *kept])}"
    )
    return _sql.execute(sql, [grouping, FINEST, _sql.d(lo), _sql.d(hi)])


def update_first_days(lo: date, hi: date) -> tuple[set[date], int]:
    """Record the first listening day of the listeners active in `[lo, hi)`.

    Returns every day whose count of new listeners may have changed (the days themselves
    and the later first days they replace: an event that arrived late) and rows written.
    """
    first, ld = _sql.table(ListenerFirstDay), _sql.table(ListenerDay)
    replaced = _sql.fetchall(
        f"SELECT DISTINCT f.first_day FROM {first} f JOIN {ld} d ON d.listener_id = f.listener_id "
        f"WHERE d.day >= %s AND d.day < %s AND f.first_day > d.day",
        [_sql.d(lo), _sql.d(hi)],
    )
    # Earliest day per listener within the range, then keep the earlier of that and the
    # stored one. `WHERE` before ON CONFLICT keeps SQLite's parser unambiguous.
    rows = _sql.execute(
        f"INSERT INTO {first} (listener_id, first_day, country) "
        f"SELECT listener_id, MIN(day), MAX(country) FROM {ld} WHERE day >= %s AND day < %s "
        f"GROUP BY listener_id "
        f"ON CONFLICT (listener_id) DO UPDATE SET first_day = excluded.first_day, country = excluded.country "
        f"WHERE excluded.first_day < {first}.first_day",
        [_sql.d(lo), _sql.d(hi)],
    )
    changed = {_sql.to_date(row[0]) for row in replaced}
    changed.update(days(lo, hi))
    return changed, rows


def build_new_listeners(days_: set[date] | None) -> int:
    """Count new listeners per day and country for `days_` (every day when None)."""
    scope = NewListenersDay.objects.all()
    firsts = ListenerFirstDay.objects.all()
    if days_ is not None:
        scope = scope.filter(day__in=days_)
        firsts = firsts.filter(first_day__in=days_)
    scope.delete()
    per_country = firsts.values("first_day", "country").annotate(n=Count("listener_id")).order_by()
    written = _sql.insert_from(
        NewListenersDay, ["day", "country", "listeners"], per_country, ["q.first_day", "q.country", "q.n"]
    )
    totals = firsts.values("first_day").annotate(n=Count("listener_id")).order_by()
    written += _sql.insert_from(
        NewListenersDay, ["day", "country", "listeners"], totals, ["q.first_day", "''", "q.n"]
    )
    return written
