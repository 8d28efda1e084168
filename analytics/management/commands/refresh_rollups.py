"""Bring every rollup table up to date with the raw data (listening, content, revenue)."""

from __future__ import annotations

import sys
import threading
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

import analytics.rollups
import billing.rollups
import catalog.rollups
from analytics.rollups._sql import exclusive
from analytics.rollups.runner import refresh_modules

# Independent of each other: refreshed at the same time where the database allows it.
MODULES = (
    ("listening", analytics.rollups),
    ("content", catalog.rollups),
    ("revenue", billing.rollups),
)
BAR_WIDTH = 12


def _parse_date(option: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise CommandError(f"{option} must be a date as YYYY-MM-DD; got {raw!r}.") from None


class Command(BaseCommand):
    help = (
        "Refresh the rollup tables the KPI pages read: incrementally from the last refresh by "
        "default (events that arrived late for past days included), from --since, or all of it "
        "with --full. Safe to re-run: a refresh with nothing new changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            metavar="YYYY-MM-DD",
            help="Also rebuild every day from this local date on (after fixing or deleting data).",
        )
        parser.add_argument("--full", action="store_true", help="Empty the rollups and rebuild them all.")
        parser.add_argument(
            "--today",
            metavar="YYYY-MM-DD",
            help="The reporting day to refresh as of (default: today in the reporting time zone).",
        )

    def handle(self, *args, since: str | None, full: bool, today: str | None, **options) -> None:
        today_date = _parse_date("--today", today) if today else timezone.localdate()
        since_date = _parse_date("--since", since) if since else None
        if since_date and full:
            raise CommandError("Use either --since or --full, not both.")
        if since_date and since_date > today_date:
            raise CommandError(f"--since cannot be after today ({today_date}); got {since_date}.")
        verbosity = options["verbosity"]
        show_bar = verbosity >= 1 and self.stdout.isatty()
        started = time.monotonic()
        summary = []
        # One refresh at a time: an overlapping cron run waits instead of rebuilding the
        # same days under the first one.
        with exclusive("refresh_rollups"):
            bars = _Bars(self.stdout) if show_bar else None
            try:
                results = refresh_modules(
                    MODULES,
                    since=since_date,
                    full=full,
                    today=today_date,
                    progress_for=lambda name: bars.reporter(name) if bars else None,
                )
            except OverflowError as error:  # data the rollups cannot hold (catalog's bitmaps)
                raise CommandError(str(error)) from error
            finally:
                if bars:
                    bars.clear()
        for name, written in results:
            summary.append(f"{name} {sum(written.values()):,} rows")
            if verbosity >= 2:
                for table, rows in written.items():
                    self.stdout.write(f"  {name}: {table} {rows:,}")
        covered = analytics.rollups.freshness()
        upto = "; no events yet"
        if covered:
            upto = f"; events up to {timezone.localtime(covered):%Y-%m-%d %H:%M}"
        if verbosity >= 1:
            self.stdout.write(
                f"Refreshed rollups in {time.monotonic() - started:.1f} s: {', '.join(summary)}{upto}."
            )


class _Bars:
    """One terminal line with a progress bar per module; modules report from their own
    threads."""

    def __init__(self, stdout) -> None:
        self.stdout = stdout
        self.states: dict[str, str] = {}
        self.lock = threading.Lock()

    def reporter(self, name: str):
        def report(label: str, done: int, total: int) -> None:
            filled = BAR_WIDTH * done // total if total else BAR_WIDTH
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            with self.lock:
                self.states[name] = f"{label} [{bar}] {done}/{total}"
                self.stdout.write(f"\r\033[K{'  '.join(self.states.values())}", ending="")
                sys.stdout.flush()

        return report

    def clear(self) -> None:
        self.stdout.write("\r\033[K", ending="")
