"""Country display names: cached, but per language."""

from __future__ import annotations

from django.utils import translation

from analytics.kpis._names import country_name


def test_country_name_follows_the_active_language_and_keeps_unknown_codes():
    assert country_name("SE") == "Sweden"
    with translation.override("fr"):
        assert country_name("SE") == "Suède"
    assert country_name("SE") == "Sweden"
    assert country_name("XX") == "XX"
