"""Serializers of the API: query parameters in, response bodies out.

The KPI endpoint parses its filters with the KPI pages' form (`analytics.forms`); the
compatibility endpoints have parameters of their own (`start_date`, `interval`, a genre
*name*, a month name), parsed here. Output serializers rename registry columns to the
field names the dashboard reads and round money half-even to cents; they also describe
the responses in the OpenAPI schema.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.forms import EARLIEST_START, MAX_RANGE_DAYS
from analytics.kpis.registry import GRAINS, Column, Value
from catalog.models import Genre

CENT = Decimal("0.01")
DATE_MESSAGE = "Enter a date as YYYY-MM-DD, e.g. 2026-01-31."
HISTORY_LIMIT = 100
MAX_HISTORY_LIMIT = 1000
MAX_HISTORY_OFFSET = 1_000_000


def money(value: Decimal) -> Decimal:
    """Cents, rounded half-even (banker's rounding), as the KPI definitions ask."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


class MoneyField(serializers.DecimalField):
    """A JSON number with at most two decimals, never a string."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Money, rounded half-even to cents.")
        super().__init__(
            max_digits=None, decimal_places=2, coerce_to_string=False, rounding=ROUND_HALF_EVEN, **kwargs
        )


def _date_field(help_text: str) -> serializers.DateField:
    return serializers.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": DATE_MESSAGE},
        help_text=help_text,
    )


# Query parameters.


class RevenueTrendsQuery(serializers.Serializer):
    start_date = _date_field("First day included (YYYY-MM-DD). Default: the day of the first payment.")
    end_date = _date_field("Last day included (YYYY-MM-DD). Default: today.")
    interval = serializers.ChoiceField(
        choices=GRAINS,
        default="day",
        error_messages={"invalid_choice": "Unknown interval {input}: use day, week or month."},
        help_text="Bucket size: day (default), week (ISO, from Monday) or month.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        today: date = self.context["today"]
        start, end = attrs.get("start_date"), attrs.get("end_date")
        future = f"must be today ({today.isoformat()}) or earlier: no data after today."
        if start is not None and start < EARLIEST_START:
            raise serializers.ValidationError(
                {"start_date": f"start_date must be on or after {EARLIEST_START.isoformat()}."}
            )
        if start is not None and start > today:
            raise serializers.ValidationError({"start_date": f"start_date {future}"})
        if end is not None and end > today:
            raise serializers.ValidationError({"end_date": f"end_date {future}"})
        if start is not None and end is not None:
            if end < start:
                raise serializers.ValidationError(
                    {"end_date": "end_date must be on or after start_date (both days are included)."}
                )
            if (end - start).days + 1 > MAX_RANGE_DAYS:
                raise serializers.ValidationError(
                    {"end_date": f"The range may span at most {MAX_RANGE_DAYS} days."}
                )
        return attrs


class TopContentQuery(serializers.Serializer):
    genre = serializers.CharField(
        required=False,
        trim_whitespace=True,
        help_text="A genre name, case-insensitive (e.g. pop). Default: all genres.",
    )

    def validate_genre(self, value: str) -> Genre:
        wanted = value.casefold()
        # Genres are few; comparing in Python folds case the same way on every database
        # (SQLite's LIKE folds ASCII only). An exact match wins over a case-folded one.
        genres = list(Genre.objects.order_by("id"))
        exact = [genre for genre in genres if genre.name == value]
        folded = [genre for genre in genres if genre.name.casefold() == wanted]
        if not (exact or folded):
            raise serializers.ValidationError(f"Unknown genre {value!r}: use a genre name such as Pop.")
        return (exact or folded)[0]


class MonthQuery(serializers.Serializer):
    month = serializers.CharField(
        help_text=(
            "YYYY-MM (e.g. 2025-08), or an English month name or abbreviation (Aug, August): "
            "the latest such month with streams."
        ),
        error_messages={"required": "Give a month: YYYY-MM, or a month name such as Aug."},
    )


class HistoryQuery(serializers.Serializer):
    limit = serializers.IntegerField(
        default=HISTORY_LIMIT,
        min_value=1,
        max_value=MAX_HISTORY_LIMIT,
        help_text=f"Items per list (1-{MAX_HISTORY_LIMIT}, default {HISTORY_LIMIT}).",
    )
    offset = serializers.IntegerField(
        default=0,
        min_value=0,
        max_value=MAX_HISTORY_OFFSET,
        help_text="Newest items to skip in each list (default 0).",
    )


# KPI endpoints.


def json_value(value: Value, unit: str | None) -> Value | float:
    """A KPI value as JSON: money rounded to cents, other Decimals as they are, dates as
    ISO text, non-finite floats as null."""
    if isinstance(value, Decimal):
        return float(money(value) if unit == "money" else value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return value


def json_rows(columns: list[Column], rows: list[dict[str, Value]]) -> list[dict[str, Any]]:
    """Rows with every key, columns and extras (ids), in the KPI's order."""
    units = {column.key: column.unit for column in columns}
    return [{key: json_value(value, units.get(key)) for key, value in row.items()} for row in rows]


def period(start: date, end: date) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What is wrong, in a sentence.")
    parameter = serializers.CharField(
        allow_null=True, help_text="The query or path parameter at fault; null when it is not one parameter."
    )


class KpiSummarySerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    family = serializers.CharField()
    unit = serializers.CharField()
    chart = serializers.CharField()
    definition = serializers.CharField()
    filters = serializers.ListField(child=serializers.CharField(), help_text="Filters the KPI accepts.")
    url = serializers.CharField(help_text="The KPI's data endpoint.")


class ColumnSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First day included.")
    end = serializers.DateField(help_text="First day not included.")


_CELL = {
    "anyOf": [{"type": "number"}, {"type": "string"}],
    "nullable": True,
    "description": "A number (money rounded to cents), a text or an ISO date; null when undefined.",
}


@extend_schema_field({"type": "object", "additionalProperties": _CELL})
class RowField(serializers.DictField):
    """A row of a KPI table: values keyed by column key, plus id extras for drill-down."""


@extend_schema_field(
    {"type": "object", "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}
)
class FiltersField(serializers.DictField):
    """Filters as the KPI received them: codes as text, a genre as its id."""


class PreviousSerializer(serializers.Serializer):
    period = PeriodSerializer()
    rows = serializers.ListField(child=RowField())


class KpiDataSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    family = serializers.CharField()
    unit = serializers.CharField()
    chart = serializers.CharField()
    definition = serializers.CharField()
    headline = serializers.CharField(allow_null=True, help_text="Column whose last value is the figure.")
    period = PeriodSerializer()
    filters = FiltersField(help_text="The filters applied (those the KPI accepts).")
    ignored_filters = serializers.ListField(
        child=serializers.CharField(), help_text="Filters given that this KPI does not accept."
    )
    columns = ColumnSerializer(many=True)
    rows = serializers.ListField(child=RowField())
    previous = PreviousSerializer(
        allow_null=True, help_text="The previous period of the same length, with compare=previous."
    )
    notes = serializers.ListField(child=serializers.CharField())


# Compatibility endpoints: field names as the dashboard reads them.


class SubscriptionRowSerializer(serializers.Serializer):
    subscription = serializers.CharField(source="plan", help_text="Plan name; Free for the free tier.")
    user_count = serializers.IntegerField(source="listeners", help_text="Listeners on the plan now.")


class TopContentRowSerializer(serializers.Serializer):
    title = serializers.CharField()
    genre = serializers.CharField()
    rating = serializers.FloatField(help_text="The track's mean rating (1-5).")


class RevenueTrendRowSerializer(serializers.Serializer):
    date = serializers.DateField(source="period", help_text="First day of the bucket.")
    revenue = MoneyField(source="gross")


class PaymentsTrendRowSerializer(serializers.Serializer):
    week = serializers.DateField(source="period", help_text="Monday of the ISO week.")
    total_revenue = MoneyField(source="gross")


class WatchHistoryGenreRowSerializer(serializers.Serializer):
    genre = serializers.CharField()
    watch_count = serializers.IntegerField(source="streams")


class GenreStreamsRowSerializer(serializers.Serializer):
    genre = serializers.CharField()
    streams = serializers.IntegerField()


class PopularTrendRowSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM.")
    title = serializers.CharField()
    watch_count = serializers.IntegerField(source="streams")


class PopularTrackRowSerializer(serializers.Serializer):
    title = serializers.CharField()
    artist = serializers.CharField()
    streams = serializers.IntegerField()


class PaymentMethodRowSerializer(serializers.Serializer):
    method = serializers.CharField(help_text="Payment method, e.g. Credit card.")
    count = serializers.IntegerField(source="payments", help_text="Payment attempts.")


class PlaySerializer(serializers.Serializer):
    title = serializers.CharField()
    progress = serializers.FloatField(help_text="Share of the track or episode played, 0 to 1.")
    watched_on = serializers.DateTimeField(source="played_at")


class PaymentMadeSerializer(serializers.Serializer):
    amount = MoneyField()
    method = serializers.CharField()
    payment_date = serializers.DateTimeField(source="paid_at")


class UserStatsSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    watch_history = PlaySerializer(many=True)
    payment_history = PaymentMadeSerializer(many=True)
