"""Time the rollup refresh and every registered KPI at scale, on PostgreSQL.

    .venv/bin/python benchmarks/kpis.py [--database-url URL] [--days 90] [--runs 5]

Uses the database `spotilytics_bench` (created and seeded with `seed --scale large` when
it is empty), migrates it, lays its events out in time order once (as an event log that
appends plays as they happen holds them; see `_events_in_time_order`), then:

1. `refresh_rollups --full`, timed, with the time of each of its three modules (they run
   at the same time on PostgreSQL: the total is the wall time, not their sum);
2. the daily refresh after a day of new events, three times: the events of the last day
   with data are held back in a side table while the rollups are refreshed without them,
   then put back as new rows (new ids, as a day's events arrive), and a plain
   `refresh_rollups` is timed the same way (the rebuilt day is left as it was: the next
   run restores a side table an interrupted run left behind). First as a nightly run
   sees it: the refresh without the day was for the day before (`--today`), so the timed
   one moves `today` on by a day (subscriber state, MRR movements and trials depend on
   `today`). Then the same nightly run after that day's billing writes too: the day's
   sign-ups, subscriptions started and ended, payments and refunds are held back as
   well (`_hold_back_business`) and written again through Django before the timed run,
   as the day wrote them (`_replay_business`). Then as a run later the same day sees
   it: both refreshes for the last day. The event and rollup tables are vacuumed first:
   the held-back rows' deletion, and the refresh without them, leave dead rows and
   index entries that arriving events never leave, and every refresh statement reading
   the day would wade through them;
3. a one-day incremental refresh of the last day with data (`--since` that day) when
   nothing changed, timed the same way;
4. for every KPI in the registry, over the last `--days` days up to the last day with
   data: the time through the registry (rollups; min and median of `--runs`, and the
   number of queries) and through its raw reference (`get_reference`, straight from the
   source tables; min and median of `--raw-runs`);
5. for every KPI, again with each filter it takes on its own (the most common listener
   country, that country's region, the genre with the most tracks, the cheapest paid
   plan, mobile devices): the time through the registry (min and median of `--runs`),
   as an analyst narrowing a page sees it (`--no-filters` skips these).

It prints figures and the targets next to them, after two fixed timings (a Python loop and
a PostgreSQL count) that tell how fast this machine is against another; it asserts
nothing (speed is not tested).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/spotilytics_bench"
HEADLINE = ("dau", "mau", "mrr", "gross-revenue")  # the dashboard's series: 5 ms
TARGET_MS, HEADLINE_MS = 50.0, 5.0
FULL_S, INCREMENTAL_S = 90.0, 1.0


def _count(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `least`, else a clear error."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"expected at least {least}, got {value}")
        return value

    return parse


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument(
        "--days", type=_count(1), default=90, help="Length of the KPI range, ending on the last day."
    )
    parser.add_argument("--runs", type=_count(1), default=5, help="Timed runs per KPI through the rollups.")
    parser.add_argument(
        "--raw-runs",
        type=_count(0),
        default=1,
        help="Timed runs per KPI through the raw reference (0: skip them).",
    )
    parser.add_argument("--skip-full", action="store_true", help="Do not time a full rebuild.")
    parser.add_argument("--only", nargs="*", help="Time only these KPI slugs.")
    parser.add_argument("--no-filters", action="store_true", help="Do not time the filtered KPIs.")
    return parser.parse_args()


def _ensure_database(url: str) -> None:
    """Create the benchmark database when it does not exist yet."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    name = config["NAME"]
    with psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or "postgres",
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"Created database {name}.")


_HELD = "bench_held_events"


def _event_columns() -> str:
    from analytics.models import ListeningEvent

    return ", ".join(f.column for f in ListeningEvent._meta.concrete_fields if not f.primary_key)


def _hold_back_events(day) -> int:
    """Move the events of local day `day` (and later) to a side table; returns how many."""
    from django.db import connection, transaction

    from analytics.kpis._time import day_start
    from analytics.models import ListeningEvent

    events = ListeningEvent._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {_HELD} AS SELECT {_event_columns()} FROM {events} WHERE played_at >= %s",
            [day_start(day)],
        )
        cursor.execute(f"DELETE FROM {events} WHERE played_at >= %s", [day_start(day)])
        return cursor.rowcount


def _put_back_events() -> None:
    """Insert the held events again, under new ids, and drop the side table (if any)."""
    from django.db import connection, transaction

    from analytics.models import ListeningEvent

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [_HELD])
        if cursor.fetchone()[0] is None:
            return
        columns = _event_columns()
        cursor.execute(
            f"INSERT INTO {ListeningEvent._meta.db_table} ({columns}) "
            f"SELECT {columns} FROM {_HELD} ORDER BY played_at"
        )
        cursor.execute(f"DROP TABLE {_HELD}")
    with connection.cursor() as cursor:  # outside a transaction, as VACUUM must be
        cursor.execute(f"VACUUM ANALYZE {ListeningEvent._meta.db_table}")


# The billing writes of the held-back day, kept for the replay: (side table, model, what
# it holds). Payments and subscriptions made that day are taken out whole; the others
# are the values the day's writes set, put back by `_replay_business`.
_HELD_BUSINESS = (
    ("bench_held_ends", "billing.subscription", "ended_at"),  # before a new one opens
    ("bench_held_subscriptions", "billing.subscription", "rows"),
    ("bench_held_payments", "billing.payment", "rows"),
    ("bench_held_signups", "billing.listener", "signed_up_at"),
    ("bench_held_refunds", "billing.payment", "status, refunded_at"),
)


def _hold_back_business(day) -> int:
    """Undo the billing writes of local day `day` and later, in SQL (which records no
    change), keeping them in side tables: payments made and subscriptions started are
    deleted; the ends (on the day: when an end later on was set is not known) and
    refunds of older rows are cleared; listeners who signed up
    stay (other tables refer to them) but sign up at the day's last instant, after
    every instant the refresh without the day counts listeners at.
    Returns how many writes are held."""
    from django.db import connection, transaction

    from analytics.kpis._time import day_start

    start, end = day_start(day), day_start(day + timedelta(days=1))
    held = 0
    with transaction.atomic(), connection.cursor() as cursor:
        steps = (
            ("bench_held_payments", "SELECT * FROM billing_payment WHERE paid_at >= %(start)s"),
            ("bench_held_subscriptions", "SELECT * FROM billing_subscription WHERE started_at >= %(start)s"),
            (
                "bench_held_signups",
                "SELECT id, signed_up_at FROM billing_listener WHERE signed_up_at >= %(start)s",
            ),
            (
                # Not those whose listener holds another open subscription from before the
                # day: one may be open.
                "bench_held_ends",
                "SELECT id, ended_at FROM billing_subscription s WHERE ended_at >= %(start)s "
                "AND ended_at < %(end)s AND started_at < %(start)s AND NOT EXISTS "
                "(SELECT 1 FROM billing_subscription o WHERE o.listener_id = s.listener_id "
                "AND o.ended_at IS NULL AND o.started_at < %(start)s)",
            ),
            (
                "bench_held_refunds",
                "SELECT id, status, refunded_at FROM billing_payment "
                "WHERE refunded_at >= %(start)s AND paid_at < %(start)s",
            ),
        )
        for side, select in steps:
            cursor.execute(f"CREATE TABLE {side} AS {select}", {"start": start, "end": end})
            held += cursor.rowcount
        cursor.execute("DELETE FROM billing_payment WHERE id IN (SELECT id FROM bench_held_payments)")
        cursor.execute(
            "DELETE FROM billing_subscription WHERE id IN (SELECT id FROM bench_held_subscriptions)"
        )
        cursor.execute(
            "UPDATE billing_listener SET signed_up_at = %s WHERE id IN (SELECT id FROM bench_held_signups)",
            [day_start(day + timedelta(days=1)) - timedelta(microseconds=1)],
        )
        cursor.execute(
            "UPDATE billing_subscription SET ended_at = NULL WHERE id IN (SELECT id FROM bench_held_ends)"
        )
        cursor.execute(
            "UPDATE billing_payment SET status = 'succeeded', refunded_at = NULL "
            "WHERE id IN (SELECT id FROM bench_held_refunds)"
        )
    return held


def _replay_business() -> None:
    """Write the held billing writes again through Django, as the day made them (which
    records what each write changed, `billing.changes`), and drop the side tables."""
    from django.apps import apps
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [_HELD_BUSINESS[0][0]])
        if cursor.fetchone()[0] is None:
            return
        for side, label, holds in _HELD_BUSINESS:
            model = apps.get_model(label)
            cursor.execute(f"SELECT * FROM {side} ORDER BY id")
            names = [column.name for column in cursor.description]
            rows = [model(**dict(zip(names, row, strict=True))) for row in cursor.fetchall()]
            if holds == "rows":
                model.objects.bulk_create(rows, batch_size=1000)
            elif rows:
                model.objects.bulk_update(rows, names[1:], batch_size=1000)
            cursor.execute(f"DROP TABLE {side}")


_TIME_INDEX = "event_played_at"


def _events_in_time_order() -> None:
    """Lay the event table out in the order the plays happened, once per seeded database.

    A platform's event log appends plays as they happen, so a day's events lie together.
    The seed writes each listener's year in one piece instead: every refresh reading a
    day (the daily one reads two: sessions cross midnight) then read its events page by
    page from all over the table.
    """
    from django.db import connection

    from analytics.models import ListeningEvent

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indisclustered FROM pg_index WHERE indexrelid = to_regclass(%s)", [_TIME_INDEX]
        )
        if cursor.fetchone() == (True,):
            return
        started = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(f"CLUSTER {ListeningEvent._meta.db_table} USING {_TIME_INDEX}")
        cursor.execute(f"ANALYZE {ListeningEvent._meta.db_table}")
    print(f"Put the events in time order (CLUSTER, once): {time.perf_counter() - started:.0f} s.")


def _vacuum_rollups() -> None:
    """Vacuum the rollup tables after the refresh without the held-back day: taking a
    day's rows out left dead rows that a refresh after a day of new events never meets
    (autovacuum keeps up with the month rows it updates)."""
    from django.db import connection

    import billing.rollups
    import catalog.rollups
    from analytics.rollups import ROLLUP_MODELS

    models = [
        *ROLLUP_MODELS,
        *catalog.rollups._REBUILT,
        *billing.rollups._TABLES.values(),
        billing.rollups.ListenerRevenueState,
    ]
    with connection.cursor() as cursor:  # outside a transaction, as VACUUM must be
        cursor.execute(f"VACUUM ANALYZE {', '.join(model._meta.db_table for model in models)}")


def _machine_speed(connection) -> tuple[float, float]:
    """Seconds of a fixed Python loop and of a fixed PostgreSQL count: machines of the
    same kind differ by up to twice in speed, and these tell how this one compares."""

    def loop() -> None:
        total = 0
        for n in range(5_000_000):
            total += n

    def count() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM generate_series(1, 5000000)")

    return _timed(loop, 3)[0] / 1000, _timed(count, 3)[0] / 1000


def _timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Min and median wall time of `runs` calls, in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return min(times), statistics.median(times)


def main() -> None:
    args = _parse()
    _ensure_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spotilytics.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from analytics.kpis._time import local_date
    from analytics.kpis.registry import all_kpis, get_reference, run_kpi
    from analytics.management.commands import refresh_rollups
    from analytics.models import Experiment, ListeningEvent

    call_command("migrate", verbosity=0)
    _put_back_events()  # left behind by an interrupted run
    _replay_business()
    if not ListeningEvent.objects.exists():
        print("The benchmark database is empty: seeding the large preset (this takes a while).")
        call_command("seed", scale="large")
    _events_in_time_order()

    events = ListeningEvent.objects.count()
    latest = ListeningEvent.objects.order_by("-played_at").values_list("played_at", flat=True).first()
    last_day = local_date(latest)
    print(f"{events:,} events up to {latest:%Y-%m-%d %H:%M}; PostgreSQL {connection.pg_version}.")
    python_s, database_s = _machine_speed(connection)
    print(
        f"Machine speed (to compare runs across machines): a Python loop {python_s:.2f} s, "
        f"a PostgreSQL count {database_s:.2f} s (best of 3 each)."
    )

    # Time each module inside the command: wrap the refresh functions it calls.
    seconds: dict[str, float] = {}
    for name, module in refresh_rollups.MODULES:

        def timed(*, _refresh=module.refresh, _name=name, **options):
            started = time.perf_counter()
            try:
                return _refresh(**options)
            finally:
                seconds[_name] = time.perf_counter() - started

        module.refresh = timed

    def run_command(*options: str, today=last_day) -> float:
        seconds.clear()
        started = time.perf_counter()
        call_command("refresh_rollups", *options, "--today", today.isoformat(), verbosity=0)
        return time.perf_counter() - started

    if not args.skip_full:
        total = run_command("--full")
        print(f"\nrefresh_rollups --full: {total:.1f} s (target {FULL_S:.0f} s)")
        for name, spent in seconds.items():
            print(f"  {name:<10} {spent:7.1f} s")
    day_before = last_day - timedelta(days=1)
    for label, before, business in (
        ("a nightly run: today moves on", day_before, False),
        ("a nightly run after that day's billing writes too", day_before, True),
        ("later the same day", last_day, False),
    ):
        held = _hold_back_events(last_day)
        writes = _hold_back_business(last_day) if business else 0
        run_command("--since", before.isoformat(), today=before)
        _put_back_events()
        _replay_business()
        _vacuum_rollups()
        total = run_command()
        also = f" and {writes:,} billing writes" if business else ""
        print(
            f"\nDaily refresh after {held:,} new events{also} of {last_day}, {label}: {total:.2f} s", end=""
        )
        print(f" (target {INCREMENTAL_S:.0f} s)")
        for name, spent in seconds.items():
            print(f"  {name:<10} {spent:7.2f} s")
    total = run_command("--since", last_day.isoformat())
    print(f"\nOne-day refresh, nothing new (refresh_rollups --since {last_day}): {total:.2f} s", end="")
    print(f" (target {INCREMENTAL_S:.0f} s)")
    for name, spent in seconds.items():
        print(f"  {name:<10} {spent:7.2f} s")

    start, end = last_day - timedelta(days=args.days - 1), last_day + timedelta(days=1)
    experiment = Experiment.objects.order_by("key").values_list("key", flat=True).first()
    print(f"\nKPIs over [{start}, {end}), today {last_day}; times in ms (min / median).")
    print(
        f"{'KPI':<26} {'rollups min':>11} {'median':>8} {'queries':>7}   {'raw min':>9} {'median':>9}  target"
    )
    slow = []
    for spec in all_kpis():
        if args.only and spec.slug not in args.only:
            continue
        params = {"experiment": experiment} if "experiment" in spec.filters and experiment else {}

        def through_registry(spec=spec, params=params) -> None:
            run_kpi(spec.slug, start=start, end=end, today=last_day, **params)

        def through_reference(spec=spec, params=params) -> None:
            get_reference(spec.slug)(start=start, end=end, today=last_day, **params)

        through_registry()  # warm: imports, plan caches
        with CaptureQueriesContext(connection) as queries:
            through_registry()
        best, median = _timed(through_registry, args.runs)
        if args.raw_runs:
            raw = "{:9.1f} {:9.1f}".format(*_timed(through_reference, args.raw_runs))
        else:
            raw = f"{'-':>9} {'-':>9}"
        target = HEADLINE_MS if spec.slug in HEADLINE else TARGET_MS
        verdict = "ok" if best <= target else "SLOW"
        if verdict == "SLOW":
            slow.append(spec.slug)
        print(f"{spec.slug:<26} {best:9.1f} {median:8.1f} {len(queries):7d}   {raw}  {target:.0f} {verdict}")
    print(f"\n{len(slow)} KPI(s) over target" + (f": {', '.join(slow)}" if slow else "."))
    if not args.no_filters:
        _time_filtered(args, start=start, end=end, today=last_day, experiment=experiment)


def _time_filtered(args: argparse.Namespace, *, start, end, today, experiment) -> None:
    from analytics.kpis.registry import all_kpis, run_kpi
    from analytics.kpis.samples import common_filter_values

    values = {name: value for name, value in common_filter_values().items() if name != "experiment"}
    print(f"\nFiltered KPIs over the same range; times in ms (min / median); values {values}.")
    print(f"{'KPI':<26} {'filter':<8} {'min':>9} {'median':>9}  target")
    slow = []
    for spec in all_kpis():
        if args.only and spec.slug not in args.only:
            continue
        base = {"experiment": experiment} if "experiment" in spec.filters and experiment else {}
        for name, value in values.items():
            if name not in spec.filters or value is None:
                continue
            params = {**base, name: value}

            def filtered(spec=spec, params=params) -> None:
                run_kpi(spec.slug, start=start, end=end, today=today, **params)

            filtered()  # warm
            best, median = _timed(filtered, args.runs)
            verdict = "ok" if best <= TARGET_MS else "SLOW"
            if verdict == "SLOW":
                slow.append(f"{spec.slug} ({name})")
            print(f"{spec.slug:<26} {name:<8} {best:9.1f} {median:9.1f}  {TARGET_MS:.0f} {verdict}")
    print(f"\n{len(slow)} filtered KPI(s) over target" + (f": {', '.join(slow)}" if slow else "."))


if __name__ == "__main__":
    main()
