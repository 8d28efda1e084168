"""Seed benchmark: a preset (default large) on PostgreSQL, with the raw COPY rate to beat.

Usage: .venv/bin/python benchmarks/seed.py [--scale large] [--database spotilytics_bench]
       [--keep-indexes] [--skip-raw-copy]

Creates the database if it is missing, migrates it, seeds it with `--flush` and leaves it
seeded (other benchmarks read it). Then regenerates the very same event rows, builds
their binary COPY blocks in memory and times only the COPY of those blocks into a
scratch table with the same columns (created and dropped inside one rolled-back
transaction): the ceiling the seed's event phase is measured against. Prints rows/s
per phase, the ratio to the raw rate, the total time and the peak memory (RSS).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spotilytics.settings")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="large", help="Seed preset (default large).")
    parser.add_argument("--database", default="spotilytics_bench", help="PostgreSQL database to (re)seed.")
    parser.add_argument(
        "--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL, no database."
    )
    parser.add_argument("--end-date", default=None, help="Passed to the seed (default today).")
    parser.add_argument(
        "--keep-indexes", action="store_true", help="Load with every index in place (for comparison)."
    )
    parser.add_argument("--skip-raw-copy", action="store_true", help="Do not measure the raw COPY rate.")
    return parser.parse_args()


def _ensure_database(server: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"Created database {name}.")


def _raw_copy_rate(config) -> tuple[int, float]:
    """Rows and seconds of COPYing the seed's own event rows, pre-encoded, into a bare table."""
    from django.db import connection, transaction
    from psycopg.copy import LibpqWriter

    from analytics.models import ListeningEvent
    from analytics.seeding.loading import (
        _BINARY_SIGNATURE,
        _BINARY_TRAILER,
        EVENT_COLUMNS,
        encode_events_binary,
    )
    from analytics.seeding.runner import Blueprint

    blueprint = Blueprint(config)
    for part in (blueprint.catalog, blueprint.listeners, blueprint.billing, blueprint.playlists):
        part()
    table = ListeningEvent._meta.db_table
    columns = ", ".join(EVENT_COLUMNS)
    rows = 0
    seconds = 0.0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE seed_bench_raw_copy (LIKE {table} INCLUDING DEFAULTS)")
            raw = cursor.cursor
            for chunk in blueprint.event_chunks():
                block = encode_events_binary(chunk)  # built before the clock starts
                started = time.perf_counter()
                sql = f"COPY seed_bench_raw_copy ({columns}) FROM STDIN (FORMAT BINARY, FREEZE)"
                with raw.copy(sql, writer=LibpqWriter(raw)) as copy:
                    copy.write(_BINARY_SIGNATURE)
                    copy.write(block)
                    copy.write(_BINARY_TRAILER)
                seconds += time.perf_counter() - started
                rows += len(chunk["id"])
        transaction.set_rollback(True)  # nothing of the scratch table is kept
    return rows, seconds


def main() -> None:
    args = _parse()
    _ensure_database(args.server, args.database)
    os.environ["DATABASE_URL"] = f"{args.server}/{args.database}"

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from analytics.seeding.config import build_config
    from analytics.seeding.progress import Reporter
    from analytics.seeding.runner import REBUILD_INDEXES_FROM, seed_database

    call_command("migrate", verbosity=0)
    config = build_config(
        scale=args.scale,
        end_date=args.end_date,
        today=timezone.localdate(),
        time_zone=settings.TIME_ZONE,
    )
    cpu_before = time.process_time()
    result = seed_database(
        config,
        reporter=Reporter(sys.stdout),
        flush=True,
        rebuild_indexes_from=2**62 if args.keep_indexes else REBUILD_INDEXES_FROM,
    )
    cpu_seed = time.process_time() - cpu_before
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print()
    print(f"{'phase':<24} {'seconds':>9} {'rows':>12} {'rows/s':>12}")
    for name, seconds, count, _unit in result.timings:
        rate = f"{count / seconds:>12,.0f}" if count and seconds else f"{'':>12}"
        print(f"{name:<24} {seconds:>9.1f} {count:>12,} {rate}")
    events = result.counts.get("analytics.ListeningEvent", 0)
    event_seconds = result.phase_seconds("listening events")
    print(f"{'whole seed':<24} {result.seconds:>9.1f} {sum(result.counts.values()):>12,}")
    print(f"seed process CPU time: {cpu_seed:.1f} s; peak RSS of the seed: {peak_mb:,.0f} MB")
    print(f"event COPY stream: {result.event_copy_bytes / 2**20:,.0f} MB")
    slowest = sorted(result.index_seconds.items(), key=lambda item: -item[1])[:6]
    if slowest:
        print("slowest index rebuilds: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest))
    if not args.skip_raw_copy and events:
        rows, seconds = _raw_copy_rate(config)
        raw_rate = rows / seconds
        phase_rate = events / event_seconds
        print(f"raw COPY of the same {rows:,} rows, bare table: {seconds:.1f} s, {raw_rate:,.0f} rows/s")
        share = phase_rate / raw_rate
        print(f"event phase (generate + COPY): {phase_rate:,.0f} rows/s = {share:.0%} of raw COPY")
        indexes = result.phase_seconds("indexes")
        if indexes:
            whole = events / (event_seconds + indexes)
            share = whole / raw_rate
            print(f"event phase with the index rebuild: {whole:,.0f} rows/s = {share:.0%} of raw COPY")


if __name__ == "__main__":
    main()
