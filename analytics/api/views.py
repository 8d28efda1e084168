"""API views: parse the parameters, call the KPI registry (or a selector), serialize.

Every endpoint answers JSON, needs active staff (token or admin session) and the
permission of its data, and gives `{"error", "parameter"}` with a 4xx on bad input.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from analytics.api import compat, selectors
from analytics.api import serializers as s
from analytics.api.authentication import AUTHENTICATION_CLASSES
from analytics.api.errors import BadParameter, api_exception_handler, not_found
from analytics.api.permissions import CanViewKpis, CanViewListeners, IsActiveStaff
from analytics.api.schema import (
    KPI_FILTER_PARAMETERS,
    KpiDataSchema,
    error_responses,
    family_parameter,
)
from analytics.api.throttling import TokenRateThrottle
from analytics.forms import KpiFilterForm
from analytics.kpis.registry import (
    FAMILIES,
    FILTERS,
    UnknownKpi,
    all_kpis,
    get_kpi,
    previous_period,
    run_kpi,
)

TOP_CONTENT = 10
TOP_TRACKS_OF_MONTH = 10
# `compare` as the pages spell it (1/0...) or as the API documents it (previous).
_COMPARE = {"previous", "1", "true", "yes", "on"}
_NO_COMPARE = {"", "0", "false", "no", "off"}
_MAX_ID = 2**63 - 1
COMPAT = "Dashboard compatibility"


def _params(request: Request) -> dict[str, str]:
    """Query parameters with a value (`?genre=` means no genre), the last one of each."""
    return {key: value for key, value in request.query_params.items() if value != ""}


def _parse(serializer_class: type[Serializer], request: Request, **context: Any) -> dict[str, Any]:
    serializer = serializer_class(data=_params(request), context=context)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ApiView(APIView):
    authentication_classes = AUTHENTICATION_CLASSES
    permission_classes = [CanViewKpis]
    throttle_classes = [TokenRateThrottle]
    renderer_classes = [JSONRenderer]
    http_method_names = ["get", "head", "options"]

    def get_exception_handler(self):
        return api_exception_handler

    @staticmethod
    def today() -> date:
        return timezone.localdate()


# The registry.


class KpiListView(ApiView):
    @extend_schema(
        summary="List the KPIs",
        description="Every KPI of the registry with its definition and the filters it accepts, "
        "by family, then slug.",
        parameters=[family_parameter()],
        responses={200: s.KpiSummarySerializer(many=True), **error_responses(400)},
        tags=["KPIs"],
    )
    def get(self, request: Request) -> Response:
        family = _params(request).get("family")
        if family is not None and family not in FAMILIES:
            raise BadParameter(f"Unknown family {family!r}: use one of {', '.join(FAMILIES)}.", "family")
        order = list(FAMILIES)
        kpis = sorted(all_kpis(family), key=lambda kpi: (order.index(kpi.family), kpi.slug))
        items = [
            {
                "slug": kpi.slug,
                "title": kpi.title,
                "family": kpi.family,
                "unit": kpi.unit,
                "chart": kpi.chart,
                "definition": kpi.definition,
                "filters": list(kpi.filters),
                "url": reverse("api:kpi-data", args=[kpi.slug]),
            }
            for kpi in kpis
        ]
        return Response(s.KpiSummarySerializer(items, many=True).data)


@extend_schema(
    summary="One KPI's data",
    description=(
        "The KPI's table over the half-open day range `[start, end)` in the reporting time "
        "zone, with the same filters as the KPI pages. Filters the KPI does not accept are "
        "listed in `ignored_filters`. With `compare=previous`, `previous` holds the rows of "
        "the period of the same length just before. An unknown slug is a 404."
    ),
    parameters=KPI_FILTER_PARAMETERS,
    responses={200: s.KpiDataSerializer, **error_responses(400, 404)},
    tags=["KPIs"],
)
class KpiDataView(ApiView):
    # Set before the class decorator reads it: the slug enum is built with the schema.
    schema = KpiDataSchema()

    def get(self, request: Request, slug: str) -> Response:
        try:
            kpi = get_kpi(slug)
        except UnknownKpi:
            raise not_found(f"Unknown KPI {slug!r}: GET /api/kpis/ lists them.", "slug") from None
        params = _params(request)
        compare_text = params.pop("compare", "").strip().lower()
        if compare_text not in _COMPARE | _NO_COMPARE:
            raise BadParameter("Use compare=previous to compare with the previous period.", "compare")
        form = KpiFilterForm(params, today=self.today())
        if not form.is_valid():
            field, message = form.first_error()
            raise BadParameter(message, field)
        start, end = form.period()
        filters = form.kpi_filters()
        run = run_kpi(
            kpi.slug,
            start=start,
            end=end,
            today=form.today,
            compare=compare_text in _COMPARE,
            **filters,
        )
        previous = None
        if run.previous is not None:
            previous = {
                "period": s.period(*previous_period(start, end)),
                "rows": s.json_rows(run.previous.columns, run.previous.rows),
            }
        payload = {
            "slug": kpi.slug,
            "title": kpi.title,
            "family": kpi.family,
            "unit": kpi.unit,
            "chart": kpi.chart,
            "definition": kpi.definition,
            "headline": kpi.headline,
            "period": s.period(start, end),
            "filters": {name: value for name, value in filters.items() if name in kpi.filters},
            "ignored_filters": [name for name in FILTERS if name in filters and name not in kpi.filters],
            "columns": [
                {"key": column.key, "label": column.label, "unit": column.unit}
                for column in run.result.columns
            ],
            "rows": s.json_rows(run.result.columns, run.result.rows),
            "previous": previous,
            "notes": list(run.result.notes),
        }
        return Response(s.KpiDataSerializer(payload).data)


# The dashboard's endpoints. Paths, field names and shapes are the dashboard's.


class SubscriptionsView(ApiView):
    @extend_schema(
        summary="Listeners per plan now",
        description="KPI `subscribers-by-plan` as of now: listeners signed up by now per plan of "
        "their active subscription; those without one count under the free tier. Plans by price.",
        responses={200: s.SubscriptionRowSerializer(many=True), **error_responses()},
        tags=[COMPAT],
    )
    def get(self, request: Request) -> Response:
        today = self.today()
        start, end = compat.now(today)
        run = run_kpi("subscribers-by-plan", start=start, end=end, today=today)
        return Response(s.SubscriptionRowSerializer(run.result.rows, many=True).data)


class TopContentView(ApiView):
    @extend_schema(
        summary="Top 10 rated tracks",
        description="KPI `top-rated` as of now: tracks with at least 5 ratings ranked by "
        "Bayesian average; `rating` is the track's mean rating.",
        parameters=[s.TopContentQuery],
        responses={200: s.TopContentRowSerializer(many=True), **error_responses(400)},
        tags=[COMPAT],
    )
    def get(self, request: Request) -> Response:
        query = _parse(s.TopContentQuery, request)
        today = self.today()
        start, end = compat.now(today)
        genre = query.get("genre")
        run = run_kpi("top-rated", start=start, end=end, today=today, genre=genre.pk if genre else None)
        return Response(s.TopContentRowSerializer(run.result.rows[:TOP_CONTENT], many=True).data)


class RevenueTrendsView(ApiView):
    @extend_schema(
        summary="Gross revenue per day, week or month",
        description="KPI `gross-revenue`, zero-filled, from `start_date` to `end_date`, both "
        "included. Without `start_date` the series starts on the day of the first payment; "
        "without `end_date` it ends today. `date` is the first day of the bucket (a week or month "
        "bucket may start before `start_date`; it then counts only its days inside the range).",
        parameters=[s.RevenueTrendsQuery],
        responses={200: s.RevenueTrendRowSerializer(many=True), **error_responses(400)},
        tags=[COMPAT],
    )
    def get(self, request: Request) -> Response:
        today = self.today()
        query = _parse(s.RevenueTrendsQuery, request, today=today)
        start = query.get("start_date") or selectors.first_payment_day()
        if start is None:
            return Response([])  # no payment yet, and no period asked for
        last = query.get("end_date") or today
        start = min(start, last)
        run = run_kpi(
            "gross-revenue", start=start, end=last + compat.ONE_DAY, today=today, grain=query["interval"]
        )
        return Response(s.RevenueTrendRowSerializer(run.result.rows, many=True).data)


class PaymentsTrendView(ApiView):
    @extend_schema(
        summary="Gross revenue per ISO week",
        description="KPI `gross-revenue` by week (Monday first), zero-filled, from the week of the "
        "first payment to this week (today included).",
        responses={200: s.PaymentsTrendRowSerializer(many=True), **error_responses()},
        tags=[COMPAT],
    )
    def get(self, request: Request) -> Response:
        today = self.today()
        if (found := compat.payments_period(today)) is None:
            return Response([])
        start, end = found
        run = run_kpi("gross-revenue", start=start, end=end, today=today, grain="week")
        return Response(s.PaymentsTrendRowSerializer(run.result.rows, many=True).data)


def _genre_streams(today: date) -> list[dict[str, Any]]:
    if (found := compat.events_period(today)) is None:
        return []
    start, end = found
    return run_kpi("top-genres", start=start, end=end, today=today).result.rows


class WatchHistoryGenreView(ApiView):
    @extend_schema(
        summary="Streams per genre (dashboard names)",
        description="KPI `top-genres` over all data up to today: streams (plays of 30 s or more) "
        "per genre, most first, ties by genre id.",
        responses={200: s.WatchHistoryGenreRowSerializer(many=True), **error_responses()},
        tags=[COMPAT],
    )
    def get(self, request: Request) -> Response:
        return Response(s.WatchHistoryGenreRowSerializer(_genre_streams(self.today()), many=True).data)


class ListeningByGenreView(ApiView):
    @extend_schema(
        summary="Streams per genre",
        description="As `/api/watch-history-genre`, with the field named `streams`.",
        responses={200: s.GenreStreamsRowSerializer(many=True), **error_responses()},
        tags=[COMPAT],
    )
    def get(self, request: Request) -> Response:
        return Response(s.GenreStreamsRowSerializer(_genre_streams(self.today()), many=True).data)


class PopularContentTrendView(ApiView):
    @extend_schema(
        summary="Top 10 tracks of every month",
        description="KPI `popular-over-time` over all data up to today: for every calendar month "
        "from the first listening event to this month, its 10 most streamed tracks (this month "
        "counted up to today). Months in order, then most streamed first, ties by track id.",
        responses={200: s.PopularTrendRowSerializer(many=True), **error_responses()},
        tags=[COMPAT],
    )
    def get(self, request: Request) -> Response:
        today = self.today()
        if (found := compat.events_period(today)) is None:
            return Response([])
        start, end = found
        run = run_kpi("popular-over-time", start=start, end=end, today=today)
        return Response(s.PopularTrendRowSerializer(run.result.rows, many=True).data)


class PopularContentOverTimeView(ApiView):
    @extend_schema(
        summary="Top 10 tracks of one month",
        description="KPI `top-tracks` over one calendar month (this month: up to today). A month "
        "name means the latest such month with streams. A month without streams is a 400.",
        parameters=[s.MonthQuery],
        responses={200: s.PopularTrackRowSerializer(many=True), **error_responses(400)},
        tags=[COMPAT],
    )
    def get(self, request: Request) -> Response:
        query = _parse(s.MonthQuery, request)
        run = compat.top_tracks_of_month(query["month"], today=self.today())
        return Response(s.PopularTrackRowSerializer(run.result.rows[:TOP_TRACKS_OF_MONTH], many=True).data)


class PaymentMethodDistributionView(ApiView):
    @extend_schema(
        summary="Payment attempts per method",
        description="KPI `payment-methods` over all data up to today: payment attempts (any "
        "outcome) per method, most first, ties by method code.",
        responses={200: s.PaymentMethodRowSerializer(many=True), **error_responses()},
        tags=[COMPAT],
    )
    def get(self, request: Request) -> Response:
        today = self.today()
        if (found := compat.payments_period(today)) is None:
            return Response([])
        start, end = found
        run = run_kpi("payment-methods", start=start, end=end, today=today)
        return Response(s.PaymentMethodRowSerializer(run.result.rows, many=True).data)


class UserStatsView(ApiView):
    permission_classes = [CanViewListeners]

    @extend_schema(
        summary="One listener's plays and payments",
        description="The listener's plays (`progress` = share of the item played, capped at 1) "
        "and collected payments (succeeded, including those refunded later), newest first. "
        "Each list holds `limit` items after skipping `offset`.",
        parameters=[
            OpenApiParameter("listener_id", int, OpenApiParameter.PATH, description="A listener id."),
            s.HistoryQuery,
        ],
        responses={200: s.UserStatsSerializer, **error_responses(400, 404)},
        tags=[COMPAT],
    )
    def get(self, request: Request, listener_id: str) -> Response:
        # The path takes any text, so a malformed id is a JSON 404 like an unknown one.
        listener = int(listener_id) if listener_id.isascii() and listener_id.isdigit() else None
        if listener is None or listener > _MAX_ID or not selectors.listener_exists(listener_id=listener):
            raise not_found(f"No listener with id {listener_id!r}.", "listener_id")
        page = _parse(s.HistoryQuery, request)
        stats = {
            "user_id": listener,
            "watch_history": selectors.listener_plays(listener_id=listener, **page),
            "payment_history": selectors.listener_payments(listener_id=listener, **page),
        }
        return Response(s.UserStatsSerializer(stats).data)


# Schema and interactive docs: staff only, like everything else.


class SchemaView(SpectacularAPIView):
    authentication_classes = AUTHENTICATION_CLASSES
    permission_classes = [IsActiveStaff]

    def get_exception_handler(self):
        return api_exception_handler


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar's static files (no CDN); its start-up
    script is served as a file (`?script`), as the Content-Security-Policy wants."""

    authentication_classes = AUTHENTICATION_CLASSES
    permission_classes = [IsActiveStaff]
    url_name = "api:schema"

    def handle_exception(self, exc: Exception) -> Response | HttpResponse:
        # A browser without a session goes to the admin login, then comes back.
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path(), reverse("admin:login"))
        if isinstance(exc, exceptions.PermissionDenied):
            return HttpResponse(str(exc.detail), status=403, content_type="text/plain; charset=utf-8")
        return super().handle_exception(exc)
