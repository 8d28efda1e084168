"""`manage.py demo_login`: a known superuser for the local demo."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

USERNAME = "demo"
DEFAULT_PASSWORD = "spotilytics-demo"
LOGIN_URL = "http://127.0.0.1:8000/admin/"


class Command(BaseCommand):
    help = (
        f"Create or reset the staff superuser '{USERNAME}' with a known password and print the "
        "login. For local demos only: refuses to run unless DEBUG is on or --force is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help=f"Password to set (default: {DEFAULT_PASSWORD}).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off, e.g. on a throw-away staging copy.",
        )

    def handle(self, *args: Any, password: str, force: bool, **options: Any) -> None:
        if not settings.DEBUG and not force:
            # A superuser with a published password must never reach a real deployment.
            raise CommandError(
                f"demo_login creates the superuser '{USERNAME}' with a known password, so it only "
                "runs with DEBUG=1. Use --force if this database really is a throw-away demo."
            )
        if not password.strip():
            raise CommandError("--password must not be empty.")
        user_model = get_user_model()
        with transaction.atomic():
            user, created = user_model.objects.get_or_create(username=USERNAME)
            user.is_staff = True
            user.is_superuser = True
            user.is_active = True
            user.set_password(password)
            user.save()
        self.stdout.write(
            f"{'Created' if created else 'Reset'} the demo superuser.\n"
            f"  Login:    {LOGIN_URL}\n"
            f"  Username: {USERNAME}\n"
            f"  Password: {password}"
        )
