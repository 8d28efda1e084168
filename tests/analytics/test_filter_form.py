"""The filter form shared by KPI pages, chart endpoints and CSV downloads."""

from __future__ import annotations

from datetime import date

import pytest

from analytics.forms import KpiFilterForm, default_period
from analytics.models import Experiment
from tests.factories import make_genre, make_plan

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 15)


@pytest.mark.parametrize(
    ("today", "period"),
    [
        (date(2026, 3, 15), (date(2025, 4, 1), date(2026, 3, 16))),
        (date(2026, 1, 1), (date(2025, 2, 1), date(2026, 1, 2))),
        (date(2026, 12, 31), (date(2026, 1, 1), date(2027, 1, 1))),
    ],
)
def test_default_period_is_twelve_calendar_months_ending_today(today, period):
    assert default_period(today) == period


def test_filter_form_without_parameters_uses_the_default_period():
    form = KpiFilterForm({}, today=TODAY)

    assert form.is_valid(), form.errors
    assert form.period() == (date(2025, 4, 1), date(2026, 3, 16))
    assert form.kpi_filters() == {}
    assert form.cleaned_data["compare"] is False
    assert form.query() == {"start": "2025-04-01", "end": "2026-03-16"}


def test_filter_form_treats_empty_parameters_as_unset():
    form = KpiFilterForm({"start": "", "end": "", "country": "", "plan": "", "compare": ""}, today=TODAY)

    assert form.is_valid(), form.errors
    assert form.period() == (date(2025, 4, 1), date(2026, 3, 16))
    assert form.kpi_filters() == {}


def test_filter_form_hands_kpis_the_contract_types():
    plan = make_plan("duo", tier="duo", price="14.99")
    genre = make_genre("Jazz")
    Experiment.objects.create(key="new-onboarding", name="New onboarding")
    form = KpiFilterForm(
        {
            "start": "2026-01-01",
            "end": "2026-02-01",
            "country": "se",
            "region": "europe",
            "plan": "duo",
            "device": "mobile",
            "genre": str(genre.pk),
            "grain": "week",
            "experiment": "new-onboarding",
            "compare": "1",
        },
        today=TODAY,
    )

    assert form.is_valid(), form.errors
    assert form.period() == (date(2026, 1, 1), date(2026, 2, 1))
    assert form.kpi_filters() == {
        "country": "SE",
        "region": "europe",
        "plan": plan.code,
        "device": "mobile",
        "genre": genre.pk,
        "grain": "week",
        "experiment": "new-onboarding",
    }
    assert form.query() == {
        "start": "2026-01-01",
        "end": "2026-02-01",
        "country": "SE",
        "region": "europe",
        "plan": "duo",
        "device": "mobile",
        "genre": str(genre.pk),
        "grain": "week",
        "experiment": "new-onboarding",
        "compare": "1",
    }


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("true", True),
        ("on", True),
        ("yes", True),
        ("0", False),
        ("false", False),
        ("off", False),
    ],
)
def test_filter_form_reads_compare_as_a_flag(raw, value):
    form = KpiFilterForm({"compare": raw}, today=TODAY)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["compare"] is value
    assert ("checked" in str(form["compare"])) is value


def test_filter_form_accepts_a_range_ending_tomorrow_and_refuses_later():
    assert KpiFilterForm({"start": "2026-03-15", "end": "2026-03-16"}, today=TODAY).is_valid()

    form = KpiFilterForm({"start": "2026-03-15", "end": "2026-03-17"}, today=TODAY)
    assert not form.is_valid()
    assert form.first_error() == ("end", "The range must end by 2026-03-16: there is no data after today.")


def test_filter_form_reports_the_first_problem_for_json_errors():
    form = KpiFilterForm({"start": "31/01/2026", "country": "ZZ"}, today=TODAY)

    assert not form.is_valid()
    assert form.first_error() == ("start", "Enter a date as YYYY-MM-DD, e.g. 2026-01-31.")
    assert form.errors["country"] == ["Unknown country code ZZ: use an ISO 3166 alpha-2 code such as SE."]


def test_filter_form_checks_the_range_only_when_both_dates_parse():
    form = KpiFilterForm({"start": "2026-02-30", "end": "2026-01-01"}, today=TODAY)

    assert not form.is_valid()
    assert list(form.errors) == ["start"]


def test_filter_form_ignores_parameters_it_does_not_know():
    form = KpiFilterForm({"min_votes": "3", "page": "2"}, today=TODAY)

    assert form.is_valid(), form.errors
    assert form.kpi_filters() == {}
