"""Every registered KPI gives the same table from the rollups as its raw reference does,
on data made by the seed command, over several ranges and filters."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command

from analytics.kpis.registry import all_kpis, get_reference, run_kpi
from analytics.kpis.samples import common_filter_values
from billing.regions import Region

# The seeded period is [2025-11-01, 2026-03-01): four months ending the day before Mar 1.
END_DATE = "2026-03-01"
TODAY = date(2026, 2, 28)
WHOLE = (date(2025, 11, 1), date(2026, 3, 1))
OTHER_RANGES = [
    (date(2026, 1, 10), date(2026, 2, 20)),  # starts and ends mid-month and mid-week
    (date(2026, 2, 16), date(2026, 3, 16)),  # runs past today
]


def test_every_kpi_has_a_raw_reference():
    missing = []
    for spec in all_kpis():
        try:
            get_reference(spec.slug)
        except LookupError:
            missing.append(spec.slug)
    assert missing == []


@pytest.mark.django_db
def test_every_kpi_matches_its_raw_reference_on_seeded_data():
    call_command(
        "seed",
        listeners=150,
        events=15_000,
        months=4,
        seed=7,
        end_date=END_DATE,
        quiet=True,
        skip_rollups=True,
    )
    call_command("refresh_rollups", "--full", "--today", TODAY.isoformat(), verbosity=0)
    values = common_filter_values()
    mismatches: list[str] = []
    checked = 0
    for spec in all_kpis():
        reference = get_reference(spec.slug)
        for start, end, filters in _cases(spec, values):
            rolled = run_kpi(spec.slug, start=start, end=end, today=TODAY, **filters).result
            raw = reference(start=start, end=end, today=TODAY, **filters)
            checked += 1
            if (rolled.columns, rolled.rows) != (raw.columns, raw.rows):
                mismatches.append(f"{spec.slug} [{start}, {end}) {filters}")
    assert mismatches == []
    assert checked > 3 * len(all_kpis())


def _cases(spec, values: dict) -> list[tuple[date, date, dict]]:
    # The experiment KPIs need their experiment; every other filter is optional.
    base = {"experiment": values["experiment"]} if "experiment" in spec.filters else {}
    cases = [(*WHOLE, base), *((start, end, base) for start, end in OTHER_RANGES)]
    for name in ("country", "region", "device", "genre", "plan"):
        if name in spec.filters and values[name] is not None:
            cases.append((*WHOLE, {**base, name: values[name]}))
    if "country" in spec.filters and "device" in spec.filters:
        cases.append((*WHOLE, {**base, "country": values["country"], "device": "mobile"}))
    if "country" in spec.filters and "region" in spec.filters:
        # A country outside the chosen region: the filters keep no listener at all.
        elsewhere = next(region for region in Region.values if region != values["region"])
        cases.append((*WHOLE, {**base, "country": values["country"], "region": elsewhere}))
    if "grain" in spec.filters:
        cases += [(*WHOLE, {**base, "grain": grain}) for grain in ("day", "week", "month")]
        cases.append((*OTHER_RANGES[0], {**base, "grain": "week"}))
    return cases
