"""Property-based run over the OpenAPI schema (schemathesis): whatever parameters the
schema allows, no server error, and every answer is one the schema describes (status,
content type, body).

The schema is generated in-process and the requests go to the WSGI application, with
an Analyst's token, against the hand-built dataset. Examples are bounded per operation.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.analytics.api.conftest import token_header

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def openapi_document() -> dict:
    """The schema `/api/schema/` serves, as plain JSON data."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


def test_openapi_document_describes_every_endpoint_and_its_errors():
    document = openapi_document()
    assert sorted(document["paths"]) == [
        "/api/kpis/",
        "/api/kpis/{slug}/",
        "/api/listening-by-genre",
        "/api/payment-method-distribution",
        "/api/payments-trend",
        "/api/popular-content-over-time",
        "/api/popular-content-trend",
        "/api/revenue-trends",
        "/api/subscriptions",
        "/api/top-content",
        "/api/user-stats/{listener_id}",
        "/api/watch-history-genre",
    ]
    revenue = document["paths"]["/api/revenue-trends"]["get"]
    assert sorted(revenue["responses"]) == ["200", "400", "401", "403", "429"]
    assert revenue["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert [p["name"] for p in revenue["parameters"]] == ["end_date", "interval", "start_date"]
    row = document["components"]["schemas"]["RevenueTrendRow"]["properties"]
    assert row["revenue"]["type"] == "number"  # money is a number, never a string
    assert sorted(document["paths"]["/api/user-stats/{listener_id}"]["get"]["responses"]) == [
        "200",
        "400",
        "401",
        "403",
        "404",
        "429",
    ]
    assert set(document["components"]["securitySchemes"]) == {"tokenAuth", "sessionAuth"}


@pytest.fixture(autouse=True)
def _schemathesis_client(settings):
    # schemathesis calls the WSGI app as host "localhost"; the run makes a few hundred
    # requests with one token.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "100000/minute"},
    }


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # As Django's test client does: the end of a request must not close the connection,
    # which holds the test's transaction (PostgreSQL would lose the dataset).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def application(environ: dict, start_response):
    # A handler per request: middleware reads some settings once, when it is built, and
    # the tests' settings (plain HTTP, the throttle rate) must apply.
    return WSGIHandler()(environ, start_response)


# Built when the module is collected (Django is set up by then).
schema = schemathesis.openapi.from_dict(openapi_document())
schema.app = application


@schema.parametrize()
@settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_answers_every_request_the_schema_allows_as_the_schema_says(case, dataset, analyst_token):
    case.call_and_validate(headers=token_header(analyst_token), checks=CHECKS)
