"""The fixed country -> region table used by geotargeting KPIs.

Five regions, as streaming services report them. Every ISO 3166-1 alpha-2 code that
django-countries knows maps to exactly one region (a test holds it).
"""

from __future__ import annotations

from django.db import models


class Region(models.TextChoices):
    EUROPE = "europe", "Europe"
    NORTH_AMERICA = "north_america", "North America"
    LATIN_AMERICA = "latin_america", "Latin America"
    ASIA_PACIFIC = "asia_pacific", "Asia-Pacific"
    MIDDLE_EAST_AFRICA = "mea", "Middle East & Africa"


_REGION_COUNTRIES: dict[str, str] = {
    Region.NORTH_AMERICA: "US CA BM GL PM UM",
    Region.LATIN_AMERICA: (
        "MX GT BZ SV HN NI CR PA CU DO HT JM PR BS BB TT AG DM GD KN LC VC AI AW BQ CW SX "
        "KY TC VG VI MS GP MQ BL MF CO VE EC PE BO CL AR UY PY BR GY SR GF FK GS"
    ),
    Region.ASIA_PACIFIC: (
        "CN JP KR KP MN TW HK MO IN PK BD LK NP BT MV AF ID MY SG TH VN PH KH LA MM BN TL "
        "AU NZ PG FJ SB VU NC PF WS TO KI TV NR FM MH PW GU MP AS CK NU TK WF PN NF CX CC "
        "HM IO KZ KG TJ TM UZ AQ"
    ),
    Region.MIDDLE_EAST_AFRICA: (
        "AE SA QA KW BH OM YE IQ IR IL PS JO LB SY TR EG LY TN DZ MA EH MR ML NE TD SD SS "
        "ER ET DJ SO KE UG RW BI TZ MZ MW ZM ZW BW NA ZA LS SZ MG MU SC KM YT RE AO CD CG "
        "GA GQ CM CF NG GH CI BF BJ TG SN GM GW GN SL LR CV ST SH TF BV"
    ),
    Region.EUROPE: (
        "GB IE FR DE NL BE LU CH AT IT ES PT AD MC SM VA MT GR CY SE NO DK FI IS FO AX SJ "
        "EE LV LT PL CZ SK HU SI HR BA RS ME MK AL BG RO MD UA BY RU GE AM AZ LI GI GG "
        "JE IM"
    ),
}

COUNTRY_REGION: dict[str, str] = {
    code: str(region) for region, codes in _REGION_COUNTRIES.items() for code in codes.split()
}


def region_of(country_code: str) -> str | None:
    """The region slug of an ISO alpha-2 country code, or None when unknown."""
    return COUNTRY_REGION.get((country_code or "").upper())


def countries_in(region: str) -> list[str]:
    return sorted(code for code, slug in COUNTRY_REGION.items() if slug == region)
