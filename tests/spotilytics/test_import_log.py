"""Every import attempt is recorded, whatever its outcome, and the log is read-only."""

from __future__ import annotations

import pytest
from django.contrib.admin import AdminSite
from django.test import RequestFactory

from billing.models import Listener
from billing.resources import ListenerResource
from spotilytics.importing.admin import ImportLogAdmin
from spotilytics.importing.runner import import_file
from spotilytics.models import ImportLog, ImportSource, ImportStatus

pytestmark = pytest.mark.django_db

HEADER = b"email,display_name,country,signed_up_at\n"
GOOD = HEADER + b"ana@example.com,Ana,SE,2026-01-01\nbo@example.com,Bo,BR,2026-01-02\n"
BAD = HEADER + b"ana@example.com,Ana,SE,2026-01-01\nbo@example.com,Bo,BR,yesterday\n"


def test_import_log_records_a_successful_import_with_who_what_and_counts(admin_user):
    import_file(resource_class=ListenerResource, data=GOOD, file_name="listeners.csv", user=admin_user)

    log = ImportLog.objects.get()
    assert (log.user, log.username, log.source, log.model, log.file_name, log.file_format) == (
        admin_user,
        admin_user.username,
        ImportSource.ADMIN,
        "billing.listener",
        "listeners.csv",
        "csv",
    )
    assert (log.status, log.dry_run, log.rows, log.created, log.updated, log.skipped, log.errors) == (
        ImportStatus.SUCCEEDED,
        False,
        2,
        2,
        0,
        0,
        0,
    )
    assert log.encoding == "utf-8"
    assert log.started_at <= log.finished_at


def test_import_log_survives_the_rollback_of_a_failed_import(admin_user):
    outcome = import_file(
        resource_class=ListenerResource, data=BAD, file_name="listeners.csv", user=admin_user
    )

    assert Listener.objects.count() == 0
    log = ImportLog.objects.get()
    assert outcome.log == log
    assert (log.status, log.created, log.errors) == (ImportStatus.FAILED, 0, 1)
    assert log.problems.startswith("Line 3, column 'signed_up_at': 'yesterday' is not a date and time")


def test_import_log_marks_dry_runs_with_what_would_have_happened():
    import_file(
        resource_class=ListenerResource, data=GOOD, file_name="l.csv", dry_run=True, username="ops (shell)"
    )

    log = ImportLog.objects.get()
    assert (log.dry_run, log.status, log.created, log.user, log.username) == (
        True,
        ImportStatus.SUCCEEDED,
        2,
        None,
        "ops (shell)",
    )
    assert Listener.objects.count() == 0


def test_import_log_records_refused_files():
    import_file(resource_class=ListenerResource, data=b"", file_name="empty.csv")

    log = ImportLog.objects.get()
    assert (log.status, log.errors, log.rows, log.problems) == (
        ImportStatus.REFUSED,
        1,
        0,
        "The file is empty.",
    )


def test_import_log_keeps_the_username_after_the_account_is_deleted(django_user_model):
    user = django_user_model.objects.create_user("temp", password="pw-temp-123")
    import_file(resource_class=ListenerResource, data=GOOD, file_name="l.csv", user=user)

    user.delete()

    log = ImportLog.objects.get()
    assert (log.user, log.username) == (None, "temp")


def test_import_log_admin_is_read_only(admin_user):
    model_admin = ImportLogAdmin(ImportLog, AdminSite())
    request = RequestFactory().get("/")
    request.user = admin_user
    log = import_file(resource_class=ListenerResource, data=GOOD, file_name="l.csv").log

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, log)
    assert not model_admin.has_delete_permission(request, log)
    assert model_admin.has_view_permission(request, log)
