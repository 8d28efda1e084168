"""JSON values of the API: money rounds half-even to cents and stays a number."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from rest_framework.renderers import JSONRenderer

from analytics.api.serializers import PaymentsTrendRowSerializer, json_rows, json_value
from analytics.kpis.registry import Column


def test_json_value_rounds_money_half_even_to_cents():
    assert json_value(Decimal("0.125"), "money") == 0.12
    assert json_value(Decimal("0.135"), "money") == 0.14
    assert json_value(Decimal("2.675"), "money") == 2.68
    assert json_value(Decimal("-1.005"), "money") == -1.0


def test_json_value_keeps_other_values():
    assert json_value(Decimal("12.3456"), "minutes") == 12.3456
    assert json_value(float("nan"), "ratio") is None
    assert json_value(None, "ratio") is None
    assert json_value(date(2026, 1, 31), "date") == "2026-01-31"
    assert json_value(7, "count") == 7
    assert json_value("SE", "text") == "SE"


def test_json_rows_round_only_money_columns_and_keep_extra_keys():
    columns = [Column("gross", "Gross", "money"), Column("minutes", "Minutes", "minutes")]
    rows = [{"gross": Decimal("10.005"), "minutes": Decimal("1.005"), "track_id": 3}]
    assert json_rows(columns, rows) == [{"gross": 10.0, "minutes": 1.005, "track_id": 3}]


def test_money_fields_render_as_json_numbers_not_strings():
    data = PaymentsTrendRowSerializer([{"period": "2026-03-02", "gross": Decimal("21.985")}], many=True).data
    assert json.loads(JSONRenderer().render(data)) == [{"week": "2026-03-02", "total_revenue": 21.98}]
