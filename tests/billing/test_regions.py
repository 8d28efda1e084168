"""The fixed country -> region table of the geotargeting KPIs."""

from __future__ import annotations

from collections import Counter

import pytest
from django_countries import countries

from billing.models import Listener
from billing.regions import _REGION_COUNTRIES, COUNTRY_REGION, Region, countries_in, region_of


def test_regions_map_every_known_country_to_a_region():
    known = {country.code for country in countries}

    unmapped = sorted(code for code in known if region_of(code) not in Region.values)

    assert unmapped == []
    assert set(COUNTRY_REGION) == known


def test_regions_list_each_country_exactly_once():
    listed = Counter(code for codes in _REGION_COUNTRIES.values() for code in codes.split())

    assert {code: n for code, n in listed.items() if n != 1} == {}
    assert set(_REGION_COUNTRIES) == set(Region)


def test_regions_partition_the_countries():
    by_region = [countries_in(region) for region in Region]

    assert sum(len(codes) for codes in by_region) == len({country.code for country in countries})
    assert all(by_region)


@pytest.mark.parametrize(
    ("code", "region"),
    [
        ("SE", "europe"),
        ("GB", "europe"),
        ("RU", "europe"),
        ("US", "north_america"),
        ("CA", "north_america"),
        ("MX", "latin_america"),
        ("BR", "latin_america"),
        ("PR", "latin_america"),
        ("JP", "asia_pacific"),
        ("AU", "asia_pacific"),
        ("KZ", "asia_pacific"),
        ("AE", "mea"),
        ("TR", "mea"),
        ("ZA", "mea"),
        ("se", "europe"),
    ],
)
def test_region_of_examples(code, region):
    assert region_of(code) == region


@pytest.mark.parametrize("code", ["", "XX", "EU", None])
def test_region_of_an_unknown_code_is_none(code):
    assert region_of(code) is None


def test_listener_region_label_uses_the_table():
    assert Listener(country="NZ").region_label == "Asia-Pacific"
    assert Listener(country="NG").region_label == "Middle East & Africa"
