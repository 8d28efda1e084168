"""`manage.py seed`: fill the database with realistic, deterministic data at any scale."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from analytics.seeding.config import (
    DEFAULT_MONTHS,
    DEFAULT_SCALE,
    DEFAULT_SEED,
    SCALES,
    SeedOptionError,
    build_config,
)
from analytics.seeding.progress import Reporter
from analytics.seeding.runner import SeedRefused, seed_database, tables_with_data


class Command(BaseCommand):
    help = (
        "Fill catalog, listeners, subscriptions, payments, playlists, follows, ratings, experiments and "
        "listening events with realistic data. The same options give the same data."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # Values are validated in handle(), so a bad one gives a one-line error, not argparse's usage.
        presets = ", ".join(
            f"{name} ({s.listeners:,} listeners, {s.events:,} events)" for name, s in SCALES.items()
        )
        parser.add_argument(
            "--scale", default=DEFAULT_SCALE, help=f"Size preset: {presets}. Default {DEFAULT_SCALE}."
        )
        parser.add_argument("--listeners", help="Number of listeners (overrides the preset).")
        parser.add_argument("--events", help="Number of listening events, about (overrides the preset).")
        parser.add_argument("--months", help=f"Length of the period in months (default {DEFAULT_MONTHS}).")
        parser.add_argument("--seed", help=f"Random seed (default {DEFAULT_SEED}): same seed, same data.")
        parser.add_argument(
            "--end-date",
            help="First day without data, YYYY-MM-DD (default today): the period ends at its local midnight.",
        )
        parser.add_argument(
            "--flush", action="store_true", help="Empty the seeded tables first (never users or groups)."
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing, successfully, when the database has data."
        )
        parser.add_argument("--quiet", action="store_true", help="Print nothing but errors.")
        parser.add_argument(
            "--skip-rollups",
            action="store_true",
            help="Leave the KPI rollups alone (by default they are rebuilt after seeding).",
        )

    def handle(self, *args, **options) -> None:
        try:
            config = build_config(
                scale=options["scale"],
                listeners=options["listeners"],
                events=options["events"],
                months=options["months"],
                seed=options["seed"],
                end_date=options["end_date"],
                today=timezone.localdate(),
                time_zone=settings.TIME_ZONE,
            )
        except SeedOptionError as exc:
            raise CommandError(str(exc)) from None
        if options["flush"] and options["if_empty"]:
            raise CommandError("--flush and --if-empty contradict each other; use one.")
        reporter = Reporter(self.stdout, quiet=options["quiet"])
        if options["if_empty"] and tables_with_data():
            reporter.write("The database already has data; nothing seeded (--if-empty).")
            return
        try:
            result = seed_database(config, reporter=reporter, flush=options["flush"])
        except SeedRefused as exc:
            raise CommandError(str(exc)) from None
        reporter.write("")
        reporter.write(f"  {'table':<34} {'rows':>12}")
        for label, count in result.counts.items():
            reporter.write(f"  {label:<34} {count:>12,}")
        reporter.write(f"Seeded {sum(result.counts.values()):,} rows in {result.seconds:.1f} s.")
        if not options["skip_rollups"]:
            # KPI pages read rollups only: fresh data must be visible at once.
            call_command(
                "refresh_rollups", full=True, verbosity=0 if options["quiet"] else 1, stdout=self.stdout
            )
