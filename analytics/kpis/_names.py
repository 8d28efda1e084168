"""Display names of listener countries, in the active language."""

from __future__ import annotations

from functools import lru_cache

from django.utils.translation import get_language
from django_countries import countries


def country_name(code: str) -> str:
    """The country's name in the active language, or the code itself when it names no
    country. Cached per language: django-countries translates the name anew on every
    call, a few milliseconds for a table of countries."""
    return _name(get_language(), code)


@lru_cache(maxsize=4096)
def _name(language: str | None, code: str) -> str:
    return countries.name(code) or code
