"""End the subscriptions whose trial or paid period has run out (run it daily)."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from billing.services import subscriptions_expire


class Command(BaseCommand):
    help = (
        "End every open subscription whose current period (trial or paid) ended by --at: "
        "ended_at becomes the period end; the reason is payment_failed when the last "
        "payment attempt failed, else other. Running it twice changes nothing more."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--at",
            help=(
                "Expire as of this instant, ISO 8601 such as 2026-03-01T00:00:00Z; a time "
                "without offset is read in TIME_ZONE. Default: now."
            ),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would expire and change nothing."
        )

    def handle(self, *args, at: str | None = None, dry_run: bool = False, **options) -> None:
        moment = timezone.now() if at is None else _parse_at(at)
        # A dry run performs the very same work and rolls it back, so both print alike.
        with transaction.atomic():
            expired = subscriptions_expire(at=moment)
            if dry_run:
                transaction.set_rollback(True)
        verb = "Would expire" if dry_run else "Expired"
        for subscription in expired:
            self.stdout.write(
                f"{verb} subscription #{subscription.pk} of {subscription.listener.email} "
                f"on {subscription.plan.name}: ended at {subscription.ended_at.isoformat()} "
                f"({subscription.cancel_reason})"
            )
        summary = f"{verb} {len(expired)} subscription(s) as of {moment.isoformat()}"
        self.stdout.write(self.style.SUCCESS(summary + (" (dry run, nothing changed)." if dry_run else ".")))


def _parse_at(raw: str) -> datetime:
    try:
        parsed = parse_datetime(raw.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise CommandError(f"--at must be an ISO 8601 date-time such as 2026-03-01T00:00:00Z; got {raw!r}.")
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed
