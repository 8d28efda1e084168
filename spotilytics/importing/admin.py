"""The admin side of imports and exports: mixins for the apps' ModelAdmins.

`ImportExportAdminMixin` keeps django-import-export's URLs, buttons and unfold's forms
and templates, and replaces the two steps that decide what gets written:

- the upload step refuses files above `settings.IMPORT_MAX_UPLOAD_MB` before reading
  them, reads CSV/XLSX with `spotilytics.importing.reading`, and runs the import as a
  dry run: the page lists every problem (line, column, reason) or previews what would
  be created and updated;
- the confirm step runs the same import for real, all or nothing: if the data changed
  in between and a row is now invalid, nothing is written and the problems are shown.

Exports respect the changelist's filters and search (django-import-export builds the
queryset from the changelist), offer a column choice, and are streamed (CSV) or built
in a temporary file (XLSX), never in memory.

Usage: `class TrackAdmin(ImportExportAdminMixin, ModelAdmin): resource_classes = [TrackResource]`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
import time
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST
from import_export.admin import ExportMixin, ImportExportMixin
from import_export.formats import base_formats
from import_export.forms import ConfirmImportForm
from import_export.signals import post_export, post_import
from unfold.admin import ModelAdmin
from unfold.contrib.import_export.forms import ImportForm, SelectableFieldsExportForm
from unfold.widgets import UnfoldAdminIntegerFieldWidget, UnfoldAdminSelectWidget

from spotilytics.importing.exporting import streaming_csv_response, xlsx_response
from spotilytics.importing.reading import ENCODINGS, FileRefused, check_upload_size
from spotilytics.importing.runner import ImportOutcome, import_file
from spotilytics.models import ImportLog, ImportSource, ImportStatus

# Where uploads wait between the preview and the confirmation.
_UPLOAD_PREFIX = "spotilytics-import-"
_UPLOAD_NAME = re.compile(rf"^{_UPLOAD_PREFIX}[A-Za-z0-9_]+\.upload$")
_FORMATS = {"csv": base_formats.CSV, "xlsx": base_formats.XLSX}
_IMPORT_FORMATS = [base_formats.CSV, base_formats.XLSX]


class SpotilyticsImportForm(ImportForm):
    """Upload form: the file (size-checked before anything reads it), format, encoding."""

    encoding = forms.ChoiceField(
        choices=list(ENCODINGS.items()),
        required=False,
        label="Encoding (CSV only)",
        help_text="Leave on detect unless accented letters come out wrong in the preview.",
        widget=UnfoldAdminSelectWidget,
    )
    #: form fields passed to the resource as keyword arguments
    resource_options: tuple[str, ...] = ()

    def clean_import_file(self) -> UploadedFile:
        upload = self.cleaned_data["import_file"]
        try:
            check_upload_size(upload.size)
        except FileRefused as exc:
            self.refused = str(exc)
            raise forms.ValidationError(str(exc)) from None
        return upload


class TrackImportForm(SpotilyticsImportForm):
    default_duration_ms = forms.IntegerField(
        required=False,
        min_value=1,
        label="Duration when the file has none (ms)",
        help_text="Only for layouts without track lengths (e.g. Top Spotify Songs 2023).",
        widget=UnfoldAdminIntegerFieldWidget,
    )
    resource_options = ("default_duration_ms",)


class SpotilyticsConfirmImportForm(ConfirmImportForm):
    encoding = forms.CharField(widget=forms.HiddenInput(), required=False)
    default_duration_ms = forms.IntegerField(widget=forms.HiddenInput(), required=False, min_value=1)

    def clean_format(self) -> str:
        value = self.cleaned_data["format"]
        if value not in {str(index) for index in range(len(_IMPORT_FORMATS))}:
            raise forms.ValidationError("Unknown format; upload the file again.")
        return value

    def clean_import_file_name(self) -> str:
        name = os.path.basename(self.cleaned_data["import_file_name"])
        if not _UPLOAD_NAME.match(name):
            raise forms.ValidationError("Unknown upload; upload the file again.")
        return name


def _store_upload(upload: UploadedFile) -> str:
    _remove_abandoned_uploads()
    with tempfile.NamedTemporaryFile(prefix=_UPLOAD_PREFIX, suffix=".upload", delete=False) as target:
        for chunk in upload.chunks():
            target.write(chunk)
    return os.path.basename(target.name)


def _remove_abandoned_uploads(max_age_seconds: int = 24 * 3600) -> None:
    """Uploads previewed and never confirmed; a day is longer than anyone reads a preview."""
    cutoff = time.time() - max_age_seconds
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{_UPLOAD_PREFIX}*.upload")):
        with contextlib.suppress(OSError):
            if os.path.getmtime(path) < cutoff:
                os.remove(path)


def _upload_path(name: str) -> str:
    return os.path.join(tempfile.gettempdir(), name)


def _remove_upload(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(_upload_path(name))


class StreamingExportMixin(ExportMixin):
    """Exports in CSV (streamed) and XLSX (write-only workbook), formula-neutralised."""

    export_form_class = SelectableFieldsExportForm
    export_formats_offered: tuple[str, ...] = ("csv", "xlsx")

    def get_export_formats(self) -> list[type]:
        return [_FORMATS[name] for name in self.export_formats_offered]

    def _do_file_export(self, file_format: Any, request: HttpRequest, queryset: Any, export_form: Any = None):
        if not self.has_export_permission(request):
            raise PermissionDenied
        resource_class = self.choose_export_resource_class(export_form, request)
        resource = resource_class(**self.get_export_resource_kwargs(request))
        fields = self.get_export_resource_fields_from_form(export_form)
        filename = self.get_export_filename(request, queryset, file_format)
        if isinstance(file_format, base_formats.XLSX):
            response = xlsx_response(resource, queryset, fields=fields, filename=filename)
        else:
            response = streaming_csv_response(resource, queryset, fields=fields, filename=filename)
        post_export.send(sender=None, model=self.model)
        return response


class ImportExportAdminMixin(StreamingExportMixin, ImportExportMixin):
    """Import (all or nothing, logged, plain errors) and export for a ModelAdmin."""

    import_form_class = SpotilyticsImportForm
    confirm_form_class = SpotilyticsConfirmImportForm
    import_template_name = "admin/import_export/spotilytics_import.html"
    skip_admin_log = True  # every import is in ImportLog; one LogEntry per row would flood it

    def get_import_formats(self) -> list[type]:
        return list(_IMPORT_FORMATS)

    def get_confirm_form_initial(self, request: HttpRequest, import_form: Any) -> dict:
        if import_form is None:
            return {}
        initial = {
            "import_file_name": import_form.stored_name,
            "original_file_name": import_form.cleaned_data["import_file"].name,
            "format": import_form.cleaned_data["format"],
            "resource": import_form.cleaned_data.get("resource", ""),
            "encoding": import_form.cleaned_data.get("encoding", ""),
        }
        for name in import_form.resource_options:
            initial[name] = import_form.cleaned_data.get(name)
        return initial

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.create_import_form(request)
        context: dict[str, Any] = {}
        if request.method == "POST":
            if form.is_valid():
                upload = form.cleaned_data["import_file"]
                form.stored_name = _store_upload(upload)
                outcome = self._run(request, form, form.stored_name, upload.name, dry_run=True)
                context["outcome"] = outcome
                if outcome.ok:
                    context["confirm_form"] = self.create_confirm_form(request, import_form=form)
                else:
                    _remove_upload(form.stored_name)
            elif getattr(form, "refused", None):
                self._log_refused(request, form)
        return self._render(request, form, context)

    @method_decorator(require_POST)
    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        confirm = self.create_confirm_form(request)
        if not confirm.is_valid() or not os.path.exists(
            _upload_path(confirm.cleaned_data["import_file_name"])
        ):
            messages.error(request, "The uploaded file is no longer available; upload it again.")
            return HttpResponseRedirect(self._url("import"))
        name = confirm.cleaned_data["import_file_name"]
        try:
            outcome = self._run(
                request, confirm, name, confirm.cleaned_data["original_file_name"], dry_run=False
            )
        finally:
            _remove_upload(name)
        if outcome.ok:
            post_import.send(sender=None, model=self.model)
            messages.success(request, f"Import of {outcome.file_name} finished. {outcome.summary()}")
            return HttpResponseRedirect(self._url("changelist"))
        blank = self.get_import_form_class(request)(
            self.get_import_formats(), self.get_import_resource_classes(request)
        )
        return self._render(request, blank, {"outcome": outcome})

    def _run(self, request: HttpRequest, form: Any, stored_name: str, file_name: str, *, dry_run: bool):
        cleaned = form.cleaned_data
        resource_class = self.choose_import_resource_class(form, request)
        options = {
            name: cleaned.get(name)
            for name in getattr(self.get_import_form_class(request), "resource_options", ())
            if cleaned.get(name)
        }
        file_format = self.get_import_formats()[int(cleaned["format"])]().get_title()
        with open(_upload_path(stored_name), "rb") as stored:
            data = stored.read()
        return import_file(
            resource_class=resource_class,
            data=data,
            file_name=file_name,
            source=ImportSource.ADMIN,
            user=request.user,
            file_format=file_format,
            encoding=cleaned.get("encoding") or "",
            dry_run=dry_run,
            resource_kwargs=options,
        )

    def _log_refused(self, request: HttpRequest, form: Any) -> None:
        upload = request.FILES.get("import_file")
        ImportLog.objects.create(
            user=request.user,
            username=request.user.get_username(),
            source=ImportSource.ADMIN,
            model=self.model._meta.label_lower,
            file_name=(upload.name if upload else "")[:255],
            file_format="",
            status=ImportStatus.REFUSED,
            dry_run=True,
            errors=1,
            problems=form.refused,
        )

    def _render(self, request: HttpRequest, form: Any, context: dict[str, Any]) -> TemplateResponse:
        resources = [
            resource_class(**self.get_import_resource_kwargs(request))
            for resource_class in self.get_import_resource_classes(request)
        ]
        outcome: ImportOutcome | None = context.get("outcome")
        context.update(self.admin_site.each_context(request))
        context.update(
            {
                "title": "Import",
                "form": form,
                "opts": self.model._meta,
                "media": self.media + form.media,
                "fields_list": [(resource.get_display_name(), _columns(resource)) for resource in resources],
                "aliases": sorted(
                    {alias for resource in resources for alias in getattr(resource, "aliases", {})}
                ),
                "max_upload_mb": _max_upload_mb(),
                "outcome": outcome,
            }
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)

    def _url(self, view: str) -> str:
        info = self.model._meta.app_label, self.model._meta.model_name
        return reverse(f"{self.admin_site.name}:{info[0]}_{info[1]}_{view}", current_app=self.admin_site.name)


class ExportOnlyAdminMixin(StreamingExportMixin):
    """Export and no import at all, for tables written only by the system (listening events)."""

    export_formats_offered = ("csv",)


def _columns(resource: Any) -> list[str]:
    if hasattr(resource, "import_columns"):
        return resource.import_columns()
    return [field.column_name for field in resource.get_user_visible_fields()]


def _max_upload_mb() -> int:
    from django.conf import settings

    return settings.IMPORT_MAX_UPLOAD_MB


class ImportLogAdmin(ModelAdmin):
    """Read-only: the log is written by imports, never by hand."""

    list_display = (
        "started_at",
        "username",
        "model",
        "file_name",
        "file_format",
        "dry_run",
        "status",
        "rows",
        "created",
        "updated",
        "skipped",
        "errors",
    )
    list_filter = ("status", "dry_run", "source", "model")
    search_fields = ("file_name", "username")
    date_hierarchy = "started_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
