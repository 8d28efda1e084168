from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import (
    AutocompleteSelectFilter,
    BooleanRadioFilter,
    ChoicesDropdownFilter,
    RelatedDropdownFilter,
)
from unfold.decorators import display

from analytics.models import (
    Assignment,
    Experiment,
    ExperimentStatus,
    ListeningEvent,
    Variant,
)
from spotilytics.admin_tools import (
    DateTimeRangeFilter,
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    minutes_seconds,
    register_rollups,
    subquery_count,
)


@admin.register(ListeningEvent)
class ListeningEventAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, ModelAdmin):
    """Tens of millions of rows, written by the seed and imports only: view-only here.

    Every filter is a condition the indexes or a LIMIT bound: choices, a played_at
    range, one listener or one track (the `(listener, played_at)` and `(track,
    played_at)` indexes). No date hierarchy (it reads distinct dates of the whole
    table) and no sorting on unindexed columns.
    """

    list_display = [
        "id",
        "played_at",
        "listener",
        "content",
        "played",
        "skipped",
        "device",
        "context",
        "playlist",
    ]
    list_select_related = ["listener", "track", "episode__podcast", "playlist"]
    ordering = ["-played_at", "-id"]
    sortable_by = ["id", "played_at"]
    search_fields = ["id__exact", "listener__id__exact"]
    search_help_text = "Play id or listener id."
    list_filter = [
        ("played_at", DateTimeRangeFilter),
        ("device", ChoicesDropdownFilter),
        ("context", ChoicesDropdownFilter),
        ("skipped", BooleanRadioFilter),
        ("listener", AutocompleteSelectFilter),
        ("track", AutocompleteSelectFilter),
    ]
    list_filter_submit = True
    raw_id_fields = ["listener", "track", "episode", "playlist"]

    @admin.display(description="track or episode")
    def content(self, obj: ListeningEvent) -> str:
        return str(obj.track or obj.episode)

    @admin.display(description="played")
    def played(self, obj: ListeningEvent) -> str:
        return minutes_seconds(obj.ms_played)


class VariantInline(TabularInline):
    model = Variant
    fields = ["key", "name", "is_control", "weight"]
    extra = 0
    show_change_link = True


@admin.register(Experiment)
class ExperimentAdmin(ModelAdmin):
    list_display = [
        "name",
        "key",
        "status_label",
        "started_at",
        "ended_at",
        "variant_count",
        "assignment_count",
    ]
    search_fields = ["key", "name"]
    list_filter = [
        ("status", ChoicesDropdownFilter),
        ("started_at", DateTimeRangeFilter),
    ]
    list_filter_submit = True
    prepopulated_fields = {"key": ["name"]}
    inlines = [VariantInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                variant_total=subquery_count(Variant, "experiment"),
                assignment_total=subquery_count(Assignment, "experiment"),
            )
        )

    @display(
        description="status",
        ordering="status",
        label={
            ExperimentStatus.DRAFT.label: "info",
            ExperimentStatus.RUNNING.label: "success",
            ExperimentStatus.STOPPED.label: "warning",
        },
    )
    def status_label(self, obj: Experiment) -> str:
        return obj.get_status_display()

    @admin.display(description="variants", ordering="variant_total")
    def variant_count(self, obj: Experiment) -> int:
        return obj.variant_total

    @admin.display(description="assignments", ordering="assignment_total")
    def assignment_count(self, obj: Experiment) -> int:
        return obj.assignment_total


@admin.register(Variant)
class VariantAdmin(ModelAdmin):
    list_display = ["name", "experiment", "key", "is_control", "weight", "assignment_count"]
    list_select_related = ["experiment"]
    search_fields = ["key", "name", "experiment__key"]
    list_filter = [("experiment", RelatedDropdownFilter), ("is_control", BooleanRadioFilter)]
    list_filter_submit = True
    autocomplete_fields = ["experiment"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(assignment_total=subquery_count(Assignment, "variant"))

    @admin.display(description="assignments", ordering="assignment_total")
    def assignment_count(self, obj: Variant) -> int:
        return obj.assignment_total


class AssignmentForm(forms.ModelForm):
    class Meta:
        model = Assignment
        fields = ["experiment", "variant", "listener", "assigned_at"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        experiment, variant = cleaned.get("experiment"), cleaned.get("variant")
        if experiment and variant and variant.experiment_id != experiment.pk:
            self.add_error(
                "variant", f"{variant.name} is a variant of another experiment, not of {experiment}."
            )
        return cleaned


@admin.register(Assignment)
class AssignmentAdmin(LargeTableAdminMixin, ModelAdmin):
    form = AssignmentForm
    list_display = ["__str__", "experiment", "variant", "listener", "assigned_at"]
    list_select_related = ["experiment", "variant__experiment", "listener"]
    search_fields = ["listener__id__exact", "experiment__key__exact"]
    search_help_text = "Listener id or exact experiment key."
    list_filter = [
        ("experiment", RelatedDropdownFilter),
        ("variant", AutocompleteSelectFilter),
        ("assigned_at", DateTimeRangeFilter),
    ]
    list_filter_submit = True
    autocomplete_fields = ["experiment", "variant"]
    raw_id_fields = ["listener"]


# Listening rollups (`analytics.rollups`): read-only, derived from their fields.
register_rollups("analytics")
