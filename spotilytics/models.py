from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ImportStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed: nothing written"
    REFUSED = "refused", "Refused before reading"


class ImportSource(models.TextChoices):
    ADMIN = "admin", "Admin upload"
    COMMAND = "command", "import_catalog command"


class ImportLog(models.Model):
    """One import attempt, whatever its outcome. Written outside the import's transaction,
    so a rolled-back import is still on record."""

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept as text too: the log must still say who after the account is deleted.
    username = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=10, choices=ImportSource.choices)
    model = models.CharField(max_length=100, help_text="app_label.model of the imported rows.")
    file_name = models.CharField(max_length=255)
    file_format = models.CharField("format", max_length=10)
    encoding = models.CharField(max_length=40, blank=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, db_index=True)
    rows = models.PositiveIntegerField(default=0, help_text="Data rows read from the file.")
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(
        default=0, help_text="Problems found; any one means nothing was written."
    )
    problems = models.TextField(blank=True, help_text="The first problems, one a line.")

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=ImportStatus.SUCCEEDED) | Q(errors=0),
                name="import_log_success_has_no_errors",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.model}) {self.get_status_display().lower()}"
