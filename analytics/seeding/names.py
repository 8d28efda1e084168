"""Names and titles drawn vectorised from Faker's word and name lists.

Calling Faker once per row runs at a few thousand names a second; picking indexes into
its lists with numpy is as realistic and thousands of times faster. Faker itself is
used (unweighted, seeded) only for the few thousand artist and podcast names.
"""

from __future__ import annotations

import importlib
import unicodedata
from functools import cache

import numpy as np
from faker import Faker
from faker.providers.lorem.en_US import Provider as LoremProvider

WORDS = np.array([w for w in LoremProvider.word_list if len(w) > 2])

# Country -> Faker locale for listener names; other countries use en_US.
COUNTRY_LOCALE = {
    "US": "en_US", "GB": "en_GB", "CA": "en_US", "AU": "en_US", "IE": "en_IE", "NZ": "en_NZ",
    "BR": "pt_BR", "PT": "pt_PT", "MX": "es_MX", "ES": "es_ES", "AR": "es_AR", "CO": "es_CO",
    "CL": "es_CL", "PE": "es_MX", "DE": "de_DE", "AT": "de_AT", "CH": "de_CH", "FR": "fr_FR",
    "BE": "nl_BE", "NL": "nl_NL", "IT": "it_IT", "SE": "sv_SE", "NO": "no_NO", "DK": "da_DK",
    "FI": "fi_FI", "PL": "pl_PL", "RO": "ro_RO", "TR": "tr_TR", "ID": "id_ID", "IN": "en_IN",
    "PH": "en_US", "JP": "ja_JP", "NG": "en_NG", "ZA": "en_US", "KE": "en_KE",
}  # fmt: skip


def _names(provider, *attributes: str) -> list[str]:
    # Locales spell their lists differently (tuples, weighted dicts, male/female halves).
    for group in attributes:
        found: list[str] = []
        for attribute in group.split():
            value = getattr(provider, attribute, None)
            if isinstance(value, dict | list | tuple):
                found += list(value)
        if found:
            return found
    raise LookupError(f"{provider.__module__} has no name lists")


@cache
def name_pool(locale: str) -> tuple[np.ndarray, np.ndarray]:
    """First and last names of a Faker locale, in Latin script."""
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    first = _names(provider, "first_romanized_names", "first_names_female first_names_male", "first_names")
    last = _names(
        provider,
        "last_romanized_names",
        "last_names_female last_names_male",
        "unisex_last_names male_last_names",
        "last_names",
    )
    return np.array(sorted(set(first))), np.array(sorted(set(last)))


def ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum()) or "user"


def person_names(rng: np.random.Generator, countries: np.ndarray) -> tuple[list[str], list[str]]:
    """Display names and email local parts, drawn from each listener's country's names."""
    display = np.empty(len(countries), dtype=object)
    local = np.empty(len(countries), dtype=object)
    locales = np.array([COUNTRY_LOCALE.get(str(c), "en_US") for c in countries])
    for locale in sorted(set(locales.tolist())):
        rows = np.flatnonzero(locales == locale)
        first, last = name_pool(locale)
        f = rng.integers(0, len(first), len(rows))
        s = rng.integers(0, len(last), len(rows))
        first_ascii = np.array([ascii_slug(n) for n in first], dtype=object)
        last_ascii = np.array([ascii_slug(n) for n in last], dtype=object)
        display[rows] = np.strings.add(np.strings.add(first[f], " "), last[s]).astype(object)
        local[rows] = first_ascii[f] + "." + last_ascii[s]
    return display.tolist(), local.tolist()


def titles(rng: np.random.Generator, n: int, *, min_words: int = 1, max_words: int = 4) -> list[str]:
    """Title-cased phrases of Faker words: 'Silent River', 'Before Morning Light'."""
    count = rng.integers(min_words, max_words + 1, n)
    words = np.strings.capitalize(WORDS[rng.integers(0, len(WORDS), (n, max_words))])
    out = words[:, 0].astype(object)
    for k in range(1, max_words):
        more = count > k
        out[more] = out[more] + " " + words[more, k].astype(object)
    return out.tolist()


def faker(seed: int) -> Faker:
    fake = Faker("en_US", use_weighting=False)
    fake.seed_instance(seed)
    return fake
