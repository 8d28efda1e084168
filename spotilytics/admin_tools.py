"""Admin helpers shared by the apps' `admin.py` modules.

- `EstimatedCountPaginator` and `LargeTableAdminMixin`: changelists of tables with
  millions of rows never run a full `COUNT(*)`.
- `ReadOnlyAdminMixin`, `RollupAdmin` and `register_rollups`: view-only admins for rows
  the system writes.
- `DateTimeRangeFilter`: unfold's date-time range filter, time-zone aware and strict.
- `subquery_count`: a per-row count as a correlated subquery, so a changelist column
  such as "tracks" costs no query per row and no join fan-out.
- `apply_each` and `render_confirmation`: the two halves of an admin action with a
  confirmation page that calls a service once per object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.db.models import (
    BinaryField,
    Count,
    DateField,
    DateTimeField,
    IntegerField,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.forms import Form
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateFilter, RangeDateTimeFilter
from unfold.views import ChangeList

# Above this many rows a changelist stops counting and says "10,000+".
COUNT_CAP = 10_000
# A confirmation page lists this many of the selected objects, then "and N more".
ACTION_PREVIEW = 100


class EstimatedCountPaginator(Paginator):
    """A paginator whose count never scans a big table.

    Unfiltered lists on PostgreSQL use the planner's row estimate (`pg_class.reltuples`
    scaled to the table's current size, as the planner itself does) when it is above the
    cap. Everything else counts at most `cap + 1` rows through a LIMITed subquery: exact
    below the cap, "10,000+" above it. Pages past the counted rows are simply not offered.
    """

    cap = COUNT_CAP
    template_name = "admin/spotilytics/estimated_pagination.html"

    def __init__(self, object_list: Any, per_page: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, *args, **kwargs)
        self.is_estimate = False
        self.is_capped = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if _is_whole_table(queryset):
            estimate = table_row_estimate(queryset.model, using=queryset.db)
            if estimate is not None and estimate > self.cap:
                self.is_estimate = True
                return estimate
        # Annotations and ordering are dropped: only the number of rows matters here.
        counted = queryset.values("pk").order_by()[: self.cap + 1].count()
        self.is_capped = counted > self.cap
        return counted

    @property
    def count_label(self) -> str:
        count = self.count  # sets the flags
        if self.is_capped:
            return f"{self.cap:,}+"
        if self.is_estimate:
            return f"about {count:,}"
        return f"{count:,}"


def _is_whole_table(queryset: QuerySet) -> bool:
    query = queryset.query
    return not (query.where or query.distinct or query.combinator or query.is_sliced)


def table_row_estimate(model: type[Model], *, using: str = "default") -> int | None:
    """The planner's row estimate of the model's table, or None when there is none.

    PostgreSQL only (SQLite keeps no such statistic). A table that was never analysed
    reports -1 tuples: no estimate then.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT reltuples, relpages,
                   pg_relation_size(oid) / current_setting('block_size')::int
            FROM pg_class WHERE oid = to_regclass(%s)
            """,
            [connection.ops.quote_name(model._meta.db_table)],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    tuples, pages, current_pages = row
    if tuples < 0:
        return None
    if pages > 0:
        # Scale the density seen at the last ANALYZE to the table's size now.
        return round(tuples / pages * current_pages)
    return round(tuples)


class EstimatedCountChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        # The header would print the raw capped or estimated number as "N results";
        # the pagination bar prints the honest label ("10,000+", "about N") instead.
        self.full_result_count = self.result_count


class LargeTableAdminMixin:
    """Changelist settings for tables with millions of rows: estimated counts, no
    full count for the "N total" link and no facet counts (each one a scan)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return EstimatedCountChangeList


class ReadOnlyAdminMixin:
    """Rows the system writes (listening events, rollups): viewed here, never edited.

    Not even a superuser may add, change or delete them, so there are no actions either.
    """

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class DateTimeRangeFilter(RangeDateTimeFilter):
    """A `[from, to]` range of a date-time field, for `list_filter`.

    unfold's filter builds naive datetimes and silently ignores what it cannot parse;
    this one reads the bounds through the filter's own form, so they are instants of
    the current time zone, and an unreadable bound is reported instead of ignored.
    """

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.used_parameters:
            return queryset
        form = self.form_class(name=self.parameter_name, data=self.used_parameters)
        if not form.is_valid():
            problems = " ".join(error for errors in form.errors.values() for error in errors)
            messages.error(request, f"The {self.title} filter was not applied: {problems}")
            return queryset
        bounds = {}
        if start := form.cleaned_data.get(f"{self.parameter_name}_from"):
            bounds[f"{self.parameter_name}__gte"] = start
        if end := form.cleaned_data.get(f"{self.parameter_name}_to"):
            bounds[f"{self.parameter_name}__lte"] = end
        return queryset.filter(**bounds)


class RollupAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, ModelAdmin):
    """A pre-aggregated table, rewritten by its refresh: browsed to check a KPI, never edited."""

    list_filter_submit = True


def register_rollups(app_label: str, site: admin.AdminSite | None = None) -> list[type[Model]]:
    """Register a read-only `RollupAdmin` for every model of the app still without one.

    Call it at the end of an app's `admin.py`, after the hand-written admins: in this
    project the models left are the pre-aggregated tables a refresh command rewrites.
    Their shape follows the KPIs and changes with them, so their admin is derived from
    their fields: every column listed, date columns as range filters, choice columns as
    dropdowns, foreign keys as raw ids, and an exact search on the country and on the
    listener when the table has one. Tables keyed by their grain's columns (a composite
    primary key, which Django's admin cannot show) are left out. Returns the models it
    registered.
    """
    site = site or admin.site
    registered = []
    for model in apps.get_app_config(app_label).get_models():
        if site.is_registered(model) or model._meta.is_composite_pk:
            continue
        fields = [field for field in model._meta.concrete_fields if not field.auto_created]
        names = {field.name for field in fields}
        relations = [field.name for field in fields if field.is_relation]
        filters: list[tuple[str, type]] = []
        for field in fields:
            if isinstance(field, DateTimeField):
                filters.append((field.name, DateTimeRangeFilter))
            elif isinstance(field, DateField):
                filters.append((field.name, RangeDateFilter))
            elif field.choices:
                filters.append((field.name, ChoicesDropdownFilter))
        searches = [f"{name}__exact" for name in ("country", "listener_id") if name in names]
        if "listener" in relations:
            searches.append("listener__id__exact")
        # A related row's __str__ may read its own foreign keys (an album names its artist).
        joins = [
            f"{field.name}__{inner.name}"
            for field in fields
            if field.is_relation
            for inner in field.related_model._meta.concrete_fields
            if inner.is_relation
        ]
        attrs = {
            "__module__": model.__module__.replace(".models", ".admin"),
            # Binary columns (serialized bitmaps) mean nothing on screen and weigh a lot.
            "list_display": [field.name for field in fields if not isinstance(field, BinaryField)],
            "list_select_related": relations + joins,
            "raw_id_fields": relations,
            "list_filter": filters,
            "search_fields": searches,
        }
        site.register(model, type(f"{model.__name__}Admin", (RollupAdmin,), attrs))
        registered.append(model)
    return registered


def minutes_seconds(ms: int) -> str:
    """A duration in milliseconds as m:ss, the way players show it."""
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes}:{seconds:02d}"


def subquery_count(model: type[Model], field: str, *conditions: Q, **filters: Any) -> Coalesce:
    """Rows of `model` whose `field` points at the outer row, as an annotation."""
    rows = (
        model.objects.filter(*conditions, **{field: OuterRef("pk")}, **filters)
        .order_by()
        .values(field)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def apply_each(
    request: HttpRequest,
    objects: Iterable[Model],
    operation: Callable[[Model], Any],
    *,
    done: str,
) -> int:
    """Run `operation` on each object in its own transaction.

    A refusal (ValidationError) is reported for its object and the others still apply.
    `done` is the success message, formatted with `count` and `s` (the plural ending).
    Returns how many applied.
    """
    applied = 0
    for obj in objects:
        try:
            with transaction.atomic():
                operation(obj)
        except ValidationError as exc:
            messages.error(request, f"{obj}: {' '.join(exc.messages)}")
        else:
            applied += 1
    if applied:
        messages.success(request, done.format(count=applied, s="" if applied == 1 else "s"))
    return applied


def render_confirmation(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    form: Form,
    template: str,
    **context: Any,
) -> TemplateResponse:
    """The intermediate page of an action: the selected objects, a form and a submit.

    The page posts back the changelist's own selection (the ticked ids, or "all that
    match" with the changelist's filters in the URL), so Django rebuilds the same
    queryset on confirmation. It lists the first `ACTION_PREVIEW` objects only.
    """
    objects = list(queryset[:ACTION_PREVIEW])
    total = queryset.count() if len(objects) == ACTION_PREVIEW else len(objects)
    return TemplateResponse(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "title": title,
            "opts": model_admin.model._meta,
            "objects": objects,
            "total": total,
            "more": total - len(objects),
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            **context,
        },
    )
