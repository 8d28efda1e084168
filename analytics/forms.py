"""The filter form of the KPI pages, chart endpoints and CSV downloads.

Query parameters are parsed here once, so a bad value gives the same clear message on
a page (next to the field) and from an endpoint (`{"error": ..., "field": ...}`), and
the KPI functions receive only values the registry contract promises.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.http import QueryDict
from django_countries import countries

from analytics.kpis.registry import FILTERS, GRAINS
from analytics.models import Device, Experiment
from billing.models import Plan
from billing.regions import Region
from catalog.models import Genre

# No streaming data predates this; it also keeps date arithmetic (previous period) safe.
EARLIEST_START = date(2000, 1, 1)
# Ten years of daily buckets is the most a page is allowed to ask for.
MAX_RANGE_DAYS = 3660
# The default range: the current calendar month and the eleven before it.
DEFAULT_MONTHS = 12

_DATE_MESSAGE = "Enter a date as YYYY-MM-DD, e.g. 2026-01-31."


def default_period(today: date) -> tuple[date, date]:
    """`[start, end)` of the default range: twelve calendar months, ending today (included)."""
    month_index = today.year * 12 + today.month - 1 - (DEFAULT_MONTHS - 1)
    return date(month_index // 12, month_index % 12 + 1, 1), today + timedelta(days=1)


class _CountryField(forms.ChoiceField):
    """ISO 3166-1 alpha-2 codes; lower case is accepted and normalised."""

    def to_python(self, value: Any) -> str:
        return super().to_python(value).strip().upper()


_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"0", "false", "off", "no", ""}


class _FlagInput(forms.CheckboxInput):
    """A checkbox that hands the raw text to its field, so `compare=0` means no."""

    def __init__(self) -> None:
        super().__init__(check_test=lambda value: value is True or str(value).lower() in _TRUE)

    def value_from_datadict(self, data, files, name):
        return data.get(name, "")


class _FlagField(forms.Field):
    widget = _FlagInput

    def to_python(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise forms.ValidationError("Use 1 (yes) or 0 (no).", code="invalid")


class _DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


class KpiFilterForm(forms.Form):
    start = forms.DateField(
        required=False,
        label="From",
        input_formats=["%Y-%m-%d"],
        widget=_DateInput(),
        error_messages={"invalid": _DATE_MESSAGE},
        help_text="First day included.",
    )
    end = forms.DateField(
        required=False,
        label="Until",
        input_formats=["%Y-%m-%d"],
        widget=_DateInput(),
        error_messages={"invalid": _DATE_MESSAGE},
        help_text="First day not included.",
    )
    country = _CountryField(
        required=False,
        error_messages={
            "invalid_choice": "Unknown country code %(value)s: use an ISO 3166 alpha-2 code such as SE."
        },
    )
    region = forms.ChoiceField(
        required=False,
        choices=[("", "All regions"), *Region.choices],
        error_messages={"invalid_choice": "Unknown region %(value)s."},
    )
    plan = forms.ModelChoiceField(
        required=False,
        queryset=Plan.objects.order_by("price", "code"),
        to_field_name="code",
        empty_label="All plans",
        error_messages={"invalid_choice": "Unknown plan code %(value)s."},
    )
    device = forms.ChoiceField(
        required=False,
        choices=[("", "All devices"), *Device.choices],
        error_messages={"invalid_choice": "Unknown device %(value)s."},
    )
    genre = forms.ModelChoiceField(
        required=False,
        queryset=Genre.objects.order_by("name"),
        empty_label="All genres",
        error_messages={"invalid_choice": "Unknown genre %(value)s: use a genre id."},
    )
    grain = forms.ChoiceField(
        required=False,
        choices=[("", "Default"), *((grain, grain.title()) for grain in GRAINS)],
        error_messages={"invalid_choice": "Unknown grain %(value)s: use day, week or month."},
    )
    experiment = forms.ModelChoiceField(
        required=False,
        queryset=Experiment.objects.order_by("key"),
        to_field_name="key",
        empty_label="Choose an experiment",
        error_messages={"invalid_choice": "Unknown experiment %(value)s: use an experiment key."},
    )
    compare = _FlagField(required=False, label="Compare with the previous period")

    def __init__(self, data: QueryDict | dict[str, str] | None, *, today: date) -> None:
        self.today = today
        default_start, default_end = default_period(today)
        # The inputs show the effective range even when the URL names none.
        merged = {"start": default_start.isoformat(), "end": default_end.isoformat()}
        for key, value in (data or {}).items():
            if value != "":
                merged[key] = value
        super().__init__(merged)
        self.fields["country"].choices = [("", "All countries"), *countries]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        default_start, default_end = default_period(self.today)
        start = cleaned.get("start") or default_start
        end = cleaned.get("end") or default_end
        if "start" in self.errors or "end" in self.errors:
            return cleaned
        if start < EARLIEST_START:
            self.add_error("start", f"Start must be on or after {EARLIEST_START.isoformat()}.")
        elif end <= start:
            self.add_error("end", "The range must end after it starts (the end day is not included).")
        elif end > self.today + timedelta(days=1):
            tomorrow = (self.today + timedelta(days=1)).isoformat()
            self.add_error("end", f"The range must end by {tomorrow}: there is no data after today.")
        elif (end - start).days > MAX_RANGE_DAYS:
            self.add_error("end", f"The range may span at most {MAX_RANGE_DAYS} days.")
        else:
            cleaned["start"], cleaned["end"] = start, end
        return cleaned

    # What the views need, once the form is valid.

    def period(self) -> tuple[date, date]:
        return self.cleaned_data["start"], self.cleaned_data["end"]

    def kpi_filters(self) -> dict[str, Any]:
        """The registry filters that were set, in the types the KPI contract promises."""
        values: dict[str, Any] = {}
        for name in FILTERS:
            value = self.cleaned_data.get(name)
            if isinstance(value, Plan):
                value = value.code
            elif isinstance(value, Experiment):
                value = value.key
            elif isinstance(value, Genre):
                value = value.pk
            if value not in (None, ""):
                values[name] = value
        return values

    def query(self) -> dict[str, str]:
        """The normalised query parameters: links built from them reproduce this view."""
        start, end = self.period()
        params = {"start": start.isoformat(), "end": end.isoformat()}
        params.update({name: str(value) for name, value in self.kpi_filters().items()})
        if self.cleaned_data.get("compare"):
            params["compare"] = "1"
        return params

    def first_error(self) -> tuple[str | None, str]:
        """The first problem as (field name or None, message), for JSON error bodies."""
        for name, errors in self.errors.items():
            return (None if name == "__all__" else name), str(errors[0])
        return None, ""
