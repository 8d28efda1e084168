"""`manage.py create_api_token USERNAME`: the user's API token, created when missing.

The key alone goes to stdout, so a script can capture it:
`TOKEN=$(python manage.py create_api_token alice)`. What happened goes to stderr.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token

from analytics.api.permissions import KPI_PERMISSION


class Command(BaseCommand):
    help = "Print the API token of a user, creating it when the user has none."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The user the token authenticates as.")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(
                f"No user named {username!r}. Create one in the admin or with `manage.py createsuperuser`."
            ) from None
        token, created = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
        # The API admits active staff only, like the KPI pages: say so now, not at the first 403.
        if not (user.is_active and user.is_staff):
            self.stderr.write(
                self.style.WARNING(f"{username} is not active staff: the API will answer 403 until they are.")
            )
        elif not user.has_perm(KPI_PERMISSION):
            self.stderr.write(
                self.style.WARNING(f"{username} lacks {KPI_PERMISSION}: KPI endpoints will answer 403.")
            )
        action = "Created a new API token" if created else "Printed the existing API token"
        self.stderr.write(f"{action} for {username}.")
